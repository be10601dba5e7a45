"""distill KFP component, called through `python_func` with real KFP artifacts."""

import json

import pytest
from kfp.dsl import Metrics

from edgeopt.common.bundle import read_bundle
from edgeopt.distill.component import distill


def test_component_distills_and_logs_metrics(baseline, tmp_path, artifact):
    bundle, data, base_metrics = baseline
    student_model, metrics = artifact(tmp_path / "student"), artifact(tmp_path / "metrics.json", Metrics)
    distill.python_func(teacher=artifact(bundle), dataset=artifact(data), student_model=student_model,
                        metrics=metrics, width=0.5, temperature=2.0, alpha=0.3, epochs=2)
    info, path = read_bundle(tmp_path / "student")
    assert info.stage == "distill" and path.is_file()
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved == json.loads((tmp_path / "student" / "metrics.json").read_text())
    assert metrics.metadata["student_params"] < metrics.metadata["teacher_params"] == base_metrics["params"]
    assert (saved["temperature"], saved["alpha"], saved["epochs"], saved["skipped"]) == (2.0, 0.3, 2, False)
    assert "temperature" not in metrics.metadata  # settings stay in the JSON; the artifact logs the figures
    assert metrics.metadata["accuracy"] == pytest.approx(saved["accuracy"])
    assert metrics.metadata["without_teacher_accuracy"] == pytest.approx(saved["without_teacher_accuracy"])
    assert metrics.metadata["teacher_gain"] == pytest.approx(saved["accuracy"] - saved["without_teacher_accuracy"])
    assert student_model.metadata == {"format": "keras", "params": saved["student_params"]}


def test_component_disabled_passes_the_teacher_through(baseline, tmp_path, artifact):
    bundle, data, base_metrics = baseline
    student_model, metrics = artifact(tmp_path / "student"), artifact(tmp_path / "metrics.json", Metrics)
    distill.python_func(teacher=artifact(bundle), dataset=artifact(data), student_model=student_model,
                        metrics=metrics, enabled=False)
    assert read_bundle(tmp_path / "student")[0] == read_bundle(bundle)[0]
    assert json.loads((tmp_path / "metrics.json").read_text())["skipped"] is True
    assert metrics.metadata["accuracy"] == pytest.approx(base_metrics["accuracy"])
    assert student_model.metadata == {"format": "keras", "params": base_metrics["params"]}
