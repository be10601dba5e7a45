"""What a model file holds, decided by its bytes, and whether loading it could run code stored in it.

The suffix of a file never decides anything: an HDF5 file named `.keras`, a zip named `.h5` or a
text file named `.tflite` are told apart by their first bytes. Keras configurations (HDF5
`model_config`, the zip's `config.json`) are read as plain JSON before anything is deserialized,
and refused when they name a class that is not a built-in Keras object (a Lambda layer's
marshalled bytecode, a TF op called by name, a custom layer the running process did not
register itself, a module outside Keras). A SavedModel is code
by nature (its graph runs as stored), so it is loaded only inside `trusting(True)`, which the
`--trust-model` flag and the components' `trust_model` input set.
"""

import contextlib
import contextvars
import functools
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgeopt.common.errors import EdgeoptError, first_line

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"
TFLITE_IDENTIFIER = b"TFL3"
# Keras classes whose deserialization runs code or TensorFlow ops named in the file
CODE_CLASSES = frozenset({"Lambda", "TFOpLambda", "SlicingOpLambda", "TensorFlowOpLayer", "ClassMethod",
                          "InstanceMethod", "InstanceProperty", "__lambda__"})
# markers of the Keras serialization format itself, not classes
SERIALIZATION_MARKERS = frozenset({"__tensor__", "__numpy__", "__bytes__", "__ellipsis__", "__slice__",
                                   "TensorShape", "function"})
KERAS_MODULES = ("keras", "tf_keras")
NOT_LOADED = ("compile_config", "training_config")

_trust = contextvars.ContextVar("edgeopt_trust_model", default=False)


@contextlib.contextmanager
def trusting(enabled: bool) -> Iterator[None]:
    """Within the block, SavedModels may be loaded when `enabled` (the user vouched for the file)."""
    token = _trust.set(bool(enabled))
    try:
        yield
    finally:
        _trust.reset(token)


def model_format(path: Path | str) -> str:
    """Format of a model path by its content: keras (HDF5 or zip), savedmodel, tflite or onnx.

    Raises EdgeoptError for a missing, empty or unrecognisable path, and for symbolic links.
    """
    return sniff(path)[0]


def sniff(path: Path | str) -> tuple[str, str]:
    """(format, container) of a model path: container is h5, zip, savedmodel, flatbuffer or protobuf."""
    path = Path(path)
    if path.is_symlink():
        raise EdgeoptError(f"model {path} is a symbolic link", "pass the model file itself, not a link to it")
    if not path.exists():
        raise EdgeoptError(f"model {path} does not exist",
                           "check the path (a Keras .h5/.keras, .tflite or .onnx file, or a SavedModel directory)")
    if path.is_dir():
        if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file():
            return "savedmodel", "savedmodel"
        raise EdgeoptError(f"{path} is a directory without saved_model.pb",
                           "pass a SavedModel directory, or a Keras (.h5/.keras), .tflite or .onnx file")
    if not path.is_file():
        raise EdgeoptError(f"model {path} is not a regular file", "pass a model file")
    with open(path, "rb") as fh:
        head = fh.read(16)
    if not head:
        raise EdgeoptError(f"model {path} is empty (0 bytes)", "pass the complete model file; re-export it if needed")
    if head.startswith(HDF5_MAGIC):
        return "keras", "h5"
    if head.startswith(ZIP_MAGIC):
        return "keras", "zip"
    if head[4:8] == TFLITE_IDENTIFIER:
        return "tflite", "flatbuffer"
    if _looks_like_onnx(head):
        return "onnx", "protobuf"
    raise EdgeoptError(f"cannot tell what {path} holds: it is not an HDF5 or zip Keras file, a TFLite "
                       "flatbuffer or an ONNX model", "pass a model saved by Keras (model.save), a .tflite "
                       "file, an .onnx file or a SavedModel directory")


def check_loadable(path: Path | str) -> tuple[str, str]:
    """(format, container) of a model path that edgeopt may load; EdgeoptError if loading could run
    code from the file (Keras config with code, SavedModel without trust)."""
    fmt, container = sniff(path)
    if container == "savedmodel" and not _trust.get():
        raise EdgeoptError(f"{path} is a SavedModel, whose graph runs as stored: edgeopt loads one only when "
                           "you trust its source",
                           "pass --trust-model (pipeline parameter trust_model=True) if you made the model "
                           "yourself or trust who did, or export it as a Keras .keras/.h5 file")
    if container in ("h5", "zip"):
        refuse_code_in_config(keras_config(Path(path), container), Path(path))
    return fmt, container


