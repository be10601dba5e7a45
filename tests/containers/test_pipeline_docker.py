"""The whole edge-optimize pipeline on the demo, each stage in its own container (kfp.local
DockerRunner), gives the same verdict and the same artifacts as the subprocess run."""

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeopt.local.commands import DEMO_TARGETS

pytestmark = pytest.mark.container

EDGEOPT = [sys.executable, "-m", "edgeopt.cli"]
TIMINGS = os.environ.get("EDGEOPT_TIMINGS")  # a JSON file to write the wall times to


def run_cli(runner: str, model: Path, data: Path, targets: Path, out: Path) -> tuple[dict, float]:
    started = time.monotonic()
    proc = subprocess.run([*EDGEOPT, "run", "--model", str(model), "--data", str(data), "--targets", str(targets),
                           "--output", str(out), "--runner", runner, "--distill", "--name", "digits-cnn"],
                          capture_output=True, text=True, timeout=1800)
    seconds = time.monotonic() - started
    assert proc.returncode == 0, f"--runner {runner} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return json.loads((out / "summary.json").read_text()), seconds


def artifacts(run_dir: Path) -> set[str]:
    """Relative paths of every file the tasks wrote (the run folder's own name left out)."""
    return {str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file()}


def registry_files(out: Path) -> set[str]:
    return {str(p.relative_to(out / "registry")) for p in (out / "registry").rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def both_runs(stage_images, digits_model_file, digits_npz, tmp_path_factory, report):
    root = tmp_path_factory.mktemp("e2e")
    targets = root / "targets.yaml"
    targets.write_text(DEMO_TARGETS)
    sub, sub_s = run_cli("subprocess", digits_model_file, digits_npz, targets, root / "subprocess")
    dock, dock_s = run_cli("docker", digits_model_file, digits_npz, targets, root / "docker")
    report.append(f"edge-optimize on the digits model: subprocess runner {sub_s:.1f} s, "
                  f"docker runner {dock_s:.1f} s (wall time, CLI included)")
    if TIMINGS:
        Path(TIMINGS).write_text(json.dumps({"subprocess_s": round(sub_s, 1), "docker_s": round(dock_s, 1)}))
    return root, sub, dock


def test_same_verdict(both_runs):
    _, sub, dock = both_runs
    assert dock["verdict"]["passed"] == sub["verdict"]["passed"]
    assert dock["verdict"]["target"] == sub["verdict"]["target"]
    checks = lambda s: [(c["metric"], c["passed"]) for c in s["verdict"]["checks"]]  # noqa: E731
    assert checks(dock) == checks(sub)


def test_same_artifacts(both_runs):
    root, sub, dock = both_runs
    assert artifacts(Path(dock["run_dir"])) == artifacts(Path(sub["run_dir"]))
    assert bool(dock["promoted"]) == bool(sub["promoted"])
    if sub["promoted"]:
        assert registry_files(root / "docker") == registry_files(root / "subprocess")
        assert dock["promoted"].replace(str(root / "docker"), "") == sub["promoted"].replace(str(root / "subprocess"), "")


def test_same_metrics(both_runs):
    """Same code, same pinned libraries, same CPU: the numbers agree (to rounding where TF threads differ)."""
    _, sub, dock = both_runs
    for a, b in zip(sub["stages"], dock["stages"]):
        assert a["name"] == b["name"]
        assert (a["metrics"] is None) == (b["metrics"] is None), a["name"]
        if a["metrics"] is None:
            continue
        assert set(a["metrics"]) == set(b["metrics"]), a["name"]
        for key in ("size_bytes", "params", "flash_bytes", "ram_bytes", "c_array_bytes", "supported", "target"):
            if key in a["metrics"]:
                assert a["metrics"][key] == b["metrics"][key], (a["name"], key)
        for key in ("accuracy", "latency_ms"):
            if isinstance(a["metrics"].get(key), float):
                assert math.isclose(a["metrics"][key], b["metrics"][key], rel_tol=0.02, abs_tol=0.02), (a["name"], key)


def test_docker_run_wrote_files_you_can_read_and_remove(both_runs):
    root, _, dock = both_runs
    for path in Path(dock["run_dir"]).rglob("*"):
        assert os.access(path, os.R_OK), path
