"""The ingest component: a thin wrapper that checks the targets first, then imports model and data."""

import json

import pytest
from kfp.dsl import Metrics

from edgeopt.common.errors import EdgeoptError
from edgeopt.ingest.component import ingest

TARGETS = "target: NUCLEO-L4R5ZI\nruntime: tflm-cmsis-nn\nlatency_ms: 50\n"


def test_python_func_writes_artifacts_and_returns_target(tmp_path, artifact, digits_model_file, digits_npz):
    model, dataset, metrics = artifact(tmp_path / "model"), artifact(tmp_path / "data"), artifact(tmp_path / "m", Metrics)
    out = ingest.python_func(model_uri=str(digits_model_file), data_uri=str(digits_npz), targets=TARGETS,
                             model=model, dataset=dataset, metrics=metrics)
    assert out.target.lower() == "nucleo-l4r5zi" and out.runtime == "tflm-cmsis-nn"
    assert (tmp_path / "model" / "model.json").is_file() and (tmp_path / "data").is_file()
    assert metrics.metadata["accuracy"] == json.loads((tmp_path / "m").read_text())["accuracy"] > 0.8
    assert model.metadata["format"] == "keras"


def test_bad_targets_fail_before_any_work(tmp_path, artifact, digits_model_file, digits_npz):
    model = artifact(tmp_path / "model")
    with pytest.raises(EdgeoptError, match="latncy_ms"):
        ingest.python_func(model_uri=str(digits_model_file), data_uri=str(digits_npz),
                           targets="target: cortex-m4f@80mhz\nlatncy_ms: 5\n", model=model,
                           dataset=artifact(tmp_path / "data"), metrics=artifact(tmp_path / "m", Metrics))
    assert not (tmp_path / "model").exists()


def test_reads_s3_uris(tmp_path, artifact, s3, digits_model_file, digits_npz):
    for local, key in ((digits_model_file, "in/model.keras"), (digits_npz, "in/data.npz")):
        s3.client.upload_file(str(local), s3.bucket, key)
    out = ingest.python_func(model_uri=f"s3://{s3.bucket}/in/model.keras", data_uri=f"s3://{s3.bucket}/in/data.npz",
                             targets="target: cortex-m4f@80mhz\n", model=artifact(tmp_path / "model"),
                             dataset=artifact(tmp_path / "data"), metrics=artifact(tmp_path / "m", Metrics))
    assert out.target == "cortex-m4f@80mhz"
    assert (tmp_path / "model" / "model.keras").is_file()
