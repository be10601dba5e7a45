"""Publishing to a local and an S3 registry (moto server): versions, immutability, crash safety."""

import argparse
import errno
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from s3server import S3Env, clear_aws_env

from edgeopt.common import storage
from edgeopt.common.bundle import ModelInfo, write_bundle
from edgeopt.common.errors import EdgeoptError
from edgeopt.promote import cli
from edgeopt.promote.core import list_versions, promote
from edgeopt.validate_targets.core import run as write_verdict

TARGETS = "target: cortex-m4f@80mhz\nlatency_ms: 50\naccuracy_drop: 0.02\n"
SIM = {"latency_ms": 20.0, "flash_bytes": 90_000, "ram_bytes": 20_000, "supported": True, "reasons": [],
       "target": "cortex-m4f@80mhz", "runtime": "tflm-cmsis-nn"}
ENTRY_FILES = ["metadata.json", "model/metrics.json", "model/model.json", "model/model.tflite", "report.md",
               "verdict.json"]


def make_verdict(root: Path, candidate_accuracy: float) -> Path:
    """A verdict folder written by validate-targets (passing when accuracy >= 0.93)."""
    metrics = {}
    for name, data in (("baseline", {"accuracy": 0.95}), ("candidate", {"accuracy": candidate_accuracy}),
                       ("simulation", SIM)):
        metrics[name] = root / f"{name}.json"
        metrics[name].write_text(json.dumps(data))
    out = root / f"verdict-{candidate_accuracy}"
    write_verdict(TARGETS, metrics["baseline"], metrics["candidate"], metrics["simulation"], out)
    return out


@pytest.fixture
def bundle(tmp_path) -> Path:
    """A small int8 TFLite model bundle, as quantize writes it."""
    path = tmp_path / "quantized"
    path.mkdir()
    (path / "model.tflite").write_bytes(os.urandom(4096))
    (path / "metrics.json").write_text(json.dumps({"accuracy": 0.94}))
    write_bundle(path, ModelInfo(format="tflite", file="model.tflite", precision="int8", stage="quantize"))
    return path


@pytest.fixture
def passed(tmp_path) -> Path:
    return make_verdict(tmp_path, 0.94)


@pytest.fixture
def failed(tmp_path) -> Path:
    return make_verdict(tmp_path, 0.80)


def entry_files(entry: Path) -> list[str]:
    return sorted(p.relative_to(entry).as_posix() for p in entry.rglob("*") if p.is_file())


# --- local registry ---------------------------------------------------------------------------

def test_local_v1_then_v2_with_metadata(tmp_path, bundle, passed):
    registry = tmp_path / "registry"
    first = promote(bundle, passed, str(registry), "digits-cnn")
    assert first == {"uri": str(registry / "digits-cnn" / "v1"), "version": "v1", "name": "digits-cnn",
                     "files": ENTRY_FILES}
    second = promote(bundle, passed / "verdict.json", registry, "digits-cnn")
    assert second["version"] == "v2"
    assert list_versions(registry, "digits-cnn") == ["v1", "v2"]
    assert sorted(p.name for p in (registry / "digits-cnn").iterdir()) == ["v1", "v2"]

    entry = registry / "digits-cnn" / "v1"
    assert entry_files(entry) == ENTRY_FILES
    assert (entry / "model" / "model.tflite").read_bytes() == (bundle / "model.tflite").read_bytes()
    assert (entry / "report.md").read_text() == (passed / "report.md").read_text()
    meta = json.loads((entry / "metadata.json").read_text())
    assert meta["name"] == "digits-cnn" and meta["version"] == "v1"
    assert meta["created"].endswith("Z") and meta["passed"] is True and meta["forced"] is False
    assert meta["target"] == "cortex-m4f@80mhz"
    assert meta["model"]["format"] == "tflite" and meta["model"]["precision"] == "int8"
    assert sorted(meta["sha256"]) == [f for f in ENTRY_FILES if f != "metadata.json"]
    for rel, digest in meta["sha256"].items():
        assert hashlib.sha256((entry / rel).read_bytes()).hexdigest() == digest


def test_never_overwrites_and_skips_numbers_in_use(tmp_path, bundle, passed):
    registry = tmp_path / "registry"
    promote(bundle, passed, registry, "m")
    before = {p: p.read_bytes() for p in (registry / "m" / "v1").rglob("*") if p.is_file()}
    (registry / "m" / "v3").mkdir()  # an incomplete entry (no metadata.json) still holds its number
    (registry / "m" / "notes").mkdir()
    assert promote(bundle, passed, registry, "m")["version"] == "v4"
    assert list_versions(registry, "m") == ["v1", "v4"]
    assert {p: p.read_bytes() for p in (registry / "m" / "v1").rglob("*") if p.is_file()} == before


