"""Quantize a float model bundle and measure the result with its own runtime.

TFLite methods (`METHODS` maps each to the precision recorded in model.json):
- `int8`: full-integer; int8 weights (per output channel by default) and activations calibrated
  on the dataset's calibration split; int8 (default), uint8 or float32 input/output (`io_type`);
  only int8 builtin kernels (what microcontrollers run).
- `int16x8`: int16 activations, int8 weights; int16 (default) or float32 input/output.
- `dynamic`: dynamic-range; int8 weights, float activations and float input/output.
- `float16`: float16 weights, float compute.
- `mixed`: int8 with `float_layers` kept in float and/or, with `accuracy_budget`, the most
  sensitive operators kept in float until the accuracy drop is within the budget (`mixed.py`).
- `qat`: quantization-aware training with tfmot for `qat_epochs`, then int8 like `int8`; the
  post-training int8 model is made from the same data and its accuracy reported beside it.

ONNX bundles (format "onnx") and `backend="onnxruntime"` go to the ONNX Runtime path
(`edgeopt.quantize.onnx_path.quantize_onnx`; methods static, dynamic, int4, float16, with `int8`
meaning static); a Keras/SavedModel source is first exported to ONNX as `convert` does.

Every TFLite result is run by the LiteRT interpreter: accuracy on x_test/y_test (or against
the float model's top-1 without labels), top-1 agreement, SNR and relative error against the
float model, file bytes, host latency (median, p90) and peak memory of it and of the float
TFLite model (`edgeopt.common.hostperf`, one thread), and the fusions the converter made.
"""

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgeopt.common.bundle import ModelInfo, parent_ref, read_bundle, write_bundle
from edgeopt.common.datasets import Dataset, load_dataset
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.evaluate import accuracy, parity, quality
from edgeopt.common.fsutil import atomic_dir
from edgeopt.common.metrics import write_metrics
from edgeopt.common.runtimes import predict_tflite
from edgeopt.quantize import tflite_methods as tm
from edgeopt.quantize.fusions import fusions as find_fusions
from edgeopt.quantize.inputs import FloatSource, open_float_source
from edgeopt.quantize.mixed import MixedResult, auto_float_nodes, named_mixed, quantizable_nodes

METHODS = {"int8": "int8", "dynamic": "dynamic_int8", "float16": "float16", "int16x8": "int16x8",
           "mixed": "mixed_int8_float", "qat": "int8"}
BACKENDS = ("tflite", "onnxruntime")
CALIBRATION_METHODS = ("minmax",)  # the TFLite converter records min/max ranges only
MODEL_FILE = "model.tflite"
LATENCY_SAMPLES = 16
SENSITIVITY_SAMPLES = 64
# kept for callers that imported them from here
float_operators = tm.float_operators


