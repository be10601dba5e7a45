"""quantize: io types, int16x8, per-tensor, mixed precision, QAT, fusions and input errors, run with LiteRT."""

import argparse
import sys
import types

import numpy as np
import pytest

from edgeopt.common.bundle import ModelInfo, read_bundle, write_bundle
from edgeopt.common.datasets import load_dataset
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.evaluate import accuracy, parity
from edgeopt.common.runtimes import predict_tflite, tflite_interpreter
from edgeopt.quantize import cli
from edgeopt.quantize.core import quantize


def _ops(model_path):
    """[(op name, output dtype, input tensor details)] of a TFLite model, in order."""
    interp = tflite_interpreter(model_path)
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    return [(op["op_name"], np.dtype(tensors[int(op["outputs"][0])]["dtype"]),
             [tensors[int(i)] for i in op["inputs"] if int(i) >= 0])
            for op in interp._get_ops_details()]


def _keras_bundle(path, model):
    path.mkdir(parents=True)
    model.save(path / "model.keras")
    write_bundle(path, ModelInfo(format="keras", file="model.keras",
                                 input_shape=[None, *map(int, model.input_shape[1:])],
                                 output_shape=[None, *map(int, model.output_shape[1:])]))
    return path


def test_uint8_io(baseline, tmp_path):
    bundle, data_path, base = baseline
    metrics = quantize(bundle, data_path, tmp_path / "q", io_type="uint8", latency_runs=0)
    interp = tflite_interpreter(read_bundle(tmp_path / "q")[1])
    assert interp.get_input_details()[0]["dtype"] == np.uint8
    assert interp.get_output_details()[0]["dtype"] == np.uint8
    assert metrics["io_type"] == "uint8" and metrics["float_operators"] == []
    assert abs(metrics["accuracy"] - base["accuracy"]) <= 0.03


def test_int8_with_float_io_computes_in_int8(baseline, tmp_path):
    bundle, data_path, _ = baseline
    metrics = quantize(bundle, data_path, tmp_path / "q", io_type="float32", latency_runs=0)
    ops = _ops(read_bundle(tmp_path / "q")[1])
    assert ops[0][0] == "QUANTIZE" and ops[-1][0] == "DEQUANTIZE"
    assert all(dtype == np.int8 for name, dtype, _ in ops[1:-1])
    assert metrics["io_type"] == "float32" and metrics["agreement"] > 0.95


def test_int16x8_has_int16_activations_and_int8_weights(baseline, tmp_path):
    bundle, data_path, base = baseline
    metrics = quantize(bundle, data_path, tmp_path / "q", method="int16x8", latency_runs=0)
    ops = _ops(read_bundle(tmp_path / "q")[1])
    convs = [op for op in ops if op[0] in ("CONV_2D", "FULLY_CONNECTED")]
    assert convs and all(dtype == np.int16 for _, dtype, _ in convs)
    assert all(inputs[1]["dtype"] == np.int8 for _, _, inputs in convs)
    assert metrics["precision"] == "int16x8" and metrics["io_type"] == "int16"
    assert metrics["activation_dtypes"].get("int8", 0) == 0
    assert abs(metrics["accuracy"] - base["accuracy"]) <= 0.02 and metrics["snr_db"] > 30


def test_per_tensor_has_one_scale_per_conv_kernel(baseline, tmp_path):
    bundle, data_path, _ = baseline
    quantize(bundle, data_path, tmp_path / "channel", latency_runs=0)
    quantize(bundle, data_path, tmp_path / "tensor", per_channel=False, latency_runs=0)

    def kernel_scales(out):
        return [len(inputs[1]["quantization_parameters"]["scales"])
                for name, _, inputs in _ops(read_bundle(out)[1]) if name == "CONV_2D"]
    assert kernel_scales(tmp_path / "tensor") == [1, 1, 1]
    assert kernel_scales(tmp_path / "channel") == [16, 32, 32]


def test_io_type_must_suit_the_method(baseline, tmp_path):
    bundle, data_path, _ = baseline
    with pytest.raises(EdgeoptError, match="io_type 'uint8'.*int16x8") as err:
        quantize(bundle, data_path, tmp_path / "q", method="int16x8", io_type="uint8")
    assert "int16, float32" in err.value.hint
    with pytest.raises(EdgeoptError, match="tflite backend calibrates with minmax, not .entropy."):
        quantize(bundle, data_path, tmp_path / "q", calibration_method="entropy")
    with pytest.raises(EdgeoptError, match="float_layers does not apply to tflite method int8.*use method mixed"):
        quantize(bundle, data_path, tmp_path / "q", method="int8", float_layers=["conv1"])
    assert not (tmp_path / "q").exists()


