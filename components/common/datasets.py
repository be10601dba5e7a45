"""Datasets: one `.npz` file with named splits, loaded without pickles.

Arrays: `x_train`, `x_test` (required), `y_train`, `y_test` (integer class labels, optional),
`x_calib` (optional calibration split; defaults to a slice of `x_train`). Metadata in a
`labels` string array: "true" when labels are real, "baseline" when `ingest` filled them with
the baseline model's predictions (accuracy then means agreement with the baseline).
"""

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeopt.common.errors import EdgeoptError

REQUIRED = ("x_train", "x_test")
OPTIONAL = ("y_train", "y_test", "x_calib")


@dataclass
class Dataset:
    """Arrays of one dataset; `labels` says whether `y_*` are real labels or baseline predictions."""

    x_train: np.ndarray
    x_test: np.ndarray
    y_train: np.ndarray | None = None
    y_test: np.ndarray | None = None
    x_calib: np.ndarray | None = None
    labels: str = "true"

    def calibration(self, n: int) -> np.ndarray:
        """Up to `n` calibration samples: `x_calib` if given, else the head of `x_train`."""
        source = self.x_calib if self.x_calib is not None else self.x_train
        return source[:n]

    @property
    def num_classes(self) -> int | None:
        """Number of classes seen in the labels, or None without labels."""
        ys = [y for y in (self.y_train, self.y_test) if y is not None]
        return int(max(int(y.max()) for y in ys) + 1) if ys else None


def load_dataset(path: Path | str) -> Dataset:
    """Load and check a dataset `.npz`; raises EdgeoptError saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise EdgeoptError(f"dataset {path} does not exist",
                           "pass an .npz file with arrays x_train, x_test (and y_train, y_test)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise EdgeoptError(f"dataset {path} is not a readable .npz file ({exc})",
                           "save it with numpy.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)"
                           ) from exc
    missing = [k for k in REQUIRED if k not in arrays]
    if missing:
        raise EdgeoptError(f"dataset {path} lacks array(s) {', '.join(missing)} (has {', '.join(sorted(arrays))})",
                           "the .npz needs x_train and x_test; y_train and y_test are optional labels")
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays.get(f"y_{split}")
        if y is not None and len(y) != len(x):
            raise EdgeoptError(f"dataset {path}: y_{split} has {len(y)} rows but x_{split} has {len(x)}",
                               "give one label per sample")
        if y is not None and not np.issubdtype(y.dtype, np.integer):
            raise EdgeoptError(f"dataset {path}: y_{split} must hold integer class labels, not {y.dtype}",
                               "store class indices (e.g. y.argmax(-1) for one-hot labels)")
    labels = str(arrays.pop("labels")) if "labels" in arrays else "true"
    return Dataset(**{k: v for k, v in arrays.items() if k in REQUIRED + OPTIONAL}, labels=labels)


def save_dataset(path: Path | str, data: Dataset) -> Path:
    """Write a dataset `.npz` to exactly `path` (no suffix is added)."""
    arrays = {k: getattr(data, k) for k in REQUIRED + OPTIONAL if getattr(data, k) is not None}
    with open(path, "wb") as fh:
        np.savez_compressed(fh, labels=np.array(data.labels), **arrays)
    return Path(path)


def check_input_shape(x: np.ndarray, input_shape: list[int | None], what: str) -> None:
    """Raise EdgeoptError unless samples `x` fit a model input of `input_shape` (batch dim first)."""
    expected = tuple(input_shape[1:])
    got = tuple(x.shape[1:])
    if len(expected) != len(got) or any(e not in (None, -1, g) for e, g in zip(expected, got)):
        raise EdgeoptError(f"{what} samples have shape {got} but the model expects {expected}",
                           "reshape the dataset arrays to (N, " + ", ".join(str(e) for e in expected)
                           + ") or pass the model they were made for")
