"""`fetch` and the S3 helpers against local paths and a real S3 API (moto server on 127.0.0.1),
with network faults injected by a proxy in between."""

import os
import socket
import stat

import pytest
from faultproxy import FaultProxy
from s3server import S3Env, clear_aws_env

from edgeopt.common import storage
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.storage import AlreadyExists, S3Uri, fetch


def test_s3_uri_parsing():
    uri = S3Uri.parse("s3://bucket/some/prefix/")
    assert (uri.bucket, uri.key) == ("bucket", "some/prefix")
    assert str(uri.join("name", "v1/", "model.json")) == "s3://bucket/some/prefix/name/v1/model.json"
    assert str(S3Uri.parse("s3://bucket").join("x")) == "s3://bucket/x"
    with pytest.raises(EdgeoptError, match="names no bucket"):
        S3Uri.parse("s3:///key")
    for good in ("abc", "my.models-2", "a" * 63):
        assert S3Uri.parse(f"s3://{good}/x").bucket == good


@pytest.mark.parametrize("bucket", ["ab", "a" * 64, "My-Bucket", "my_bucket", "-models", "models-", "my..models",
                                    "192.168.1.10", "mod els"])
def test_bucket_names_s3_does_not_allow_are_refused(bucket):
    with pytest.raises(EdgeoptError, match=f"{bucket!r} is not a valid S3 bucket name") as err:
        S3Uri.parse(f"s3://{bucket}/registry")
    assert "3 to 63 characters" in err.value.hint


def test_fetch_local_paths_as_they_are(tmp_path):
    model = tmp_path / "m.keras"
    model.write_bytes(b"x")
    assert fetch(str(model), tmp_path / "dest") == model
    assert fetch(f"file://{model}", tmp_path / "dest") == model
    assert fetch(tmp_path, tmp_path / "dest") == tmp_path
    assert not (tmp_path / "dest").exists()
    with pytest.raises(EdgeoptError, match="does not exist"):
        fetch(str(tmp_path / "missing.npz"), tmp_path)
    with pytest.raises(EdgeoptError, match="unsupported URI scheme"):
        fetch("gs://bucket/model.keras", tmp_path)


def test_fetch_s3_object_and_folder(s3: S3Env, tmp_path):
    s3.client.put_object(Bucket=s3.bucket, Key="in/digits.npz", Body=b"npz-bytes")
    s3.client.put_object(Bucket=s3.bucket, Key="in/saved/saved_model.pb", Body=b"pb")
    s3.client.put_object(Bucket=s3.bucket, Key="in/saved/variables/variables.index", Body=b"idx")
    s3.client.put_object(Bucket=s3.bucket, Key="in/saved/assets/", Body=b"")

    got = fetch(f"s3://{s3.bucket}/in/digits.npz", tmp_path)
    assert got == tmp_path / "digits.npz" and got.read_bytes() == b"npz-bytes"
    folder = fetch(f"s3://{s3.bucket}/in/saved/", tmp_path)
    assert folder == tmp_path / "saved"
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        "saved_model.pb", "variables/variables.index"]
    assert (folder / "variables" / "variables.index").read_bytes() == b"idx"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits.npz", "saved"]
    s3.client.delete_object(Bucket=s3.bucket, Key="in/saved/saved_model.pb")
    assert fetch(f"s3://{s3.bucket}/in/saved", tmp_path) == folder  # a second fetch replaces the folder
    assert [p.name for p in folder.iterdir()] == ["variables"]


def test_fetch_s3_missing_object_bucket_or_key_escaping(s3: S3Env, tmp_path):
    with pytest.raises(EdgeoptError, match="no object or folder at that key"):
        fetch(f"s3://{s3.bucket}/nothing/here.keras", tmp_path)
    with pytest.raises(EdgeoptError, match="bucket no-such-bucket-x does not exist"):
        fetch("s3://no-such-bucket-x/model.keras", tmp_path)
    s3.client.put_object(Bucket=s3.bucket, Key="evil/../../escape.txt", Body=b"x")
    with pytest.raises(EdgeoptError, match="would leave the folder"):
        fetch(f"s3://{s3.bucket}/evil", tmp_path / "dest")
    assert not list((tmp_path / "dest").iterdir())


