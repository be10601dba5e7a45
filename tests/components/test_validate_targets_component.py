"""The validate-targets component: called directly, compiled, and run by kfp.local in a small pipeline
together with promote (Output artifacts plus a NamedTuple return, and a condition on `passed`)."""

import json
from pathlib import Path

import pytest
from kfp import compiler, dsl
from kfp.dsl import Metrics, Model, Output

from edgeopt.promote.component import promote
from edgeopt.validate_targets.component import is_blessed, validate_targets
from edgeopt.validate_targets.core import ModelRejected

# The subprocess runner warns that the edgeopt images are not used; the venv has their packages.
pytestmark = pytest.mark.filterwarnings("ignore:You may be attemping to run a task:RuntimeWarning")

TARGETS = "target: cortex-m4f@80mhz\nlatency_ms: 50\ntotal_kb: 300\naccuracy_drop: 0.02\n"
SIM = {"latency_ms": 20.0, "flash_bytes": 90_000, "ram_bytes": 20_000, "supported": True, "reasons": [],
       "target": "cortex-m4f@80mhz", "runtime": "tflm-cmsis-nn"}


@pytest.fixture
def inputs(tmp_path, artifact):
    """Fake Metrics input artifacts holding the JSON upstream stages write with log_to_kfp."""
    def make(candidate_accuracy: float):
        arts = {}
        for name, data in (("baseline_metrics", {"accuracy": 0.95}),
                           ("candidate_metrics", {"accuracy": candidate_accuracy}), ("simulation", SIM)):
            path = tmp_path / f"{name}-{candidate_accuracy}"
            path.write_text(json.dumps(data))
            arts[name] = artifact(path)
        return arts
    return make


def test_python_func_writes_verdict_report_and_returns_passed(tmp_path, artifact, inputs):
    verdict, report = artifact(tmp_path / "out" / "verdict"), artifact(tmp_path / "out" / "report")
    html = artifact(tmp_path / "out" / "report_html")
    result = validate_targets.python_func(**inputs(0.94), verdict=verdict, report=report, report_html=html,
                                          targets=TARGETS)
    assert result.passed is True and result._fields == ("passed",)
    page = Path(html.path).read_text()
    assert page.startswith("<!DOCTYPE html>") and "PASSED" in page and 'id="plot-budgets"' in page
    assert sorted(p.name for p in Path(verdict.path).iterdir()) == [".edgeopt-files", "BLESSED", "report.md", "verdict.json"]
    assert json.loads((Path(verdict.path) / "verdict.json").read_text())["passed"] is True
    assert Path(report.path).read_text().startswith("# Verdict: PASSED")
    assert verdict.metadata == {"passed": True, "target": "cortex-m4f@80mhz", "checks": 6, "failed_checks": []}


def test_fail_on_reject_raises_after_writing(tmp_path, artifact, inputs):
    verdict, report = artifact(tmp_path / "verdict"), artifact(tmp_path / "report.md")
    result = validate_targets.python_func(**inputs(0.5), verdict=verdict, report=report,
                                          report_html=artifact(tmp_path / "r1.html"), targets=TARGETS)
    assert result.passed is False and verdict.metadata["failed_checks"] == ["accuracy_drop"]
    verdict, report = artifact(tmp_path / "verdict2"), artifact(tmp_path / "report2.md")
    with pytest.raises(ModelRejected, match="accuracy fell by 45 points"):
        validate_targets.python_func(**inputs(0.5), verdict=verdict, report=report,
                                     report_html=artifact(tmp_path / "r2.html"), targets=TARGETS, fail_on_reject=True)
    assert (Path(verdict.path) / "NOT_BLESSED").is_file() and Path(report.path).is_file()
    assert "REJECTED" in (tmp_path / "r2.html").read_text()


def test_python_func_reads_a_registry_baseline_and_one_report_per_device(tmp_path, artifact, inputs):
    two = ("targets:\n  - target: cortex-m4f@80mhz\n    latency_ms: {max: 50, max_increase_relative: 0.0}\n"
           "  - target: NUCLEO-H7A3ZI-Q\n    latency_ms: 10\nbaseline: registry\n")
    sims = tmp_path / "sims"
    reports = []
    for number, (target, latency) in enumerate((("NUCLEO-H7A3ZI-Q", 12.0), ("cortex-m4f@80mhz", 20.0))):
        (sims / str(number)).mkdir(parents=True)
        (sims / str(number) / "report.json").write_text(json.dumps({**SIM, "target": target, "latency_ms": latency}))
        reports.append({"dir": str(number), "target": target})
    (sims / "index.json").write_text(json.dumps({"reports": reports}))
    baseline = tmp_path / "registry-baseline"
    baseline.write_text(json.dumps({"source": "registry", "registry": "r", "name": "digits", "version": None,
                                    "quality": {}, "targets": [], "note": "digits has no promoted version in r yet"}))
    verdict, report = artifact(tmp_path / "verdict"), artifact(tmp_path / "report.md")
    arts = {**inputs(0.94), "simulation": artifact(sims, Metrics)}
    result = validate_targets.python_func(**arts, verdict=verdict, report=report, targets=two,
                                          report_html=artifact(tmp_path / "r.html"),
                                          registry_baseline=artifact(baseline, Metrics))
    assert result.passed is False
    assert verdict.metadata["failed_checks"] == ["NUCLEO-H7A3ZI-Q/latency_ms"]
    saved = json.loads((Path(verdict.path) / "verdict.json").read_text())
    assert saved["baseline"]["version"] is None and [t["passed"] for t in saved["targets"]] == [True, False]
    assert "## NUCLEO-H7A3ZI-Q (tflm-cmsis-nn): FAILED" in Path(report.path).read_text()


