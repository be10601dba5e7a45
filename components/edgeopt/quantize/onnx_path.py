"""Quantize a float ONNX model with ONNX Runtime's tools and measure the result with ONNX Runtime.

The ONNX path of `quantize`, for ONNX input models or the `onnx/` bundle written by `convert`.
Methods (`METHODS` maps each to the precision recorded in model.json):

- `static`: QDQ format (QuantizeLinear/DequantizeLinear around every quantizable operator), int8
  weights per output channel and int8 activations, whose ranges are calibrated on up to
  `calibration_samples` samples of the dataset's calibration split with `calibration_method`:
  `minmax` (observed range), `entropy` (the threshold minimising the KL divergence, searched over
  a histogram of ENTROPY_BINS bins) or `percentile` (99.999th percentile of |x|, symmetric).
  The model is first prepared with ORT's `quant_pre_process` (shape inference and graph
  optimization), as ORT recommends.
- `dynamic`: int8 weights (per channel), activations quantized at run time (uint8, ORT's only
  choice), float input and output; pre-processed like `static`.
- `int4`: weight-only 4-bit block quantization (blocks of INT4_BLOCK_SIZE along K, symmetric) of
  every MatMul whose weight is a constant, with ORT's `MatMulNBitsQuantizer`: each becomes a
  `com.microsoft.MatMulNBits` node; everything else stays float. Gemm nodes with a constant
  weight (how `quant_pre_process` and PyTorch write a Dense/Linear layer) are first rewritten as
  MatMul (+ Add for the bias), since the quantizer only takes MatMul. A model with no such
  MatMul or Gemm is refused with an EdgeoptError: int4 would change nothing.
- `float16`: every float initializer and operator in float16 (ORT's `convert_float_to_float16`),
  float32 input and output kept through Cast nodes.

The result is evaluated with ONNX Runtime on x_test: accuracy against y_test (against the float
model's top-1 when the dataset has no labels), top-1 agreement and SNR against the float ONNX
model's outputs, file sizes, and host latency and peak memory (`edgeopt.common.hostperf`, batch 1,
one thread) of both the quantized and the float model.
"""

import contextlib
import io
import logging
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from edgeopt.common.bundle import METADATA_FILE, ModelInfo, parent_ref, read_bundle, write_bundle
from edgeopt.common.datasets import Dataset, check_input_shape
from edgeopt.common.errors import EdgeoptError, first_line
from edgeopt.common.evaluate import quality
from edgeopt.common.fsutil import atomic_dir
from edgeopt.common.metrics import write_metrics
from edgeopt.common.runtimes import session_for

METHODS = {"static": "int8", "dynamic": "dynamic_int8", "int4": "int4_weight_only", "float16": "float16"}
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
MODEL_FILE = "model.onnx"
INT4_BLOCK_SIZE = 32
CALIBRATION_BATCH = 16
# histogram bins of the entropy (KL) calibrator, searched for the threshold over 128 quantized bins;
# ORT's default of 128 leaves a single candidate, the full range, which is what minmax gives
ENTROPY_BINS = 512
PREDICT_BATCH = 256
LATENCY_RUNS = 50
LATENCY_WARMUP = 5
LATENCY_SAMPLES = 16
# operators that only exist in a model ONNX Runtime's tools have already quantized
QUANTIZED_OPS = ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "ConvInteger",
                 "QLinearConv", "QLinearMatMul", "MatMulNBits", "QGemm")


