"""Datasets: bad arrays and files are refused naming the array and the count; valid variants load."""

import zipfile

import numpy as np
import pytest

from edgeopt.common import datasets
from edgeopt.common.datasets import Dataset, check_labels, load_dataset, save_dataset
from edgeopt.common.errors import EdgeoptError

NAN, INF = np.nan, np.inf


def _valid() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"x_train": rng.random((20, 4, 4, 1), dtype=np.float32), "y_train": np.arange(20) % 3,
            "x_test": rng.random((10, 4, 4, 1), dtype=np.float32), "y_test": np.arange(10) % 3}


def _write(tmp_path, **overrides) -> str:
    """The valid dataset with `overrides` (None drops an array), written with numpy.savez."""
    arrays = {k: v for k, v in {**_valid(), **overrides}.items() if v is not None}
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    return path


def _poke(shape, values, dtype=np.float32) -> np.ndarray:
    """Zeros of `shape` whose first entries are `values`."""
    a = np.zeros(shape, dtype)
    a.reshape(-1)[:len(values)] = values
    return a


def _one_hot(labels, columns=3, dtype=np.float32) -> np.ndarray:
    return np.eye(columns, dtype=dtype)[labels]


def _soft(rows: int) -> np.ndarray:
    y = _one_hot(np.arange(20) % 3)
    y[:rows] = [0.5, 0.5, 0.0]
    return y


def _multi_label(rows: int) -> np.ndarray:
    y = _one_hot(np.arange(10) % 3, dtype=np.int64)
    y[:rows] = [1, 1, 0]
    return y


BAD = [
    ("x_train-strings", {"x_train": np.full((20, 4), "ab")}, ["x_train holds 80 string values", "<U2"]),
    ("x_test-bytes", {"x_test": np.full((10, 4), b"ab")}, ["x_test holds 40 bytes values"]),
    ("x_train-object", {"x_train": np.array([object()] * 20, dtype=object)}, ["x_train holds Python objects"]),
    ("x_train-structured", {"x_train": np.zeros(20, dtype=[("a", "f4"), ("b", "f4")])},
     ["x_train holds 20 structured values"]),
    ("x_train-datetime", {"x_train": np.zeros((20, 4), "datetime64[s]")}, ["x_train holds 80 datetime values"]),
    ("x_test-timedelta", {"x_test": np.zeros((10, 4), "timedelta64[s]")}, ["x_test holds 40 timedelta values"]),
    ("x_train-complex", {"x_train": np.ones((20, 4, 4, 1), np.complex64)}, ["x_train holds 320 complex values"]),
    ("x_calib-bool", {"x_calib": np.ones((5, 4, 4, 1), bool)}, ["x_calib holds 80 boolean values"]),
    ("x_train-nan-inf", {"x_train": _poke((20, 4, 4, 1), [NAN, NAN, NAN, INF, -INF])},
     ["x_train samples hold 3 NaN and 2 infinite values (of 320)"]),
    ("x_test-inf", {"x_test": _poke((10, 4, 4, 1), [INF])},
     ["x_test samples hold 0 NaN and 1 infinite values (of 160)"]),
    ("x_calib-nan", {"x_calib": _poke((5, 4, 4, 1), [NAN, NAN])},
     ["x_calib samples hold 2 NaN and 0 infinite values (of 80)"]),
    ("x_train-1e30", {"x_train": _poke((20, 4, 4, 1), [1e30] * 4)},
     ["x_train has 4 values above 1,000,000 in magnitude (largest 1e+30, of 320)"]),
    ("x_test-negative-huge", {"x_test": _poke((10, 4, 4, 1), [-2e6, -2e6], np.float64)},
     ["x_test has 2 values above 1,000,000 in magnitude (largest 2e+06, of 160)"]),
    ("x_calib-int32-huge", {"x_calib": _poke((5, 4, 4, 1), [2_000_000] * 3, np.int32)},
     ["x_calib has 3 values above 1,000,000"]),
    ("x_train-no-samples", {"x_train": np.zeros((0, 4, 4, 1), np.float32)}, ["x_train has 0 samples"]),
    ("x_test-no-samples", {"x_test": np.zeros((0, 4, 4, 1), np.float32)}, ["x_test has 0 samples"]),
    ("x_calib-no-samples", {"x_calib": np.zeros((0, 4, 4, 1), np.float32)}, ["x_calib has 0 samples"]),
    ("x_train-no-values", {"x_train": np.zeros((20, 0), np.float32)}, ["x_train has 20 samples of 0 values"]),
    ("x_train-scalar", {"x_train": np.array(1.0)}, ["x_train is a single number (0 dimensions)"]),
    ("x_calib-shape", {"x_calib": np.zeros((5, 4, 4, 3), np.float32)},
     ["x_calib samples have shape (4, 4, 3) but x_train samples have shape (4, 4, 1) (all 5 x_calib samples)"]),
    ("x_test-missing", {"x_test": None, "y_test": None}, ["lacks array(s) x_test"]),
    ("y_train-count", {"y_train": np.zeros(19, np.int64)}, ["y_train has 19 rows but x_train has 20"]),
    ("y_train-strings", {"y_train": np.full(20, "cat")}, ["y_train holds 20 string values"]),
    ("y_test-complex", {"y_test": np.ones(10, np.complex128)}, ["y_test holds 10 complex values"]),
    ("y_train-bool", {"y_train": np.ones(20, bool)}, ["y_train holds 20 boolean values"]),
    ("y_test-object", {"y_test": np.array(["a"] * 10, dtype=object)}, ["y_test holds Python objects"]),
    ("y_train-fractional", {"y_train": _poke(20, [0.5, 1.5, NAN])},
     ["y_train has 2 non-integral and 1 NaN or infinite labels (of 20)"]),
    ("y_test-inf", {"y_test": _poke(10, [INF], np.float64)}, ["y_test has 0 non-integral and 1 NaN or infinite"]),
    ("y_train-soft", {"y_train": _soft(3)}, ["y_train has shape (20, 3) but 3 of its 20 rows are not one-hot"]),
    ("y_test-multi-label", {"y_test": _multi_label(2)}, ["y_test has shape (10, 3) but 2 of its 10 rows"]),
    ("y_train-3d", {"y_train": np.zeros((20, 2, 2), np.int64)}, ["y_train has 3 dimensions (shape (20, 2, 2))"]),
    ("y_test-scalar", {"y_test": np.array(1)}, ["y_test has 0 dimensions"]),
    ("y_train-negative", {"y_train": _poke(20, [-1, -2], np.int64)},
     ["y_train has 2 negative labels (smallest -2, of 20)"]),
    ("y_test-negative-float", {"y_test": _poke(10, [-1.0])}, ["y_test has 1 negative label (smallest -1, of 10)"]),
]