def test_compiles_with_artifact_outputs_and_the_passed_parameter(tmp_path):
    path = tmp_path / "validate.yaml"
    compiler.Compiler().compile(validate_targets, str(path))
    import yaml

    spec = yaml.safe_load(path.read_text())
    outputs = spec["components"]["comp-validate-targets"]["outputDefinitions"]
    assert set(outputs["artifacts"]) == {"verdict", "report", "report_html"}
    assert outputs["artifacts"]["report_html"]["artifactType"]["schemaTitle"] == "system.HTML"
    inputs = spec["components"]["comp-validate-targets"]["inputDefinitions"]["artifacts"]
    assert inputs["registry_baseline"]["isOptional"] is True
    assert outputs["parameters"]["passed"]["parameterType"] == "BOOLEAN"


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def fake_upstream(candidate_accuracy: float, baseline: Output[Metrics], candidate: Output[Metrics],
                  simulation: Output[Metrics], model: Output[Model]):
    """Stands in for ingest, quantize and device-simulate: their metrics JSON and a model bundle."""
    import json
    import os

    from edgeopt.common.bundle import ModelInfo, write_bundle

    sim = {"latency_ms": 20.0, "flash_bytes": 90_000, "ram_bytes": 20_000, "supported": True, "reasons": [],
           "target": "cortex-m4f@80mhz", "runtime": "tflm-cmsis-nn"}
    for art, data in ((baseline, {"accuracy": 0.95}), (candidate, {"accuracy": candidate_accuracy}),
                      (simulation, sim)):
        with open(art.path, "w") as fh:
            json.dump(data, fh)
    os.makedirs(model.path, exist_ok=True)
    with open(os.path.join(model.path, "model.tflite"), "wb") as fh:
        fh.write(b"\x00" * 512)
    write_bundle(model.path, ModelInfo(format="tflite", file="model.tflite", precision="int8", stage="quantize"))


@dsl.pipeline(name="gate")
def gate(targets: str, registry: str, candidate_accuracy: float) -> bool:
    up = fake_upstream(candidate_accuracy=candidate_accuracy)
    verdict = validate_targets(baseline_metrics=up.outputs["baseline"], candidate_metrics=up.outputs["candidate"],
                               simulation=up.outputs["simulation"], targets=targets)
    with dsl.If(is_blessed(verdict=verdict.outputs["verdict"]).output == True,  # noqa: E712 (KFP condition)
                name="blessed"):
        promote(model=up.outputs["model"], verdict=verdict.outputs["verdict"], report=verdict.outputs["report"],
                registry=registry, model_name="digits")
    return verdict.outputs["passed"]


@dsl.pipeline(name="gate-on-passed")
def gate_on_passed(targets: str, registry: str):
    up = fake_upstream(candidate_accuracy=0.94)
    verdict = validate_targets(baseline_metrics=up.outputs["baseline"], candidate_metrics=up.outputs["candidate"],
                               simulation=up.outputs["simulation"], targets=targets)
    with dsl.If(verdict.outputs["passed"] == True, name="verdict-passed"):  # noqa: E712 (KFP condition)
        promote(model=up.outputs["model"], verdict=verdict.outputs["verdict"], report=verdict.outputs["report"],
                registry=registry, model_name="digits")


@pytest.fixture
def local_root(tmp_path) -> Path:
    from kfp import local

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"),
               raise_on_error=True)
    return tmp_path / "root"


def test_kfp_local_runs_validate_then_promote_only_when_blessed(tmp_path, local_root):
    registry = tmp_path / "registry"
    assert gate(targets=TARGETS, registry=str(registry), candidate_accuracy=0.94).output is True
    entry = registry / "digits" / "v1"
    assert json.loads((entry / "metadata.json").read_text())["passed"] is True
    [verdict_dir] = [p for p in local_root.rglob("verdict") if p.parent.name == "validate-targets"]
    assert (verdict_dir / "BLESSED").is_file()
    [entry_json] = [p for p in local_root.rglob("entry") if p.parent.name == "promote"]
    assert json.loads(entry_json.read_text())["uri"] == str(entry)

    assert gate(targets=TARGETS, registry=str(registry), candidate_accuracy=0.5).output is False
    assert sorted(p.name for p in (registry / "digits").iterdir()) == ["v1"]
    assert len(list(local_root.rglob("NOT_BLESSED"))) == 1


@pytest.mark.xfail(strict=True, reason="kfp 2.17.0 kfp.local resolves a dsl.If condition only on a pipeline "
                   "parameter or a single unnamed `Output`, not on a named output such as `passed`; "
                   "use is_blessed() for conditions that must also work locally")
def test_kfp_local_condition_on_the_named_passed_output(tmp_path, local_root):
    gate_on_passed(targets=TARGETS, registry=str(tmp_path / "registry"))
    assert (tmp_path / "registry" / "digits" / "v1" / "metadata.json").is_file()