def quantize_onnx(onnx_path: Path, data: Dataset, out_dir: Path, method: str, calibration_method: str = "minmax",
                  calibration_samples: int = 200) -> dict[str, Any]:
    """Quantize the float ONNX model `onnx_path` with `method`; write an onnx bundle to `out_dir`.

    `onnx_path` is a .onnx file (its bundle's model.json, when it lies in one, becomes the parent
    reference) or an onnx bundle directory. `calibration_method` (minmax, entropy, percentile)
    and `calibration_samples` apply to `static` only. Returns the metrics, also written as
    `metrics.json` in the bundle. Raises EdgeoptError for an unknown method, a model that is not
    a float single-input ONNX model, samples that do not fit the model's input, or a model that
    cannot be quantized that way; `out_dir` is then left untouched.
    """
    if method not in METHODS:
        raise EdgeoptError(f"unknown ONNX quantization method {method!r}", f"use one of {', '.join(METHODS)}")
    if calibration_method not in CALIBRATION_METHODS:
        raise EdgeoptError(f"unknown calibration method {calibration_method!r}",
                           f"use one of {', '.join(CALIBRATION_METHODS)}")
    if method == "static" and calibration_samples < 1:
        raise EdgeoptError(f"calibration_samples must be at least 1, not {calibration_samples}",
                           "static quantization needs representative samples; 100-500 is typical")
    source, parent = _open_source(Path(onnx_path))
    float_session = session_for(source)
    signature = onnx_signature(float_session)
    x_test = check_samples(data.x_test, signature["input_shape"], "x_test")
    calib = None
    if method == "static":
        calib = check_samples(data.calibration(calibration_samples), signature["input_shape"],
                              "x_calib" if data.x_calib is not None else "x_train")

    with atomic_dir(out_dir) as scratch:
        work = scratch / ".work"
        work.mkdir()
        details = _quantize_file(source, work, scratch / MODEL_FILE, method, calibration_method, calib,
                                 signature["input_name"])
        reference = predict(float_session, x_test)
        outputs = predict(session_for(scratch / MODEL_FILE), x_test)
        perf = _measure(scratch / MODEL_FILE, x_test)
        float_perf = _measure(source, x_test)
        shutil.rmtree(work)

        labels = data.y_test if data.y_test is not None else reference.reshape(len(reference), -1).argmax(-1)
        info = write_bundle(scratch, ModelInfo(
            format="onnx", file=MODEL_FILE, precision=METHODS[method], input_shape=signature["input_shape"],
            output_shape=signature["output_shape"], sparsity=float(parent.get("sparsity", 0.0)), stage="quantize",
            parent={k: v for k, v in parent.items() if k != "sparsity"}, details=details))
        source_bytes = source.stat().st_size
        metrics = {
            "method": method,
            "calibration_method": calibration_method if method == "static" else None,
            "precision": info.precision,
            "runtime": "onnxruntime",
            **quality(outputs, reference, labels),
            "labels": data.labels if data.y_test is not None else "float_model",
            "size_bytes": info.size_bytes,
            "source_size_bytes": source_bytes,
            "compression_ratio": source_bytes / info.size_bytes,
            "low_precision_weights": details["low_precision_weights"],
            "calibration_samples": int(details.get("calibration_samples", 0)),
            "num_test": int(len(x_test)),
            **perf,
            "float_latency_ms_median": float_perf["latency_ms_median"],
            "float_latency_ms_p90": float_perf["latency_ms_p90"],
            "float_peak_memory_bytes": float_perf["peak_memory_bytes"],
            "speedup_vs_float": float_perf["latency_ms_median"] / perf["latency_ms_median"]
            if perf["latency_ms_median"] > 0 else None,
        }
        write_metrics(scratch, metrics)
    return metrics


# ---- ONNX Runtime helpers, shared with convert ----

def onnx_signature(session) -> dict[str, Any]:
    """Name, shape (None for a dynamic dim) of the only input and shape of the first output.

    EdgeoptError unless the model has exactly one float32 input.
    """
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise EdgeoptError(f"the ONNX model has {len(inputs)} inputs ({', '.join(i.name for i in inputs)})",
                           "edgeopt datasets feed one input array; export the model with a single input")
    if inputs[0].type != "tensor(float)":
        raise EdgeoptError(f"the ONNX model's input {inputs[0].name!r} is {inputs[0].type}, not tensor(float)",
                           "pass the float32 model (convert's onnx/ bundle), not an already converted one")
    return {"input_name": inputs[0].name, "input_shape": _dims(inputs[0].shape),
            "output_shape": _dims(session.get_outputs()[0].shape)}


