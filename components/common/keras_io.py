"""Loading and saving Keras models without running code stored in them."""

import json
from pathlib import Path

from edgeopt.common.errors import EdgeoptError

UNSAFE_LAYERS = ("Lambda",)


def model_format(path: Path | str) -> str:
    """Format of a user's model path: keras (.keras/.h5), savedmodel, tflite or onnx."""
    path = Path(path)
    if not path.exists():
        raise EdgeoptError(f"model {path} does not exist", "check the path (a .h5, .keras, .tflite, .onnx "
                           "file or a SavedModel directory)")
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            return "savedmodel"
        raise EdgeoptError(f"{path} is a directory without saved_model.pb",
                           "pass a SavedModel directory, or a .h5/.keras/.tflite/.onnx file")
    suffix = path.suffix.lower()
    formats = {".h5": "keras", ".hdf5": "keras", ".keras": "keras", ".tflite": "tflite", ".onnx": "onnx"}
    if suffix not in formats:
        raise EdgeoptError(f"cannot tell the format of {path} from its suffix {suffix or '(none)'}",
                           "name it .h5, .keras, .tflite or .onnx, or pass a SavedModel directory")
    return formats[suffix]


def load_keras(path: Path | str):
    """Load a Keras model (.keras, .h5 or Keras SavedModel) for inference or training, safely.

    Models with Lambda layers are refused: loading them would run Python code stored in the file.
    Raises EdgeoptError for a missing, corrupt or unsafe file.
    """
    from edgeopt.common.tfenv import keras

    path = Path(path)
    fmt = model_format(path)
    if fmt not in ("keras", "savedmodel"):
        raise EdgeoptError(f"{path} is a {fmt} model, not a Keras model",
                           "this stage needs the Keras (.h5/.keras) or SavedModel form of the model")
    if path.suffix.lower() in (".h5", ".hdf5"):
        _refuse_unsafe_h5(path)
    try:
        if path.suffix.lower() == ".keras":
            return keras.models.load_model(path, compile=False, safe_mode=True)
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many types for a bad file
        raise EdgeoptError(f"cannot load Keras model {path}: {_first_line(exc)}",
                           "check that the file is a complete Keras model saved with model.save()") from exc


def save_keras(model, bundle_dir: Path, name: str = "model.keras") -> str:
    """Save a Keras model into a bundle directory in the native .keras format; return the file name."""
    model.save(bundle_dir / name)
    return name


def _refuse_unsafe_h5(path: Path) -> None:
    import h5py

    try:
        with h5py.File(path, "r") as fh:
            config = fh.attrs.get("model_config")
    except OSError as exc:
        raise EdgeoptError(f"{path} is not a readable HDF5 Keras file ({_first_line(exc)})",
                           "check that the file is complete, or re-save the model") from exc
    if config is None:
        raise EdgeoptError(f"{path} holds weights only, no model architecture",
                           "save the whole model with model.save(path), not model.save_weights")
    text = config.decode() if isinstance(config, bytes) else str(config)
    for layer in _layer_classes(json.loads(text)):
        if layer in UNSAFE_LAYERS:
            raise EdgeoptError(f"{path} contains a {layer} layer, whose code would run on load",
                               "replace the Lambda layer by a built-in or registered custom layer")


def _layer_classes(node) -> list[str]:
    found = []
    if isinstance(node, dict):
        if "class_name" in node and isinstance(node["class_name"], str):
            found.append(node["class_name"])
        for value in node.values():
            found += _layer_classes(value)
    elif isinstance(node, list):
        for value in node:
            found += _layer_classes(value)
    return found


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