def test_a_version_taken_during_the_rename_moves_to_the_next(tmp_path, bundle, passed, monkeypatch):
    registry = tmp_path / "registry"
    real_rename = os.rename

    def concurrent_promotion_first(src, dst):
        if Path(dst).name == "v1" and not Path(dst).exists():  # another process wins the race for v1
            (Path(dst) / "model").mkdir(parents=True)
            (Path(dst) / "metadata.json").write_text("{}")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", concurrent_promotion_first)
    result = promote(bundle, passed, registry, "m")
    assert result["version"] == "v2"
    assert (registry / "m" / "v1" / "metadata.json").read_text() == "{}"
    assert json.loads((registry / "m" / "v2" / "metadata.json").read_text())["version"] == "v2"


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
def test_crash_half_way_leaves_no_entry_and_no_junk(tmp_path, bundle, passed, monkeypatch, error):
    registry = tmp_path / "registry"
    real_copy = shutil.copy2
    calls = []

    def copy_then_crash(src, dst, **kwargs):
        calls.append(src)
        if len(calls) == 2:
            raise error
        return real_copy(src, dst, **kwargs)

    monkeypatch.setattr(shutil, "copy2", copy_then_crash)
    with pytest.raises(EdgeoptError if isinstance(error, OSError) else KeyboardInterrupt) as err:
        promote(bundle, passed, registry, "m")
    if isinstance(error, OSError):
        assert "No space left" in err.value.message and "writable" in err.value.hint
    assert len(calls) == 2
    assert list((registry / "m").iterdir()) == []
    assert list_versions(registry, "m") == []


def test_failed_verdict_is_refused_unless_forced(tmp_path, bundle, failed):
    registry = tmp_path / "registry"
    with pytest.raises(EdgeoptError, match="refusing to promote: the verdict .* rejected the model "
                                           r"\(accuracy fell by 15 points") as err:
        promote(bundle, failed, registry, "m")
    assert "--force" in err.value.hint
    assert not registry.exists()
    result = promote(bundle, failed, registry, "m", force=True)
    meta = json.loads((Path(result["uri"]) / "metadata.json").read_text())
    assert meta["passed"] is False and meta["forced"] is True


@pytest.mark.parametrize("name", ["", "../escape", "a/b", ".hidden", "-flag", "x" * 129, "名前"])
def test_unsafe_names_are_refused(tmp_path, bundle, passed, name):
    with pytest.raises(EdgeoptError, match="cannot be used in the registry"):
        promote(bundle, passed, tmp_path / "registry", name)
    assert not (tmp_path / "registry").exists()


def test_bad_inputs_are_user_errors(tmp_path, bundle, passed):
    registry = tmp_path / "registry"
    with pytest.raises(EdgeoptError, match="does not exist"):
        promote(bundle, tmp_path / "nope.json", registry, "m")
    (tmp_path / "other.json").write_text(json.dumps({"accuracy": 0.9}))
    with pytest.raises(EdgeoptError, match="is not a verdict"):
        promote(bundle, tmp_path / "other.json", registry, "m")
    with pytest.raises(EdgeoptError, match="not an edgeopt model bundle"):
        promote(tmp_path, passed, registry, "m")
    with pytest.raises(EdgeoptError, match="report .* does not exist"):
        promote(bundle, passed, registry, "m", report_path=tmp_path / "none.md")
    with pytest.raises(EdgeoptError, match="unsupported scheme"):
        promote(bundle, passed, "gs://bucket/registry", "m")


def test_report_given_or_rendered(tmp_path, bundle, passed):
    registry = tmp_path / "registry"
    custom = tmp_path / "custom.md"
    custom.write_text("# my report\n")
    v1 = Path(promote(bundle, passed, registry, "m", report_path=custom)["uri"])
    assert (v1 / "report.md").read_text() == "# my report\n"
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(passed / "verdict.json", alone / "verdict.json")
    v2 = Path(promote(bundle, alone / "verdict.json", registry, "m")["uri"])
    assert (v2 / "report.md").read_text().startswith("# Verdict: PASSED")


