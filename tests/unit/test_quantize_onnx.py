"""quantize's ONNX Runtime path: static QDQ (three calibrations), dynamic, int4 MatMulNBits and float16,
each run and measured with the real ONNX Runtime."""

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeopt.common.bundle import ModelInfo, read_bundle, write_bundle
from edgeopt.common.datasets import Dataset, load_dataset
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.metrics import read_metrics
from edgeopt.quantize.onnx_path import quantize_onnx

METRIC_KEYS = {"accuracy", "agreement", "snr_db", "size_bytes", "source_size_bytes", "compression_ratio", "method",
               "calibration_method", "precision", "latency_ms_median", "latency_ms_p90", "peak_memory_bytes",
               "float_latency_ms_median", "speedup_vs_float"}


@pytest.fixture(scope="module")
def digits_onnx(baseline, tmp_path_factory) -> Path:
    """An onnx bundle of the digits CNN exported the way convert does (tf2onnx, dynamic batch, NHWC)."""
    from edgeopt.common.export import export_onnx
    from edgeopt.common.float_source import open_float_source

    source = open_float_source(baseline[0], "test")
    bundle = tmp_path_factory.mktemp("onnx") / "onnx"
    bundle.mkdir()
    export_onnx(source, bundle / "model.onnx")
    write_bundle(bundle, ModelInfo(format="onnx", file="model.onnx", input_shape=source.info.input_shape,
                                   output_shape=source.info.output_shape, stage="convert"))
    return bundle / "model.onnx"


@pytest.fixture(scope="module")
def digits(baseline) -> Dataset:
    return load_dataset(baseline[1])


