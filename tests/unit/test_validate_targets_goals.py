"""The gate on targets file v2: every goal kind in both directions, several devices, `require: any`, the
registry baseline (first promotion included), simulation folders, the verdict's rows and report."""

import json
from pathlib import Path

import pytest

from edgeopt.cli import main
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.targets import load_targets
from edgeopt.common.verdict import render_markdown
from edgeopt.validate_targets.core import rejection, run, summary, validate

M4 = "cortex-m4f@80mhz"
H7 = "NUCLEO-H7A3ZI-Q"


def sim(target: str = M4, **overrides) -> dict:
    base = {"latency_ms": 40.0, "flash_bytes": 200 * 1024, "ram_bytes": 50 * 1024, "energy_uj": 900.0,
            "supported": True, "reasons": [], "target": target, "runtime": "tflm-cmsis-nn"}
    return {**base, **overrides}


def registry(version: str | None = "v3", quality: dict | None = None, targets: list | None = None) -> dict:
    """A registry baseline document as `edgeopt registry baseline` writes it."""
    return {"source": "registry", "registry": "./reg", "name": "kws", "version": version,
            "uri": None if version is None else f"./reg/kws/{version}", "created": "2026-01-01T00:00:00Z",
            "quality": quality or {}, "targets": targets or [],
            "note": "kws has no promoted version in ./reg yet: this is its first promotion" if version is None else ""}


def rows(verdict: dict, metric: str, target: str | None = "any") -> list[dict]:
    return [c for c in verdict["checks"] if c["metric"] == metric and (target == "any" or c["target"] == target)]


# --- each goal kind, both directions ------------------------------------------------------------

# (metric, goal, baseline value, measured value, threshold, passes, reason)
QUALITY_CASES = [
    ("accuracy", "min", 0.95, 0.91, 0.9, True, "accuracy 91% reaches the 90% floor"),
    ("accuracy", "min", 0.95, 0.89, 0.9, False, "accuracy 89% is below the 90% floor"),
    ("mse", "max", 0.0, 0.004, 0.005, True, "MSE 0.004 is within the 0.005 limit"),
    ("mse", "max", 0.0, 0.006, 0.005, False, "MSE 0.006 exceeds the 0.005 limit"),
    ("accuracy", "max_drop", 0.95, 0.94, 0.02, True,
     "accuracy fell by 1 point (v3: 95%, now 94%), within the allowed 2 points"),
    ("accuracy", "max_drop", 0.95, 0.92, 0.02, False,
     "accuracy fell by 3 points (v3: 95%, now 92%), more than the allowed 2 points"),
    ("mse", "max_drop", 0.010, 0.012, 0.005, True, "MSE rose by 0.002 (v3: 0.01, now 0.012), within the allowed 0.005"),
    ("mse", "max_drop", 0.010, 0.020, 0.005, False,
     "MSE rose by 0.01 (v3: 0.01, now 0.02), more than the allowed 0.005"),
    ("snr_db", "max_drop_relative", 40.0, 38.0, 0.1, True, "SNR fell by 5% of v3's 40 dB, within the allowed 10%"),
    ("snr_db", "max_drop_relative", 40.0, 30.0, 0.1, False, "SNR fell by 25% of v3's 40 dB, more than the allowed 10%"),
    ("size_kb", "max_drop_relative", 100.0, 105.0, 0.1, True, "size rose by 5% of v3's 100 KB, within the allowed 10%"),
    ("size_kb", "max_drop_relative", 100.0, 150.0, 0.1, False,
     "size rose by 50% of v3's 100 KB, more than the allowed 10%"),
    ("cosine", "min_improvement", 0.90, 0.95, 0.02, True,
     "cosine similarity improved by 0.05 (v3: 0.9, now 0.95), at least the required 0.02"),
    ("cosine", "min_improvement", 0.90, 0.91, 0.02, False,
     "cosine similarity improved by 0.01 (v3: 0.9, now 0.91), less than the required 0.02"),
    ("size_kb", "min_improvement", 100.0, 80.0, 10.0, True,
     "size improved by 20 KB (v3: 100 KB, now 80 KB), at least the required 10 KB"),
    ("size_kb", "min_improvement", 100.0, 120.0, 10.0, False,
     "size did not improve (v3: 100 KB, now 120 KB), less than the required 10 KB"),
    ("agreement", "min_improvement_relative", 0.80, 0.96, 0.1, True,
     "agreement improved by 20% of v3's 80%, at least the required 10%"),
    ("agreement", "min_improvement_relative", 0.80, 0.84, 0.1, False,
     "agreement improved by 5% of v3's 80%, less than the required 10%"),
    ("mse", "min_improvement_relative", 0.02, 0.01, 0.25, True,
     "MSE improved by 50% of v3's 0.02, at least the required 25%"),
    ("mse", "min_improvement_relative", 0.02, 0.019, 0.25, False,
     "MSE improved by 5% of v3's 0.02, less than the required 25%"),
    ("accuracy", "max_decrease", 0.95, 0.95, 0.0, True,
     "accuracy did not fall (v3: 95%, now 95%), within the allowed 0 points"),
]