def test_cli_publishes_and_writes_metrics(tmp_path, bundle, passed, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--model", str(bundle), "--verdict", str(passed / "verdict.json"),
                              "--name", "digits", "--output", "out"])
    result = cli.run(args)
    assert result["uri"] == str(tmp_path / "registry" / "digits" / "v1")
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["version"] == "v1"


# --- S3 registry ------------------------------------------------------------------------------

def test_s3_v1_then_v2(s3: S3Env, bundle, passed):
    registry = f"s3://{s3.bucket}/models"
    first = promote(bundle, passed, registry, "digits-cnn")
    assert first == {"uri": f"s3://{s3.bucket}/models/digits-cnn/v1", "version": "v1", "name": "digits-cnn",
                     "files": ENTRY_FILES}
    assert promote(bundle, passed, registry, "digits-cnn")["version"] == "v2"
    assert list_versions(registry, "digits-cnn") == ["v1", "v2"]
    assert s3.keys("models/digits-cnn/v1/") == [f"models/digits-cnn/v1/{f}" for f in ENTRY_FILES]
    meta = json.loads(s3.client.get_object(Bucket=s3.bucket, Key="models/digits-cnn/v2/metadata.json")["Body"].read())
    assert meta["version"] == "v2"
    for rel, digest in meta["sha256"].items():
        body = s3.client.get_object(Bucket=s3.bucket, Key=f"models/digits-cnn/v2/{rel}")["Body"].read()
        assert hashlib.sha256(body).hexdigest() == digest


def test_s3_counts_only_complete_versions_and_skips_used_numbers(s3: S3Env, bundle, passed):
    s3.client.put_object(Bucket=s3.bucket, Key="m/v1/model/model.tflite", Body=b"abandoned upload")
    registry = f"s3://{s3.bucket}"
    assert list_versions(registry, "m") == []
    assert promote(bundle, passed, registry, "m")["version"] == "v2"
    assert list_versions(registry, "m") == ["v2"]
    assert s3.keys("m/v1/") == ["m/v1/model/model.tflite"]


def test_s3_claim_taken_meanwhile_moves_to_the_next_version(s3: S3Env, bundle, passed, monkeypatch):
    s3.client.put_object(Bucket=s3.bucket, Key="m/v1/.claim", Body=b"")  # another promotion is uploading v1
    real_list = storage.list_keys
    views = []

    def stale_first_view(prefix, client):
        views.append(prefix)
        return [] if len(views) == 1 else real_list(prefix, client)

    monkeypatch.setattr(storage, "list_keys", stale_first_view)
    assert promote(bundle, passed, f"s3://{s3.bucket}", "m")["version"] == "v2"
    assert s3.keys("m/v1/") == ["m/v1/.claim"]


def test_s3_upload_error_deletes_what_was_uploaded(s3: S3Env, bundle, passed, monkeypatch):
    real_upload = storage.upload_file
    calls = []

    def upload_then_fail(local, dest, client):
        calls.append(dest)
        if len(calls) == 3:
            raise EdgeoptError(f"cannot upload to {dest}: S3 answered InternalError", "")
        return real_upload(local, dest, client)

    monkeypatch.setattr(storage, "upload_file", upload_then_fail)
    with pytest.raises(EdgeoptError, match="InternalError"):
        promote(bundle, passed, f"s3://{s3.bucket}/reg", "m")
    assert len(calls) == 3
    assert s3.keys() == []
    assert list_versions(f"s3://{s3.bucket}/reg", "m") == []


def test_s3_missing_bucket(s3: S3Env, bundle, passed):
    with pytest.raises(EdgeoptError, match="bucket no-such-bucket-y does not exist") as err:
        promote(bundle, passed, "s3://no-such-bucket-y/reg", "m")
    assert "create the bucket" in err.value.hint


def test_s3_without_credentials(bundle, passed, monkeypatch):
    clear_aws_env(monkeypatch)
    with pytest.raises(EdgeoptError, match="no S3 credentials found") as err:
        promote(bundle, passed, "s3://bucket/reg", "m")
    assert "AWS_ACCESS_KEY_ID" in err.value.hint and "AWS_SECRET_ACCESS_KEY" in err.value.hint


def test_s3_partial_credentials_are_not_echoed(s3: S3Env, bundle, passed, monkeypatch):
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(EdgeoptError, match="incomplete S3 credentials.*missing: AWS_SECRET_ACCESS_KEY") as err:
        promote(bundle, passed, f"s3://{s3.bucket}/reg", "m")
    assert "AWS_SECRET_ACCESS_KEY" in err.value.hint
    assert "testing-key-id" not in str(err.value)
