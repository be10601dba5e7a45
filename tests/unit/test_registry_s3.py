"""The S3 registry under concurrency and network faults: a real moto server on 127.0.0.1, faults
injected at the HTTP level by tests/faultproxy.py between boto3 and moto (boto3 is never mocked)."""

import json
import threading
import time
from typing import Any

import pytest
from faultproxy import FaultProxy
from s3server import S3Env, clear_aws_env
from test_promote import ENTRY_FILES, bundle, make_bundle, passed  # noqa: F401 (fixtures)

from edgeopt.cli import main
from edgeopt.common import storage
from edgeopt.common.errors import EdgeoptError
from edgeopt.promote.core import check_registry, collect_garbage, list_versions, promote
from edgeopt.promote.registry import S3Registry


def through(proxy: FaultProxy, s3: S3Env, prefix: str = "reg", **client: Any) -> S3Registry:
    """The registry s3://<bucket>/<prefix> reached through `proxy`, with its own boto3 client."""
    return S3Registry(storage.S3Uri(s3.bucket, prefix), storage.s3_client(proxy.url, **client))


def objects(s3: S3Env, prefix: str) -> dict[str, bytes]:
    """Every object under `prefix`: key -> bytes."""
    return {k: s3.client.get_object(Bucket=s3.bucket, Key=k)["Body"].read() for k in s3.keys(prefix)}