@pytest.fixture(scope="module")
def static(digits_onnx, digits, tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    """calibration method -> (bundle, metrics) of the static QDQ digits model."""
    root = tmp_path_factory.mktemp("static")
    return {c: (root / c, quantize_onnx(digits_onnx, digits, root / c, "static", c, calibration_samples=200))
            for c in ("minmax", "entropy", "percentile")}


def _ops(path: Path) -> Counter:
    return Counter(n.op_type for n in onnx.load(str(path)).graph.node)


def _initializer_bytes(path: Path, dtype: int) -> int:
    return sum(len(numpy_helper.to_array(i).tobytes()) for i in onnx.load(str(path)).graph.initializer
               if i.data_type == dtype)


def _activation_scales(path: Path) -> list[float]:
    """Scales of the QuantizeLinear nodes (activations), in graph order."""
    model = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return [float(inits[n.input[1]]) for n in model.graph.node if n.op_type == "QuantizeLinear"]


def _within_five_points(metrics: dict) -> bool:
    return metrics["accuracy"] >= metrics["float_accuracy"] - 0.05


def test_static_qdq_int8_bundle(static, digits_onnx):
    out, metrics = static["minmax"]
    ops = _ops(out / "model.onnx")
    assert ops["QuantizeLinear"] >= 5 and ops["DequantizeLinear"] > ops["QuantizeLinear"]
    model = onnx.load(str(out / "model.onnx"))
    int8 = {i.name for i in model.graph.initializer if i.data_type == TensorProto.INT8 and len(i.dims) >= 2}
    assert len(int8) == 5  # three Conv and two Dense weight tensors stored as int8
    assert _initializer_bytes(out / "model.onnx", TensorProto.FLOAT) < 2_000  # only scales remain float
    assert METRIC_KEYS <= metrics.keys() and read_metrics(out) == metrics
    assert metrics["precision"] == "int8" and metrics["calibration_samples"] == 200
    assert metrics["low_precision_weights"] == 5
    assert _within_five_points(metrics) and metrics["float_accuracy"] > 0.9 and metrics["agreement"] > 0.95
    assert metrics["snr_db"] > 20
    assert metrics["size_bytes"] == (out / "model.onnx").stat().st_size
    assert metrics["source_size_bytes"] == digits_onnx.stat().st_size and metrics["compression_ratio"] > 2.5
    assert 0 < metrics["latency_ms_median"] <= metrics["latency_ms_p90"] and metrics["peak_memory_bytes"] > 0
    assert metrics["speedup_vs_float"] == pytest.approx(metrics["float_latency_ms_median"]
                                                        / metrics["latency_ms_median"])
    info, _ = read_bundle(out)
    assert (info.format, info.precision, info.stage) == ("onnx", "int8", "quantize")
    assert info.input_shape == [None, 8, 8, 1] and info.parent["stage"] == "convert"
    assert info.details["pre_processed"] is True and info.details["quant_format"] == "QDQ"
    assert sorted(p.name for p in out.iterdir()) == [".edgeopt-files", "metrics.json", "model.json", "model.onnx"]


def test_three_calibration_methods_give_different_ranges(static):
    scales = {c: _activation_scales(out / "model.onnx") for c, (out, _) in static.items()}
    assert len(scales["minmax"]) == len(scales["entropy"]) == len(scales["percentile"]) >= 5
    assert not np.allclose(scales["entropy"], scales["minmax"])
    assert not np.allclose(scales["percentile"], scales["minmax"])
    for c, (_, metrics) in static.items():
        assert metrics["calibration_method"] == c and _within_five_points(metrics), c


def test_dynamic_is_smaller_with_integer_kernels(digits_onnx, digits, tmp_path):
    metrics = quantize_onnx(digits_onnx, digits, tmp_path / "q", "dynamic")
    ops = _ops(tmp_path / "q" / "model.onnx")
    assert ops["DynamicQuantizeLinear"] >= 1 and ops["ConvInteger"] == 3 and ops["MatMulInteger"] == 2
    assert metrics["size_bytes"] < digits_onnx.stat().st_size / 2.5
    assert metrics["precision"] == "dynamic_int8" and metrics["calibration_method"] is None
    assert metrics["low_precision_weights"] == 5
    assert _within_five_points(metrics) and metrics["agreement"] > 0.95


def test_int4_makes_the_dense_layers_matmulnbits(digits_onnx, digits, tmp_path):
    metrics = quantize_onnx(digits_onnx, digits, tmp_path / "q", "int4")
    ops = _ops(tmp_path / "q" / "model.onnx")
    assert ops["MatMulNBits"] == 2 and ops["MatMul"] == 0 and ops["Gemm"] == 0 and ops["Conv"] == 3
    assert metrics["precision"] == "int4_weight_only" and metrics["low_precision_weights"] == 2
    assert metrics["agreement"] > 0.95 and metrics["snr_db"] > 15 and _within_five_points(metrics)
    assert metrics["size_bytes"] < 0.6 * digits_onnx.stat().st_size  # fc1 holds most of the weights


def _mlp_with_gemm(path: Path, batch: int | str) -> Path:
    """A two-layer MLP written with Gemm the way PyTorch exports Linear (transB=1), the second
    with beta != 1; fixed or dynamic batch."""
    rng = np.random.default_rng(0)
    w1 = rng.normal(0, 0.2, (32, 64)).astype(np.float32)
    w2 = rng.normal(0, 0.2, (32, 10)).astype(np.float32)
    b1, b2 = rng.normal(0, 0.1, 32).astype(np.float32), rng.normal(0, 0.1, 10).astype(np.float32)
    inits = [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(b1, "b1"),
             numpy_helper.from_array(w2, "w2"), numpy_helper.from_array(b2, "b2")]
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", transB=1),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], name="fc2", beta=0.5)]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 10])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), str(path))
    return path


def _unlabelled(shape: tuple[int, ...], n: int = 96) -> Dataset:
    rng = np.random.default_rng(1)
    return Dataset(x_train=rng.normal(size=(n, *shape)).astype(np.float32),
                   x_test=rng.normal(size=(n // 2, *shape)).astype(np.float32))


def test_int4_rewrites_gemm_and_runs_a_fixed_batch(tmp_path):
    model = _mlp_with_gemm(tmp_path / "mlp.onnx", batch=1)
    metrics = quantize_onnx(model, _unlabelled((64,)), tmp_path / "q", "int4")
    assert _ops(tmp_path / "q" / "model.onnx")["MatMulNBits"] == 2
    info, _ = read_bundle(tmp_path / "q")
    assert info.details["rewritten_gemm"] == 2 and info.input_shape == [1, 64] and info.parent["stage"] == "user"
    assert metrics["labels"] == "float_model" and metrics["accuracy"] == metrics["agreement"]
    assert metrics["num_test"] == 48 and metrics["agreement"] > 0.85 and metrics["relative_error"] < 0.15


def test_static_on_a_fixed_batch_gemm_model(tmp_path):
    model = _mlp_with_gemm(tmp_path / "mlp.onnx", batch=1)
    metrics = quantize_onnx(model, _unlabelled((64,)), tmp_path / "q", "static", calibration_samples=50)
    assert metrics["calibration_samples"] == 50 and metrics["agreement"] > 0.85
    assert _ops(tmp_path / "q" / "model.onnx")["QuantizeLinear"] >= 2


def _conv_only_nchw(path: Path) -> Path:
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.normal(0, 0.3, (10, 1, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("GlobalAveragePool", ["c"], ["p"]), helper.make_node("Flatten", ["p"], ["y"])]
    graph = helper.make_graph(nodes, "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 10])], [weight])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), str(path))
    return path


def test_int4_without_matmul_or_gemm_is_refused(tmp_path):
    model = _conv_only_nchw(tmp_path / "conv.onnx")
    with pytest.raises(EdgeoptError, match="no MatMul or Gemm") as err:
        quantize_onnx(model, _unlabelled((1, 8, 8)), tmp_path / "q", "int4")
    assert "static" in err.value.hint
    assert not (tmp_path / "q").exists()


def test_float16_halves_the_weights(digits_onnx, digits, tmp_path):
    metrics = quantize_onnx(digits_onnx, digits, tmp_path / "q", "float16")
    out = tmp_path / "q" / "model.onnx"
    source_bytes = _initializer_bytes(digits_onnx, TensorProto.FLOAT)
    half_bytes = _initializer_bytes(out, TensorProto.FLOAT16)
    assert half_bytes == pytest.approx(source_bytes / 2, rel=0.02)
    assert _initializer_bytes(out, TensorProto.FLOAT) < 0.01 * source_bytes
    assert onnx.load(str(out)).graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert metrics["precision"] == "float16" and metrics["max_abs_diff"] < 1e-2 and metrics["agreement"] > 0.99
    assert metrics["low_precision_weights"] == 5


def test_samples_that_do_not_fit_the_input(digits_onnx, digits, tmp_path):
    wrong = Dataset(x_train=np.zeros((10, 8, 8, 3), np.float32), x_test=np.zeros((10, 8, 8, 3), np.float32))
    with pytest.raises(EdgeoptError, match=r"x_test samples have shape \(8, 8, 3\) but the model expects"):
        quantize_onnx(digits_onnx, wrong, tmp_path / "q", "dynamic")
    calib_only = Dataset(x_train=digits.x_train, x_test=digits.x_test, x_calib=np.zeros((10, 64), np.float32))
    with pytest.raises(EdgeoptError, match="x_calib samples have shape"):
        quantize_onnx(digits_onnx, calib_only, tmp_path / "q", "static")
    with pytest.raises(EdgeoptError, match="has no x_test samples"):
        quantize_onnx(digits_onnx, Dataset(x_train=digits.x_train, x_test=digits.x_test[:0]), tmp_path / "q", "static")
    nchw = _conv_only_nchw(tmp_path / "conv.onnx")
    with pytest.raises(EdgeoptError) as err:
        quantize_onnx(nchw, _unlabelled((8, 8, 1)), tmp_path / "q", "static")
    assert "NCHW" in err.value.hint and "transpose(0, 3, 1, 2)" in err.value.hint
    assert not (tmp_path / "q").exists()


def test_bad_methods_and_quantized_sources(static, digits_onnx, digits, tmp_path):
    with pytest.raises(EdgeoptError, match="unknown ONNX quantization method 'int8'"):
        quantize_onnx(digits_onnx, digits, tmp_path / "q", "int8")
    with pytest.raises(EdgeoptError, match="unknown calibration method 'kl'"):
        quantize_onnx(digits_onnx, digits, tmp_path / "q", "static", calibration_method="kl")
    with pytest.raises(EdgeoptError, match="already quantized"):
        quantize_onnx(static["minmax"][0], digits, tmp_path / "q", "dynamic")
    with pytest.raises(EdgeoptError, match="calibration_samples must be at least 1"):
        quantize_onnx(digits_onnx, digits, tmp_path / "q", "static", calibration_samples=0)
    assert not (tmp_path / "q").exists()


def _blocky_images(n: int, seed: int) -> np.ndarray:
    """32x32x3 images in [0, 255]: 4x4 blocks of random colour plus noise (ResNet-8 takes raw pixels)."""
    rng = np.random.default_rng(seed)
    blocks = rng.uniform(0, 255, (n, 4, 4, 3))
    x = np.repeat(np.repeat(blocks, 8, axis=1), 8, axis=2) + rng.normal(0, 20, (n, 32, 32, 3))
    return np.clip(x, 0, 255).astype(np.float32)


def test_mlperf_resnet8_static_qdq_via_convert(mlperf, tmp_path):
    from edgeopt.convert.core import convert
    from edgeopt.ingest.core import ingest

    x = _blocky_images(300, seed=0)
    np.savez(tmp_path / "random.npz", x_train=x[:200], x_test=x[200:])
    ingest(mlperf / "ic" / "resnet8_float.h5", tmp_path / "random.npz", tmp_path / "model", tmp_path / "data.npz")
    converted = convert(tmp_path / "model", tmp_path / "data.npz", tmp_path / "c", samples=16)
    assert converted["onnx_top1_agreement"] == 1.0 and converted["optimized_parity_max_abs_diff"] < 1e-4
    data = load_dataset(tmp_path / "data.npz")
    metrics = quantize_onnx(tmp_path / "c" / "onnx" / "model.onnx", data, tmp_path / "q", "static",
                            calibration_samples=200)
    ops = _ops(tmp_path / "q" / "model.onnx")
    assert ops["Conv"] == 9 and ops["QuantizeLinear"] >= 9
    assert metrics["agreement"] > 0.7 and metrics["snr_db"] > 10
    assert metrics["compression_ratio"] > 2.5
