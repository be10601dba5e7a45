"""Publishing to a local and an S3 registry (moto server): versions, immutability, crash safety,
re-promotion of the same model, permissions, links in bundles and the --output folder.

The fixtures and helpers here (`bundle`, `passed`, `failed`, `make_bundle`) are shared with the
test_registry_*.py modules."""

import argparse
import errno
import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from faultproxy import FaultProxy
from s3server import S3Env, clear_aws_env

from edgeopt.common import storage
from edgeopt.common.bundle import ModelInfo, write_bundle
from edgeopt.common.errors import EdgeoptError
from edgeopt.promote import cli
from edgeopt.promote.core import list_versions, promote
from edgeopt.promote.registry import S3Registry
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


def make_bundle(path: Path) -> Path:
    """A small int8 TFLite model bundle at `path`, as quantize writes it (random weights: every
    bundle made is a different model)."""
    path.mkdir(parents=True)
    (path / "model.tflite").write_bytes(b"\x1c\x00\x00\x00TFL3" + os.urandom(4088))
    (path / "metrics.json").write_text(json.dumps({"accuracy": 0.94}))
    write_bundle(path, ModelInfo(format="tflite", file="model.tflite", precision="int8", stage="quantize"))
    return path


@pytest.fixture
def bundle(tmp_path) -> Path:
    """A small int8 TFLite model bundle, as quantize writes it."""
    return make_bundle(tmp_path / "quantized")


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
                     "files": ENTRY_FILES, "reused": False}
    second = promote(make_bundle(tmp_path / "other"), passed / "verdict.json", registry, "digits-cnn")
    assert second["version"] == "v2" and second["reused"] is False
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
    listing = "".join(f"{meta['sha256'][f'model/{f}']}  {f}\n" for f in ("metrics.json", "model.json", "model.tflite"))
    assert meta["content_sha256"] == hashlib.sha256(listing.encode()).hexdigest()
    assert meta["content_sha256"] != json.loads((registry / "digits-cnn" / "v2" / "metadata.json").read_text())[
        "content_sha256"]


def test_never_overwrites_and_skips_numbers_in_use(tmp_path, bundle, passed):
    registry = tmp_path / "registry"
    promote(bundle, passed, registry, "m")
    before = {p: p.read_bytes() for p in (registry / "m" / "v1").rglob("*") if p.is_file()}
    (registry / "m" / "v3").mkdir()  # an incomplete entry (no metadata.json) still holds its number
    (registry / "m" / "notes").mkdir()
    assert promote(bundle, passed, registry, "m", allow_duplicate=True)["version"] == "v4"
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


@pytest.mark.parametrize(("error", "hint"), [
    (OSError(errno.ENOSPC, "No space left on device"), "free space"),
    (OSError(errno.EACCES, "Permission denied"), "writable for this user"),
    (OSError(errno.EROFS, "Read-only file system"), "read-only file system"),
    (KeyboardInterrupt(), None)])
def test_crash_half_way_leaves_no_entry_and_no_junk(tmp_path, bundle, passed, monkeypatch, error, hint):
    registry = tmp_path / "registry"
    real_copy = shutil.copyfileobj
    calls = []

    def copy_then_crash(src, dst, *args):
        calls.append(src)
        if len(calls) == 2:
            raise error
        return real_copy(src, dst, *args)

    monkeypatch.setattr(shutil, "copyfileobj", copy_then_crash)
    with pytest.raises(EdgeoptError if hint else KeyboardInterrupt) as err:
        promote(bundle, passed, registry, "m")
    if hint:
        assert error.strerror in err.value.message and str(registry / "m") in err.value.message
        assert hint in err.value.hint
    assert len(calls) == 2
    assert list((registry / "m").iterdir()) == []
    assert list_versions(registry, "m") == []