def in_thread(target, *args, **kwargs) -> tuple[threading.Thread, dict[str, Any]]:
    """Run `target` in a thread; the dict receives its "result" or "error"."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = target(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 (handed to the test)
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_a_promotion_stalled_between_listing_and_claiming_gets_the_next_version(s3: S3Env, tmp_path, passed):
    a_bundle, b_bundle = make_bundle(tmp_path / "a"), make_bundle(tmp_path / "b")
    registry = f"s3://{s3.bucket}/reg"
    with FaultProxy(s3.endpoint) as proxy:
        stalled = proxy.hold(rf"^PUT /{s3.bucket}/reg/m/v1/\.claim ")
        b_thread, b = in_thread(promote, b_bundle, passed, through(proxy, s3), "m")
        assert stalled.wait_arrived(), "B never tried to claim v1"
        assert s3.keys() == []  # B listed an empty registry and is about to claim v1

        a = promote(a_bundle, passed, registry, "m")  # A goes straight to moto meanwhile
        assert a["version"] == "v1"
        a_objects = objects(s3, "reg/m/v1/")
        stalled.release()
        b_thread.join(30)
    assert "error" not in b, b.get("error")
    assert b["result"]["version"] == "v2"
    assert sorted(a_objects) == [f"reg/m/v1/{f}" for f in [".claim", *ENTRY_FILES]]
    assert objects(s3, "reg/m/v1/") == a_objects  # nothing of A's replaced or deleted
    assert a_objects["reg/m/v1/model/model.tflite"] == (a_bundle / "model.tflite").read_bytes()
    assert objects(s3, "reg/m/v2/")["reg/m/v2/model/model.tflite"] == (b_bundle / "model.tflite").read_bytes()
    assert len(s3.keys("reg/m/v2/")) == len(a_objects) == 7
    assert list_versions(registry, "m") == ["v1", "v2"]
    assert [line for line in proxy.requests if "/.claim " in line and line.startswith("PUT")] == [
        f"PUT /{s3.bucket}/reg/m/v1/.claim HTTP/1.1", f"PUT /{s3.bucket}/reg/m/v2/.claim HTTP/1.1"]


def test_every_write_is_conditional_and_the_claim_names_its_owner(s3: S3Env, bundle, passed):
    with FaultProxy(s3.endpoint) as proxy:
        promote(bundle, passed, through(proxy, s3), "m")
    claim = json.loads(objects(s3, "reg/m/v1/.claim")["reg/m/v1/.claim"])
    assert sorted(claim) == ["created", "host", "pid", "token"]
    assert len(claim["token"]) == 32 and claim["created"].endswith("Z")
    assert "testing-secret-value" not in json.dumps(claim) and "testing-key-id" not in json.dumps(claim)
    # replaying any write of the entry is refused: nothing can replace a file of a published entry
    for key in s3.keys("reg/m/v1/"):
        with pytest.raises(storage.AlreadyExists):
            storage.put(storage.S3Uri(s3.bucket, key), b"replaced", s3.client, exclusive=True)


def test_an_entry_removed_by_gc_while_its_upload_stalled_is_not_completed(s3: S3Env, bundle, passed):
    with FaultProxy(s3.endpoint) as proxy:
        stalled = proxy.hold(rf"^PUT /{s3.bucket}/reg/m/v1/report\.md ")
        thread, outcome = in_thread(promote, bundle, passed, through(proxy, s3), "m")
        assert stalled.wait_arrived()
        swept = collect_garbage(f"s3://{s3.bucket}/reg", older_than_hours=0)
        assert [r["entry"] for r in swept["removed"]] == ["v1"] and s3.keys() == []
        stalled.release()
        thread.join(30)
    error = outcome.get("error")
    assert isinstance(error, EdgeoptError), error
    assert "the claim on" in error.message and "is no longer this promotion's" in error.message
    assert s3.keys() == []  # its late writes removed again, no metadata.json ever written
    assert not [r for r in proxy.requests if "metadata.json" in r and r.startswith("PUT")]


def test_a_connection_cut_mid_upload_leaves_a_clean_error_and_nothing_behind(s3: S3Env, bundle, passed):
    with FaultProxy(s3.endpoint) as proxy:
        cut = proxy.cut(rf"^PUT /{s3.bucket}/reg/m/v1/model/model\.tflite ", after=600)
        with pytest.raises(EdgeoptError, match="the connection to the S3 endpoint .* was cut") as err:
            promote(bundle, passed, through(proxy, s3, attempts=2), "m")
    assert cut.hits == 2  # boto3's retry was cut as well
    assert "retry" in err.value.hint
    assert s3.keys() == []
    assert list_versions(f"s3://{s3.bucket}/reg", "m") == []


def test_an_endpoint_gone_mid_upload_leaves_only_what_gc_removes(s3: S3Env, bundle, passed):
    registry = f"s3://{s3.bucket}/reg"
    with FaultProxy(s3.endpoint) as proxy:
        stalled = proxy.hold(rf"^PUT /{s3.bucket}/reg/m/v1/model/model\.tflite ")
        thread, outcome = in_thread(promote, bundle, passed, through(proxy, s3, attempts=2), "m")
        assert stalled.wait_arrived()
        proxy.close()  # the held connection is cut, new ones are refused: the cleanup cannot reach S3 either
        thread.join(30)
    error = outcome.get("error")
    assert isinstance(error, EdgeoptError) and "S3 endpoint" in error.message, error
    left = s3.keys()
    assert "reg/m/v1/.claim" in left and "reg/m/v1/metadata.json" not in left
    assert list_versions(registry, "m") == []

    assert collect_garbage(registry)["removed"] == []  # not older than the default 24 hours
    dry = collect_garbage(registry, older_than_hours=0, dry_run=True)
    assert [(r["name"], r["entry"], r["objects"]) for r in dry["removed"]] == [("m", "v1", len(left))]
    assert s3.keys() == left
    assert [r["uri"] for r in collect_garbage(registry, older_than_hours=0)["removed"]] == [f"{registry}/m/v1"]
    assert s3.keys() == []
    assert promote(bundle, passed, registry, "m")["version"] == "v1"  # the number is free again


def test_a_write_that_lands_after_the_promotion_gave_up_is_collected(s3: S3Env, bundle, passed):
    registry = f"s3://{s3.bucket}/reg"
    with FaultProxy(s3.endpoint) as proxy:
        late = proxy.delay(rf"^PUT /{s3.bucket}/reg/m/v1/report\.md ", seconds=2)
        with pytest.raises(EdgeoptError, match="did not answer in time"):
            promote(bundle, passed, through(proxy, s3, read_timeout=0.5, attempts=1), "m")
        assert s3.keys() == []  # the promotion removed what it wrote, its claim last
        assert late.done.wait(10)
        deadline = time.monotonic() + 5
        while not s3.keys() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert s3.keys() == ["reg/m/v1/report.md"]  # written by the server after the cleanup ran
    assert list_versions(registry, "m") == []
    assert [r["entry"] for r in collect_garbage(registry, older_than_hours=0)["removed"]] == ["v1"]
    assert s3.keys() == []


def test_gc_never_touches_complete_entries(s3: S3Env, bundle, passed):
    registry = f"s3://{s3.bucket}/reg"
    promote(bundle, passed, registry, "m")
    s3.client.put_object(Bucket=s3.bucket, Key="reg/m/v2/.claim", Body=b"")
    s3.client.put_object(Bucket=s3.bucket, Key="reg/m/v2/model/model.tflite", Body=b"partial")
    s3.client.put_object(Bucket=s3.bucket, Key="reg/other/v7/verdict.json", Body=b"{}")
    complete = objects(s3, "reg/m/v1/")
    result = collect_garbage(registry, older_than_hours=0)
    assert sorted((r["name"], r["entry"]) for r in result["removed"]) == [("m", "v2"), ("other", "v7")]
    assert objects(s3, "reg/") == complete
    assert collect_garbage(registry, older_than_hours=0)["removed"] == []


def test_gc_keeps_an_entry_completed_after_it_was_listed(s3: S3Env):
    s3.client.put_object(Bucket=s3.bucket, Key="reg/m/v1/.claim", Body=b"")
    registry = S3Registry(storage.S3Uri(s3.bucket, "reg"), s3.client)
    [item] = registry.abandoned()
    s3.client.put_object(Bucket=s3.bucket, Key="reg/m/v1/metadata.json", Body=b"{}")
    assert registry.remove(item) is False
    assert s3.keys() == ["reg/m/v1/.claim", "reg/m/v1/metadata.json"]


def test_registry_list_show_and_gc_commands(s3: S3Env, tmp_path, passed, capsys):
    registry = f"s3://{s3.bucket}/reg"
    promote(make_bundle(tmp_path / "a"), passed, registry, "m")
    promote(make_bundle(tmp_path / "b"), passed, registry, "m")
    s3.client.put_object(Bucket=s3.bucket, Key="reg/m/v3/.claim", Body=b"")
    capsys.readouterr()
    assert main(["registry", "list", "--registry", registry]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "version", "created", "passed", "target", "forced"]
    assert [line.split()[:2] + line.split()[3:] for line in lines[2:]] == [
        ["m", "v1", "true", "cortex-m4f@80mhz", "false"], ["m", "v2", "true", "cortex-m4f@80mhz", "false"]]
    assert main(["registry", "show", "--registry", registry, "m", "latest"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == "v2"
    assert main(["registry", "gc", "--registry", registry, "--older-than", "0", "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith(f"would remove {registry}/m/v3 (1 files")
    assert "reg/m/v3/.claim" in s3.keys()
    assert main(["registry", "gc", "--registry", registry, "--older-than", "0", "--json"]) == 0
    assert [r["entry"] for r in json.loads(capsys.readouterr().out)["removed"]] == ["v3"]
    assert s3.keys("reg/m/v3/") == []


# --- preflight ---------------------------------------------------------------------------------

def test_check_registry_passes_and_leaves_nothing(s3: S3Env):
    started = time.monotonic()
    check_registry(f"s3://{s3.bucket}/reg", "m")
    check_registry(f"s3://{s3.bucket}", "m")
    assert time.monotonic() - started < 5
    assert s3.keys() == []


def test_check_registry_refused_write(s3: S3Env, monkeypatch):
    denied = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
    with FaultProxy(s3.endpoint) as proxy:
        probe = proxy.answer(rf"^PUT /{s3.bucket}/reg/\.edgeopt-probe-[0-9a-f]{{32}} ", 403, denied)
        monkeypatch.setenv("EDGEOPT_S3_ENDPOINT_URL", proxy.url)
        with pytest.raises(EdgeoptError, match=f"the S3 credentials cannot write to s3://{s3.bucket}/reg "
                                               r"\(AccessDenied\)") as err:
            check_registry(f"s3://{s3.bucket}/reg", "m")
    assert probe.hits == 1 and "s3:PutObject" in err.value.hint
    assert s3.keys() == []


@pytest.mark.parametrize(("registry", "env", "message"), [
    ("s3://{bucket}/reg", {}, None),
    ("s3://no-such-bucket-z/reg", {}, "bucket no-such-bucket-z does not exist"),
    ("s3://Not_A_Bucket/reg", {}, "'Not_A_Bucket' is not a valid S3 bucket name"),
    ("s3://{bucket}/reg", {"EDGEOPT_S3_ENDPOINT_URL": "not a url"}, "is not a valid URL"),
    ("s3://{bucket}/reg", {"EDGEOPT_S3_ENDPOINT_URL": "htp://x"}, "is not a valid URL"),
    ("s3://{bucket}/reg", {"EDGEOPT_S3_ENDPOINT_URL": "http://127.0.0.1:{closed}"}, "cannot be reached"),
])
def test_check_registry_names_what_is_wrong(s3: S3Env, monkeypatch, registry, env, message):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(closed=closed))
    started = time.monotonic()
    if message is None:
        check_registry(registry.format(bucket=s3.bucket), "m")
    else:
        with pytest.raises(EdgeoptError, match=message) as err:
            check_registry(registry.format(bucket=s3.bucket), "m")
        assert err.value.hint
    assert time.monotonic() - started < 5


def test_check_registry_without_credentials_or_with_a_bad_name(monkeypatch):
    with pytest.raises(EdgeoptError, match="cannot be used in the registry"):
        check_registry("s3://bucket/reg", "../m")
    clear_aws_env(monkeypatch)
    with pytest.raises(EdgeoptError, match="no S3 credentials found") as err:
        check_registry("s3://bucket/reg", "m")
    assert "AWS_ACCESS_KEY_ID" in err.value.hint


@pytest.mark.parametrize(("registry", "env", "message"), [
    ("s3://Bad_Bucket/reg", {}, "'Bad_Bucket' is not a valid S3 bucket name"),
    ("s3://{bucket}/reg", {"EDGEOPT_S3_ENDPOINT_URL": "htp://x"}, "S3 endpoint 'htp://x'"),
])
def test_promote_command_exits_2_with_one_message(s3: S3Env, bundle, passed, monkeypatch, capsys,
                                                  registry, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = main(["promote", "--model", str(bundle), "--verdict", str(passed), "--name", "m",
                 "--registry", registry.format(bucket=s3.bucket)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err and "hint:" in err
    assert s3.keys() == []