@pytest.mark.parametrize("overrides, fragments", [pytest.param(o, f, id=i) for i, o, f in BAD])
def test_bad_arrays_are_refused_by_name_and_count(tmp_path, overrides, fragments):
    path = _write(tmp_path, **overrides)
    with pytest.raises(EdgeoptError) as err:
        load_dataset(path)
    assert str(path) in err.value.message
    for fragment in fragments:
        assert fragment in err.value.message
    assert err.value.hint


def _truncated(path):
    np.savez(path, **_valid())
    path.write_bytes(path.read_bytes()[:1000])


def _bad_crc(path):
    np.savez(path, **_valid())
    raw = bytearray(path.read_bytes())
    raw[400:410] = bytes(10)  # inside x_train's data, after its header
    path.write_bytes(bytes(raw))


def _encrypted(path):
    np.savez(path, **_valid())
    raw = bytearray(path.read_bytes())
    central = raw.index(b"PK\x01\x02")
    raw[central + 8] |= 1  # the central directory's "encrypted" flag of the first member
    path.write_bytes(bytes(raw))


def _npy(array):
    def write(path):
        with open(path, "wb") as fh:
            np.save(fh, array)
    return write


def _raw_member(path):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x_train", b"not an array")


BAD_FILES = [
    ("missing", lambda p: None, "does not exist"),
    ("directory", lambda p: p.mkdir(), "is a directory"),
    ("empty-file", lambda p: p.write_bytes(b""), "is empty (0 bytes)"),
    ("garbage", lambda p: p.write_bytes(b"garbage" * 100), "is not an .npz file (it starts with b'garbag'"),
    ("truncated", _truncated, "is not a readable .npz file: File is not a zip file"),
    ("bad-crc", _bad_crc, "is not a readable .npz file (array x_train): Bad CRC-32"),
    ("encrypted", _encrypted, "(array x_train): File 'x_train.npy' is encrypted"),
    ("no-arrays", lambda p: np.savez(p), "lacks array(s) x_train, x_test (has none)"),
    ("npy-file", _npy(np.zeros((3, 4))), "is a single .npy array"),
    ("pickled-npy", _npy(np.array([{}], dtype=object)), "is a single .npy array"),
    ("raw-member", _raw_member, "member x_train is not a .npy array"),
]