def test_a_failure_removes_only_its_own_scratch_folder(tmp_path, bundle, passed, monkeypatch):
    registry = tmp_path / "registry"
    other = registry / "m" / ".incoming-othersprocess"  # another promotion's work in progress
    (other / "model").mkdir(parents=True)
    (other / "model" / "model.tflite").write_bytes(b"theirs")
    monkeypatch.setattr(shutil, "copyfileobj", lambda *a: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
    with pytest.raises(EdgeoptError, match="full"):
        promote(bundle, passed, registry, "m")
    assert [p.name for p in (registry / "m").iterdir()] == [".incoming-othersprocess"]
    assert (other / "model" / "model.tflite").read_bytes() == b"theirs"


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
    v2 = Path(promote(bundle, alone / "verdict.json", registry, "m", allow_duplicate=True)["uri"])
    assert (v2 / "report.md").read_text().startswith("# Verdict: PASSED")


def promote_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_cli_publishes_and_writes_metrics(tmp_path, bundle, passed, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    args = promote_args("--model", str(bundle), "--verdict", str(passed / "verdict.json"), "--name", "digits",
                        "--output", "out")
    result = cli.run(args)
    assert result["uri"] == str(tmp_path / "registry" / "digits" / "v1")
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["version"] == "v1"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["metrics.json", "notes.txt"]


@pytest.mark.parametrize("output", ["file", "file/sub", "file/sub/deeper"])
def test_cli_output_that_cannot_be_written_publishes_nothing(tmp_path, bundle, passed, output):
    (tmp_path / "file").write_text("a file in the way")
    args = promote_args("--model", str(bundle), "--verdict", str(passed), "--name", "m",
                        "--registry", str(tmp_path / "registry"), "--output", str(tmp_path / output))
    with pytest.raises(EdgeoptError, match=f"{tmp_path / 'file'} is a file; nothing was published"):
        cli.run(args)
    assert not (tmp_path / "registry").exists()
    assert (tmp_path / "file").read_text() == "a file in the way"


def test_cli_a_failed_promotion_leaves_no_output_folder(tmp_path, bundle, failed):
    args = promote_args("--model", str(bundle), "--verdict", str(failed), "--name", "m",
                        "--registry", str(tmp_path / "registry"), "--output", str(tmp_path / "out"))
    with pytest.raises(EdgeoptError, match="refusing to promote"):
        cli.run(args)
    assert not (tmp_path / "out").exists() and not (tmp_path / "registry").exists()


# --- re-promotion, permissions, bundle contents ----------------------------------------------

def test_same_model_and_verdict_returns_the_latest_entry(tmp_path, bundle, passed, failed):
    registry = tmp_path / "registry"
    first = promote(bundle, passed, registry, "m")
    again = promote(bundle, passed / "verdict.json", registry, "m")
    assert again == {**first, "reused": True, "duplicate_of": "v1"}
    assert sorted(p.name for p in (registry / "m").iterdir()) == ["v1"]
    assert promote(bundle, failed, registry, "m", force=True)["version"] == "v2"  # another verdict
    other = make_bundle(tmp_path / "other")
    assert promote(other, passed, registry, "m")["version"] == "v3"  # another model
    assert promote(bundle, passed, registry, "m")["version"] == "v4"  # not the latest any more
    assert promote(bundle, passed, registry, "m")["reused"] is True
    forced = promote(bundle, passed, registry, "m", allow_duplicate=True)
    assert forced["version"] == "v5" and forced["reused"] is False
    assert list_versions(registry, "m") == ["v1", "v2", "v3", "v4", "v5"]


def test_a_changed_model_file_is_a_new_version(tmp_path, bundle, passed):
    registry = tmp_path / "registry"
    promote(bundle, passed, registry, "m")
    (bundle / "metrics.json").write_text(json.dumps({"accuracy": 0.95}))
    assert promote(bundle, passed, registry, "m")["version"] == "v2"


def test_cli_allow_duplicate(tmp_path, bundle, passed, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = ["--model", str(bundle), "--verdict", str(passed), "--name", "m"]
    assert cli.run(promote_args(*base))["version"] == "v1"
    assert cli.run(promote_args(*base, "--output", "out"))["duplicate_of"] == "v1"
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["reused"] is True
    assert cli.run(promote_args(*base, "--allow-duplicate"))["version"] == "v2"


def test_entries_get_the_umask_permissions(tmp_path, bundle, passed, monkeypatch):
    old = os.umask(0o022)
    try:
        (bundle / "model.tflite").chmod(0o600)  # a private source file does not make a private entry
        promote(bundle, passed, tmp_path / "registry", "m")
        cli.run(promote_args("--model", str(bundle), "--verdict", str(passed), "--name", "m", "--allow-duplicate",
                             "--registry", str(tmp_path / "registry"), "--output", str(tmp_path / "out")))
    finally:
        os.umask(old)
    entry = tmp_path / "registry" / "m" / "v1"
    folders = [tmp_path / "registry", entry.parent, entry, entry / "model", tmp_path / "out"]
    files = [p for p in entry.rglob("*") if p.is_file()] + [tmp_path / "out" / "metrics.json"]
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in folders} == {"0o755"}
    assert len(files) == 7 and {oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {"0o644"}


@pytest.mark.parametrize("link", ["model.tflite", "extra/token", "linked-folder"])
def test_symbolic_links_in_a_bundle_are_refused(tmp_path, bundle, passed, link):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "token").write_text("service-account-token")
    target = bundle / link
    target.parent.mkdir(exist_ok=True)
    if target.exists():
        target.unlink()
    target.symlink_to(secret if link == "linked-folder" else secret / "token")
    with pytest.raises(EdgeoptError, match=f"{target}.* symbolic link") as err:
        promote(bundle, passed, tmp_path / "registry", "m")
    assert "service-account-token" not in str(err.value)
    assert not (tmp_path / "registry").exists()


def test_special_files_in_a_bundle_are_refused(tmp_path, bundle, passed):
    os.mkfifo(bundle / "pipe")
    with pytest.raises(EdgeoptError, match=f"{bundle / 'pipe'} is not a regular file"):
        promote(bundle, passed, tmp_path / "registry", "m")


def test_a_link_swapped_in_after_the_check_is_not_followed(tmp_path, bundle, passed, monkeypatch):
    from edgeopt.promote import core

    real_files = core._bundle_files
    secret = tmp_path / "token"
    secret.write_text("service-account-token")

    def swap_after_listing(path):
        listed = list(real_files(path))
        (bundle / "model.tflite").unlink()
        (bundle / "model.tflite").symlink_to(secret)
        return iter(listed)

    monkeypatch.setattr(core, "_bundle_files", swap_after_listing)
    monkeypatch.setattr(core, "read_bundle", lambda path: (ModelInfo(format="tflite", file="model.tflite"), path))
    with pytest.raises(EdgeoptError, match="model.tflite is a symbolic link"):
        promote(bundle, passed, tmp_path / "registry", "m")
    assert not (tmp_path / "registry").exists()


def test_a_registry_path_that_is_a_file(tmp_path, bundle, passed):
    (tmp_path / "registry").write_text("not a folder")
    for path in (tmp_path / "registry", tmp_path / "registry" / "below"):
        with pytest.raises(EdgeoptError, match=f"cannot be used: {tmp_path / 'registry'} is a file"):
            promote(bundle, passed, path, "m")
    assert (tmp_path / "registry").read_text() == "not a folder"


# --- S3 registry ------------------------------------------------------------------------------

def test_s3_v1_then_v2(s3: S3Env, bundle, passed):
    registry = f"s3://{s3.bucket}/models"
    first = promote(bundle, passed, registry, "digits-cnn")
    assert first == {"uri": f"s3://{s3.bucket}/models/digits-cnn/v1", "version": "v1", "name": "digits-cnn",
                     "files": ENTRY_FILES, "reused": False}
    assert promote(bundle, passed, registry, "digits-cnn") == {**first, "reused": True, "duplicate_of": "v1"}
    assert promote(bundle, passed, registry, "digits-cnn", allow_duplicate=True)["version"] == "v2"
    assert list_versions(registry, "digits-cnn") == ["v1", "v2"]
    assert s3.keys("models/digits-cnn/v1/") == [f"models/digits-cnn/v1/{f}" for f in [".claim", *ENTRY_FILES]]
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
    real_list = storage.list_folders
    views = []

    def stale_first_view(prefix, client):
        views.append(prefix)
        return [] if len(views) == 1 else real_list(prefix, client)

    monkeypatch.setattr(storage, "list_folders", stale_first_view)
    assert promote(bundle, passed, f"s3://{s3.bucket}", "m")["version"] == "v2"
    assert s3.keys("m/v1/") == ["m/v1/.claim"]


def test_s3_upload_error_deletes_what_was_uploaded(s3: S3Env, bundle, passed):
    error = b"<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>"
    with FaultProxy(s3.endpoint) as proxy:
        failing = proxy.answer(rf"^PUT /{s3.bucket}/reg/m/v1/model/model\.tflite", 500, error)
        registry = S3Registry(storage.S3Uri(s3.bucket, "reg"), storage.s3_client(proxy.url, attempts=1))
        with pytest.raises(EdgeoptError, match="S3 answered InternalError"):
            promote(bundle, passed, registry, "m")
    assert failing.hits == 1
    puts = [r for r in proxy.requests if r.startswith("PUT")]
    assert len(puts) >= 2  # the claim and at least one file were written before the failure
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


def test_the_c_array_goes_into_the_entry_beside_the_model(tmp_path, bundle, passed):
    c_array = tmp_path / "c_array"
    c_array.mkdir()
    (c_array / "model_data.cc").write_text("const unsigned char g_model[] = {0x1c};\n")
    (c_array / "model_data.h").write_text("extern const unsigned char g_model[];\n")
    result = promote(bundle, passed, str(tmp_path / "registry"), "digits-cnn", deliverables={"c_array": c_array})
    entry = Path(result["uri"])
    assert (entry / "c_array" / "model_data.cc").read_text() == (c_array / "model_data.cc").read_text()
    assert "c_array/model_data.h" in result["files"] and "c_array/model_data.h" in json.loads(
        (entry / "metadata.json").read_text())["sha256"]
    (c_array / "link.h").symlink_to(c_array / "model_data.h")
    with pytest.raises(EdgeoptError, match="symbolic link"):
        promote(bundle, passed, str(tmp_path / "other"), "digits-cnn", deliverables={"c_array": c_array})
    assert not (tmp_path / "other" / "digits-cnn").exists() or not any((tmp_path / "other" / "digits-cnn").iterdir())
