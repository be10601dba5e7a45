"""Quantize a float Keras/SavedModel bundle into a TFLite bundle and measure it with LiteRT.

Methods (`METHODS` maps each to the precision recorded in model.json):
- `int8`: full-integer; weights and activations int8, calibrated on the dataset's calibration
  split, int8 input and output tensors, only int8 builtin kernels (what microcontrollers run).
- `dynamic`: dynamic-range; int8 weights, float activations and float input/output.
- `float16`: float16 weights, float compute.
"""

import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edgeopt.common.bundle import ModelInfo, parent_ref, write_bundle
from edgeopt.common.datasets import load_dataset
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.evaluate import accuracy, parity
from edgeopt.common.fsutil import atomic_dir
from edgeopt.common.metrics import write_metrics
from edgeopt.common.runtimes import predict_tflite, tflite_interpreter
from edgeopt.quantize.inputs import FloatSource, open_float_source

METHODS = {"int8": "int8", "dynamic": "dynamic_int8", "float16": "float16"}
MODEL_FILE = "model.tflite"
# ops that only move values between float and integer; any other op with a float output runs in float
_CAST_OPS = ("QUANTIZE", "DEQUANTIZE")


def quantize(model_dir: Path | str, data_path: Path | str, out_dir: Path | str, method: str = "int8",
             calibration_samples: int = 200) -> dict[str, Any]:
    """Quantize the float bundle `model_dir` with `method`; write a tflite bundle to `out_dir`.

    `int8` calibrates on up to `calibration_samples` samples of the dataset's calibration split.
    Accuracy is measured on x_test/y_test with the LiteRT interpreter (against the float model's
    predictions when the dataset has no y_test); `agreement` and `snr_db` compare with the float model.
    Returns the metrics, also written as `metrics.json` in the bundle. Raises EdgeoptError for an
    unknown method, samples that do not fit the model, or a model that cannot be quantized that way.
    """
    if method not in METHODS:
        raise EdgeoptError(f"unknown quantization method {method!r}", f"use one of {', '.join(METHODS)}")
    if method == "int8" and calibration_samples < 1:
        raise EdgeoptError(f"calibration_samples must be at least 1, not {calibration_samples}",
                           "int8 quantization needs representative samples; 100-500 is typical")
    source = open_float_source(model_dir, "quantize")
    data = load_dataset(data_path)
    x_test = source.check_samples(data.x_test, "x_test")
    calib = None
    if method == "int8":
        calib = source.check_samples(data.calibration(calibration_samples),
                                     "x_calib" if data.x_calib is not None else "x_train")

    flatbuffer = to_tflite(source, method, calib)
    if method == "int8":
        float_ops = float_operators(flatbuffer)
        if float_ops:
            raise EdgeoptError(f"the model cannot be fully int8-quantized: operator(s) {', '.join(float_ops)} "
                               "have no int8 kernel and would run in float",
                               "use `--method dynamic` or `--method float16`, or replace those layers")
    reference = source.predict(x_test)
    outputs = predict_tflite(flatbuffer, x_test)
    labels = data.y_test if data.y_test is not None else reference.reshape(len(reference), -1).argmax(-1)
    match = parity(outputs, reference)
    io = _io_details(flatbuffer)

    with atomic_dir(out_dir) as scratch:
        (scratch / MODEL_FILE).write_bytes(flatbuffer)
        info = write_bundle(scratch, ModelInfo(
            format="tflite", file=MODEL_FILE, precision=METHODS[method], input_shape=source.info.input_shape,
            output_shape=source.info.output_shape, sparsity=source.info.sparsity, stage="quantize",
            parent=parent_ref(source.info), details={"method": method, **io}))
        metrics = {
            "method": method,
            "precision": info.precision,
            "accuracy": accuracy(outputs, labels),
            "labels": data.labels if data.y_test is not None else "float_model",
            "agreement": match["top1_agreement"],
            "snr_db": match["snr_db"],
            "max_abs_diff": match["max_abs_diff"],
            "size_bytes": info.size_bytes,
            "source_size_bytes": source.info.size_bytes,
            "compression_ratio": source.info.size_bytes / info.size_bytes,
            "calibration_samples": 0 if calib is None else int(len(calib)),
            "num_test": int(len(x_test)),
        }
        write_metrics(scratch, metrics)
    return metrics


