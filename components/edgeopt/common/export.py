"""Exporting a float model: TFLite flatbuffers through the converter, ONNX through tf2onnx.

Converter failures become EdgeoptError naming the unsupported operator when the converter says.
Shared by the stages that export (quantize, convert); none of them owns it.
"""

import logging
import re
import warnings
from pathlib import Path

from edgeopt.common.errors import EdgeoptError
from edgeopt.common.float_source import FloatSource

ONNX_OPSET = 13
GENERIC_HINT = "check that the model runs in TensorFlow, and replace custom or exotic layers with built-in ones"
SELECT_OPS_HINT = ("TFLite has no builtin kernel for it and microcontrollers cannot run TF Select ops: "
                   "replace that layer with a built-in one")


def run_converter(converter, what: str, hint: str = GENERIC_HINT) -> bytes:
    """The flatbuffer `converter` makes; its failures become EdgeoptError("cannot convert the model to
    <what>: <operator or first error line>", `hint`)."""
    try:
        with warnings.catch_warnings():  # integer I/O without input statistics is what we ask for
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
            return bytes(converter.convert())
    except Exception as exc:  # the converter raises ConverterError, ValueError, RuntimeError, ...
        raise conversion_error(exc, what, hint) from exc


def conversion_error(exc: BaseException, what: str, hint: str = GENERIC_HINT) -> EdgeoptError:
    """The user-facing error of a failed conversion to `what`, naming the operator when the converter does."""
    text = str(exc)
    ops = named_operators(text)
    reason = f"operator(s) {', '.join(ops)} not supported" if ops else first_error_line(text)
    if any(s in text for s in ("flex op", "TF Select", "Select TF ops")):
        hint = SELECT_OPS_HINT
    return EdgeoptError(f"cannot convert the model to {what}: {reason}", hint)


def float_tflite(source: FloatSource) -> bytes:
    """The float32 TFLite flatbuffer of `source`."""
    return run_converter(source.tflite_converter(), "float TFLite")


def export_onnx(source: FloatSource, path: Path) -> None:
    """Write the ONNX form of `source` to `path` with tf2onnx (opset ONNX_OPSET, dynamic batch)."""
    import tf2onnx

    from edgeopt.common.tfenv import tf

    logging.getLogger("tf2onnx").setLevel(logging.WARNING)
    spec = tf.TensorSpec([None, *source.info.input_shape[1:]], tf.float32, name="input")
    try:
        if source.keras_model is not None:
            tf2onnx.convert.from_keras(source.keras_model, input_signature=(spec,), opset=ONNX_OPSET,
                                       output_path=str(path))
        else:
            loaded = tf.saved_model.load(str(source.path))  # keeps the variables alive while tracing
            serving = loaded.signatures["serving_default"]
            arg = list(serving.structured_input_signature[1])[0]
            output = list(serving.structured_outputs)[0]
            function = tf.function(lambda x: serving(**{arg: x})[output])
            tf2onnx.convert.from_function(function, input_signature=(spec,), opset=ONNX_OPSET,
                                          output_path=str(path))
    except Exception as exc:  # tf2onnx raises many types for unsupported graphs
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = lines[-1][:300] if lines else type(exc).__name__  # TF states the cause last
        raise EdgeoptError(f"tf2onnx cannot convert the model to ONNX opset {ONNX_OPSET}: {reason}",
                           "the model uses an operator tf2onnx does not support; replace that layer "
                           "with a built-in one") from exc


def named_operators(text: str) -> list[str]:
    names = re.findall(r"'(?:tf|tfl)\.(\w+)' op", text) + re.findall(r"not yet supported for op: '(\w+)'", text)
    for group in re.findall(r"TF Select ops: ([\w, ]+)", text):
        names += [n.strip() for n in group.split(",") if n.strip()]
    return list(dict.fromkeys(names))


def first_error_line(text: str) -> str:
    for line in text.splitlines():
        if "error:" in line:
            return line.split("error:", 1)[1].strip()[:300]
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0][:300] if lines else "unknown converter error"