def quantize(model_dir: Path | str, data_path: Path | str, out_dir: Path | str, method: str = "int8",
             calibration_samples: int = 200, *, io_type: str | None = None, per_channel: bool = True,
             float_layers: list[str] | tuple[str, ...] | None = None, accuracy_budget: float | None = None,
             qat_epochs: int = 2, backend: str = "tflite", calibration_method: str = "minmax",
             latency_runs: int = 50) -> dict[str, Any]:
    """Quantize the float bundle `model_dir` with `method`; write the quantized bundle to `out_dir`.

    Options (TFLite): `io_type` int8/uint8/float32 (int8, mixed, qat) or int16/float32 (int16x8);
    `per_channel=False` for one weight scale per tensor; `float_layers` (Keras layer names,
    TFLite operator types or tensor names) and `accuracy_budget` (largest accuracy drop against
    the float model, a fraction) for `mixed`; `qat_epochs` for `qat`; `calibration_samples` for
    the calibrated methods; `latency_runs` timed single-sample runs (0: no host measurement).
    `backend="onnxruntime"` (or an ONNX bundle) uses ONNX Runtime with `calibration_method`.
    Returns the metrics, also written as `metrics.json` in the bundle. Raises EdgeoptError for bad
    options, samples that do not fit the model, or a model that cannot be quantized that way.
    """
    if backend not in BACKENDS:
        raise EdgeoptError(f"unknown backend {backend!r}", f"use one of {', '.join(BACKENDS)}")
    info, _ = read_bundle(model_dir)
    if backend == "onnxruntime" or info.format == "onnx":
        tflite_only = [name for name, used in (("io_type", io_type is not None), ("per_channel=False", not per_channel),
                                               ("float_layers", bool(float_layers)),
                                               ("accuracy_budget", accuracy_budget is not None)) if used]
        if tflite_only:
            raise EdgeoptError(f"{', '.join(tflite_only)} apply to the TFLite backend only",
                               "drop them, or quantize the Keras/SavedModel form with --backend tflite")
        return _quantize_onnx(model_dir, info, data_path, out_dir, method, calibration_samples, calibration_method)
    io_type = check_options(method, calibration_samples, io_type=io_type, per_channel=per_channel,
                            float_layers=float_layers, accuracy_budget=accuracy_budget,
                            calibration_method=calibration_method, latency_runs=latency_runs)
    source = open_float_source(model_dir, "quantize")
    data = load_dataset(data_path)
    x_test = _check_finite(source.check_samples(data.x_test, "x_test"), "x_test")
    calib = None
    if method != "dynamic" and method != "float16":
        split = "x_calib" if data.x_calib is not None else "x_train"
        calib = _check_finite(source.check_samples(data.calibration(calibration_samples), split), split)
    reference = source.predict(x_test)
    labels = data.y_test if data.y_test is not None else _top1(reference)

    extra: dict[str, Any] = {}
    float_report: list[dict[str, Any]] = []
    if method in ("int8", "int16x8", "dynamic", "float16"):
        flatbuffer = to_tflite(source, method, calib, io_type, per_channel)
    elif method == "mixed":
        result = _mixed(source, data, calib, x_test, reference, labels, io_type, per_channel, float_layers,
                        accuracy_budget)
        flatbuffer, float_report = result.flatbuffer, result.float_layers
        if accuracy_budget is not None:
            extra.update({"accuracy_budget": accuracy_budget, "budget_met": result.budget_met,
                          "budget_reason": result.budget_reason, "search": result.steps,
                          "sensitivity": result.sensitivity})
    else:  # qat
        from edgeopt.quantize.qat import qat_flatbuffer

        flatbuffer, extra = qat_flatbuffer(_keras_of(source), data, calib, qat_epochs, io_type)
        ptq = to_tflite(source, "int8", calib, io_type, per_channel)
        ptq_out = predict_tflite(ptq, x_test)
        extra.update({"ptq_accuracy": accuracy(ptq_out, labels),
                      "ptq_agreement": parity(ptq_out, reference)["top1_agreement"],
                      "ptq_size_bytes": len(ptq)})
    if method in ("int8", "int16x8", "qat"):
        _check_fully_quantized(flatbuffer, method)

    outputs = predict_tflite(flatbuffer, x_test)
    io = tm.io_details(flatbuffer)
    float_tflite = to_tflite(source, None)
    perf = _host_performance(flatbuffer, float_tflite, x_test, latency_runs)

    with atomic_dir(out_dir) as scratch:
        (scratch / MODEL_FILE).write_bytes(flatbuffer)
        info = write_bundle(scratch, ModelInfo(
            format="tflite", file=MODEL_FILE, precision=METHODS[method], input_shape=source.info.input_shape,
            output_shape=source.info.output_shape, sparsity=source.info.sparsity, stage="quantize",
            parent=parent_ref(source.info),
            details={"method": method, "per_channel": per_channel,
                     "float_layers": [f["layer"] for f in float_report], **io}))
        metrics = {
            "method": method,
            "backend": "tflite",
            "precision": info.precision,
            **quality(outputs, reference, labels),
            "labels": data.labels if data.y_test is not None else "float_model",
            "size_bytes": info.size_bytes,
            "source_size_bytes": source.info.size_bytes,
            "compression_ratio": source.info.size_bytes / info.size_bytes,
            "float_tflite_size_bytes": len(float_tflite),
            "ratio_to_float_tflite": info.size_bytes / len(float_tflite),
            "calibration_samples": 0 if calib is None else int(len(calib)),
            "calibration_method": "minmax" if calib is not None else None,
            "num_test": int(len(x_test)),
            "io_type": io["input_dtype"],
            "per_channel": per_channel,
            "input_clipped_fraction": _clipped_fraction(x_test, flatbuffer),
            "activation_dtypes": tm.activation_dtypes(flatbuffer),
            "float_operators": tm.float_operators(flatbuffer),
            "float_layers": float_report,
            "fusions": find_fusions(flatbuffer, source.keras_model),
            **perf,
            **extra,
        }
        write_metrics(scratch, metrics)
    return metrics


