"""The whole edge-optimize pipeline through kfp.local, as `edgeopt demo` and `edgeopt run` run it."""

import json
import subprocess
import sys
from pathlib import Path

STAGES = ["ingest", "distill", "prune", "quantize", "convert", "device-simulate"]


def edgeopt(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgeopt.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=1200)


def test_demo_runs_every_stage_and_promotes(tmp_path):
    out = tmp_path / "demo"
    proc = edgeopt("demo", "--output", out, "--epochs", "10")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert [s["name"] for s in summary["stages"]] == STAGES
    metrics = {s["name"]: s["metrics"] for s in summary["stages"]}
    assert all(metrics.values()), "every stage reports metrics"
    assert metrics["quantize"]["method"] == "int8"
    assert metrics["prune"]["sparsity"] > 0.4
    assert metrics["device-simulate"]["target"].startswith("cortex-m4f")
    verdict = summary["verdict"]
    assert {c["metric"] for c in verdict["checks"]} >= {"latency_ms", "total_kb", "accuracy_drop"}
    assert verdict["passed"] == all(c["passed"] for c in verdict["checks"])
    assert "verdict:" in proc.stdout and "stage" in proc.stdout
    assert verdict["passed"], verdict  # the demo meets its targets: this run is the promoted case
    entry = Path(summary["promoted"])
    assert entry.is_dir() and (entry / "metadata.json").is_file() and (entry / "verdict.json").is_file()
    assert entry.parent.name == "digits-cnn" and entry.name == "v1"
    assert (entry / "c_array" / "model_data.cc").is_file()  # the microcontroller deliverable beside the .tflite
    # the verdict's HTML report, and `edgeopt report` drawing it again from the run's files
    page = (out / "report.html").read_text()
    assert "Verdict: PASSED" in page and 'id="plot-layers-0"' in page and 'id="plot-budgets"' in page
    assert f"report: {out / 'report.html'}" in proc.stdout
    again = edgeopt("report", out, "--html", out / "again.html", "--markdown", out / "again.md")
    assert again.returncode == 0, again.stderr
    assert (out / "again.html").read_text() == page
    assert "data:image/png;base64," in (out / "again.md").read_text()


def test_rejected_model_is_not_promoted(tmp_path, digits_model_file, digits_npz):
    targets = tmp_path / "targets.yaml"
    targets.write_text("target: cortex-m0plus@16mhz\nlatency_ms: 0.01\naccuracy_drop: 0.02\n")
    out = tmp_path / "out"
    proc = edgeopt("run", "--model", digits_model_file, "--data", digits_npz, "--targets", targets,
                   "--output", out, "--no-prune", "--method", "dynamic")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verdict"]["passed"] is False
    failed = [c for c in summary["verdict"]["checks"] if not c["passed"]]
    assert any(c["metric"] == "latency_ms" and "0.01" in c["reason"] for c in failed)
    assert summary["promoted"] is None
    assert not any((out / "registry").rglob("metadata.json"))
    assert "REJECTED" in proc.stdout


def test_failing_task_stops_the_run_with_its_error(tmp_path, digits_npz):
    from edgeopt.common.tfenv import keras

    # ELU has no int8 kernel: the inputs pass every check, then the quantize task fails
    model = keras.Sequential([keras.layers.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(16, activation="elu"), keras.layers.Dense(10, activation="softmax")])
    model.save(tmp_path / "elu.keras")
    targets = tmp_path / "targets.yaml"
    targets.write_text("target: cortex-m4f@80mhz\n")
    out = tmp_path / "out"
    proc = edgeopt("run", "--model", tmp_path / "elu.keras", "--data", digits_npz, "--targets", targets,
                   "--output", out, "--no-prune", "--method", "int8")
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "the pipeline stopped" in proc.stderr and "quantize" in proc.stderr
    assert "ELU" in proc.stderr  # the task's own error is shown, not only KFP's status line
    assert "Traceback" not in proc.stderr.split("the pipeline stopped")[-1]
    log = (out / "pipeline.log").read_text()
    assert "\x1b[" not in log and "cudart_stub" not in log and "absl::InitializeLog" not in log
    assert not (out / "summary.json").exists()
    assert not any((out / "registry").rglob("metadata.json"))