def check_samples(x: np.ndarray, input_shape: list[int | None], what: str) -> np.ndarray:
    """`x` as float32 after checking it is not empty and fits an ONNX input of `input_shape`.

    The EdgeoptError says so when the samples are NHWC and the model NCHW (or the reverse).
    """
    if len(x) == 0:
        raise EdgeoptError(f"the dataset has no {what} samples", f"add samples to the {what} array")
    try:
        check_input_shape(x, input_shape, what)
    except EdgeoptError as exc:
        layout = _layout_hint(tuple(x.shape[1:]), input_shape[1:])
        if layout:
            raise EdgeoptError(exc.message, f"{layout}; {exc.hint}") from None
        raise
    return np.asarray(x, dtype=np.float32)


def predict(session, x: np.ndarray) -> np.ndarray:
    """Outputs (first output) of an ORT session on float samples `x`, in batches the input allows.

    A fixed batch dimension of b is fed b samples at a time (the last batch padded by repetition).
    """
    inp = session.get_inputs()[0]
    fixed = inp.shape[0] if inp.shape and isinstance(inp.shape[0], int) and inp.shape[0] > 0 else None
    step = fixed or PREDICT_BATCH
    rows = []
    for start in range(0, len(x), step):
        chunk = np.asarray(x[start:start + step], dtype=np.float32)
        n = len(chunk)
        if fixed and n < fixed:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], fixed - n, axis=0)])
        rows.append(np.asarray(session.run(None, {inp.name: chunk})[0])[:n])
    return np.concatenate(rows)


# ---- quantization ----

def _quantize_file(source: Path, work: Path, target: Path, method: str, calibration_method: str,
                   calib: np.ndarray | None, input_name: str) -> dict[str, Any]:
    import onnx

    _refuse_quantized(onnx.load(str(source)))
    details: dict[str, Any] = {"method": method, "source": str(source)}
    try:
        if method in ("static", "dynamic", "int4"):
            prepared, details["pre_processed"] = _pre_process(source, work / "prepared.onnx")
        if method == "static":
            details["calibration_samples"] = _static(prepared, target, work, calib, calibration_method, input_name)
            details.update(calibration_method=calibration_method, quant_format="QDQ", per_channel=True,
                           weight_type="int8", activation_type="int8")
        elif method == "dynamic":
            _dynamic(prepared, target)
            details.update(per_channel=True, weight_type="int8", activation_type="uint8 (dynamic)")
        elif method == "int4":
            details["rewritten_gemm"] = _int4(prepared, target)
            details.update(bits=4, block_size=INT4_BLOCK_SIZE, symmetric=True)
        else:
            _float16(source, target)
            details.update(keep_io_types=True)
    except EdgeoptError:
        raise
    except Exception as exc:  # ORT's tools raise many types (ValueError, AssertionError, RuntimeError...)
        raise EdgeoptError(f"ONNX Runtime cannot {method}-quantize the model: {first_line(exc)}",
                           _fallback_hint(method)) from exc
    model = onnx.load(str(target))
    details["quantized_ops"] = dict(sorted(Counter(
        n.op_type for n in model.graph.node if n.op_type in QUANTIZED_OPS).items()))
    details["low_precision_weights"] = low_precision_weights(model)
    details["opset"] = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    return details