def to_tflite(source: FloatSource, method: str | None, calibration: np.ndarray | None = None) -> bytes:
    """The TFLite flatbuffer of `source`: float32 when `method` is None, else quantized with `method`.

    Converter failures become EdgeoptError naming the unsupported operator when the message does.
    """
    from edgeopt.common.tfenv import tf

    converter = source.tflite_converter()
    if method is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if method == "int8":
        converter.representative_dataset = _representative(calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    elif method == "float16":
        converter.target_spec.supported_types = [tf.float16]
    try:
        with warnings.catch_warnings():  # int8 I/O without input statistics is what we ask for
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
            return bytes(converter.convert())
    except Exception as exc:  # the converter raises ConverterError, ValueError, RuntimeError, ...
        raise _conversion_error(exc, method) from exc


def float_operators(flatbuffer: bytes) -> list[str]:
    """Names of the operators of a TFLite model that compute in float (outputs float32 or float16)."""
    interp = tflite_interpreter(flatbuffer)
    dtypes = {t["index"]: np.dtype(t["dtype"]) for t in interp.get_tensor_details()}
    found: list[str] = []
    for op in interp._get_ops_details():  # the only LiteRT API listing operators and their tensors
        if op["op_name"] in _CAST_OPS:
            continue
        if any(np.issubdtype(dtypes.get(int(i), np.dtype(np.int8)), np.floating) for i in op["outputs"]):
            if op["op_name"] not in found:
                found.append(op["op_name"])
    return found


def _representative(calibration: np.ndarray) -> Any:
    def samples() -> Iterator[list[np.ndarray]]:
        for row in calibration:
            yield [row[None].astype(np.float32)]
    return samples


def _io_details(flatbuffer: bytes) -> dict[str, Any]:
    interp = tflite_interpreter(flatbuffer)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    return {"input_dtype": np.dtype(inp["dtype"]).name, "output_dtype": np.dtype(out["dtype"]).name,
            "input_quantization": [float(inp["quantization"][0]), int(inp["quantization"][1])],
            "output_quantization": [float(out["quantization"][0]), int(out["quantization"][1])]}


def _conversion_error(exc: BaseException, method: str | None) -> EdgeoptError:
    text = str(exc)
    ops = _named_operators(text)
    what = "float TFLite" if method is None else f"{method} TFLite"
    reason = f"operator(s) {', '.join(ops)} not supported" if ops else _first_error_line(text)
    no_builtin = any(s in text for s in ("flex op", "TF Select", "Select TF ops"))
    if no_builtin:
        hint = ("TFLite has no builtin kernel for it and microcontrollers cannot run TF Select ops: "
                "replace that layer with a built-in one")
    elif method == "int8":
        hint = "use `--method dynamic` or `--method float16`, which leave unsupported operators in float"
    else:
        hint = "check that the model runs in TensorFlow, and replace custom or exotic layers with built-in ones"
    return EdgeoptError(f"cannot convert the model to {what}: {reason}", hint)


def _named_operators(text: str) -> list[str]:
    names = re.findall(r"'(?:tf|tfl)\.(\w+)' op", text)
    for group in re.findall(r"TF Select ops: ([\w, ]+)", text):
        names += [n.strip() for n in group.split(",") if n.strip()]
    return list(dict.fromkeys(names))


def _first_error_line(text: str) -> str:
    for line in text.splitlines():
        if "error:" in line:
            return line.split("error:", 1)[1].strip()[:300]
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0][:300] if lines else "unknown converter error"
