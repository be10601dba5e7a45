"""The sweep's components called as the KFP executor calls them, with real KFP artifact classes: the
recipes planned, and the candidates (verdicts written by the real gate) gathered into the front."""

import json
from pathlib import Path

import pytest
from kfp import dsl

from edgeopt.common.errors import EdgeoptError
from edgeopt.sweep.component import pareto, plan_recipes
from edgeopt.validate_targets.core import run as gate

TARGETS = """\
targets:
  - target: cortex-m0plus@48mhz
    latency_ms: 30
  - target: cortex-m4f@80mhz
    latency_ms: 4
quality:
  accuracy: {max_drop: 0.03}
"""
# (recipe, accuracy, latency on M0+, latency on M4F): c0 too slow, c1 passes, c2 passes faster but
# less accurate, c3 fast but too inaccurate
CANDIDATES = [({}, 0.97, 140.0, 18.0), ({"distill": 0.5}, 0.96, 25.0, 3.5),
              ({"distill": 0.25}, 0.95, 12.0, 1.9), ({"distill": 0.25, "prune": "structured"}, 0.90, 6.0, 1.0)]


def _report(target: str, latency: float) -> dict:
    layers = [{"index": i, "op": "CONV_2D", "kernel": "conv", "ms": latency * share, "share": share, "macs": 1000}
              for i, share in enumerate((0.6, 0.3, 0.1))]
    return {"target": target, "runtime": "tflm-cmsis-nn", "latency_ms": latency, "ram_bytes": 8000,
            "flash_bytes": 50000, "supported": True, "reasons": [], "energy_uj": None, "layers": layers}


@pytest.fixture
def sweep(tmp_path, artifact):
    """Each candidate's quantize metrics, simulation folder, verdict (by the real gate) and models."""
    planned = plan_recipes.python_func(recipes=[c[0] for c in CANDIDATES], recipe_defaults={})
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"accuracy": 0.975, "size_bytes": 600_000}))
    outputs = {k: [] for k in ("candidate_metrics", "simulations", "verdicts", "models", "float_models")}
    for number, (_, acc, slow, fast) in enumerate(CANDIDATES):
        folder = tmp_path / f"c{number}"
        metrics = folder / "metrics"
        metrics.parent.mkdir(parents=True)
        metrics.write_text(json.dumps({"accuracy": acc, "method": "int8", "confusion_matrix": [[9, 1], [0, 10]]}))
        sims = folder / "reports"
        entries = []
        for i, (target, latency) in enumerate((("cortex-m0plus@48mhz", slow), ("cortex-m4f@80mhz", fast))):
            (sims / str(i)).mkdir(parents=True)
            (sims / str(i) / "report.json").write_text(json.dumps(_report(target, latency)))
            entries.append({"dir": str(i), "target": target})
        (sims / "index.json").write_text(json.dumps({"reports": entries}))
        gate(TARGETS, baseline, metrics, sims, folder / "verdict")
        for name in ("model", "float"):
            (folder / name).mkdir()
            (folder / name / "model.json").write_text(json.dumps({"candidate": number, "kind": name}))
        outputs["candidate_metrics"].append(artifact(metrics, dsl.Metrics))
        outputs["simulations"].append(artifact(sims))
        outputs["verdicts"].append(artifact(folder / "verdict"))
        outputs["models"].append(artifact(folder / "model", dsl.Model))
        outputs["float_models"].append(artifact(folder / "float", dsl.Model))
    return planned, artifact(baseline, dsl.Metrics), outputs


def _outputs(tmp_path, artifact) -> dict:
    kinds = {"front": dsl.Artifact, "report_html": dsl.HTML, "report_md": dsl.Markdown,
             "confusion": dsl.ClassificationMetrics, "summary": dsl.Metrics, "best_model": dsl.Model,
             "best_float_model": dsl.Model, "best_verdict": dsl.Artifact, "best_report": dsl.Markdown}
    return {name: artifact(tmp_path / "out" / name, kind) for name, kind in kinds.items()}


def test_pareto_chooses_the_most_accurate_passing_candidate(tmp_path, artifact, sweep):
    planned, baseline, gathered = sweep
    out = _outputs(tmp_path, artifact)
    result = pareto.python_func(recipes=planned, targets=TARGETS, baseline_metrics=baseline, **gathered, **out)
    assert result.chosen == "c1"
    doc = json.loads(Path(out["front"].path).read_text())
    assert [c["verdict"]["passed"] for c in doc["candidates"]] == [False, True, True, False]
    assert doc["front"] == ["c0", "c1", "c2", "c3"]  # each is best at something
    assert doc["candidates"][1]["recipe"]["distill_width"] == 0.5
    assert doc["candidates"][1]["verdict"]["targets"] == {"cortex-m0plus@48mhz": True, "cortex-m4f@80mhz": True}
    assert doc["candidates"][0]["simulation"]["cortex-m0plus@48mhz"]["total_bytes"] == 58000
    assert doc["quality_floor"] == pytest.approx(0.945)
    # the chosen candidate's files are what promotion gets
    assert json.loads((Path(out["best_model"].path) / "model.json").read_text()) == {"candidate": 1, "kind": "model"}
    assert json.loads((Path(out["best_float_model"].path) / "model.json").read_text())["kind"] == "float"
    assert (Path(out["best_verdict"].path) / "BLESSED").is_file()
    assert Path(out["best_report"].path).read_text().startswith("# Verdict: PASSED")
    assert "<svg" in Path(out["report_html"].path).read_text()
    assert "data:image/png;base64," in Path(out["report_md"].path).read_text()
    assert out["confusion"].metadata["confusionMatrix"] == {  # the format KFP's UI draws
        "annotationSpecs": [{"displayName": "0"}, {"displayName": "1"}], "rows": [{"row": [9, 1]}, {"row": [0, 10]}]}
    assert out["summary"].metadata["passing"] == 2.0 and out["summary"].metadata["candidates"] == 4.0
    assert out["front"].metadata["chosen"] == "c1"


def test_pareto_without_a_passing_candidate_blesses_nothing(tmp_path, artifact, sweep):
    planned, baseline, gathered = sweep
    keep = [0, 3]  # the two that fail
    gathered = {k: [v[i] for i in keep] for k, v in gathered.items()}
    out = _outputs(tmp_path, artifact)
    result = pareto.python_func(recipes=[planned[i] for i in keep], targets=TARGETS, baseline_metrics=baseline,
                                **gathered, **out)
    assert result.chosen == ""
    assert (Path(out["best_verdict"].path) / "NOT_BLESSED").is_file()
    assert not any(Path(out["best_model"].path).iterdir())
    assert "No candidate of 2 passes every target" in Path(out["best_report"].path).read_text()
    doc = json.loads(Path(out["front"].path).read_text())
    assert [c["verdict"]["failed_goals"] for c in doc["candidates"]] == [
        ["latency_ms on cortex-m0plus@48mhz", "latency_ms on cortex-m4f@80mhz"], ["accuracy"]]
    assert doc["why"] == ("No candidate of 2 passes every target: latency_ms on cortex-m0plus@48mhz (1 of 2); "
                          "latency_ms on cortex-m4f@80mhz (1 of 2); accuracy (1 of 2).")


def test_pareto_refuses_outputs_gathered_out_of_order(tmp_path, artifact, sweep):
    planned, baseline, gathered = sweep
    gathered["verdicts"] = gathered["verdicts"][::-1]
    with pytest.raises(EdgeoptError, match="out of order"):
        pareto.python_func(recipes=planned, targets=TARGETS, baseline_metrics=baseline, **gathered,
                           **_outputs(tmp_path, artifact))
