"""Run a model with the runtime that will execute it: Keras, LiteRT (TFLite) or ONNX Runtime.

Every `predict_*` takes float samples `x` (N, ...) and returns float outputs (N, ...): quantized
TFLite inputs are quantized with the model's own input parameters and outputs dequantized.
"""

from pathlib import Path

import numpy as np

from edgeopt.common.bundle import read_bundle
from edgeopt.common.errors import EdgeoptError, first_line


def predict_keras(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Outputs of an in-memory Keras model."""
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0))


def tflite_interpreter(model: Path | str | bytes, num_threads: int = 1):
    """A LiteRT interpreter for a .tflite file or flatbuffer bytes; EdgeoptError if it is not one."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        if isinstance(model, bytes):
            return Interpreter(model_content=model, num_threads=num_threads)
        return Interpreter(model_path=str(model), num_threads=num_threads)
    except (ValueError, RuntimeError) as exc:
        raise EdgeoptError(f"LiteRT cannot read the TFLite model {model if not isinstance(model, bytes) else ''}: "
                           f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                           "check that the file is a complete .tflite flatbuffer") from exc


def predict_tflite(model: Path | str | bytes, x: np.ndarray, num_threads: int = 1) -> np.ndarray:
    """Outputs of a TFLite model (first input, first output) run by the real LiteRT interpreter."""
    interp = tflite_interpreter(model, num_threads)
    inp = interp.get_input_details()[0]
    n = len(x)
    batch_ok = True
    try:
        interp.resize_tensor_input(inp["index"], [n, *inp["shape"][1:]], strict=False)
        interp.allocate_tensors()
    except (ValueError, RuntimeError):
        batch_ok = False
        interp = tflite_interpreter(model, num_threads)
        interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    q_x = quantize_input(x, inp)
    if batch_ok:
        interp.set_tensor(inp["index"], q_x)
        interp.invoke()
        return dequantize_output(interp.get_tensor(out["index"]), out)
    rows = []
    for i in range(n):
        interp.set_tensor(inp["index"], q_x[i:i + 1])
        interp.invoke()
        rows.append(dequantize_output(interp.get_tensor(out["index"]), out))
    return np.concatenate(rows)


def quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    """Cast float samples to a TFLite input tensor's dtype, quantizing integer inputs."""
    dtype = detail["dtype"]
    if np.issubdtype(dtype, np.integer):
        scale, zero = detail["quantization"]
        if scale == 0:
            return x.astype(dtype)
        info = np.iinfo(dtype)
        return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)
    return x.astype(dtype)


def dequantize_output(y: np.ndarray, detail: dict) -> np.ndarray:
    """Float values of a TFLite output tensor."""
    if np.issubdtype(detail["dtype"], np.integer):
        scale, zero = detail["quantization"]
        if scale:
            return (y.astype(np.float32) - zero) * scale
    return y.astype(np.float32)


def session_for(model: Path, optimized_model: Path | None = None, level: str = "all"):
    """An ONNX Runtime CPU session for `model`; EdgeoptError if ORT cannot load it.

    With `optimized_model`, ORT writes the graph it optimized at `level` (basic, extended, all) there.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: ORT warns about every initializer it drops
    if optimized_model is not None:
        options.optimized_model_filepath = str(optimized_model)
    options.graph_optimization_level = {
        "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL, "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[level]
    try:
        return ort.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types
        raise EdgeoptError(f"ONNX Runtime cannot load {model}: {first_line(exc)}",
                           "check that the file is a complete .onnx model that ONNX Runtime supports") from exc


def predict_onnx(model: Path | str, x: np.ndarray) -> np.ndarray:
    """Outputs of an ONNX model (first input, first output) run by ONNX Runtime on the CPU."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types
        raise EdgeoptError(f"ONNX Runtime cannot load {model}: {str(exc).splitlines()[0]}",
                           "check that the file is a complete .onnx model") from exc
    name = session.get_inputs()[0].name
    return np.asarray(session.run(None, {name: x.astype(np.float32)})[0])


def predict_savedmodel(path: Path | str, x: np.ndarray) -> np.ndarray:
    """Outputs of a SavedModel's serving signature."""
    from edgeopt.common.modelfile import check_loadable
    from edgeopt.common.tfenv import tf

    check_loadable(path)
    loaded = tf.saved_model.load(str(path))
    fn = loaded.signatures["serving_default"]
    arg = list(fn.structured_input_signature[1].keys())[0]
    out = fn(**{arg: tf.constant(x.astype(np.float32))})
    return np.asarray(list(out.values())[0])


def predict_bundle(bundle_dir: Path | str, x: np.ndarray) -> np.ndarray:
    """Outputs of the model in a bundle, run by the runtime of its format."""
    info, path = read_bundle(bundle_dir)
    if info.format == "keras":
        from edgeopt.common.keras_io import load_keras
        return predict_keras(load_keras(path), x)
    if info.format == "savedmodel":
        return predict_savedmodel(path, x)
    if info.format == "tflite":
        return predict_tflite(path, x)
    if info.format == "onnx":
        return predict_onnx(path, x)
    raise EdgeoptError(f"cannot run a {info.format} model on the host", "run its TFLite form instead")