@pytest.mark.parametrize("metric, goal, old, new, threshold, passes, reason", QUALITY_CASES)
def test_each_quality_goal_kind_in_both_directions(metric, goal, old, new, threshold, passes, reason):
    key = "size_bytes" if metric == "size_kb" else metric
    scale = 1024 if metric == "size_kb" else 1
    targets = load_targets(f"target: {M4}\nbaseline: registry\nquality:\n  {metric}: {{{goal}: {threshold}}}\n")
    verdict = validate(targets, registry(quality={metric: old}), {key: new * scale}, sim())
    [row] = rows(verdict, metric)
    assert (row["target"], row["goal"], row["threshold"], row["baseline"]) == (None, goal, threshold, old)
    assert row["passed"] is passes and verdict["passed"] is passes
    assert row["reason"] == reason


# (goal, baseline latency, measured latency, threshold, passes, reason)
DEVICE_CASES = [
    ("max", None, 20.0, 20.0, True, f"latency 20 ms is within the 20 ms limit on {H7}"),
    ("max", None, 20.5, 20.0, False, f"latency 20.5 ms exceeds the 20 ms limit on {H7}"),
    ("min", None, 5.0, 2.0, True, f"latency 5 ms reaches the 2 ms floor on {H7}"),
    ("min", None, 1.0, 2.0, False, f"latency 1 ms is below the 2 ms floor on {H7}"),
    ("max_increase_relative", 10.0, 10.0, 0.0, True,
     f"latency did not rise (v3: 10 ms, now 10 ms) on {H7}, within the allowed 0%"),
    ("max_increase_relative", 10.0, 11.0, 0.0, False, f"latency rose by 10% of v3's 10 ms on {H7}, more than the allowed 0%"),
    ("max_increase", 10.0, 11.0, 2.0, True, f"latency rose by 1 ms (v3: 10 ms, now 11 ms) on {H7}, within the allowed 2 ms"),
    ("max_drop", 10.0, 13.0, 2.0, False,
     f"latency rose by 3 ms (v3: 10 ms, now 13 ms) on {H7}, more than the allowed 2 ms"),
    ("min_improvement", 10.0, 7.0, 2.0, True,
     f"latency improved by 3 ms (v3: 10 ms, now 7 ms) on {H7}, at least the required 2 ms"),
    ("min_improvement", 10.0, 9.0, 2.0, False,
     f"latency improved by 1 ms (v3: 10 ms, now 9 ms) on {H7}, less than the required 2 ms"),
    ("min_improvement_relative", 10.0, 5.0, 0.5, True,
     f"latency improved by 50% of v3's 10 ms on {H7}, at least the required 50%"),
    ("min_improvement_relative", 10.0, 12.0, 0.1, False,
     f"latency did not improve (v3: 10 ms, now 12 ms) on {H7}, less than the required 10%"),
]


@pytest.mark.parametrize("goal, old, new, threshold, passes, reason", DEVICE_CASES)
def test_each_device_goal_kind_in_both_directions(goal, old, new, threshold, passes, reason):
    targets = load_targets(f"targets:\n  - target: {H7}\n    latency_ms: {{{goal}: {threshold}}}\nbaseline: registry\n")
    baseline = registry(targets=[{"target": H7, "runtime": "tflm-cmsis-nn", "metrics": {"latency_ms": old}}]
                        if old is not None else [])
    verdict = validate(targets, baseline, {}, [sim(H7, latency_ms=new)])
    [row] = rows(verdict, "latency_ms")
    assert row["target"] == H7 and row["passed"] is passes and verdict["passed"] is passes
    assert row["reason"] == reason


