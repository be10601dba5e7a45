"""What the stages read: a float model bundle, or a user's model path made into one.

`open_float_source` serves `quantize` and `convert`: both start from the float Keras or
SavedModel bundle and compare their exports with its outputs. `bundle_from_path` lets every
stage command take a plain model file as well as a bundle.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeopt.common.bundle import METADATA_FILE, ModelInfo, read_bundle, write_bundle
from edgeopt.common.datasets import check_input_shape
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.keras_io import KERAS_SUFFIX, load_keras
from edgeopt.common.modelfile import check_loadable
from edgeopt.common.runtimes import predict_keras, predict_savedmodel, tflite_interpreter

FLOAT_FORMATS = ("keras", "savedmodel")


@dataclass
class FloatSource:
    """A float Keras or SavedModel model with its bundle metadata; `keras_model` is set for format keras."""

    info: ModelInfo
    path: Path
    keras_model: Any = None

    def check_samples(self, x: np.ndarray, what: str) -> np.ndarray:
        """`x` as float32 after checking that it is not empty and fits the model input (else EdgeoptError)."""
        if len(x) == 0:
            raise EdgeoptError(f"the dataset has no {what} samples", f"add samples to the {what} array")
        check_input_shape(x, self.info.input_shape, what)
        return np.asarray(x, dtype=np.float32)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Outputs of the float model on float samples `x`, run by TensorFlow."""
        if self.keras_model is not None:
            return predict_keras(self.keras_model, x)
        return predict_savedmodel(self.path, x)

    def tflite_converter(self):
        """A fresh `tf.lite.TFLiteConverter` for this model (from_keras_model or from_saved_model)."""
        from edgeopt.common.tfenv import tf

        if self.keras_model is not None:
            return tf.lite.TFLiteConverter.from_keras_model(self.keras_model)
        return tf.lite.TFLiteConverter.from_saved_model(str(self.path))


def open_float_source(bundle_dir: Path | str, stage: str) -> FloatSource:
    """Open the float bundle a stage starts from; EdgeoptError unless it is a keras or savedmodel bundle."""
    info, path = read_bundle(bundle_dir)
    if info.format not in FLOAT_FORMATS:
        raise EdgeoptError(f"{stage} starts from a float Keras or SavedModel model, but {bundle_dir} holds "
                           f"a {info.format} model",
                           "pass the bundle written by ingest, distill or prune (not a quantized or converted one)")
    if not info.input_shape:
        raise EdgeoptError(f"{bundle_dir}/{METADATA_FILE} does not record the model's input shape",
                           "re-create the bundle with `edgeopt ingest`")
    if info.format == "keras":
        return FloatSource(info, path, load_keras(path))  # load_keras checks the file first
    check_loadable(path)  # a SavedModel: only when trusted
    return FloatSource(info, path)


def bundle_from_path(path: Path | str, tmpdir: Path | str) -> Path:
    """`path` itself when it is a bundle (holds model.json), else a bundle made from the user's model file.

    A .h5/.keras file, SavedModel directory or .onnx file (or a .tflite file) is copied into a new bundle
    under `tmpdir`, which the caller owns and removes; its shapes are read from the loaded model.
    """
    path = Path(path)
    if (path / METADATA_FILE).is_file():
        read_bundle(path)  # refuses links, paths outside the bundle and a format its content belies
        return path
    fmt, container = check_loadable(path)
    if fmt == "tflite":
        detail_in, detail_out = _tflite_io(path)
        input_shape, output_shape = _signature(detail_in), _signature(detail_out)
        precision = np.dtype(detail_in["dtype"]).name
    elif fmt == "onnx":
        input_shape, output_shape = _onnx_io(path)
        precision = "float32"
    elif fmt in FLOAT_FORMATS:
        model = load_keras(path)
        input_shape = [None if d is None else int(d) for d in model.input_shape]
        output_shape = [None if d is None else int(d) for d in model.output_shape]
        precision = "float32"
    else:
        raise EdgeoptError(f"{path} is a {fmt} model, which this command does not read",
                           "pass the float Keras (.h5/.keras) or SavedModel form of the model")
    bundle = Path(tmpdir) / "bundle"
    bundle.mkdir(parents=True)
    name = {"savedmodel": "savedmodel", "tflite": "model.tflite", "onnx": "model.onnx"}.get(
        fmt, "model" + KERAS_SUFFIX.get(container, ""))
    if path.is_dir():
        shutil.copytree(path, bundle / name)
    else:
        shutil.copyfile(path, bundle / name)
    write_bundle(bundle, ModelInfo(format=fmt, file=name, precision=precision, input_shape=input_shape,
                                   output_shape=output_shape, stage="user", details={"source": str(path)}))
    return bundle


def _onnx_io(path: Path) -> tuple[list[int | None], list[int | None]]:
    """Shapes of the first input and output of an ONNX model (symbolic dimensions as None)."""
    import onnx

    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception as exc:  # onnx raises DecodeError and others for a bad file
        raise EdgeoptError(f"cannot read the ONNX model {path}: {str(exc).splitlines()[0] if str(exc) else exc}",
                           "check that the file is a complete .onnx model") from exc
    initializers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]

    def dims(value) -> list[int | None]:
        return [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]
    return dims(inputs[0]), dims(graph.output[0])


def _tflite_io(path: Path) -> tuple[dict, dict]:
    interp = tflite_interpreter(path)
    return interp.get_input_details()[0], interp.get_output_details()[0]


def _signature(detail: dict) -> list[int | None]:
    shape = detail.get("shape_signature", detail["shape"])
    return [None if int(d) < 0 else int(d) for d in shape]
