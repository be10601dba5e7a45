"""common/hostperf: latency and native peak memory of TFLite and ONNX models, measured in a child process."""

import numpy as np
import pytest

from edgeopt.common.errors import EdgeoptError
from edgeopt.common.hostperf import measure_onnx, measure_tflite


def _tflite(side: int, channels: int) -> bytes:
    """A float conv model whose activations take about 2 * side^2 * channels * 4 bytes."""
    from edgeopt.common.tfenv import keras, tf

    inp = keras.layers.Input((side, side, channels))
    model = keras.Model(inp, keras.layers.Conv2D(channels, 1)(inp))
    return bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())


def test_tflite_memory_sees_the_native_tensor_arena():
    small = measure_tflite(_tflite(8, 4), np.zeros((2, 8, 8, 4), np.float32), runs=5)
    big = measure_tflite(_tflite(128, 32), np.zeros((2, 128, 128, 32), np.float32), runs=5)
    arena = 2 * 128 * 128 * 32 * 4  # input + output, 4 MiB, allocated by LiteRT in C++
    assert big["peak_memory_bytes"] - small["peak_memory_bytes"] > 0.75 * arena
    assert set(big) == {"latency_ms_median", "latency_ms_p90", "peak_memory_bytes"}
    assert 0 < small["latency_ms_median"] <= small["latency_ms_p90"]
    assert big["latency_ms_median"] > small["latency_ms_median"]


def test_tflite_from_a_path(tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(_tflite(8, 4))
    result = measure_tflite(path, np.zeros((1, 8, 8, 4), np.float32), runs=3, warmup=0)
    assert result["latency_ms_median"] > 0


def test_onnx_memory_and_latency(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    def model(n: int):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])
        graph = helper.make_graph([helper.make_node("Relu", ["x"], ["h"]), helper.make_node("Neg", ["h"], ["y"])],
                                  "g", [x], [y])
        path = tmp_path / f"m{n}.onnx"
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), path)
        return path
    n = 4_000_000  # 16 MB per activation
    small = measure_onnx(model(16), np.ones((1, 16), np.float32), runs=5)
    big = measure_onnx(model(n), np.ones((1, n), np.float32), runs=5)
    assert big["peak_memory_bytes"] - small["peak_memory_bytes"] > 16_000_000
    assert 0 < small["latency_ms_median"] <= small["latency_ms_p90"]


def test_a_bad_model_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a model")
    with pytest.raises(EdgeoptError, match="cannot measure bad.tflite"):
        measure_tflite(bad, np.zeros((1, 4), np.float32), runs=1)
    with pytest.raises(EdgeoptError, match="runs must be at least 1"):
        measure_tflite(bad, np.zeros((1, 4), np.float32), runs=0)
