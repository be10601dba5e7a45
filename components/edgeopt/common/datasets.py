"""Datasets: one `.npz` file with named splits, loaded without pickles and checked before any stage uses it.

Arrays: `x_train`, `x_test` (required), `y_train`, `y_test` (integer class labels, optional),
`x_calib` (optional calibration split; defaults to a slice of `x_train`). Metadata: a `labels`
string array, "true" when labels are real, "baseline" when `ingest` filled them with the baseline
model's predictions (accuracy then means agreement with the baseline), and an optional `notes`
string array (the conversions listed below).

`load_dataset` refuses, with one EdgeoptError naming the file, the array and how many entries are
bad, and a hint on how to fix it:
- a missing path, a directory, an unreadable, empty, truncated or corrupt file, a file that is not
  an `.npz`, an array that loads only with pickles (object dtype), a missing `x_train` or `x_test`;
- x arrays (`x_train`, `x_test`, `x_calib`) that are not integers or floats (bool, complex, strings,
  bytes, objects, structured, datetime), have no dimension or no sample, hold NaN or infinite values
  or magnitudes above 1e6 (`MAX_MAGNITUDE`), and an `x_calib` whose samples differ in shape from
  `x_train`'s;
- labels (`y_train`, `y_test`) that are not one per sample, not numbers (bool, complex, strings,
  ...), negative, floats that are not whole numbers, rows of shape (N, C) that are not one-hot, or
  arrays of more than two dimensions.
It converts, recording each conversion in `Dataset.notes`: float labels holding whole numbers to
int64, one-hot rows (N, C) to class indices, and (N, 1) labels to shape (N,).

`check_labels` refuses labels beyond a model's outputs, once the caller knows how many it has.
"""

import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeopt.common.errors import EdgeoptError

REQUIRED = ("x_train", "x_test")
OPTIONAL = ("y_train", "y_test", "x_calib")
SAMPLES = ("x_train", "x_test", "x_calib")
MAX_MAGNITUDE = 1e6
SAVE_HINT = "save it with numpy.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)"
# what numpy and zipfile raise on a damaged file (RuntimeError: an encrypted member)
READ_ERRORS = (OSError, ValueError, EOFError, RuntimeError, zipfile.BadZipFile, zlib.error)
KIND_NAMES = {"b": "boolean", "c": "complex", "U": "string", "S": "bytes", "O": "object", "V": "structured",
              "M": "datetime", "m": "timedelta"}
SAMPLE_HINTS = {"b": "cast it to float32: x.astype(np.float32)",
                "c": "store real float32 features, e.g. np.abs(x), or the real and imaginary parts as two channels"}
SAMPLE_HINT = "store the samples as numbers: decode or encode them, then x.astype(np.float32)"
LABEL_HINTS = {"b": "store class indices as integers: y.astype(np.int64)"}
LABEL_HINT = "store integer class indices 0..C-1, e.g. np.unique(y, return_inverse=True)[1] for class names"


@dataclass
class Dataset:
    """Arrays of one dataset; `labels` says whether `y_*` are real labels or baseline predictions,
    `notes` lists the conversions `load_dataset` made."""

    x_train: np.ndarray
    x_test: np.ndarray
    y_train: np.ndarray | None = None
    y_test: np.ndarray | None = None
    x_calib: np.ndarray | None = None
    labels: str = "true"
    notes: list[str] = field(default_factory=list)

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
    arrays = _read_npz(path)
    missing = [k for k in REQUIRED if k not in arrays]
    if missing:
        raise EdgeoptError(f"dataset {path} lacks array(s) {', '.join(missing)} "
                           f"(has {', '.join(sorted(arrays)) or 'none'})",
                           "the .npz needs x_train and x_test; y_train and y_test are optional labels")
    for name in SAMPLES:
        if name in arrays:
            _check_samples(path, name, arrays[name])
    if "x_calib" in arrays:
        _check_calib_shape(path, arrays["x_calib"], arrays["x_train"])
    notes = [str(n) for n in np.atleast_1d(arrays.pop("notes"))] if "notes" in arrays else []
    for split in ("train", "test"):
        if f"y_{split}" in arrays:
            arrays[f"y_{split}"], note = _class_indices(path, split, arrays[f"y_{split}"], len(arrays[f"x_{split}"]))
            notes += note
    labels = str(arrays.pop("labels")) if "labels" in arrays else "true"
    return Dataset(**{k: v for k, v in arrays.items() if k in REQUIRED + OPTIONAL}, labels=labels, notes=notes)


