"""Shared fixtures: the digits dataset and a trained digits CNN bundle, made once per session."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
MLPERF = Path(os.environ.get("EDGEOPT_MLPERF_DIR", REPO.parent / "shared" / "models" / "mlperf-tiny"))


def make_artifact(path: Path | str, kind: type | None = None):
    """A real KFP artifact of class `kind` (default `dsl.Artifact`) whose local path is `path`, as
    the KFP executor hands it to a component function."""
    from kfp import dsl

    return (kind or dsl.Artifact)(uri=str(path))


@pytest.fixture
def artifact():
    """Factory of real KFP artifacts: `artifact(path, dsl.Metrics)`."""
    return make_artifact


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


from hostile import lambda_model  # noqa: E402

# the real S3-compatible server (moto) on 127.0.0.1, for registry and storage tests
from s3server import s3, s3_endpoint  # noqa: E402,F401  (fixtures)
