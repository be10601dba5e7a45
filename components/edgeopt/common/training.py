"""Pieces shared by the stages that train Keras classifiers (prune, distill)."""

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from edgeopt.common.bundle import ModelInfo, read_bundle
from edgeopt.common.datasets import Dataset, check_input_shape, load_dataset
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.evaluate import accuracy
from edgeopt.common.fsutil import atomic_dir
from edgeopt.common.keras_io import load_keras
from edgeopt.common.metrics import METRICS_FILE, write_metrics
from edgeopt.common.runtimes import predict_bundle

KERAS_FORMATS = ("keras", "savedmodel")


def load_keras_bundle(model_dir: Path | str, stage: str) -> tuple[ModelInfo, Any]:
    """Metadata and loaded Keras model of a keras (or Keras SavedModel) bundle; EdgeoptError otherwise."""
    info, path = read_bundle(model_dir)
    if info.format not in KERAS_FORMATS:
        raise EdgeoptError(f"{stage} needs a Keras model, but {model_dir} holds a {info.format} model",
                           f"run {stage} on the float Keras model, before quantize and convert")
    return info, load_keras(path)


def load_labelled(data_path: Path | str, model, stage: str, required: bool = True) -> Dataset:
    """The dataset at `data_path`, checked to have samples that fit `model` and, when `required`,
    labels (without them, y_train/y_test may be absent)."""
    data = load_dataset(data_path)
    if required and (data.y_train is None or data.y_test is None):
        raise EdgeoptError(f"{stage} trains on labels, but dataset {data_path} has no y_train/y_test",
                           "pass the dataset written by ingest, which always has labels")
    for name in ("x_train", "x_test"):
        check_input_shape(getattr(data, name), shape_list(model.input_shape), name)
    outputs = int(np.prod(model.output_shape[1:]))
    if data.num_classes is not None and data.num_classes > outputs:
        raise EdgeoptError(f"labels go up to {data.num_classes - 1} but the model has {outputs} outputs",
                           "pass labels that index the model's output classes")
    return data


def output_activation(model) -> str | None:
    """'softmax' or 'linear' when the model's single output is probabilities or logits, else None."""
    from edgeopt.common.tfenv import keras

    if len(model.outputs) != 1:
        return None
    layer = model.get_layer(model.output_names[0])
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    name = getattr(getattr(layer, "activation", None), "__name__", None)
    return name if name in ("softmax", "linear") else None


def check_training_args(epochs: int, batch_size: int) -> None:
    """Raise EdgeoptError unless `epochs` >= 0 and `batch_size` >= 1 are whole numbers."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise EdgeoptError(f"epochs must be a whole number >= 0, got {epochs!r}",
                           "give the number of passes over x_train, e.g. 2")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise EdgeoptError(f"batch size must be a whole number >= 1, got {batch_size!r}", "use e.g. 64")


def classifier_from_logits(model, stage: str) -> bool:
    """Whether the classifier `model` outputs logits (True) or softmax probabilities (False);
    EdgeoptError when its output is neither."""
    activation = output_activation(model)
    if activation is None:
        raise EdgeoptError(f"{stage} trains classifiers with one output of softmax probabilities or logits; "
                           "this model's output is neither",
                           "end the model in a softmax (or linear) layer, or disable the stage")
    return activation == "linear"


def shape_list(shape) -> list[int | None]:
    """A Keras shape tuple as the list stored in `ModelInfo`."""
    return [None if d is None else int(d) for d in shape]


def passthrough(model_dir: Path | str, data_path: Path | str, out_dir: Path | str) -> dict[str, Any]:
    """Copy bundle `model_dir` unchanged to `out_dir` for a disabled stage; metrics `skipped`,
    `accuracy` (run by the runtime of the bundle's format), `size_bytes` and `sparsity`."""
    info, _ = read_bundle(model_dir)
    data = load_dataset(data_path)
    metrics: dict[str, Any] = {"skipped": True, "size_bytes": info.size_bytes, "sparsity": info.sparsity}
    if data.y_test is not None:
        metrics["accuracy"] = accuracy(predict_bundle(model_dir, data.x_test), data.y_test)
    with atomic_dir(out_dir) as scratch:
        shutil.copytree(model_dir, scratch, dirs_exist_ok=True, ignore=shutil.ignore_patterns(METRICS_FILE))
        write_metrics(scratch, metrics)
    return metrics