@pytest.mark.parametrize("make, fragment", [pytest.param(m, f, id=i) for i, m, f in BAD_FILES])
def test_bad_files_are_refused(tmp_path, make, fragment):
    path = tmp_path / "d.npz"
    make(path)
    with pytest.raises(EdgeoptError) as err:
        load_dataset(path)
    assert str(path) in err.value.message and fragment in err.value.message
    assert err.value.hint and len(err.value.message) < 300


def test_unreadable_file(tmp_path, monkeypatch):
    path = _write(tmp_path)

    def denied(file, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(file))

    monkeypatch.setattr(datasets, "open", denied, raising=False)  # chmod 000 does not stop root
    with pytest.raises(EdgeoptError, match="cannot be read .*Permission denied") as err:
        load_dataset(path)
    assert "permissions" in err.value.hint


@pytest.mark.parametrize("x", [
    pytest.param((np.arange(20 * 64) % 256).astype(np.uint8).reshape(20, 8, 8), id="uint8-images"),
    pytest.param(_poke((20, 16000), [32767, -32768], np.int16), id="int16-audio"),
    pytest.param(_poke((20, 4), [1e6, -1e6]), id="float-at-1e6"),
    pytest.param(np.arange(20, dtype=np.float16), id="float16-1d"),
])
def test_valid_inputs_load_unchanged(tmp_path, x):
    data = load_dataset(_write(tmp_path, x_train=x, x_test=x[:10], x_calib=x[:5]))
    assert data.x_train.dtype == x.dtype and np.array_equal(data.x_train, x)
    assert np.array_equal(data.x_calib, x[:5]) and data.notes == []


def test_whole_number_float_labels_become_int64_with_a_note(tmp_path):
    data = load_dataset(_write(tmp_path, y_train=(np.arange(20) % 3).astype(np.float32)))
    assert data.y_train.dtype == np.int64 and np.array_equal(data.y_train, np.arange(20) % 3)
    assert data.notes == ["y_train held whole-number floats (float32); converted to int64 class indices"]


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.uint8])
def test_one_hot_labels_become_class_indices_with_a_note(tmp_path, dtype):
    labels = np.arange(10) % 4
    data = load_dataset(_write(tmp_path, y_test=_one_hot(labels, 4, dtype)))
    assert data.y_test.shape == (10,) and np.array_equal(data.y_test, labels)
    assert data.notes == ["y_test was one-hot (4 columns); converted to class indices"]


def test_column_labels_are_flattened(tmp_path):
    data = load_dataset(_write(tmp_path, y_train=(np.arange(20) % 3)[:, None]))
    assert data.y_train.shape == (20,) and np.array_equal(data.y_train, np.arange(20) % 3)


def test_test_labels_without_train_labels_load(tmp_path):
    data = load_dataset(_write(tmp_path, y_train=None))
    assert data.y_train is None and np.array_equal(data.y_test, np.arange(10) % 3)


def test_save_and_load_round_trip_with_notes(tmp_path):
    arrays = _valid()
    saved = Dataset(**arrays, x_calib=arrays["x_train"][:4], labels="baseline", notes=["y_train was one-hot"])
    loaded = load_dataset(save_dataset(tmp_path / "d.npz", saved))
    for name in ("x_train", "x_test", "y_train", "y_test", "x_calib"):
        assert np.array_equal(getattr(loaded, name), getattr(saved, name))
    assert loaded.labels == "baseline" and loaded.notes == ["y_train was one-hot"]
    assert load_dataset(save_dataset(tmp_path / "e.npz", Dataset(**arrays))).notes == []


def test_num_classes_and_calibration(tmp_path):
    data = load_dataset(_write(tmp_path, y_test=np.full(10, 7)))
    assert data.num_classes == 8
    assert np.array_equal(data.calibration(3), data.x_train[:3])


@pytest.mark.parametrize("split", ["y_train", "y_test"])
def test_check_labels_refuses_labels_beyond_the_outputs(split):
    data = Dataset(**_valid())
    setattr(data, split, _poke(len(getattr(data, split)), [12, 3, 5], np.int64))
    check_labels(data, 13, "dataset d.npz")
    with pytest.raises(EdgeoptError) as err:
        check_labels(data, 3, "dataset d.npz")
    assert err.value.message.startswith(f"dataset d.npz: {split} has 3 labels outside")
    assert "(largest 12," in err.value.message
    assert err.value.hint == "the model has 3 outputs: labels must be 0..2"


def test_check_labels_refuses_negative_labels():
    data = Dataset(**{**_valid(), "y_test": _poke(10, [-4], np.int64)})
    with pytest.raises(EdgeoptError, match=r"y_test has 1 label outside .*smallest -4"):
        check_labels(data, 3, "dataset d.npz")