def test_memory_and_energy_goals_read_their_simulation_figures():
    targets = load_targets(f"target: {M4}\nflash_kb: {{max: 256}}\nram_kb: {{max: 40}}\ntotal_kb: 300\n"
                           "energy_uj: {max: 1000}\n")
    verdict = validate(targets, {}, {}, sim())
    assert [(c["metric"], c["value"], c["passed"]) for c in verdict["checks"][2:6]] == [
        ("flash_kb", 200, True), ("ram_kb", 50, False), ("total_kb", 250, True), ("energy_uj", 900, True)]
    no_energy = validate(targets, {}, {}, sim(energy_uj=None, energy_note="no power measurement for this board"))
    [row] = rows(no_energy, "energy_uj")
    assert not row["passed"]
    assert row["reason"] == "cannot check energy_uj: the simulation metrics have no `energy_uj`: no power " \
                            "measurement for this board"


def test_a_relative_goal_on_a_zero_baseline_cannot_be_checked():
    targets = load_targets(f"target: {M4}\nbaseline: registry\nquality:\n  mse: {{min_improvement_relative: 0.1}}\n")
    [row] = rows(validate(targets, registry(quality={"mse": 0.0}), {"mse": 0.1}, sim()), "mse")
    assert not row["passed"] and row["reason"] == "cannot check mse: the baseline MSE is 0, so a relative " \
                                                  "improvement is undefined"


# --- several devices, require -------------------------------------------------------------------

SEVERAL = f"""\
targets:
  - target: {M4}
    latency_ms: 50
  - target: {H7}
    latency_ms: {{max: 20}}
quality:
  accuracy: {{min: 0.9}}
"""


def test_every_device_must_pass_by_default():
    targets = load_targets(SEVERAL)
    passing = validate(targets, {}, {"accuracy": 0.93}, [sim(H7, latency_ms=10.0), sim(M4)])
    assert passing["passed"] and [d["passed"] for d in passing["targets"]] == [True, True]
    assert [(c["target"], c["metric"]) for c in passing["checks"]] == [
        (M4, "target"), (M4, "runtime"), (M4, "latency_ms"), (H7, "target"), (H7, "runtime"), (H7, "latency_ms"),
        (None, "accuracy"), (M4, "supported"), (H7, "supported")]
    failing = validate(targets, {}, {"accuracy": 0.93}, [sim(M4), sim(H7, latency_ms=30.0)])
    assert not failing["passed"] and [d["passed"] for d in failing["targets"]] == [True, False]
    assert summary(failing)["failed_checks"] == [f"{H7}/latency_ms"]
    assert f"on {M4} and {H7}: latency 30 ms exceeds the 20 ms limit on {H7}" in str(rejection(failing))


def test_require_any_passes_when_one_device_passes_but_never_without_quality():
    targets = load_targets(SEVERAL + "require: any\n")
    verdict = validate(targets, {}, {"accuracy": 0.93}, [sim(M4), sim(H7, latency_ms=30.0)])
    assert verdict["passed"] and verdict["require"] == "any"
    report = render_markdown(verdict)
    assert f"The model passes on {M4}, and one device is enough (`require: any`); 1 of 9 checks failed" in report
    assert validate(targets, {}, {"accuracy": 0.93}, [sim(M4, latency_ms=60.0), sim(H7, latency_ms=10.0)])["passed"]
    assert not validate(targets, {}, {"accuracy": 0.93}, [sim(M4, latency_ms=60.0), sim(H7, latency_ms=30.0)])["passed"]
    assert not validate(targets, {}, {"accuracy": 0.8}, [sim(M4), sim(H7, latency_ms=10.0)])["passed"]


def test_a_device_without_its_report_fails_every_row_and_says_why():
    verdict = validate(load_targets(SEVERAL), {}, {"accuracy": 0.93}, [sim(M4)])
    failed = [c for c in verdict["checks"] if not c["passed"]]
    assert {c["target"] for c in failed} == {H7} and len(failed) == 4
    assert all(f"no simulation report is for {H7} (the reports are for {M4} with tflm-cmsis-nn)" in c["reason"]
               for c in failed)
    assert verdict["metrics"]["targets"] == [{"target": M4, "runtime": "tflm-cmsis-nn", "metrics": {
        "latency_ms": 40.0, "flash_kb": 200.0, "ram_kb": 50.0, "total_kb": 250.0, "energy_uj": 900.0}}]


def test_reports_are_matched_by_device_and_runtime():
    targets = load_targets(f"targets:\n  - target: {M4}\n    latency_ms: 50\n  - target: {M4}\n"
                           "    runtime: tflm-reference\n    latency_ms: 50\n")
    verdict = validate(targets, {}, {}, [sim(M4, runtime="tflm-reference", latency_ms=70.0), sim(M4)])
    assert [(c["target"], c["metric"], c["value"]) for c in verdict["checks"] if c["metric"] == "latency_ms"] == [
        (M4, "latency_ms", 40.0), (M4, "latency_ms", 70.0)]
    assert [d["passed"] for d in verdict["targets"]] == [True, False]


