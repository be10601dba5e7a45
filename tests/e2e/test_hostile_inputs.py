"""Hostile and broken inputs through the real command line: exit 2 with one message and a hint, no
traceback, no code from a model file, nothing half-written, no user file lost."""

import json
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeopt.common.bundle import ModelInfo, write_bundle

TARGETS = "target: cortex-m4f@80mhz\nlatency_ms: 50\n"
MODEL_COMMANDS = ("ingest", "prune", "distill", "quantize", "convert")


def edgeopt(*args, limit_file_bytes: int | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_bytes, limit_file_bytes))

    return subprocess.run([sys.executable, "-m", "edgeopt.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300, preexec_fn=limit if limit_file_bytes else None, env=env)


def assert_refused(proc: subprocess.CompletedProcess, fragment: str) -> None:
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "\x1b[" not in proc.stderr
    assert "error:" in proc.stderr and fragment in proc.stderr, proc.stderr
    assert "hint:" in proc.stderr
    assert "cudart_stub" not in proc.stderr and "absl::InitializeLog" not in proc.stderr


def stage_args(command: str, model: Path, data: Path, out: Path) -> list:
    return [command, "--model", model, "--data", data, "--output", out]


@pytest.fixture
def targets(tmp_path) -> Path:
    path = tmp_path / "targets.yaml"
    path.write_text(TARGETS)
    return path


@pytest.mark.parametrize("command", MODEL_COMMANDS)
def test_lambda_model_disguised_as_keras_runs_no_code_in_any_stage(tmp_path, command, lambda_h5, marker,
                                                                     digits_npz):
    disguised = tmp_path / "model.keras"
    shutil.copyfile(lambda_h5, disguised)
    out = tmp_path / "out"
    assert_refused(edgeopt(*stage_args(command, disguised, digits_npz, out)), "Lambda layer")
    assert not marker.exists() and not out.exists()


def test_hand_made_bundle_naming_a_lambda_file_runs_no_code(tmp_path, lambda_h5, marker, digits_npz):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    shutil.copyfile(lambda_h5, bundle / "weights.bin")
    write_bundle(bundle, ModelInfo(format="keras", file="weights.bin", input_shape=[None, 8, 8, 1],
                                   output_shape=[None, 10]))
    assert_refused(edgeopt(*stage_args("quantize", bundle, digits_npz, tmp_path / "q")), "Lambda layer")
    assert not marker.exists()


def test_run_refuses_a_lambda_model_before_any_task(tmp_path, lambda_h5, marker, digits_npz, targets):
    out = tmp_path / "out"
    proc = edgeopt("run", "--model", lambda_h5, "--data", digits_npz, "--targets", targets, "--output", out)
    assert_refused(proc, "Lambda layer")
    assert not marker.exists() and not out.exists()


def test_sweep_refuses_a_lambda_model_before_any_task(tmp_path, lambda_h5, marker, digits_npz, targets):
    out = tmp_path / "out"
    for extra in ([], ["--plan-only"]):  # the grid quantizes the baseline: after the check, never before
        proc = edgeopt("sweep", "--model", lambda_h5, "--data", digits_npz, "--targets", targets, "--output", out,
                       *extra)
        assert_refused(proc, "Lambda layer")
        assert not marker.exists() and not out.exists()


def test_savedmodel_needs_trust_model(tmp_path, digits_model_file, digits_npz, targets):
    from edgeopt.common.keras_io import load_keras

    saved = tmp_path / "saved"
    load_keras(digits_model_file).save(saved, save_format="tf")
    out = tmp_path / "out"
    assert_refused(edgeopt("run", "--model", saved, "--data", digits_npz, "--targets", targets, "--output", out),
                   "--trust-model")
    assert_refused(edgeopt(*stage_args("ingest", saved, digits_npz, out)), "--trust-model")
    assert not out.exists()
    proc = edgeopt(*stage_args("ingest", saved, digits_npz, out), "--trust-model")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "model" / "model.json").read_text())["format"] == "savedmodel"


def _bad_data(tmp_path: Path, digits_npz: Path, **changes) -> Path:
    arrays = dict(np.load(digits_npz))
    arrays.pop("labels", None)
    arrays.update(changes)
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("change, fragment", [
    (lambda d: {"x_train": np.where(np.arange(d["x_train"].size).reshape(d["x_train"].shape) < 5, np.nan,
                                    d["x_train"])}, "x_train samples hold 5 NaN"),
    (lambda d: {"y_train": d["y_train"] - 1}, "y_train"),
    (lambda d: {"y_train": d["y_train"] + 10}, "y_train"),
    (lambda d: {"x_test": d["x_test"][:0], "y_test": d["y_test"][:0]}, "x_test"),
])
def test_run_refuses_bad_data_at_once(tmp_path, digits_model_file, digits_npz, targets, change, fragment):
    data = _bad_data(tmp_path, digits_npz, **change(dict(np.load(digits_npz))))
    out = tmp_path / "out"
    proc = edgeopt("run", "--model", digits_model_file, "--data", data, "--targets", targets, "--output", out)
    assert_refused(proc, fragment)
    assert not out.exists()


