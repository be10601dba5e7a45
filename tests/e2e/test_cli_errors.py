"""Bad input: one clear message on stderr, exit code 2, no traceback, nothing half-written."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TARGETS = "target: cortex-m4f@80mhz\nlatency_ms: 50\n"


def edgeopt(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgeopt.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def assert_clean_failure(proc: subprocess.CompletedProcess, fragment: str, out: Path) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "error:" in proc.stderr and fragment in proc.stderr, proc.stderr
    assert "hint:" in proc.stderr
    assert not out.exists() or not any(out.iterdir())


@pytest.fixture
def targets(tmp_path) -> Path:
    path = tmp_path / "targets.yaml"
    path.write_text(TARGETS)
    return path


def test_missing_model(tmp_path, digits_npz, targets):
    out = tmp_path / "out"
    proc = edgeopt("run", "--model", tmp_path / "nope.h5", "--data", digits_npz, "--targets", targets,
                   "--output", out)
    assert_clean_failure(proc, "does not exist", out)


def test_corrupt_model(tmp_path, digits_npz, targets):
    bad = tmp_path / "model.keras"
    bad.write_bytes(b"\x00garbage" * 100)
    out = tmp_path / "out"
    proc = edgeopt("run", "--model", bad, "--data", digits_npz, "--targets", targets, "--output", out)
    assert_clean_failure(proc, "cannot tell what", out)


def test_dataset_shape_mismatch(tmp_path, digits_model_file, targets):
    data = tmp_path / "wrong.npz"
    np.savez(data, x_train=np.zeros((8, 32, 32, 3), np.float32), x_test=np.zeros((4, 32, 32, 3), np.float32))
    out = tmp_path / "out"
    proc = edgeopt("run", "--model", digits_model_file, "--data", data, "--targets", targets, "--output", out)
    assert_clean_failure(proc, "model expects (8, 8, 1)", out)


def test_unknown_target(tmp_path, digits_model_file, digits_npz):
    targets = tmp_path / "targets.yaml"
    targets.write_text("target: cortex-z9@80mhz\n")
    out = tmp_path / "out"
    proc = edgeopt("run", "--model", digits_model_file, "--data", digits_npz, "--targets", targets,
                   "--output", out)
    assert_clean_failure(proc, "cortex-z9", out)


def test_malformed_targets(tmp_path, digits_model_file, digits_npz):
    targets = tmp_path / "targets.yaml"
    targets.write_text("target: cortex-m4f@80mhz\nlatency_ms: [50\n")
    out = tmp_path / "out"
    proc = edgeopt("run", "--model", digits_model_file, "--data", digits_npz, "--targets", targets,
                   "--output", out)
    assert_clean_failure(proc, "line", out)


def test_stage_command_with_corrupt_model(tmp_path, digits_npz):
    bad = tmp_path / "model.h5"
    bad.write_bytes(b"not hdf5")
    out = tmp_path / "q"
    proc = edgeopt("quantize", "--model", bad, "--data", digits_npz, "--method", "int8", "--output", out)
    assert_clean_failure(proc, "model.h5", out)


def test_output_dir_with_foreign_files_is_refused(tmp_path, digits_model_file, digits_npz):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    proc = edgeopt("quantize", "--model", digits_model_file, "--data", digits_npz, "--output", out)
    assert proc.returncode == 2 and "not written by edgeopt" in proc.stderr
    assert (out / "thesis.tex").read_text() == "precious"


def _raise_bug(args):
    raise ZeroDivisionError("division by zero in a stage")


def test_unexpected_error_is_one_line_and_a_log_file(monkeypatch, capsys, tmp_path):
    from edgeopt import cli
    from edgeopt.device_simulate import cli as simulate_cli

    monkeypatch.setattr(simulate_cli, "run", _raise_bug)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    code = cli.main(["simulate", "--model", "m.tflite", "--target", "cortex-m4f@80mhz"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "unexpected ZeroDivisionError: division by zero in a stage" in err
    logs = list(tmp_path.glob("edgeopt-simulate-*.log"))
    assert len(logs) == 1 and str(logs[0]) in err and "Traceback" in logs[0].read_text()


def test_debug_shows_the_traceback(monkeypatch, capsys):
    from edgeopt import cli
    from edgeopt.device_simulate import cli as simulate_cli

    monkeypatch.setattr(simulate_cli, "run", _raise_bug)
    code = cli.main(["simulate", "--model", "m.tflite", "--target", "cortex-m4f@80mhz", "--debug"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" in err and "_raise_bug" in err