def test_the_report_has_a_table_per_device_and_one_for_quality():
    verdict = validate(load_targets(SEVERAL), {}, {"accuracy": 0.93}, [sim(M4), sim(H7, latency_ms=30.0)])
    text = render_markdown(verdict)
    assert text.startswith("# Verdict: REJECTED\n\n1 of 9 checks failed")
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == ["## Model quality", f"## {M4} (tflm-cmsis-nn): passed", f"## {H7} (tflm-cmsis-nn): FAILED"]
    assert text.count("| check | value | limit | result | baseline | reason |") == 3
    assert f"| latency_ms | 30 | ≤ 20 | **FAIL** | - | latency 30 ms exceeds the 20 ms limit on {H7} |" in text


# --- the registry baseline ----------------------------------------------------------------------

REGISTRY_GOALS = f"""\
targets:
  - target: {H7}
    latency_ms: {{max: 20, max_increase_relative: 0.0}}
quality:
  accuracy: {{min: 0.85, max_drop: 0.02}}
baseline: registry
"""


def test_the_first_promotion_has_no_baseline_and_says_so():
    verdict = validate(load_targets(REGISTRY_GOALS), registry(None), {"accuracy": 0.9}, [sim(H7, latency_ms=15.0)])
    assert verdict["passed"]
    note = "kws has no promoted version in ./reg yet: this is its first promotion"
    assert verdict["baseline"] == {"source": "registry", "registry": "./reg", "name": "kws", "version": None,
                                   "uri": None, "note": note}
    [drop] = [c for c in rows(verdict, "accuracy") if c["goal"] == "max_drop"]
    assert drop["passed"] and drop["value"] is None and drop["reason"] == f"accuracy not compared: {note}"
    [latency] = [c for c in rows(verdict, "latency_ms") if c["goal"] == "max_increase_relative"]
    assert latency["passed"] and latency["reason"] == f"latency_ms not compared on {H7}: {note}"
    assert [c["passed"] for c in rows(verdict, "accuracy") if c["goal"] == "min"] == [True]  # bounds still apply
    assert f"Baseline: none. {note}; the change goals were not checked." in render_markdown(verdict)


def test_the_latest_promoted_version_is_the_baseline():
    baseline = registry("v3", {"accuracy": 0.92}, [{"target": H7, "runtime": "tflm-cmsis-nn",
                                                    "metrics": {"latency_ms": 15.0}}])
    slower = validate(load_targets(REGISTRY_GOALS), baseline, {"accuracy": 0.91}, [sim(H7, latency_ms=16.0)])
    assert not slower["passed"] and slower["baseline"]["version"] == "v3"
    assert [c["reason"] for c in slower["checks"] if not c["passed"]] == [
        f"latency rose by 6.67% of v3's 15 ms on {H7}, more than the allowed 0%"]
    assert "Baseline: v3 of kws in ./reg." in render_markdown(slower)
    assert validate(load_targets(REGISTRY_GOALS), baseline, {"accuracy": 0.91}, [sim(H7, latency_ms=15.0)])["passed"]


def test_a_version_not_measured_on_a_device_passes_its_change_goals_and_says_so():
    baseline = registry("v2", {"accuracy": 0.92}, [{"target": M4, "runtime": "tflm-cmsis-nn",
                                                    "metrics": {"latency_ms": 9.0}}])
    verdict = validate(load_targets(REGISTRY_GOALS), baseline, {"accuracy": 0.91}, [sim(H7, latency_ms=16.0)])
    assert verdict["passed"]
    [row] = [c for c in rows(verdict, "latency_ms") if c["goal"] != "max"]
    assert row["reason"] == f"latency_ms not compared on {H7}: v2 of kws was not judged on {H7} with " \
                            "tflm-cmsis-nn; the goal applies from the next promotion on"


def test_the_input_baseline_is_the_ingest_metrics():
    targets = load_targets(f"target: {M4}\nquality:\n  accuracy: {{max_drop: 0.02}}\n  size_kb: "
                           "{min_improvement_relative: 0.5}\n")
    verdict = validate(targets, {"accuracy": 0.95, "size_bytes": 400 * 1024}, {"accuracy": 0.94, "size_bytes": 100 * 1024},
                       sim())
    assert verdict["passed"] and verdict["baseline"] == {"source": "input"}
    assert rows(verdict, "size_kb")[0]["reason"] == "size improved by 75% of the baseline's 400 KB, at least the " \
                                                   "required 50%"
    missing = validate(targets, {}, {"accuracy": 0.94, "size_bytes": 1}, sim())
    assert "the baseline metrics have no `accuracy`, which the ingest stage should have produced" in \
        rows(missing, "accuracy")[0]["reason"]


