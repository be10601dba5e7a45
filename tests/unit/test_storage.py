"""`fetch` and the S3 helpers against local paths and a real S3 API (moto server on 127.0.0.1)."""

import socket

import pytest
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
    storage.put_bytes(uri, b"", client, exclusive=True)
    with pytest.raises(AlreadyExists):
        storage.put_bytes(uri, b"again", client, exclusive=True)
    storage.put_bytes(uri, b"replaced", client)
    assert s3.client.get_object(Bucket=s3.bucket, Key=uri.key)["Body"].read() == b"replaced"
    storage.delete_keys(s3.bucket, [uri.key], client)
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
