"""Quantize a float model bundle and measure the result with its own runtime.

The methods, with what each makes and needs, are registered in `edgeopt.quantize.methods`
(TFLite: int8, dynamic, float16, int16x8 in `tflite_methods`, mixed in `mixed`, qat in `qat`);
this module looks the method up, runs its build function and measures the result.

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
from edgeopt.common.datasets import load_dataset
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.evaluate import quality
from edgeopt.common.export import float_tflite as float_tflite_bytes
from edgeopt.common.float_source import open_float_source
from edgeopt.common.fsutil import atomic_dir
from edgeopt.common.metrics import write_metrics
from edgeopt.common.runtimes import predict_tflite
from edgeopt.quantize import methods
from edgeopt.quantize import tflite_methods as tm
from edgeopt.quantize.fusions import fusions as find_fusions
from edgeopt.quantize.job import Job
from edgeopt.quantize.spec import SPEC

MODEL_FILE = "model.tflite"
LATENCY_SAMPLES = 16


def quantize(model_dir: Path | str, data_path: Path | str, out_dir: Path | str, **options: Any) -> dict[str, Any]:
    """Quantize the float bundle `model_dir`; write the quantized bundle to `out_dir`; return its metrics.

    `options` are the parameters of `edgeopt.quantize.spec.SPEC` (checked there, defaults from it);
    the method is looked up in `edgeopt.quantize.methods`, which refuses options it does not take
    before any work. `backend="onnxruntime"` (or an ONNX bundle) uses ONNX Runtime. The metrics are
    also written as `metrics.json` in the bundle. Raises EdgeoptError for bad options, samples
    that do not fit the model, or a model that cannot be quantized that way.
    """
    o = SPEC.check(options)
    info, _ = read_bundle(model_dir)
    backend = "onnxruntime" if info.format == "onnx" else o["backend"]
    method = methods.lookup(o["method"], backend)
    methods.check(method, o, SPEC.check({}))
    if backend == "onnxruntime":
        return _quantize_onnx(model_dir, info, data_path, out_dir, method.name, o["calibration_samples"],
                              o["calibration_method"])
    o["io_type"] = methods.io_type_for(method, o["io_type"])
    source = open_float_source(model_dir, "quantize")
    data = load_dataset(data_path)
    x_test = source.check_samples(data.x_test, "x_test")
    calib = None
    if method.calibrated:
        split = "x_calib" if data.x_calib is not None else "x_train"
        calib = source.check_samples(data.calibration(o["calibration_samples"]), split)
    reference = source.predict(x_test)
    labels = data.y_test if data.y_test is not None else _top1(reference)
    built = method.builder()(Job(method, source, data, calib, x_test, reference, labels, o))
    flatbuffer, float_report, extra = built.flatbuffer, built.float_layers, built.extra
    if method.integer_only:
        _check_fully_quantized(flatbuffer, method.name)

    outputs = predict_tflite(flatbuffer, x_test)
    io = tm.io_details(flatbuffer)
    float_tflite = float_tflite_bytes(source)
    perf = _host_performance(flatbuffer, float_tflite, x_test, o["latency_runs"])

    with atomic_dir(out_dir) as scratch:
        (scratch / MODEL_FILE).write_bytes(flatbuffer)
        info = write_bundle(scratch, ModelInfo(
            format="tflite", file=MODEL_FILE, precision=method.precision, input_shape=source.info.input_shape,
            output_shape=source.info.output_shape, sparsity=source.info.sparsity, stage="quantize",
            parent=parent_ref(source.info),
            details={"method": method.name, "per_channel": o["per_channel"],
                     "float_layers": [f["layer"] for f in float_report], **io}))
        metrics = {
            "method": method.name,
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
            "per_channel": o["per_channel"],
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


def check_options(**options: Any) -> dict[str, Any]:
    """The stage options checked against the declaration and the chosen method, before any work;
    EdgeoptError naming the conflict (e.g. method mixed without float layers or a budget)."""
    o = SPEC.check(options)
    methods.check(methods.lookup(o["method"], o["backend"]), o, SPEC.check({}))
    return o


def _check_fully_quantized(flatbuffer: bytes, method: str) -> None:
    float_ops = tm.float_operators(flatbuffer)
    if float_ops:
        kind = "int16x8" if method == "int16x8" else "int8"
        raise EdgeoptError(f"the model cannot be fully {kind}-quantized: operator(s) {', '.join(float_ops)} "
                           "have no integer kernel and would run in float", tm.fallback_hint(method))


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
    data = load_dataset(data_path)
    if info.format == "onnx":
        _, path = read_bundle(model_dir)
        return quantize_onnx(path, data, Path(out_dir), method, calibration_method, calibration_samples)
    from edgeopt.common.export import export_onnx

    source = open_float_source(model_dir, "quantize")
    with tempfile.TemporaryDirectory(prefix="edgeopt-quantize-onnx-") as tmp:
        path = Path(tmp) / "model.onnx"
        export_onnx(source, path)
        return quantize_onnx(path, data, Path(out_dir), method, calibration_method, calibration_samples)