def save_dataset(path: Path | str, data: Dataset) -> Path:
    """Write a dataset `.npz` to exactly `path` (no suffix is added)."""
    arrays = {k: getattr(data, k) for k in REQUIRED + OPTIONAL if getattr(data, k) is not None}
    if data.notes:
        arrays["notes"] = np.array(data.notes, dtype=str)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, labels=np.array(data.labels), **arrays)
    return Path(path)


def check_labels(data: Dataset, num_classes: int, where: str) -> None:
    """Raise EdgeoptError unless every label in `y_train` and `y_test` is 0..num_classes-1.

    `where` starts the message, e.g. "dataset data.npz".
    """
    for name in ("y_train", "y_test"):
        y = getattr(data, name)
        if y is None:
            continue
        bad = int(np.count_nonzero((y < 0) | (y >= num_classes)))
        if bad:
            smallest = f", smallest {int(y.min())}" if y.min() < 0 else ""
            raise EdgeoptError(f"{where}: {name} has {_count(bad, 'label')} outside the model's {num_classes} outputs "
                               f"(largest {int(y.max())}{smallest}, of {len(y)})",
                               f"the model has {num_classes} outputs: labels must be 0..{num_classes - 1}")


def check_input_shape(x: np.ndarray, input_shape: list[int | None], what: str) -> None:
    """Raise EdgeoptError unless samples `x` fit a model input of `input_shape` (batch dim first)."""
    expected = tuple(input_shape[1:])
    got = tuple(x.shape[1:])
    if len(expected) != len(got) or any(e not in (None, -1, g) for e, g in zip(expected, got)):
        raise EdgeoptError(f"{what} samples have shape {got} but the model expects {expected}",
                           "reshape the dataset arrays to (N, " + ", ".join(str(e) for e in expected)
                           + ") or pass the model they were made for")


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of the `.npz` at `path`, loaded without pickles."""
    if path.is_dir():
        raise EdgeoptError(f"dataset {path} is a directory, not an .npz file",
                           "pass the .npz file itself; " + SAVE_HINT)
    if not path.is_file():
        raise EdgeoptError(f"dataset {path} does not exist",
                           "pass an .npz file with arrays x_train, x_test (and y_train, y_test)")
    try:
        with open(path, "rb") as fh:
            _check_zip_magic(path, fh.read(6))
            fh.seek(0)
            with np.load(fh, allow_pickle=False) as npz:
                return {name: _read_array(path, npz, name) for name in npz.files}
    except READ_ERRORS as exc:
        raise _unreadable(path, exc) from exc


def _check_zip_magic(path: Path, head: bytes) -> None:
    """Refuse an empty file, a single .npy array, or anything else that is not a zip archive."""
    if not head:
        raise EdgeoptError(f"dataset {path} is empty (0 bytes)", "the file was not written completely; " + SAVE_HINT)
    if head.startswith(b"\x93NUMPY"):
        raise EdgeoptError(f"dataset {path} is a single .npy array, not an .npz file of named arrays", SAVE_HINT)
    if not head.startswith(b"PK"):
        raise EdgeoptError(f"dataset {path} is not an .npz file (it starts with {head!r}, not a zip archive's PK)",
                           SAVE_HINT)


def _read_array(path: Path, npz: np.lib.npyio.NpzFile, name: str) -> np.ndarray:
    """Array `name` of `npz`; an object array or a damaged member is refused by name."""
    try:
        value = npz[name]
    except ValueError as exc:
        if "allow_pickle" not in str(exc):
            raise _unreadable(path, exc, name) from exc
        dtype = "int64" if name.startswith("y_") else "float32"
        raise EdgeoptError(f"dataset {path} is not a readable .npz file without pickles: {name} holds Python "
                           "objects (dtype object)",
                           f"store {name} as numbers, e.g. np.asarray({name}, dtype=np.{dtype}) (pad ragged "
                           "samples to one shape first); edgeopt never loads pickles") from exc
    except READ_ERRORS as exc:
        raise _unreadable(path, exc, name) from exc
    if not isinstance(value, np.ndarray):
        raise EdgeoptError(f"dataset {path} is not a readable .npz file: member {name} is not a .npy array",
                           SAVE_HINT)
    return value


def _unreadable(path: Path, exc: Exception, name: str | None = None) -> EdgeoptError:
    """The error for a file or member `name` that could not be read; the reason is cut short."""
    reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
    if isinstance(exc, OSError):
        return EdgeoptError(f"dataset {path} cannot be read ({reason})",
                            "check that the file is readable by this user (permissions, mounted volume)")
    member = f" (array {name})" if name else ""
    return EdgeoptError(f"dataset {path} is not a readable .npz file{member}: {reason}",
                        "the file is truncated or corrupt; " + SAVE_HINT)


def _check_samples(path: Path, name: str, x: np.ndarray) -> None:
    """Refuse an x array that is not numeric, has no sample, or holds NaN, infinite or huge values."""
    where = f"dataset {path}: {name}"
    _check_numeric(where, x, "inputs", SAMPLE_HINTS.get(x.dtype.kind, SAMPLE_HINT))
    if x.ndim < 1:
        raise EdgeoptError(f"{where} is a single number (0 dimensions), not an array of samples",
                           "store the samples along the first axis: shape (N, ...)")
    if len(x) == 0:
        raise EdgeoptError(f"{where} has 0 samples (shape {x.shape})",
                           "leave x_calib out to calibrate on x_train, or give it samples" if name == "x_calib"
                           else "give at least one sample in each of x_train and x_test")
    if x.size == 0:
        raise EdgeoptError(f"{where} has {len(x)} samples of 0 values each (shape {x.shape})",
                           "store each sample's features along the axes after the first: shape (N, ...)")
    if _within(x, MAX_MAGNITUDE):
        return
    nan, inf = (int(np.count_nonzero(np.isnan(x))), int(np.count_nonzero(np.isinf(x)))) if x.dtype.kind == "f" \
        else (0, 0)
    if nan or inf:
        raise EdgeoptError(f"{where} samples hold {nan} NaN and {inf} infinite values (of {x.size})",
                           "clean the inputs (drop or impute those samples); training and quantization need "
                           "finite numbers")
    huge = int(np.count_nonzero(x > MAX_MAGNITUDE) + np.count_nonzero(x < -MAX_MAGNITUDE))
    largest = max(abs(float(x.min())), abs(float(x.max())))
    raise EdgeoptError(f"{where} has {_count(huge, 'value')} above {MAX_MAGNITUDE:,.0f} in magnitude "
                       f"(largest {largest:.3g}, of {x.size})",
                       "normalise or scale the inputs as the model was trained, e.g. x / 255 for 8-bit images, "
                       "x / 32768 for int16 audio")


def _within(x: np.ndarray, limit: float) -> bool:
    """Whether every value of a numeric `x` is finite and within +-limit (two passes, no temporaries)."""
    if x.dtype.kind in "iu" and np.iinfo(x.dtype).max <= limit and np.iinfo(x.dtype).min >= -limit:
        return True
    lo, hi = float(x.min()), float(x.max())
    return -limit <= lo and hi <= limit


def _check_numeric(where: str, a: np.ndarray, what: str, hint: str) -> None:
    """Refuse an array whose dtype is not integer or float (`what`: "inputs" or "labels")."""
    if a.dtype.kind not in "iuf":
        kind = KIND_NAMES.get(a.dtype.kind, "non-numeric")
        raise EdgeoptError(f"{where} holds {a.size} {kind} values (dtype {a.dtype}); {what} must be integer or "
                           "float numbers", hint)


def _check_calib_shape(path: Path, calib: np.ndarray, train: np.ndarray) -> None:
    """Refuse calibration samples shaped unlike the training samples."""
    if calib.shape[1:] != train.shape[1:]:
        wanted = ", ".join(["N", *map(str, train.shape[1:])])
        raise EdgeoptError(f"dataset {path}: x_calib samples have shape {calib.shape[1:]} but x_train samples have "
                           f"shape {train.shape[1:]} (all {len(calib)} x_calib samples)",
                           f"x_calib must hold samples like x_train's: shape ({wanted})")


def _class_indices(path: Path, split: str, y: np.ndarray, samples: int) -> tuple[np.ndarray, list[str]]:
    """Labels `y_<split>` as int class indices of shape (N,), and notes on any conversion made."""
    name, where = f"y_{split}", f"dataset {path}: y_{split}"
    _check_numeric(where, y, "labels", LABEL_HINTS.get(y.dtype.kind, LABEL_HINT))
    if y.ndim not in (1, 2):
        raise EdgeoptError(f"{where} has {y.ndim} dimensions (shape {y.shape}); labels are one class index per "
                           "sample", "store class indices of shape (N,), or one-hot rows of shape (N, C)")
    if len(y) != samples:
        raise EdgeoptError(f"dataset {path}: y_{split} has {len(y)} rows but x_{split} has {samples}",
                           "give one label per sample")
    notes = []
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.reshape(-1)
    elif y.ndim == 2:
        notes.append(f"{name} was one-hot ({y.shape[1]} columns); converted to class indices")
        y = _from_one_hot(where, y)
    if y.dtype.kind == "f":
        notes.append(f"{name} held whole-number floats ({y.dtype}); converted to int64 class indices")
        y = _whole_numbers(where, y)
    negative = int(np.count_nonzero(y < 0))
    if negative:
        raise EdgeoptError(f"{where} has {_count(negative, 'negative label')} "
                           f"(smallest {int(y.min())}, of {len(y)})",
                           "labels are class indices 0..C-1; remap them, e.g. np.unique(y, return_inverse=True)[1]")
    return y, notes


def _from_one_hot(where: str, y: np.ndarray) -> np.ndarray:
    """Class indices of one-hot rows (N, C); soft or multi-label rows are refused."""
    ones = y == 1
    one_hot = ((y == 0) | ones).all(axis=1) & (np.count_nonzero(ones, axis=1) == 1)
    bad = len(y) - int(np.count_nonzero(one_hot))
    if bad:
        raise EdgeoptError(f"{where} has shape {y.shape} but {bad} of its {len(y)} rows are not one-hot "
                           "(exactly one 1, the rest 0)",
                           "store class indices of shape (N,), e.g. y.argmax(-1) if each row's largest value is "
                           "its class; soft and multi-label targets are not supported")
    return ones.argmax(axis=1).astype(np.int64)


def _whole_numbers(where: str, y: np.ndarray) -> np.ndarray:
    """Float labels as int64; refused unless every value is a finite whole number."""
    finite = np.isfinite(y)
    nonfinite = y.size - int(np.count_nonzero(finite))
    fractional = int(np.count_nonzero(finite & (y != np.trunc(y))))
    if nonfinite or fractional:
        raise EdgeoptError(f"{where} has {fractional} non-integral and {nonfinite} NaN or infinite labels "
                           f"(of {y.size})",
                           "store integer class indices; float labels load only when every value is a whole "
                           "number such as 0.0, 1.0, 2.0")
    return y.astype(np.int64)


def _count(n: int, noun: str) -> str:
    """`n` and `noun`, plural unless n is 1: "1 label", "3 labels"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
