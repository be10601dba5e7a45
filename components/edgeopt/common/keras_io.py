"""Loading and saving Keras models without running code stored in them.

Every load goes through `edgeopt.common.modelfile.check_loadable` first: the file's content decides
how it is read, its configuration is checked before anything is deserialized, and a SavedModel
needs `trusting(True)`.
"""

import shutil
import tempfile
from pathlib import Path

from edgeopt.common.errors import EdgeoptError, first_line
from edgeopt.common.modelfile import check_loadable

KERAS_SUFFIX = {"h5": ".h5", "zip": ".keras", "savedmodel": ""}


def load_keras(path: Path | str):
    """Load a Keras model (HDF5, zip `.keras` or Keras SavedModel) for inference or training, safely.

    Raises EdgeoptError for a missing, corrupt or unsafe file, or a model that is not Keras.
    """
    path = Path(path)
    fmt, container = check_loadable(path)
    if fmt not in ("keras", "savedmodel"):
        raise EdgeoptError(f"{path} is a {fmt} model, not a Keras model",
                           "this stage needs the Keras (.h5/.keras) or SavedModel form of the model")
    try:
        if container == "zip" and path.suffix.lower() != ".keras":
            return _load_zip_under_keras_name(path)
        return _load(path, container)
    except EdgeoptError:
        raise
    except Exception as exc:  # Keras raises many types for a bad file
        raise EdgeoptError(f"cannot load Keras model {path}: {first_line(exc)}",
                           "check that the file is a complete Keras model saved with model.save()") from exc


def save_keras(model, bundle_dir: Path, name: str = "model.keras") -> str:
    """Save a Keras model into a bundle directory in the native .keras format; return the file name."""
    model.save(bundle_dir / name)
    return name


def check_single_io(model, path: Path | str) -> None:
    """EdgeoptError unless `model` has exactly one input and one output (what every stage handles)."""
    inputs, outputs = len(model.inputs), len(model.outputs)
    if inputs != 1 or outputs != 1:
        raise EdgeoptError(f"{path} has {inputs} inputs and {outputs} outputs; edgeopt optimizes models "
                           "with one input and one output",
                           "export the single-input, single-output part you deploy (e.g. tf.keras.Model("
                           "inputs=model.inputs[0], outputs=model.outputs[0]))")


def _load(path: Path, container: str):
    from edgeopt.common.tfenv import keras

    if container == "zip":
        return keras.models.load_model(path, compile=False, safe_mode=True)
    return keras.models.load_model(path, compile=False)


def _load_zip_under_keras_name(path: Path):
    """Keras reads its zip format only from a path ending in .keras: load a copy named so."""
    with tempfile.TemporaryDirectory(prefix="edgeopt-keras-") as tmp:
        copy = Path(tmp) / "model.keras"
        shutil.copyfile(path, copy)
        return _load(copy, "zip")
