"""`edgeopt sweep`: the compiled edge-sweep pipeline through kfp.local on a user's model and on the demo,
its files, its promotion of the best passing candidate, `edgeopt report`, and its input checks."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

# three candidates: the full-width model (too slow on the M0+), a half-width student (fits) and a
# quarter-width student (fits, faster)
RECIPES = """\
- {name: full width}
- {distill: 0.5}
- {distill: 0.25}
"""
TARGETS = """\
targets:
  - target: cortex-m0plus@48mhz
    latency_ms: 60
  - target: cortex-m4f@80mhz
    latency_ms: 8
quality:
  accuracy: {max_drop: 0.2}
"""


def edgeopt(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgeopt.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=1800)


@pytest.fixture(scope="module")
def swept(tmp_path_factory, digits_model_file, digits_npz):
    root = tmp_path_factory.mktemp("sweep")
    (root / "recipes.yaml").write_text(RECIPES)
    (root / "targets.yaml").write_text(TARGETS)
    out = root / "out"
    proc = edgeopt("sweep", "--model", digits_model_file, "--data", digits_npz, "--targets", root / "targets.yaml",
                   "--recipes", root / "recipes.yaml", "--output", out, "--name", "digits")
    return proc, out


def test_sweep_writes_the_front_and_promotes_the_best_passing_candidate(swept):
    proc, out = swept
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads((out / "pareto.json").read_text())
    rows = doc["candidates"]
    assert [r["id"] for r in rows] == ["c0", "c1", "c2"] and rows[0]["label"] == "full width"
    for row in rows:
        assert set(row) >= {"recipe", "metrics", "verdict", "on_front", "simulation"}
        assert set(row["verdict"]["targets"]) == {"cortex-m0plus@48mhz", "cortex-m4f@80mhz"}
        assert row["metrics"]["accuracy"] == row["quality"]
    assert rows[1]["recipe"]["distill_width"] == 0.5 and rows[2]["recipe"]["distill_width"] == 0.25
    assert rows[0]["verdict"]["passed"] is False  # 140 ms on the M0+
    latency = [r["simulation"]["cortex-m0plus@48mhz"]["latency_ms"] for r in rows]
    assert latency[0] > latency[1] > latency[2]  # narrower students run faster
    passing = [r for r in rows if r["verdict"]["passed"]]
    assert passing, doc["why"]
    best = max(passing, key=lambda r: (r["quality"], -r["simulation"]["cortex-m0plus@48mhz"]["latency_ms"]))
    assert doc["chosen"] == best["id"] and best["chosen"] and best["on_front"]
    # promoted through the registry, with the microcontroller deliverable
    summary = json.loads((out / "summary.json").read_text())
    entry = Path(summary["promoted"])
    assert entry == out / "registry" / "digits" / "v1"
    assert (entry / "c_array" / "model_data.cc").is_file()
    assert json.loads((entry / "verdict.json").read_text())["passed"] is True
    assert f"promoted to: {entry}" in proc.stdout
    table = proc.stdout.splitlines()
    assert any(line.startswith(f"{best['id']} *") and "pass" in line for line in table)  # the chosen one, starred
    assert any(line.startswith("c0 ") and "FAIL" in line for line in table)
    # reports, and the chosen candidate's details that `edgeopt report` reads
    assert "<svg" in (out / "report.html").read_text()
    assert "data:image/png;base64," in (out / "report.md").read_text()
    assert (out / "chosen" / "simulations" / "index.json").is_file()


def test_report_renders_the_sweep_again(swept, tmp_path):
    proc, out = swept
    assert proc.returncode == 0
    again = edgeopt("report", out, "--html", tmp_path / "r.html", "--markdown", tmp_path / "r.md")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "r.html").read_text() == (out / "report.html").read_text()
    assert (tmp_path / "r.md").read_text() == (out / "report.md").read_text()


def test_plan_only_prints_the_grid_sized_from_the_budget(tmp_path, digits_model_file, digits_npz):
    (tmp_path / "targets.yaml").write_text(TARGETS)
    proc = edgeopt("sweep", "--model", digits_model_file, "--data", digits_npz, "--targets",
                   tmp_path / "targets.yaml", "--plan-only", "--candidates", "5", "--output", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    recipes = json.loads(proc.stdout)
    assert len(recipes) == 5 and recipes[0] == {"distill": "none", "prune": "none", "quantize": {"method": "int8"}}
    assert "must shrink" in proc.stderr
    assert not (tmp_path / "out").exists()  # planning writes nothing


@pytest.mark.parametrize("case, message", [
    ("demo-and-model", "--demo brings its own model"),
    ("no-data", "--data, --targets missing"),
    ("bad-recipe", "recipe 0: distill width is 3.0"),
    ("no-recipes-file", "does not exist"),
    ("bad-targets", "targets"),
    ("no-candidates", "--candidates 0 is below 1"),
    ("demo-bad-recipe", "recipe 0: distill width is 3.0"),
])
def test_bad_sweep_input_fails_before_any_task(tmp_path, digits_model_file, digits_npz, case, message):
    (tmp_path / "recipes.yaml").write_text("- {distill: 3}\n")
    (tmp_path / "targets.yaml").write_text(TARGETS)
    (tmp_path / "bad.yaml").write_text("targets:\n  - target: cortex-m99@1mhz\n")
    user = ["--model", digits_model_file, "--data", digits_npz, "--targets", tmp_path / "targets.yaml"]
    args = {"demo-and-model": ["--demo", "--model", digits_model_file],
            "no-data": ["--model", digits_model_file],
            "bad-recipe": [*user, "--recipes", tmp_path / "recipes.yaml"],
            "no-recipes-file": [*user, "--recipes", tmp_path / "missing.yaml"],
            "bad-targets": [*user[:4], "--targets", tmp_path / "bad.yaml"],
            "no-candidates": [*user, "--candidates", 0],
            "demo-bad-recipe": ["--demo", "--recipes", tmp_path / "recipes.yaml"]}[case]
    proc = edgeopt("sweep", *args, "--output", tmp_path / "out")
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "hint:" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_demo_sweep_finds_a_recipe_the_baseline_does_not_meet(tmp_path):
    out = tmp_path / "demo"
    proc = edgeopt("sweep", "--demo", "--output", out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads((out / "pareto.json").read_text())
    assert len(doc["candidates"]) == 8
    baseline = doc["candidates"][0]
    assert baseline["recipe"]["distill_enabled"] is False and baseline["recipe"]["prune_enabled"] is False
    assert baseline["verdict"]["passed"] is False  # full width does not fit the M0+ budget
    assert doc["chosen"] is not None and doc["chosen"] != baseline["id"]
    assert json.loads((out / "summary.json").read_text())["promoted"].endswith("digits-cnn/v1")


@pytest.mark.slow
def test_sweep_of_the_mlperf_resnet8_fits_the_budget_but_the_gate_keeps_the_quality(tmp_path, mlperf):
    """The MLPerf Tiny image classifier (ResNet-8, 462 ms in int8 on a Cortex-M4F at 80 MHz) against a
    300 ms budget: 30 % fewer channels fit it, but recovered on unlabelled photo crops the pruned model
    agrees with the original on far fewer crops than the goal allows; both are on the front (one is
    better, the other faster), neither passes, and nothing is promoted."""
    from photos import photo_crops

    from edgeopt.common.datasets import Dataset, save_dataset

    save_dataset(tmp_path / "crops.npz", Dataset(x_train=photo_crops(2000, 1), x_test=photo_crops(300, 2)))
    (tmp_path / "recipes.yaml").write_text(
        "- {name: as it is}\n"
        "- {name: 30 % fewer channels, prune: {method: structured, ratio: 0.3, epochs: 3, distill_temperature: 4}}\n")
    (tmp_path / "targets.yaml").write_text("targets:\n  - target: cortex-m4f@80mhz\n    latency_ms: 300\n"
                                           "quality:\n  accuracy: {max_drop: 0.2}\n")
    out = tmp_path / "out"
    proc = edgeopt("sweep", "--model", mlperf / "ic" / "resnet8_float.h5", "--data", tmp_path / "crops.npz",
                   "--targets", tmp_path / "targets.yaml", "--recipes", tmp_path / "recipes.yaml", "--output", out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads((out / "pareto.json").read_text())
    full, pruned = doc["candidates"]
    latency = [c["simulation"]["cortex-m4f@80mhz"]["latency_ms"] for c in (full, pruned)]
    assert latency[0] > 300 > latency[1]
    assert full["verdict"]["quality_passed"] and not full["verdict"]["targets"]["cortex-m4f@80mhz"]
    assert pruned["verdict"]["targets"]["cortex-m4f@80mhz"] and not pruned["verdict"]["quality_passed"]
    assert pruned["quality"] < doc["quality_floor"] < full["quality"]
    assert doc["front"] == ["c0", "c1"] and doc["chosen"] is None
    assert doc["why"].startswith("No candidate of 2 passes every target")
    assert json.loads((out / "summary.json").read_text())["promoted"] is None
    assert not any((out / "registry").rglob("metadata.json"))


def test_report_of_a_folder_without_a_run_is_refused(tmp_path):
    proc = edgeopt("report", tmp_path)
    assert proc.returncode == 2 and "holds neither pareto.json" in proc.stderr and "hint:" in proc.stderr
    assert not any(tmp_path.iterdir())
