"""Check a user's model and dataset, copy them into artifacts and measure the baseline.

The baseline bundle keeps the model in its own format (keras or savedmodel). The dataset
artifact is the user's arrays, checked against the model's input; without labels, `y_train`
and `y_test` become the baseline's predictions (and `labels` says "baseline"), so that later
accuracies mean agreement with the baseline.
"""

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from edgeopt.common.bundle import ModelInfo, check_plain_tree, write_bundle
from edgeopt.common.datasets import Dataset, check_input_shape, check_labels, load_dataset, save_dataset
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.evaluate import accuracy
from edgeopt.common.fsutil import atomic_dir
from edgeopt.common.keras_io import KERAS_SUFFIX, check_single_io, load_keras
from edgeopt.common.modelfile import check_loadable
from edgeopt.common.runtimes import predict_keras


def ingest(model_src: Path | str, data_src: Path | str, model_out: Path | str,
           data_out: Path | str) -> dict[str, Any]:
    """Write the baseline bundle to `model_out` and the checked dataset to `data_out`; return metrics.

    Everything is checked before anything is written; `metrics["notes"]` lists conversions made
    to the dataset (one-hot labels to class indices, for example).
    """
    model_src, data_src = Path(model_src), Path(data_src)
    model, data, container = check_inputs(model_src, data_src)
    input_shape = [None if d is None else int(d) for d in model.input_shape]
    output_shape = [None if d is None else int(d) for d in model.output_shape]
    test_out = predict_keras(model, data.x_test.astype(np.float32))
    if data.y_test is None:
        data = Dataset(x_train=data.x_train, x_test=data.x_test, x_calib=data.x_calib,
                       y_train=predict_keras(model, data.x_train.astype(np.float32)).argmax(-1),
                       y_test=test_out.argmax(-1), labels="baseline", notes=data.notes)
    elif data.y_train is None:
        data.y_train = predict_keras(model, data.x_train.astype(np.float32)).argmax(-1)

    with atomic_dir(model_out) as scratch:
        name = "savedmodel" if container == "savedmodel" else "model" + KERAS_SUFFIX[container]
        if model_src.is_dir():
            shutil.copytree(model_src, scratch / name)
        else:
            shutil.copyfile(model_src, scratch / name)
        info = write_bundle(scratch, ModelInfo(
            format="savedmodel" if container == "savedmodel" else "keras", file=name, input_shape=input_shape,
            output_shape=output_shape, stage="ingest",
            details={"params": int(model.count_params()), "source": str(model_src)}))
    tmp_data = Path(str(data_out) + ".partial")
    try:
        save_dataset(tmp_data, data)
        tmp_data.replace(data_out)
    finally:
        tmp_data.unlink(missing_ok=True)
    return {
        "accuracy": accuracy(test_out, data.y_test),
        "labels": data.labels,
        "size_bytes": info.size_bytes,
        "params": int(model.count_params()),
        "num_train": int(len(data.x_train)),
        "num_test": int(len(data.x_test)),
        "notes": list(data.notes),
    }


def check_inputs(model_src: Path, data_src: Path) -> tuple[Any, Dataset, str]:
    """(loaded model, checked dataset, model container) if the pipeline can start from them;
    EdgeoptError naming the first problem otherwise. Nothing is written."""
    fmt, container = check_loadable(model_src)
    if fmt not in ("keras", "savedmodel"):
        raise EdgeoptError(f"the pipeline starts from a Keras or SavedModel model, not {fmt} ({model_src})",
                           "pass the float Keras (.h5/.keras) or SavedModel form of the model")
    if container == "savedmodel":
        check_plain_tree(model_src)
    data = load_dataset(data_src)
    model = load_keras(model_src)
    check_single_io(model, model_src)
    input_shape = [None if d is None else int(d) for d in model.input_shape]
    for split in ("x_train", "x_test", "x_calib"):
        if getattr(data, split) is not None:
            check_input_shape(getattr(data, split), input_shape, split)
    check_labels(data, int(np.prod(model.output_shape[1:])), str(data_src))
    return model, data, container