def test_endpoint_from_edgeopt_variable(s3: S3Env, monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv("EDGEOPT_S3_ENDPOINT_URL", s3.endpoint)
    s3.client.put_object(Bucket=s3.bucket, Key="a.txt", Body=b"a")
    assert fetch(f"s3://{s3.bucket}/a.txt", tmp_path).read_bytes() == b"a"


def test_exclusive_put_refuses_to_replace(s3: S3Env):
    client = storage.s3_client()
    uri = S3Uri(s3.bucket, "name/v1/.claim")
    storage.put(uri, b"", client, exclusive=True)
    with pytest.raises(AlreadyExists):
        storage.put(uri, b"again", client, exclusive=True)
    storage.put(uri, b"replaced", client)
    assert storage.get(uri, client) == b"replaced" and storage.exists(uri, client)
    storage.delete_keys(s3.bucket, [uri.key], client)
    assert s3.keys() == []
    assert storage.get(uri, client) is None and not storage.exists(uri, client)


def test_exclusive_put_of_an_open_file(s3: S3Env, tmp_path):
    client = storage.s3_client()
    (tmp_path / "f.bin").write_bytes(b"file body")
    uri = S3Uri(s3.bucket, "f.bin")
    with storage.open_regular(tmp_path / "f.bin") as body:
        storage.put(uri, body, client, exclusive=True)
    with storage.open_regular(tmp_path / "f.bin") as body, pytest.raises(AlreadyExists):
        storage.put(uri, body, client, exclusive=True)
    assert storage.get(uri, client) == b"file body"


def test_open_regular_never_follows_a_link(tmp_path):
    (tmp_path / "real").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(EdgeoptError, match="link is a symbolic link"):
        storage.open_regular(tmp_path / "link")
    with pytest.raises(EdgeoptError, match="fifo is not a regular file"):
        storage.open_regular(tmp_path / "fifo")
    with storage.open_regular(tmp_path / "real") as fh:
        assert fh.read() == b"x"


def test_file_on_path(tmp_path):
    (tmp_path / "file").write_text("x")
    assert storage.file_on_path(tmp_path / "file" / "a" / "b") == tmp_path / "file"
    assert storage.file_on_path(tmp_path / "file") == tmp_path / "file"
    assert storage.file_on_path(tmp_path / "new" / "a") is None
    assert storage.file_on_path(tmp_path) is None


def test_folders_are_made_with_the_umask_permissions(s3: S3Env, tmp_path):
    s3.client.put_object(Bucket=s3.bucket, Key="in/saved/saved_model.pb", Body=b"pb")
    old = os.umask(0o027)
    try:
        scratch = storage.scratch_dir(tmp_path, ".x-")
        folder = fetch(f"s3://{s3.bucket}/in/saved", tmp_path / "dest")
    finally:
        os.umask(old)
    assert stat.S_IMODE(scratch.stat().st_mode) == 0o750 and scratch.name.startswith(".x-")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o750


@pytest.mark.parametrize("variable", ["EDGEOPT_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL"])
@pytest.mark.parametrize("value", ["not a url", "htp://x", "http://", "minio:9000", "http://host:port",
                                   "http://host:99999"])
def test_invalid_endpoints_are_user_errors(s3: S3Env, monkeypatch, tmp_path, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(EdgeoptError, match=f"S3 endpoint '{value}' \\(from {variable}\\) is not a valid URL") as err:
        fetch(f"s3://{s3.bucket}/model.keras", tmp_path)
    assert "http://HOST[:PORT]" in err.value.hint


def test_credentials_in_an_endpoint_are_not_echoed(s3: S3Env, monkeypatch):
    monkeypatch.setenv("EDGEOPT_S3_ENDPOINT_URL", "ftp://user:secret-pass@minio:9000")
    with pytest.raises(EdgeoptError, match="'ftp://\\*\\*\\*@minio:9000'") as err:
        storage.s3_client()
    assert "secret-pass" not in str(err.value)
    assert storage.s3_client("http://127.0.0.1:9") is not None  # an explicit endpoint wins over the variable


def test_connection_cut_mid_upload_is_a_user_error(s3: S3Env):
    with FaultProxy(s3.endpoint) as proxy:
        cut = proxy.cut(rf"^PUT /{s3.bucket}/big", after=400)
        client = storage.s3_client(proxy.url, attempts=2)
        with pytest.raises(EdgeoptError, match=f"cannot write s3://{s3.bucket}/big: the connection to the S3 "
                                               f"endpoint {proxy.url} was cut") as err:
            storage.put(S3Uri(s3.bucket, "big"), os.urandom(200_000), client, exclusive=True)
    assert cut.hits == 2  # the retry was cut too
    assert "retry" in err.value.hint
    assert s3.keys() == []


def test_missing_credentials_name_the_variables(monkeypatch, tmp_path):
    clear_aws_env(monkeypatch)
    with pytest.raises(EdgeoptError, match="no S3 credentials") as err:
        fetch("s3://bucket/model.keras", tmp_path)
    assert "AWS_ACCESS_KEY_ID" in err.value.hint and "AWS_SECRET_ACCESS_KEY" in err.value.hint


def test_unreachable_endpoint_names_the_variables_and_no_secret(s3: S3Env, monkeypatch, tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    with pytest.raises(EdgeoptError, match=f"endpoint http://127.0.0.1:{port} cannot be reached") as err:
        fetch(f"s3://{s3.bucket}/model.keras", tmp_path)
    assert "EDGEOPT_S3_ENDPOINT_URL" in err.value.hint
    assert "testing-secret-value" not in str(err.value)