def keras_config(path: Path, container: str) -> Any:
    """The model configuration stored in a Keras HDF5 or zip file, as plain JSON (nothing deserialized)."""
    try:
        if container == "h5":
            import h5py

            with h5py.File(path, "r") as fh:
                text = fh.attrs.get("model_config")
            if text is None:
                raise EdgeoptError(f"{path} holds weights only, no model architecture",
                                   "save the whole model with model.save(path), not model.save_weights")
        else:
            with zipfile.ZipFile(path) as zf:
                if "config.json" not in zf.namelist():
                    raise EdgeoptError(f"{path} is a zip file without config.json, not a Keras model",
                                       "save the model with model.save('model.keras')")
                text = zf.read("config.json")
        return json.loads(text.decode() if isinstance(text, bytes) else str(text))
    except (OSError, ValueError, zipfile.BadZipFile, KeyError) as exc:
        raise EdgeoptError(f"{path} is not a readable Keras file ({first_line(exc)})",
                           "check that the file is complete, or re-save the model with model.save()") from exc


def refuse_code_in_config(config: Any, path: Path) -> None:
    """EdgeoptError if a Keras configuration names a class whose loading runs code, or a class that is
    neither a built-in Keras object nor registered by the running process (its code would have to
    come from somewhere: the file, or a module named in it)."""
    allowed = builtin_keras_classes()
    if isinstance(config, dict):  # the optimizer and losses are never loaded (compile=False)
        config = {k: v for k, v in config.items() if k not in NOT_LOADED}
    for node in _serialized_objects(config):
        name = node["class_name"]
        module = node.get("module")
        if name not in CODE_CLASSES and _registered_in_process(node):
            continue  # its code comes from a module the caller imported, not from the file
        if name in CODE_CLASSES:
            raise EdgeoptError(f"{path} contains a {name.strip('_')} layer, whose code would run on load",
                               "replace it by built-in layers (e.g. tf.keras.layers.Rescaling, Reshape, Add) "
                               "and save the model again")
        if isinstance(module, str) and module.split(".")[0] not in KERAS_MODULES:
            raise EdgeoptError(f"{path} names {name!r} from the Python module {module!r}, which is not Keras",
                               "edgeopt loads built-in Keras objects only; rebuild the model from them")
        if name not in allowed and name not in SERIALIZATION_MARKERS:
            raise EdgeoptError(f"{path} contains {name!r}, which is not a built-in Keras class: loading it "
                               "needs code that edgeopt does not run",
                               "rebuild the model from built-in Keras layers, or convert it to .tflite or .onnx")


@functools.cache
def builtin_keras_classes() -> frozenset[str]:
    """Names of the classes Keras deserializes without outside code (layers, models, initializers,
    regularizers, constraints, dtype policies), without the ones that run code."""
    import inspect

    from edgeopt.common.tfenv import keras
    from tf_keras.src.layers import serialization

    serialization.populate_deserializable_objects()
    names = set(serialization.LOCAL.ALL_OBJECTS)
    for module in (keras.layers, keras.initializers, keras.regularizers, keras.constraints, keras.mixed_precision):
        names |= {n for n in dir(module) if inspect.isclass(getattr(module, n))}
    names |= {"Functional", "Sequential", "Model", "DTypePolicy"}
    return frozenset(names - CODE_CLASSES)


def _registered_in_process(node: dict) -> bool:
    """Whether the running process registered this custom class (keras.saving.register_keras_serializable)."""
    from edgeopt.common.tfenv import keras

    name = node.get("registered_name") or node["class_name"]
    return isinstance(name, str) and ">" in name and keras.saving.get_registered_object(name) is not None


def _serialized_objects(node: Any) -> Iterator[dict]:
    """Every dict of `node` (recursively) that is a serialized Keras object (has a string class_name)."""
    if isinstance(node, dict):
        if isinstance(node.get("class_name"), str):
            yield node
        for value in node.values():
            yield from _serialized_objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _serialized_objects(value)


def _looks_like_onnx(head: bytes) -> bool:
    """An ONNX ModelProto starts with field 1 (ir_version, a small varint): bytes 0x08 then 1..30."""
    return len(head) >= 2 and head[0] == 0x08 and 1 <= head[1] <= 30