# --- run: baselines and simulation folders ------------------------------------------------------

def write(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def simulation_folder(root: Path, reports: list[dict]) -> Path:
    """A folder as `simulate_all` writes it: an index and one report folder per entry."""
    entries = []
    for number, report in enumerate(reports):
        write(root / f"{number}-dev" / "report.json", report)
        entries.append({"dir": f"{number}-dev", "target": report["target"], "runtime": report["runtime"]})
    write(root / "index.json", {"model": "m.tflite", "targets": "t.yaml", "reports": entries})
    return root


def test_run_reads_an_indexed_simulation_folder_and_a_registry_baseline(tmp_path):
    sims = simulation_folder(tmp_path / "sims", [sim(H7, latency_ms=14.0), sim(M4)])
    candidate = write(tmp_path / "q" / "metrics.json", {"accuracy": 0.93})
    base = write(tmp_path / "rb" / "metrics.json", registry("v1", {"accuracy": 0.94},
                                                               [{"target": H7, "runtime": "tflm-cmsis-nn",
                                                                 "metrics": {"latency_ms": 15.0}}]))
    verdict = run(REGISTRY_GOALS, None, candidate.parent, sims, tmp_path / "v", registry_baseline_path=base.parent)
    assert verdict["passed"], [c["reason"] for c in verdict["checks"] if not c["passed"]]
    assert json.loads((tmp_path / "v" / "verdict.json").read_text()) == verdict
    with pytest.raises(EdgeoptError, match="compares with the registry") as err:
        run(REGISTRY_GOALS, None, candidate, sims, tmp_path / "v2")
    assert "edgeopt registry baseline" in err.value.hint
    with pytest.raises(EdgeoptError, match="is not a registry baseline"):
        run(REGISTRY_GOALS, None, candidate, sims, tmp_path / "v2", registry_baseline_path=candidate)
    with pytest.raises(EdgeoptError, match="compares with the input model, but no baseline metrics were given"):
        run(f"target: {M4}\n", None, candidate, sims, tmp_path / "v2")
    assert not (tmp_path / "v2").exists()


def test_run_reads_the_folder_edgeopt_simulate_output_writes(tmp_path):
    write(tmp_path / "sim" / "report.json", sim(M4, latency_ms=70.0))
    (tmp_path / "sim" / "report.md").write_text("# report\n")
    base, cand = write(tmp_path / "b.json", {"accuracy": 0.95}), write(tmp_path / "c.json", {"accuracy": 0.95})
    verdict = run(f"target: {M4}\nlatency_ms: 50\n", base, cand, tmp_path / "sim", tmp_path / "v")
    assert [c["reason"] for c in verdict["checks"] if not c["passed"]] == [
        f"latency 70 ms exceeds the 50 ms limit on {M4}"]


@pytest.mark.parametrize("layout, message", [
    ({}, "holds no index.json, report.json or metrics.json"),
    ({"index.json": {"reports": [{"dir": "../elsewhere"}]}}, "does not list its reports"),
    ({"index.json": {"reports": [{"dir": "0-dev"}]}}, "simulation metrics .*0-dev/report.json do not exist"),
])
def test_unusable_simulation_folders_are_user_errors(tmp_path, layout, message):
    folder = tmp_path / "sims"
    folder.mkdir()
    for name, data in layout.items():
        write(folder / name, data)
    with pytest.raises(EdgeoptError, match=message):
        run(f"target: {M4}\n", write(tmp_path / "b.json", {}), write(tmp_path / "c.json", {}), folder, tmp_path / "v")


def test_validate_command_with_several_targets_and_a_registry_baseline(tmp_path, capsys):
    sims = simulation_folder(tmp_path / "sims", [sim(H7, latency_ms=14.0)])
    (tmp_path / "t.yaml").write_text(REGISTRY_GOALS)
    write(tmp_path / "c.json", {"accuracy": 0.93})
    write(tmp_path / "rb" / "metrics.json", registry(None))
    argv = ["validate", "--targets", str(tmp_path / "t.yaml"), "--registry-baseline", str(tmp_path / "rb"),
            "--candidate", str(tmp_path / "c.json"), "--simulation", str(sims), "--output", str(tmp_path / "v")]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["baseline"]["version"] is None
    assert main(argv[:3] + argv[5:]) == 2
    assert "hint: pass --registry-baseline FILE" in capsys.readouterr().err
