"""TFLite post-training quantization: one flatbuffer per method, with the converter's options.

Methods and what they produce (activations / weights / input-output):
- `int8`: full integer; int8 activations, int8 weights (per output channel by default, one scale
  per tensor with `per_channel=False`), int8/uint8/float32 input and output (`io_type`); only int8
  builtin kernels are allowed. Calibrated on representative samples (min/max ranges).
- `int16x8`: int16 activations, int8 weights; int16 or float32 input and output. Calibrated too.
- `dynamic`: dynamic range; int8 weights, activations quantized on the fly, float input/output.
- `float16`: float16 weights dequantized at load time, float compute and input/output.

Mixed precision reuses one calibration: `calibrate` returns the calibrated (still float) model and
`quantize_calibrated` quantizes it, leaving `float_nodes` (TFLite tensor names) in float. This is
the same call the converter's `tf.lite.experimental.QuantizationDebugger` makes for its
`denylisted_nodes` option (`tensorflow.lite.python.convert.mlir_quantize`).
"""

from collections.abc import Iterator
from typing import Any

import numpy as np

from edgeopt.common.export import GENERIC_HINT, conversion_error, run_converter
from edgeopt.common.runtimes import tflite_interpreter
from edgeopt.quantize.job import Built, Job
from edgeopt.quantize.methods import io_type_for, lookup

# ops that only move values between float and integer; any other op with a float output runs in float
CAST_OPS = ("QUANTIZE", "DEQUANTIZE")


def build_post_training(job: Job) -> Built:
    """Post-training quantization with the converter alone (int8, int16x8, dynamic, float16)."""
    o = job.options
    return Built(to_tflite_bytes(job.source, job.method.name, job.calib, o["io_type"], o["per_channel"]))


def converter_for(source, method: str | None, calibration: np.ndarray | None = None, io_type: str | None = None,
                  per_channel: bool = True):
    """A `tf.lite.TFLiteConverter` of `source` set up for `method` (None: float32)."""
    from edgeopt.common.tfenv import tf

    converter = source.tflite_converter()
    if method is None:
        return converter
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter._experimental_disable_per_channel = not per_channel  # the converter's only switch for it
    entry = lookup(method, "tflite")
    if entry.calibrated:
        converter.representative_dataset = representative(calibration)
        io = getattr(tf, io_type_for(entry, io_type))
        converter.inference_input_type = io
        converter.inference_output_type = io
        converter.target_spec.supported_ops = (
            [tf.lite.OpsSet.TFLITE_BUILTINS_INT8] if method == "int8"
            else [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8])
    elif method == "float16":
        converter.target_spec.supported_types = [tf.float16]
    return converter


def convert(converter, method: str | None) -> bytes:
    """Run `converter` for `method` (None: float); failures become EdgeoptError naming the operator."""
    if method is None:
        return run_converter(converter, "float TFLite")
    calibrated = lookup(method, "tflite").calibrated
    return run_converter(converter, f"{method} TFLite", fallback_hint(method) if calibrated else GENERIC_HINT)


def to_tflite_bytes(source, method: str | None, calibration: np.ndarray | None = None, io_type: str | None = None,
                    per_channel: bool = True) -> bytes:
    """The TFLite flatbuffer of `source`: float32 when `method` is None, else quantized with `method`."""
    return convert(converter_for(source, method, calibration, io_type, per_channel), method)


def calibrate(source, calibration: np.ndarray) -> bytes:
    """The float model with the activation ranges observed on `calibration` recorded in it."""
    converter = converter_for(source, "int8", calibration)
    converter._experimental_calibrate_only = True
    return convert(converter, "int8")


def quantize_calibrated(calibrated: bytes, io_type: str = "int8", per_channel: bool = True,
                        float_nodes: list[str] | tuple[str, ...] = ()) -> bytes:
    """Quantize a calibrated model to int8, leaving the ops whose output tensors are `float_nodes` in float."""
    from tensorflow.lite.python import convert as tfl_convert

    from edgeopt.common.tfenv import tf

    dtype = getattr(tf, io_type)
    try:
        model = tfl_convert.mlir_quantize(calibrated, disable_per_channel=not per_channel,
                                          input_data_type=dtype, output_data_type=dtype,
                                          denylisted_nodes=list(float_nodes) or None)
        return bytes(tfl_convert.deduplicate_readonly_buffers(model))
    except Exception as exc:  # the quantizer raises RuntimeError/ValueError with MLIR diagnostics
        raise conversion_error(exc, "int8 TFLite", fallback_hint("int8")) from exc


def representative(calibration: np.ndarray) -> Any:
    """The converter's representative dataset: one sample per step, as float32."""
    def samples() -> Iterator[list[np.ndarray]]:
        for row in calibration:
            yield [row[None].astype(np.float32)]
    return samples


def float_operators(flatbuffer: bytes) -> list[str]:
    """Names of the operators of a TFLite model that compute in float (outputs float32 or float16)."""
    return list(dict.fromkeys(op for op, _ in float_ops_with_nodes(flatbuffer)))


def float_ops_with_nodes(flatbuffer: bytes) -> list[tuple[str, str]]:
    """(operator, output tensor name) of each operator that computes in float, in model order."""
    interp = tflite_interpreter(flatbuffer)
    details = {t["index"]: t for t in interp.get_tensor_details()}
    found: list[tuple[str, str]] = []
    for op in interp._get_ops_details():  # the only LiteRT API listing operators and their tensors
        if op["op_name"] in CAST_OPS:
            continue
        outs = [details[int(i)] for i in op["outputs"] if int(i) in details]
        if any(np.issubdtype(np.dtype(t["dtype"]), np.floating) for t in outs):
            found.append((op["op_name"], outs[0]["name"] if outs else ""))
    return found


def io_details(flatbuffer: bytes) -> dict[str, Any]:
    """dtype and (scale, zero point) of the first input and output."""
    interp = tflite_interpreter(flatbuffer)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    return {"input_dtype": np.dtype(inp["dtype"]).name, "output_dtype": np.dtype(out["dtype"]).name,
            "input_quantization": [float(inp["quantization"][0]), int(inp["quantization"][1])],
            "output_quantization": [float(out["quantization"][0]), int(out["quantization"][1])]}


def activation_dtypes(flatbuffer: bytes) -> dict[str, int]:
    """How many operator outputs have each dtype (e.g. {"int16": 12, "int8": 1})."""
    interp = tflite_interpreter(flatbuffer)
    dtypes = {t["index"]: np.dtype(t["dtype"]).name for t in interp.get_tensor_details()}
    counts: dict[str, int] = {}
    for op in interp._get_ops_details():
        for i in op["outputs"]:
            name = dtypes.get(int(i))
            if name:
                counts[name] = counts.get(name, 0) + 1
    return counts


def fallback_hint(method: str | None) -> str:
    """How to get a model when full-integer quantization fails."""
    return ("use `--method dynamic` (int8 weights, float activations) or `--method float16`, or keep those "
            "layers in float with `--method mixed --float-layers NAME,...`")
