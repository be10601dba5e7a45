"""quantize: int8/dynamic/float16 TFLite bundles measured with the real LiteRT interpreter."""

import argparse
import json

import numpy as np
import pytest

from edgeopt.common.bundle import ModelInfo, read_bundle, write_bundle
from edgeopt.common.datasets import load_dataset
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.evaluate import accuracy
from edgeopt.common.metrics import read_metrics
from edgeopt.common.runtimes import predict_tflite, tflite_interpreter
from edgeopt.quantize import cli
from edgeopt.common.export import float_tflite
from edgeopt.quantize.core import quantize
from edgeopt.quantize.tflite_methods import float_operators
from edgeopt.common.float_source import open_float_source


@pytest.fixture(scope="module")
def int8(baseline, tmp_path_factory):
    """(bundle dir, metrics) of the int8 digits model."""
    bundle, data, _ = baseline
    out = tmp_path_factory.mktemp("int8") / "q"
    return out, quantize(bundle, data, out, method="int8", calibration_samples=200)


def test_int8_is_small_integer_and_accurate(baseline, int8):
    bundle, data_path, base_metrics = baseline
    out, metrics = int8
    info, model_path = read_bundle(out)
    float_size = len(float_tflite(open_float_source(bundle, "test")))
    assert info.size_bytes == model_path.stat().st_size == metrics["size_bytes"]
    assert metrics["size_bytes"] < 0.3 * float_size
    interp = tflite_interpreter(model_path)
    assert interp.get_input_details()[0]["dtype"] == np.int8
    assert interp.get_output_details()[0]["dtype"] == np.int8
    assert float_operators(model_path.read_bytes()) == []
    data = load_dataset(data_path)
    measured = accuracy(predict_tflite(model_path, data.x_test.astype(np.float32)), data.y_test)
    assert metrics["accuracy"] == pytest.approx(measured)
    assert abs(metrics["accuracy"] - base_metrics["accuracy"]) <= 0.03
    assert metrics["agreement"] > 0.95 and metrics["snr_db"] > 20
    assert metrics["calibration_samples"] == 200 and metrics["precision"] == "int8"
    assert metrics["compression_ratio"] == pytest.approx(metrics["source_size_bytes"] / metrics["size_bytes"])


def test_int8_bundle_metadata(baseline, int8):
    out, metrics = int8
    info, _ = read_bundle(out)
    parent, _ = read_bundle(baseline[0])
    assert (info.format, info.precision, info.stage) == ("tflite", "int8", "quantize")
    assert info.parent == {"stage": "ingest", "format": "keras", "precision": "float32",
                           "size_bytes": parent.size_bytes}
    assert info.input_shape == parent.input_shape and info.sparsity == parent.sparsity
    assert info.details["input_dtype"] == "int8" and info.details["input_quantization"][0] > 0
    assert read_metrics(out) == json.loads(json.dumps(metrics))


@pytest.mark.parametrize("method, precision, input_dtype", [("dynamic", "dynamic_int8", np.float32),
                                                           ("float16", "float16", np.float32)])
def test_dynamic_and_float16(baseline, tmp_path, method, precision, input_dtype):
    bundle, data, base_metrics = baseline
    metrics = quantize(bundle, data, tmp_path / "q", method=method)
    info, model_path = read_bundle(tmp_path / "q")
    assert info.precision == metrics["precision"] == precision
    assert tflite_interpreter(model_path).get_input_details()[0]["dtype"] == input_dtype
    assert abs(metrics["accuracy"] - base_metrics["accuracy"]) <= 0.03
    assert metrics["calibration_samples"] == 0 and metrics["snr_db"] > 30


def test_unknown_method_lists_valid_ones(baseline, tmp_path):
    bundle, data, _ = baseline
    with pytest.raises(EdgeoptError, match="int4") as err:
        quantize(bundle, data, tmp_path / "q", method="int4")
    assert "int8, dynamic, float16" in err.value.hint
    assert not (tmp_path / "q").exists()


def test_mismatched_dataset_shape_writes_nothing(baseline, tmp_path):
    bundle, _, _ = baseline
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((8, 4, 4, 1), np.float32), x_test=np.zeros((4, 4, 4, 1), np.float32))
    with pytest.raises(EdgeoptError, match=r"\(4, 4, 1\).*\(8, 8, 1\)"):
        quantize(bundle, bad, tmp_path / "q")
    assert not (tmp_path / "q").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.npz"]


def _bundle_with(tmp_path, activation):
    """A keras bundle of a small model with a hidden Dense layer of `activation`."""
    from edgeopt.common.tfenv import keras

    inp = keras.layers.Input((8, 8, 1))
    hidden = keras.layers.Dense(8, activation=activation)(keras.layers.Flatten()(inp))
    model = keras.Model(inp, keras.layers.Dense(10, activation="softmax")(hidden))
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    model.save(bundle / "model.keras")
    write_bundle(bundle, ModelInfo(format="keras", file="model.keras", input_shape=[None, 8, 8, 1],
                                   output_shape=[None, 10]))
    return bundle


def test_operator_without_int8_kernel_is_named(baseline, tmp_path):
    bundle = _bundle_with(tmp_path, "elu")
    with pytest.raises(EdgeoptError, match="fully int8.*ELU") as err:
        quantize(bundle, baseline[1], tmp_path / "q", method="int8")
    assert "--method dynamic" in err.value.hint
    assert not (tmp_path / "q").exists()
    assert quantize(bundle, baseline[1], tmp_path / "q", method="dynamic")["precision"] == "dynamic_int8"


def test_quantized_bundle_is_not_a_source(baseline, int8, tmp_path):
    with pytest.raises(EdgeoptError, match="holds a tflite model"):
        quantize(int8[0], baseline[1], tmp_path / "q")


def test_cli_takes_a_raw_model_file(digits_model_file, digits_npz, tmp_path):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--model", str(digits_model_file), "--data", str(digits_npz),
                              "--method", "float16", "--output", str(tmp_path / "q")])
    metrics = cli.run(args)
    info, _ = read_bundle(tmp_path / "q")
    assert metrics["method"] == "float16" and info.precision == "float16"
    assert info.parent["stage"] == "user" and info.input_shape == [None, 8, 8, 1]
    assert [p.name for p in tmp_path.iterdir()] == ["q"]