def to_tflite(source: FloatSource, method: str | None, calibration: np.ndarray | None = None,
              io_type: str | None = None, per_channel: bool = True) -> bytes:
    """The TFLite flatbuffer of `source`: float32 when `method` is None, else quantized with `method`
    (int8, int16x8, dynamic or float16). Converter failures become EdgeoptError naming the operator."""
    return tm.to_tflite_bytes(source, method, calibration, io_type, per_channel)


def check_options(method: str = "int8", calibration_samples: int = 200, *, io_type: str | None = None,
                  per_channel: bool = True, float_layers=None, accuracy_budget: float | None = None,
                  calibration_method: str = "minmax", latency_runs: int = 50) -> str:
    """The io type to use if the TFLite options go together; EdgeoptError naming the conflict otherwise."""
    if method not in METHODS:
        raise EdgeoptError(f"unknown quantization method {method!r}",
                           f"use one of {', '.join(METHODS)} (or --backend onnxruntime for static, dynamic, "
                           "int4 and float16 with ONNX Runtime)")
    if method not in ("dynamic", "float16") and calibration_samples < 1:
        raise EdgeoptError(f"calibration_samples must be at least 1, not {calibration_samples}",
                           f"{method} quantization needs representative samples; 100-500 is typical")
    if calibration_method not in CALIBRATION_METHODS:
        raise EdgeoptError(f"the TFLite converter calibrates with min/max ranges only, not {calibration_method!r}",
                           "use calibration_method minmax, or --backend onnxruntime for entropy or percentile")
    if method != "mixed" and (float_layers or accuracy_budget is not None):
        raise EdgeoptError(f"float layers and an accuracy budget apply to method mixed, not {method}",
                           "use --method mixed with --float-layers and/or --accuracy-budget")
    if method == "mixed" and not float_layers and accuracy_budget is None:
        raise EdgeoptError("method mixed needs float layers to keep, an accuracy budget, or both",
                           "add --float-layers NAME[,NAME...] or --accuracy-budget 0.01")
    if accuracy_budget is not None and not 0 <= accuracy_budget < 1:
        raise EdgeoptError(f"accuracy_budget is a fraction in [0, 1), not {accuracy_budget}",
                           "e.g. 0.01 for at most one point of accuracy lost against the float model")
    if method == "qat" and not per_channel:
        raise EdgeoptError("quantization-aware training uses tfmot's per-channel 8-bit scheme",
                           "drop --per-tensor, or use --method int8 --per-tensor")
    if latency_runs < 0:
        raise EdgeoptError(f"latency_runs must be >= 0, not {latency_runs}", "0 skips the host measurement")
    return tm.check_io_type(method, io_type)


def _check_finite(x: np.ndarray, what: str) -> np.ndarray:
    if not np.all(np.isfinite(x)):
        bad = int(np.sum(~np.isfinite(x)))
        raise EdgeoptError(f"the {what} samples hold {bad} NaN or infinite values",
                           f"clean the {what} array; calibration and evaluation need finite inputs")
    return x


def _check_fully_quantized(flatbuffer: bytes, method: str) -> None:
    float_ops = tm.float_operators(flatbuffer)
    if float_ops:
        kind = "int16x8" if method == "int16x8" else "int8"
        raise EdgeoptError(f"the model cannot be fully {kind}-quantized: operator(s) {', '.join(float_ops)} "
                           "have no integer kernel and would run in float", tm.fallback_hint(method))


