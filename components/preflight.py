"""Check a pipeline's inputs before any task starts, so that bad input fails fast and clearly."""

from pathlib import Path

from edgeopt.common.datasets import check_input_shape, load_dataset
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.keras_io import load_keras, model_format


def preflight(model: Path, data: Path, targets: Path) -> None:
    """Raise EdgeoptError if the targets file, dataset or model is unusable, or they do not fit."""
    from edgeopt.validate_targets.targets import load_targets

    if not targets.is_file():
        raise EdgeoptError(f"targets file {targets} does not exist",
                           "write a YAML file with at least `target: cortex-m4f@80mhz`")
    load_targets(targets)
    fmt = model_format(model)
    if fmt not in ("keras", "savedmodel"):
        raise EdgeoptError(f"the pipeline starts from a Keras or SavedModel model, not {fmt} ({model})",
                           "pass the float Keras (.h5/.keras) or SavedModel form of the model")
    dataset = load_dataset(data)
    input_shape = list(load_keras(model).input_shape)
    for split in ("x_train", "x_test", "x_calib"):
        if getattr(dataset, split) is not None:
            check_input_shape(getattr(dataset, split), input_shape, split)