def test_mixed_keeps_named_layer_float(baseline, tmp_path):
    bundle, data_path, base = baseline
    metrics = quantize(bundle, data_path, tmp_path / "q", method="mixed", float_layers=["conv2"], latency_runs=0)
    ops = [(name, dtype) for name, dtype, _ in _ops(read_bundle(tmp_path / "q")[1])]
    convs = [dtype for name, dtype in ops if name == "CONV_2D"]
    assert convs == [np.int8, np.float32, np.int8]
    assert ("DEQUANTIZE", np.float32) in ops and ("QUANTIZE", np.int8) in ops
    assert metrics["float_layers"] == [{"layer": "conv2", "operators": ["CONV_2D:conv2"], "stayed_float": True,
                                        "reason": "requested"}]
    assert metrics["float_operators"] == ["CONV_2D"] and metrics["precision"] == "mixed_int8_float"
    assert abs(metrics["accuracy"] - base["accuracy"]) <= 0.03


def test_mixed_unknown_layer_lists_the_names(baseline, tmp_path):
    bundle, data_path, _ = baseline
    with pytest.raises(EdgeoptError, match="'conv9' matches no") as err:
        quantize(bundle, data_path, tmp_path / "q", method="mixed", float_layers=["conv9"], latency_runs=0)
    assert "conv1" in err.value.hint and "SOFTMAX" in err.value.hint
    assert not (tmp_path / "q").exists()


def _outlier_model(tmp_path, rng):
    """A dense model whose first layer has one unit 1000x larger than the rest: int8 activations of
    that layer lose the others, so it is the sensitive one."""
    from edgeopt.common.tfenv import keras

    keras.utils.set_random_seed(0)
    inp = keras.layers.Input((8, 8, 1))
    h = keras.layers.Flatten(name="flat")(inp)
    h = keras.layers.Dense(32, activation="relu", name="wide")(h)
    h = keras.layers.Dense(16, activation="relu", name="mid")(h)
    model = keras.Model(inp, keras.layers.Dense(10, name="head")(h))
    w, b = model.get_layer("wide").get_weights()
    w[:, 0] = np.abs(w[:, 0]) * 1000
    model.get_layer("wide").set_weights([w, b])
    w, b = model.get_layer("mid").get_weights()
    w[0, :] = 0  # the outlier unit feeds nothing: the output rests on the small units
    model.get_layer("mid").set_weights([w, b])
    x = rng.random((400, 8, 8, 1)).astype(np.float32)
    data = tmp_path / "data.npz"
    np.savez(data, x_train=x[:200], x_test=x[200:])  # no labels: the drop is 1 - agreement
    return _keras_bundle(tmp_path / "bundle", model), data


def test_auto_mixed_meets_the_budget_by_keeping_the_sensitive_layer_float(tmp_path):
    bundle, data = _outlier_model(tmp_path, np.random.default_rng(0))
    plain = quantize(bundle, data, tmp_path / "int8", latency_runs=0)
    assert plain["agreement"] < 0.9  # the outlier hurts plain int8
    metrics = quantize(bundle, data, tmp_path / "q", method="mixed", accuracy_budget=0.02, io_type="float32",
                       latency_runs=0)
    assert metrics["budget_met"] is True and "<= budget 0.0200" in metrics["budget_reason"]
    assert metrics["sensitivity"][0]["layers"] == ["wide"]
    first = metrics["float_layers"][0]
    assert first["layer"] == "wide" and first["sensitivity_rank"] == 1 and "relative output error" in first["reason"]
    assert metrics["float_operators"] == ["FULLY_CONNECTED"]
    # the drop is measured again here with LiteRT on the written model
    x_test = load_dataset(data).x_test
    from edgeopt.common.float_source import open_float_source
    reference = open_float_source(bundle, "test").predict(x_test)
    agreement = parity(predict_tflite(read_bundle(tmp_path / "q")[1], x_test), reference)["top1_agreement"]
    assert agreement == pytest.approx(metrics["agreement"]) and 1 - agreement <= 0.02
    assert metrics["search"][-1]["accuracy_drop"] <= 0.02 < metrics["search"][0]["accuracy_drop"]