def _pre_process(source: Path, prepared: Path) -> tuple[Path, bool]:
    """ORT's quant_pre_process (symbolic shape inference, ORT basic optimization, ONNX shape
    inference); the source itself when that fails (models it cannot infer are still quantizable)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(source), str(prepared))
        return prepared, True
    except Exception as exc:  # noqa: BLE001 - symbolic shape inference raises anything on exotic graphs
        logging.getLogger(__name__).warning("quant_pre_process failed (%s); quantizing the model as it is",
                                            first_line(exc))
        return source, False


class _Reader:
    """A CalibrationDataReader feeding the calibration samples in whole batches of `batch`."""

    def __init__(self, name: str, x: np.ndarray, batch: int) -> None:
        self._feeds = [{name: x[i:i + batch]} for i in range(0, len(x) - batch + 1, batch)]
        self._it = iter(self._feeds)

    def get_next(self) -> dict | None:
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = iter(self._feeds)


def _static(prepared: Path, target: Path, work: Path, calib: np.ndarray, calibration_method: str,
            input_name: str) -> int:
    """Static QDQ quantization calibrated on `calib`; returns how many samples it used.

    Calibration runs through ORT's `create_calibrator` (so that the entropy method gets
    ENTROPY_BINS histogram bins, which `quantize_static` cannot pass) and reaches
    `quantize_static` as its calibration cache.
    """
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType, create_calibrator,
                                          quantize_static, save_tensors_data)
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    first = session_for(prepared, level="none").get_inputs()[0].shape[0]
    fixed = first if isinstance(first, int) and first > 0 else None
    if fixed and len(calib) < fixed:
        raise EdgeoptError(f"the model's batch size is fixed at {fixed} but there are only {len(calib)} "
                           "calibration samples", f"give at least {fixed} calibration samples")
    # equal batches: the histogram calibrators stack the batches of each tensor
    batch = fixed or max(b for b in range(1, CALIBRATION_BATCH + 1) if len(calib) % b == 0)
    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[calibration_method]
    options = {"num_bins": ENTROPY_BINS, "num_quantized_bins": 128} if calibration_method == "entropy" else {}
    ops = sorted(set(QLinearOpsRegistry) | set(QDQRegistry))  # what quantize_static calibrates by default
    cache = work / "calibration.json"
    with contextlib.redirect_stdout(io.StringIO()):  # the histogram calibrators print progress
        calibrator = create_calibrator(prepared, ops, augmented_model_path=str(cache.with_name("augmented.onnx")),
                                       calibrate_method=method, extra_options=options)
        calibrator.collect_data(_Reader(input_name, calib, batch))
        save_tensors_data(calibrator.compute_data(), cache)
        del calibrator
        quantize_static(str(prepared), str(target), None, quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, calibrate_method=method,
                        calibration_cache_path=cache)
    return len(calib) // batch * batch


def _dynamic(prepared: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(prepared), str(target), per_channel=True, weight_type=QuantType.QInt8)


def _int4(prepared: Path, target: Path) -> int:
    """Quantize MatMul weights to int4 MatMulNBits; returns how many Gemm nodes became MatMul."""
    import onnx

    model = onnx.load(str(prepared))
    rewritten = gemm_to_matmul(model)
    quantizer_class = _matmul_nbits_quantizer()
    quantizer = quantizer_class(model, bits=4, block_size=INT4_BLOCK_SIZE, is_symmetric=True)
    quantizer.process()
    result = quantizer.model.model
    if not any(n.op_type == "MatMulNBits" for n in result.graph.node):
        raise EdgeoptError("the model has no MatMul or Gemm with a constant 2-D weight, so int4 weight-only "
                           "quantization would leave it unchanged",
                           "int4 applies to fully connected (Dense/Linear) layers; use `static` or `dynamic` "
                           "for convolutional models")
    onnx.save(result, str(target))
    return rewritten


def _float16(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    onnx.save(convert_float_to_float16(onnx.load(str(source)), keep_io_types=True), str(target))


def low_precision_weights(model) -> int:
    """How many weight tensors (initializers of 2 or more dimensions) are stored in int8/uint8,
    int4/uint4 (MatMulNBits packs them as uint8) or float16."""
    from onnx import TensorProto

    low = {TensorProto.INT8, TensorProto.UINT8, TensorProto.INT4, TensorProto.UINT4, TensorProto.FLOAT16}
    return sum(1 for i in model.graph.initializer if i.data_type in low and len(i.dims) >= 2)


def gemm_to_matmul(model) -> int:
    """Rewrite, in place, each Gemm whose B is a constant initializer (and A not transposed) as
    MatMul(A, B') [+ Add(beta * C)], with B' = alpha * B (transposed when transB). Returns the count."""
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    nodes, count = [], 0
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if (node.op_type != "Gemm" or node.domain not in ("", "ai.onnx") or node.input[1] not in inits
                or attrs.get("transA", 0) or (len(node.input) > 2 and node.input[2]
                                               and node.input[2] not in inits)):
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
        if weight.ndim != 2:
            nodes.append(node)
            continue
        if attrs.get("transB", 0):
            weight = weight.T
        weight = np.ascontiguousarray(weight * np.float32(attrs.get("alpha", 1.0)))
        name = f"{node.name or node.output[0]}_matmul"
        graph.initializer.append(numpy_helper.from_array(weight, f"{name}_weight"))
        has_bias = len(node.input) > 2 and bool(node.input[2])
        product = f"{name}_out" if has_bias else node.output[0]
        nodes.append(helper.make_node("MatMul", [node.input[0], f"{name}_weight"], [product], name=name))
        if has_bias:
            bias = numpy_helper.to_array(inits[node.input[2]]).astype(np.float32) * np.float32(attrs.get("beta", 1.0))
            graph.initializer.append(numpy_helper.from_array(bias, f"{name}_bias"))
            nodes.append(helper.make_node("Add", [product, f"{name}_bias"], [node.output[0]], name=f"{name}_add"))
        count += 1
    del graph.node[:]
    graph.node.extend(nodes)
    used = {i for n in graph.node for i in n.input}
    kept = [i for i in graph.initializer if i.name in used or i.name in {o.name for o in graph.output}]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return count


def _matmul_nbits_quantizer():
    """ORT's MatMulNBitsQuantizer, imported without its module's logging.basicConfig(INFO) side effect."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    except ImportError as exc:
        raise EdgeoptError(f"ONNX Runtime's int4 quantizer cannot be imported: {first_line(exc)}",
                           "install onnx-ir (pip install onnx-ir), which it needs") from exc
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)
    return MatMulNBitsQuantizer