@pytest.mark.parametrize("options, fragment", [
    (["--method", "int3"], "unknown quantization method 'int3'"),
    (["--method", "mixed"], "method mixed needs float_layers or accuracy_budget"),
    (["--sparsity", "1.5"], "prune target_sparsity is 1.5, outside [0, 1)"),
    (["--prune-epochs", "-1"], "prune epochs is -1, outside [0, inf)"),
    (["--name", "../escape"], "model name '../escape' cannot be used"),
    (["--registry", "ftp://host/registry"], "unsupported scheme"),
])
def test_run_refuses_bad_options_before_any_task(tmp_path, digits_model_file, digits_npz, targets, options,
                                                 fragment):
    out = tmp_path / "out"
    proc = edgeopt("run", "--model", digits_model_file, "--data", digits_npz, "--targets", targets,
                   "--output", out, *options)
    assert_refused(proc, fragment)
    assert not out.exists()


def test_run_refuses_a_model_name_from_an_unusable_file_stem(tmp_path, digits_model_file, digits_npz, targets):
    model = tmp_path / "my model (final).keras"
    shutil.copyfile(digits_model_file, model)
    proc = edgeopt("run", "--model", model, "--data", digits_npz, "--targets", targets, "--output", tmp_path / "o")
    assert_refused(proc, "pass --name")


def test_run_refuses_a_missing_bucket_before_any_task(s3, tmp_path, digits_model_file, digits_npz, targets):
    out = tmp_path / "out"
    proc = edgeopt("run", "--model", digits_model_file, "--data", digits_npz, "--targets", targets,
                   "--output", out, "--registry", "s3://no-such-bucket-here/models")
    assert_refused(proc, "no-such-bucket-here")
    assert not out.exists()


@pytest.mark.parametrize("command", ["ingest", "quantize", "simulate", "validate", "promote"])
def test_output_shadowed_by_a_file_is_refused_before_work(tmp_path, command, digits_model_file, digits_npz):
    (tmp_path / "blocker").write_text("x")
    out = tmp_path / "blocker" / "out"
    args = {
        "ingest": stage_args("ingest", digits_model_file, digits_npz, out),
        "quantize": stage_args("quantize", digits_model_file, digits_npz, out),
        "simulate": ["simulate", "--model", tmp_path / "m.tflite", "--target", "cortex-m4f@80mhz", "--output", out],
        "validate": ["validate", "--targets", tmp_path / "t", "--baseline", tmp_path / "b", "--candidate",
                     tmp_path / "c", "--simulation", tmp_path / "s", "--output", out],
        "promote": ["promote", "--model", tmp_path / "m", "--verdict", tmp_path / "v", "--name", "m",
                    "--registry", tmp_path / "registry", "--output", out],
    }[command]
    assert_refused(edgeopt(*args), "blocker is a file")
    assert not (tmp_path / "registry").exists()


def test_a_full_disk_leaves_nothing_half_written(tmp_path, digits_model_file, digits_npz):
    out = tmp_path / "out"
    proc = edgeopt(*stage_args("ingest", digits_model_file, digits_npz, out), limit_file_bytes=200_000)
    assert_refused(proc, "cannot write")
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == []


def test_ingest_output_is_complete_and_a_rerun_keeps_user_files(tmp_path, digits_model_file, digits_npz):
    out = tmp_path / "out"
    assert edgeopt(*stage_args("ingest", digits_model_file, digits_npz, out)).returncode == 0
    assert {"model", "data.npz", "metrics.json"} <= {p.name for p in out.iterdir()}
    (out / "NOTES.md").write_text("my notes")
    proc = edgeopt(*stage_args("ingest", digits_model_file, digits_npz, out))
    assert proc.returncode == 0, proc.stderr
    assert (out / "NOTES.md").read_text() == "my notes"
    assert "cudart_stub" not in proc.stderr and "absl" not in proc.stderr and "\x1b[" not in proc.stderr


def test_one_hot_labels_are_converted_with_a_note(tmp_path, digits_model_file, digits_npz):
    arrays = dict(np.load(digits_npz))
    data = _bad_data(tmp_path, digits_npz, y_train=np.eye(10)[arrays["y_train"]], y_test=np.eye(10)[arrays["y_test"]])
    out = tmp_path / "out"
    proc = edgeopt(*stage_args("ingest", digits_model_file, data, out))
    assert proc.returncode == 0, proc.stderr
    notes = json.loads((out / "metrics.json").read_text())["notes"]
    assert any("one-hot" in note for note in notes)
    assert np.load(out / "data.npz")["y_train"].ndim == 1
