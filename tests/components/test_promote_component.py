"""The promote component called directly with stand-in artifacts, and compiled."""

import json
from pathlib import Path

import pytest
from kfp import compiler

from edgeopt.common.bundle import ModelInfo, write_bundle
from edgeopt.common.errors import EdgeoptError
from edgeopt.promote.component import promote, registry_baseline
from edgeopt.validate_targets.core import run as write_verdict

TARGETS = "target: cortex-m4f@80mhz\nlatency_ms: 50\n"


@pytest.fixture
def upstream(tmp_path, artifact):
    """(model, verdict, report) artifacts as quantize and validate-targets leave them."""
    def make(latency_ms: float):
        root = tmp_path / f"run-{latency_ms}"
        (root / "model").mkdir(parents=True)
        (root / "model" / "model.tflite").write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes([int(latency_ms)]) * 992)
        write_bundle(root / "model", ModelInfo(format="tflite", file="model.tflite", precision="int8"))
        metrics = {"baseline": {"accuracy": 0.9}, "candidate": {"accuracy": 0.9},
                   "simulation": {"latency_ms": latency_ms, "flash_bytes": 1, "ram_bytes": 1, "supported": True,
                                  "target": "cortex-m4f@80mhz", "runtime": "tflm-cmsis-nn"}}
        for name, data in metrics.items():
            (root / name).write_text(json.dumps(data))
        write_verdict(TARGETS, root / "baseline", root / "candidate", root / "simulation", root / "verdict")
        (root / "report").write_text((root / "verdict" / "report.md").read_text())
        return artifact(root / "model"), artifact(root / "verdict"), artifact(root / "report")
    return make


def test_python_func_publishes_and_describes_the_entry(tmp_path, artifact, upstream):
    model, verdict, report = upstream(20.0)
    registry = tmp_path / "registry"
    for version, allow_duplicate in (("v1", False), ("v2", True)):
        entry = artifact(tmp_path / f"entry-{version}" / "entry")
        assert promote.python_func(model=model, verdict=verdict, report=report, registry=str(registry),
                                   model_name="kws", entry=entry, allow_duplicate=allow_duplicate) is None
        uri = str(registry / "kws" / version)
        assert entry.metadata == {"uri": uri, "version": version, "name": "kws", "reused": False}
        described = json.loads(Path(entry.path).read_text())
        assert described["uri"] == uri and "model/model.tflite" in described["files"]
        assert [p.name for p in Path(entry.path).parent.iterdir()] == ["entry"]
    assert (registry / "kws" / "v2" / "report.md").read_text().startswith("# Verdict: PASSED")


def test_python_func_reuses_the_same_model(tmp_path, artifact, upstream):
    model, verdict, report = upstream(20.0)
    registry = str(tmp_path / "registry")
    first, again = artifact(tmp_path / "first"), artifact(tmp_path / "again")
    promote.python_func(model=model, verdict=verdict, report=report, registry=registry, model_name="kws", entry=first)
    promote.python_func(model=model, verdict=verdict, report=report, registry=registry, model_name="kws", entry=again)
    assert again.metadata == {**first.metadata, "reused": True}
    assert json.loads(Path(again.path).read_text())["duplicate_of"] == "v1"
    assert sorted(p.name for p in (tmp_path / "registry" / "kws").iterdir()) == ["v1"]


def test_python_func_output_that_cannot_be_written_publishes_nothing(tmp_path, artifact, upstream):
    model, verdict, report = upstream(20.0)
    (tmp_path / "outputs").write_text("a file where the output folder should be")
    entry = artifact(tmp_path / "outputs" / "entry")
    with pytest.raises(OSError):
        promote.python_func(model=model, verdict=verdict, report=report, registry=str(tmp_path / "registry"),
                            model_name="kws", entry=entry)
    assert not (tmp_path / "registry").exists()


def test_python_func_refuses_a_failed_verdict(tmp_path, artifact, upstream):
    model, verdict, report = upstream(80.0)
    entry = artifact(tmp_path / "entry")
    with pytest.raises(EdgeoptError, match="refusing to promote"):
        promote.python_func(model=model, verdict=verdict, report=report, registry=str(tmp_path / "registry"),
                            model_name="kws", entry=entry)
    assert not Path(entry.path).exists() and entry.metadata == {}
    assert not list(tmp_path.glob(".entry*"))  # nor the file prepared before publishing


def test_compiles(tmp_path):
    import yaml

    path = tmp_path / "promote.yaml"
    compiler.Compiler().compile(promote, str(path))
    spec = yaml.safe_load(path.read_text())["components"]["comp-promote"]
    assert set(spec["inputDefinitions"]["artifacts"]) == {"model", "verdict", "report", "c_array"}
    assert spec["inputDefinitions"]["artifacts"]["c_array"].get("isOptional") is True
    assert set(spec["inputDefinitions"]["parameters"]) == {"registry", "model_name", "allow_duplicate"}
    assert spec["inputDefinitions"]["parameters"]["allow_duplicate"]["defaultValue"] is False
    assert set(spec["outputDefinitions"]["artifacts"]) == {"entry"}


def test_registry_baseline_before_and_after_the_first_promotion(tmp_path, artifact, upstream):
    from kfp.dsl import Metrics

    registry = str(tmp_path / "registry")
    before = artifact(tmp_path / "before", Metrics)
    registry_baseline.python_func(registry=registry, model_name="kws", baseline=before)
    doc = json.loads(Path(before.path).read_text())
    assert doc["version"] is None and "first promotion" in doc["note"]
    assert before.metadata == {"name": "kws", "version": ""}
    model, verdict, report = upstream(20.0)
    promote.python_func(model=model, verdict=verdict, report=report, registry=registry, model_name="kws",
                        entry=artifact(tmp_path / "entry"))
    after = artifact(tmp_path / "after", Metrics)
    registry_baseline.python_func(registry=registry, model_name="kws", baseline=after)
    doc = json.loads(Path(after.path).read_text())
    assert doc["version"] == "v1" and doc["targets"][0]["metrics"]["latency_ms"] == 20.0
    assert after.metadata == {"name": "kws", "version": "v1"}


def test_registry_baseline_compiles(tmp_path):
    import yaml

    path = tmp_path / "baseline.yaml"
    compiler.Compiler().compile(registry_baseline, str(path))
    spec = yaml.safe_load(path.read_text())["components"]["comp-registry-baseline"]
    assert set(spec["inputDefinitions"]["parameters"]) == {"registry", "model_name"}
    assert spec["outputDefinitions"]["artifacts"]["baseline"]["artifactType"]["schemaTitle"] == "system.Metrics"