def _mixed(source: FloatSource, data: Dataset, calib: np.ndarray, x_test: np.ndarray, reference: np.ndarray,
           labels: np.ndarray, io_type: str, per_channel: bool, float_layers, budget: float | None) -> MixedResult:
    calibrated = tm.calibrate(source, calib)
    known = [layer.name for layer in source.keras_model.layers] if source.keras_model is not None else None
    nodes = quantizable_nodes(calibrated, known)
    requested = list(float_layers or [])
    if budget is None:
        return named_mixed(calibrated, nodes, requested, io_type, per_channel)
    float_accuracy = accuracy(reference, labels)
    has_labels = data.y_test is not None

    def drop_of(flatbuffer: bytes) -> float:
        out = predict_tflite(flatbuffer, x_test)
        if has_labels:
            return float_accuracy - accuracy(out, labels)
        return 1.0 - parity(out, reference)["top1_agreement"]

    sens_x = calib[:SENSITIVITY_SAMPLES]
    return auto_float_nodes(calibrated, nodes, budget, io_type, per_channel, sens_x, source.predict(sens_x),
                            drop_of, requested)


def _keras_of(source: FloatSource):
    if source.keras_model is not None:
        return source.keras_model
    from edgeopt.common.keras_io import load_keras

    try:
        return load_keras(source.path)
    except EdgeoptError:
        return None


def _host_performance(flatbuffer: bytes, float_tflite: bytes, x: np.ndarray, runs: int) -> dict[str, Any]:
    keys = ("latency_ms_median", "latency_ms_p90", "peak_memory_bytes", "float_latency_ms_median",
            "float_latency_ms_p90", "float_peak_memory_bytes", "speedup_vs_float")
    if runs == 0:
        return dict.fromkeys(keys)
    from edgeopt.common.hostperf import measure_tflite

    sample = x[:LATENCY_SAMPLES]
    mine = measure_tflite(flatbuffer, sample, runs=runs)
    ref = measure_tflite(float_tflite, sample, runs=runs)
    return {**mine, "float_latency_ms_median": ref["latency_ms_median"],
            "float_latency_ms_p90": ref["latency_ms_p90"], "float_peak_memory_bytes": ref["peak_memory_bytes"],
            "speedup_vs_float": ref["latency_ms_median"] / mine["latency_ms_median"],
            "latency_runs": runs, "latency_threads": 1}


def _clipped_fraction(x: np.ndarray, flatbuffer: bytes) -> float:
    """Fraction of input values outside what the model's integer input can represent (0 for float input)."""
    detail = tm.io_details(flatbuffer)
    dtype = np.dtype(detail["input_dtype"])
    scale, zero = detail["input_quantization"]
    if not np.issubdtype(dtype, np.integer) or not scale:
        return 0.0
    info = np.iinfo(dtype)
    q = np.round(x / scale + zero)
    return float(np.mean((q < info.min) | (q > info.max)))


def _top1(outputs: np.ndarray) -> np.ndarray:
    return outputs.reshape(len(outputs), -1).argmax(-1)


def _quantize_onnx(model_dir: Path | str, info: ModelInfo, data_path: Path | str, out_dir: Path | str, method: str,
                   calibration_samples: int, calibration_method: str) -> dict[str, Any]:
    try:
        from edgeopt.quantize.onnx_path import quantize_onnx
    except ImportError as exc:
        raise EdgeoptError("the ONNX Runtime quantization path is not available in this installation",
                           "install edgeopt with the convert extra (onnx, onnxruntime), or use --backend tflite "
                           "on a Keras/SavedModel bundle") from exc
    ort_method = "static" if method == "int8" else method
    data = load_dataset(data_path)
    if info.format == "onnx":
        _, path = read_bundle(model_dir)
        return quantize_onnx(path, data, Path(out_dir), ort_method, calibration_method, calibration_samples)
    from edgeopt.convert.core import export_onnx

    source = open_float_source(model_dir, "quantize")
    with tempfile.TemporaryDirectory(prefix="edgeopt-quantize-onnx-") as tmp:
        path = Path(tmp) / "model.onnx"
        export_onnx(source, path)
        return quantize_onnx(path, data, Path(out_dir), ort_method, calibration_method, calibration_samples)