def test_auto_mixed_reports_why_a_budget_cannot_be_met(tmp_path):
    """The output depends only on tiny input features next to one huge one: int8 input loses them
    whatever stays float inside, so no choice of float layers meets a zero budget."""
    from edgeopt.common.tfenv import keras

    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    inp = keras.layers.Input((16,))
    model = keras.Model(inp, keras.layers.Dense(10, name="head")(inp))
    w, b = model.get_layer("head").get_weights()
    w[0, :] = 0
    model.get_layer("head").set_weights([w * 100, b * 0])
    x = rng.random((300, 16)).astype(np.float32) * 0.01
    x[:, 0] = rng.random(300) * 1000
    np.savez(tmp_path / "data.npz", x_train=x[:100], x_test=x[100:])
    bundle = _keras_bundle(tmp_path / "bundle", model)
    metrics = quantize(bundle, tmp_path / "data.npz", tmp_path / "q", method="mixed", accuracy_budget=0.0,
                       latency_runs=0)
    assert metrics["budget_met"] is False
    assert "still exceeds the budget" in metrics["budget_reason"] and "input and output" in metrics["budget_reason"]
    assert metrics["float_layers"] and all("sensitivity rank" in f["reason"] for f in metrics["float_layers"])


def test_qat_accuracy_is_measured_with_litert_beside_ptq(baseline, tmp_path):
    bundle, data_path, base = baseline
    metrics = quantize(bundle, data_path, tmp_path / "q", method="qat", qat_epochs=1, latency_runs=0)
    info, model_path = read_bundle(tmp_path / "q")
    interp = tflite_interpreter(model_path)
    assert interp.get_input_details()[0]["dtype"] == np.int8 and metrics["float_operators"] == []
    data = load_dataset(data_path)
    assert metrics["accuracy"] == pytest.approx(accuracy(predict_tflite(model_path, data.x_test), data.y_test))
    assert abs(metrics["accuracy"] - base["accuracy"]) <= 0.03
    assert abs(metrics["ptq_accuracy"] - base["accuracy"]) <= 0.03
    assert metrics["qat_epochs"] == 1 and metrics["qat_labels"] == "true"
    assert info.precision == "int8" and info.details["method"] == "qat"
    assert [f["layers"] for f in metrics["fusions"]][:2] == [["conv1"], ["conv2"]]


def test_qat_names_an_unsupported_layer(digits_npz, tmp_path):
    from edgeopt.common.tfenv import keras

    inp = keras.layers.Input((8, 8, 1))
    h = keras.layers.LayerNormalization(name="norm")(keras.layers.Flatten()(inp))
    bundle = _keras_bundle(tmp_path / "b", keras.Model(inp, keras.layers.Dense(10, activation="softmax")(h)))
    with pytest.raises(EdgeoptError, match="quantization-aware training.*norm") as err:
        quantize(bundle, digits_npz, tmp_path / "q", method="qat", latency_runs=0)
    assert "--method int8" in err.value.hint
    assert not (tmp_path / "q").exists()


def test_fusions_list_conv_batchnorm_relu(digits_npz, tmp_path):
    from edgeopt.common.tfenv import keras

    inp = keras.layers.Input((8, 8, 1))
    h = keras.layers.Conv2D(8, 3, name="conv")(inp)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.ReLU(name="relu")(h)
    model = keras.Model(inp, keras.layers.Dense(10, name="head")(keras.layers.Flatten(name="flat")(h)))
    model.get_layer("bn").set_weights([np.full(8, 2.0), np.full(8, 0.5), np.full(8, 0.1), np.full(8, 3.0)])
    bundle = _keras_bundle(tmp_path / "b", model)
    metrics = quantize(bundle, digits_npz, tmp_path / "q", latency_runs=0)
    assert metrics["fusions"][0] == {"op": "CONV_2D", "fused": ["Conv2D", "FusedBatchNormV3", "Relu"],
                                     "layers": ["conv", "bn", "relu"], "pattern": "Conv2D+BatchNormalization+ReLU"}
    assert [op for op, _, _ in _ops(read_bundle(tmp_path / "q")[1])] == ["CONV_2D", "RESHAPE", "FULLY_CONNECTED"]


def test_calibration_data_that_does_not_fit_is_named(baseline, tmp_path):
    bundle, data_path, _ = baseline
    data = load_dataset(data_path)
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=data.x_train, x_test=data.x_test, y_test=data.y_test,
             x_calib=np.zeros((10, 8, 8, 3), np.float32))
    with pytest.raises(EdgeoptError, match=r"x_calib samples have shape \(8, 8, 3\).*\(8, 8, 1\)"):
        quantize(bundle, bad, tmp_path / "q")
    calib = data.x_train[:10].astype(np.float32)
    calib[3, 0, 0, 0] = np.nan
    np.savez(bad, x_train=data.x_train, x_test=data.x_test, x_calib=calib)
    with pytest.raises(EdgeoptError, match="x_calib samples hold 1 NaN"):
        quantize(bundle, bad, tmp_path / "q", method="int16x8")
    assert not (tmp_path / "q").exists()


