"""Shared fixtures: the digits dataset and a trained digits CNN bundle, made once per session."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
MLPERF = Path(os.environ.get("EDGEOPT_MLPERF_DIR", REPO.parent / "shared" / "models" / "mlperf-tiny"))


class FakeArtifact:
    """Stands in for a KFP artifact when calling `component.python_func` directly."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self.uri = str(path)
        self.metadata: dict = {}
        self.logged: dict[str, float] = {}

    def log_metric(self, name: str, value: float) -> None:
        self.logged[name] = value
        self.metadata[name] = value

    def log_confusion_matrix(self, categories: list[str], matrix: list[list[int]]) -> None:
        self.metadata["confusionMatrix"] = {"categories": categories, "matrix": matrix}


@pytest.fixture
def artifact():
    """Factory of FakeArtifact objects: `artifact(path)`."""
    return FakeArtifact


@pytest.fixture(scope="session")
def digits_npz(tmp_path_factory) -> Path:
    """Path of the digits dataset `.npz` with labels."""
    from edgeopt.demo.digits import write_digits_dataset

    return write_digits_dataset(tmp_path_factory.mktemp("data") / "digits.npz")


@pytest.fixture(scope="session")
def digits_model_file(tmp_path_factory, digits_npz) -> Path:
    """A digits CNN trained for a few epochs, saved as a user would (.keras file)."""
    from edgeopt.common.datasets import load_dataset
    from edgeopt.demo.digits import train_digits_cnn

    model = train_digits_cnn(load_dataset(digits_npz), epochs=6)
    path = tmp_path_factory.mktemp("user") / "digits.keras"
    model.save(path)
    return path


@pytest.fixture(scope="session")
def baseline(tmp_path_factory, digits_model_file, digits_npz) -> tuple[Path, Path, dict]:
    """(bundle dir, dataset path, metrics) of the ingested digits baseline."""
    from edgeopt.ingest.core import ingest

    root = tmp_path_factory.mktemp("baseline")
    metrics = ingest(digits_model_file, digits_npz, root / "model", root / "data.npz")
    return root / "model", root / "data.npz", metrics


def lambda_model(marker: Path):
    """A digits-shaped Keras model whose Lambda layer writes `marker` whenever its code runs (loading
    such a file unsafely runs it); the file is removed after the build, which ran the code once."""
    from edgeopt.common.tfenv import keras

    code = eval(f"lambda t: (__import__('pathlib').Path({str(marker)!r}).write_text('ran'), t)[1]")
    model = keras.Sequential([keras.layers.Input((8, 8, 1)), keras.layers.Lambda(code), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    marker.unlink(missing_ok=True)
    return model


@pytest.fixture
def marker(tmp_path) -> Path:
    """Where a hostile model's code leaves its trace if it ever runs."""
    return tmp_path / "code-ran"


@pytest.fixture
def lambda_h5(tmp_path, marker) -> Path:
    """An HDF5 Keras file with a Lambda layer that writes `marker` when run."""
    path = tmp_path / "lambda.h5"
    lambda_model(marker).save(path)
    marker.unlink(missing_ok=True)
    return path


@pytest.fixture(scope="session")
def mlperf() -> Path:
    """The MLPerf Tiny reference models folder, or skip where it is absent."""
    if not (MLPERF / "ic" / "resnet8_float.h5").is_file():
        pytest.skip(f"MLPerf Tiny models not found at {MLPERF} (set EDGEOPT_MLPERF_DIR)")
    return MLPERF


# the real S3-compatible server (moto) on 127.0.0.1, for registry and storage tests
from s3server import s3, s3_endpoint  # noqa: E402,F401  (fixtures)