# ---- inputs and measurement ----

def _open_source(path: Path) -> tuple[Path, dict[str, Any]]:
    """The .onnx file to quantize and its parent reference (plus its sparsity) for model.json."""
    if path.is_dir():
        info, model = read_bundle(path)
        if info.format != "onnx":
            raise EdgeoptError(f"{path} holds a {info.format} model, not onnx",
                               "pass an ONNX model, e.g. the onnx/ bundle written by `edgeopt convert`")
        return model, {**parent_ref(info), "sparsity": info.sparsity}
    if not path.is_file():
        raise EdgeoptError(f"ONNX model {path} does not exist", "check the path")
    meta = path.parent / METADATA_FILE
    if meta.is_file():
        info, model = read_bundle(path.parent)
        if model.resolve() == path.resolve() and info.format == "onnx":
            return path, {**parent_ref(info), "sparsity": info.sparsity}
    return path, {"stage": "user", "format": "onnx", "precision": "float32", "size_bytes": path.stat().st_size}


def _refuse_quantized(model) -> None:
    found = sorted({n.op_type for n in model.graph.node if n.op_type in QUANTIZED_OPS})
    if found:
        raise EdgeoptError(f"the ONNX model is already quantized (it has {', '.join(found)} nodes)",
                           "pass the float32 model, e.g. the onnx/ bundle written by `edgeopt convert`")
    from onnx import TensorProto

    if any(i.data_type == TensorProto.FLOAT16 for i in model.graph.initializer):
        raise EdgeoptError("the ONNX model already holds float16 weights",
                           "pass the float32 model, e.g. the onnx/ bundle written by `edgeopt convert`")


def _measure(model: Path, x: np.ndarray) -> dict[str, Any]:
    from edgeopt.common.hostperf import measure_onnx

    return measure_onnx(model, x[:LATENCY_SAMPLES], runs=LATENCY_RUNS, warmup=LATENCY_WARMUP)


def _dims(shape) -> list[int | None]:
    return [int(d) if isinstance(d, int) and d > 0 else None for d in shape]


def _layout_hint(got: tuple, expected: list[int | None]) -> str:
    if len(got) != 3 or len(expected) != 3:
        return ""
    fits = [e in (None, g) for e, g in zip(expected, (got[2], got[0], got[1]))]
    if all(fits):
        return "the samples are channels-last (NHWC) but the model is channels-first (NCHW): x.transpose(0, 3, 1, 2)"
    fits = [e in (None, g) for e, g in zip(expected, (got[1], got[2], got[0]))]
    if all(fits):
        return "the samples are channels-first (NCHW) but the model is channels-last (NHWC): x.transpose(0, 2, 3, 1)"
    return ""


def _fallback_hint(method: str) -> str:
    others = [m for m in METHODS if m != method]
    return f"try another method ({', '.join(others)}), or check the model runs in ONNX Runtime"