def test_host_latency_and_memory_are_reported(baseline, int8_metrics):
    metrics = int8_metrics
    for key in ("latency_ms_median", "latency_ms_p90", "float_latency_ms_median"):
        assert 0 < metrics[key] < 1000
    assert metrics["latency_ms_p90"] >= metrics["latency_ms_median"]
    assert metrics["peak_memory_bytes"] > 0 and metrics["float_peak_memory_bytes"] > 0
    assert metrics["speedup_vs_float"] == pytest.approx(metrics["float_latency_ms_median"]
                                                        / metrics["latency_ms_median"])
    assert metrics["ratio_to_float_tflite"] < 0.35


@pytest.fixture(scope="module")
def int8_metrics(baseline, tmp_path_factory):
    bundle, data_path, _ = baseline
    return quantize(bundle, data_path, tmp_path_factory.mktemp("q") / "q", latency_runs=20)


def test_onnx_bundles_go_to_the_onnx_runtime_path(baseline, tmp_path, monkeypatch):
    """The dispatch only: a stand-in for edgeopt.quantize.onnx_path records the call."""
    calls = []

    def fake(onnx_path, data, out_dir, method, calibration_method="minmax", calibration_samples=200):
        calls.append((onnx_path.name, type(data).__name__, out_dir, method, calibration_method, calibration_samples))
        return {"method": method}
    monkeypatch.setitem(sys.modules, "edgeopt.quantize.onnx_path", types.SimpleNamespace(quantize_onnx=fake))
    bundle = tmp_path / "onnx"
    bundle.mkdir()
    (bundle / "model.onnx").write_bytes(b"stand-in")
    write_bundle(bundle, ModelInfo(format="onnx", file="model.onnx", input_shape=[None, 8, 8, 1]))
    assert quantize(bundle, baseline[1], tmp_path / "q", calibration_samples=50) == {"method": "static"}
    assert quantize(bundle, baseline[1], tmp_path / "q", method="static", calibration_method="entropy")
    assert calls == [("model.onnx", "Dataset", tmp_path / "q", "static", "minmax", 50),
                     ("model.onnx", "Dataset", tmp_path / "q", "static", "entropy", 200)]
    with pytest.raises(EdgeoptError, match="calibration_method does not apply to onnxruntime method int4"):
        quantize(bundle, baseline[1], tmp_path / "q", method="int4", calibration_method="entropy")
    with pytest.raises(EdgeoptError, match="io_type, float_layers do not apply to onnxruntime method static"):
        quantize(bundle, baseline[1], tmp_path / "q", io_type="uint8", float_layers=["conv1"])
    with pytest.raises(EdgeoptError, match="backend must be one of tflite, onnxruntime, not .tvm."):
        quantize(bundle, baseline[1], tmp_path / "q", backend="tvm")


def test_cli_passes_the_new_options(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(cli, "quantize", lambda *args, **kwargs: seen.update(kwargs) or {})
    monkeypatch.setattr(cli, "bundle_from_path", lambda path, tmp: path)
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    cli.run(parser.parse_args(["--model", "m", "--data", "d", "--output", "o", "--method", "mixed",
                               "--float-layers", "conv1, SOFTMAX", "--accuracy-budget", "0.01", "--per-tensor",
                               "--io-type", "uint8", "--latency-runs", "0"]))
    assert seen == {"method": "mixed", "calibration_samples": 200, "io_type": "uint8", "per_channel": False,
                    "float_layers": ["conv1", "SOFTMAX"], "accuracy_budget": 0.01, "qat_epochs": 2,
                    "backend": "tflite", "calibration_method": "minmax", "latency_runs": 0, "trust_model": False}


def test_int16x8_names_the_operator_without_a_16x8_kernel(digits_npz, tmp_path):
    from edgeopt.common.tfenv import keras

    inp = keras.layers.Input((8, 8, 1))
    hidden = keras.layers.Dense(8, activation="selu")(keras.layers.Flatten()(inp))  # SELU: GREATER, SELECT_V2
    bundle = _keras_bundle(tmp_path / "b", keras.Model(inp, keras.layers.Dense(10, activation="softmax")(hidden)))
    with pytest.raises(EdgeoptError, match="int16x8 TFLite: operator.s. GREATER, SELECT_V2 not supported") as err:
        quantize(bundle, digits_npz, tmp_path / "q", method="int16x8", latency_runs=0)
    assert "--method dynamic" in err.value.hint and "--float-layers" in err.value.hint
    assert not (tmp_path / "q").exists()
