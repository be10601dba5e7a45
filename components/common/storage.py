"""Local paths and `s3://bucket/key` URIs: `fetch` reads either alike; the S3 helpers write.

S3 goes through boto3 with its standard configuration: credentials only from the environment
or boto3's usual chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN,
AWS_PROFILE, instance roles), the endpoint from EDGEOPT_S3_ENDPOINT_URL when set, else from
boto3's own AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL (MinIO, moto, Ceph...). Credentials are
never logged, written or put in messages. Every S3 failure the user can fix (no credentials,
endpoint unreachable, bucket missing, access refused) becomes an `EdgeoptError` naming the
environment variables to set.
"""

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from edgeopt.common.errors import EdgeoptError

ENDPOINT_ENV = "EDGEOPT_S3_ENDPOINT_URL"
CREDENTIALS_HINT = ("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN for temporary "
                    "credentials) or AWS_PROFILE in the environment")
ENDPOINT_HINT = (f"set {ENDPOINT_ENV} (or AWS_ENDPOINT_URL) to your S3 endpoint, e.g. http://minio:9000; "
                 "leave both unset for AWS S3")


class AlreadyExists(EdgeoptError):
    """An exclusive write found the object or file already there."""


@dataclass(frozen=True)
class S3Uri:
    """A parsed `s3://bucket/key` URI; `key` has no leading slash and may be empty (bucket root)."""

    bucket: str
    key: str = ""

    @classmethod
    def parse(cls, uri: str) -> "S3Uri":
        """Parse `uri`; EdgeoptError if it is not an s3:// URI with a bucket."""
        if not is_s3(uri):
            raise EdgeoptError(f"{uri} is not an s3:// URI", "write it as s3://BUCKET/PATH")
        bucket, _, key = uri[len("s3://"):].partition("/")
        if not bucket:
            raise EdgeoptError(f"{uri} names no bucket", "write it as s3://BUCKET/PATH")
        return cls(bucket, key.strip("/"))

    def join(self, *parts: str) -> "S3Uri":
        """This URI with `parts` appended as path segments."""
        return S3Uri(self.bucket, "/".join(p.strip("/") for p in (self.key, *parts) if p.strip("/")))

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.key else f"s3://{self.bucket}"


def is_s3(uri: str | Path) -> bool:
    """Whether `uri` is an s3:// URI (a Path never is)."""
    return isinstance(uri, str) and uri.startswith("s3://")


def s3_client() -> Any:
    """A boto3 S3 client configured from the environment; EdgeoptError if no credentials are found."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import PartialCredentialsError

    session = boto3.session.Session()
    try:
        credentials = session.get_credentials()
    except PartialCredentialsError as exc:  # its message names the missing variable, never a value
        raise EdgeoptError(f"incomplete S3 credentials: {exc}", CREDENTIALS_HINT) from exc
    if credentials is None:
        raise EdgeoptError("no S3 credentials found in the environment", CREDENTIALS_HINT)
    config = Config(connect_timeout=10, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"})
    return session.client("s3", endpoint_url=os.environ.get(ENDPOINT_ENV) or None, config=config)


@contextlib.contextmanager
def s3_errors(uri: S3Uri | str, action: str) -> Iterator[None]:
    """Turn the S3 failures a user can fix, raised inside the block, into EdgeoptError.

    `action` completes "cannot <action> <uri>", e.g. "upload to".
    """
    from botocore import exceptions as bx

    where = f"cannot {action} {uri}"
    try:
        yield
    except (bx.NoCredentialsError, bx.PartialCredentialsError) as exc:
        raise EdgeoptError(f"{where}: no complete S3 credentials found", CREDENTIALS_HINT) from exc
    except (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError,
            bx.ConnectionClosedError) as exc:
        raise EdgeoptError(f"{where}: the S3 endpoint {_endpoint_of(exc)} cannot be reached",
                           ENDPOINT_HINT) from exc
    except bx.ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in ("NoSuchBucket",):
            raise EdgeoptError(f"{where}: bucket {S3Uri.parse(str(uri)).bucket} does not exist",
                               "create the bucket first, or fix the bucket name in the URI") from exc
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "ExpiredToken",
                    "InvalidToken"):
            raise EdgeoptError(f"{where}: S3 refused the credentials ({code})",
                               "check the credentials' values and permissions; " + CREDENTIALS_HINT) from exc
        raise EdgeoptError(f"{where}: S3 answered {code or 'an error'}: {error.get('Message', '')}".rstrip(": "),
                           "check the URI and the S3 service") from exc


def fetch(uri: str | Path, dest_dir: str | Path) -> Path:
    """Make the file or folder at `uri` available locally and return its local path.

    A local path (or file:// URI) is returned as it is, nothing copied. An s3:// URI naming an
    object is downloaded to `dest_dir/<last segment>`; one naming a prefix is downloaded as a
    folder of that name (keys that would escape it are refused); either replaces what was at
    that local path. Raises EdgeoptError if nothing is there.
    """
    if not is_s3(uri):
        text = str(uri)
        if "://" in text and not text.startswith("file://"):
            raise EdgeoptError(f"cannot read {uri}: unsupported URI scheme", "pass a local path or an s3:// URI")
        path = Path(text[len("file://"):]) if text.startswith("file://") else Path(uri)
        if not path.exists():
            raise EdgeoptError(f"{path} does not exist", "check the path")
        return path
    src = S3Uri.parse(str(uri))
    if not src.key:
        raise EdgeoptError(f"{uri} names a whole bucket", "point to an object or folder: s3://BUCKET/PATH")
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / PurePosixPath(src.key).name
    client = s3_client()
    with s3_errors(src, "download"):
        if _object_exists(client, src):
            client.download_file(src.bucket, src.key, str(target))
            return target
        keys = list_keys(src, client)
        if not keys:
            raise EdgeoptError(f"{uri} does not exist (no object or folder at that key)", "check the URI")
        scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=dest_dir))
        try:
            for rel in keys:
                local = scratch.joinpath(*_safe_parts(rel, src))
                local.parent.mkdir(parents=True, exist_ok=True)
                client.download_file(src.bucket, src.join(rel).key, str(local))
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            scratch.rename(target)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
    return target


def list_keys(prefix: S3Uri, client: Any) -> list[str]:
    """Keys under the folder `prefix`, relative to it, sorted (folder marker objects left out)."""
    base = f"{prefix.key}/" if prefix.key else ""
    found = []
    with s3_errors(prefix, "list"):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=prefix.bucket, Prefix=base):
            found += [o["Key"][len(base):] for o in page.get("Contents", []) if not o["Key"].endswith("/")]
    return sorted(found)


def upload_file(local: Path, dest: S3Uri, client: Any) -> None:
    """Upload one local file to `dest`."""
    with s3_errors(dest, "upload to"):
        client.upload_file(str(local), dest.bucket, dest.key)


def put_bytes(dest: S3Uri, data: bytes, client: Any, exclusive: bool = False) -> None:
    """Write `data` to `dest`; with `exclusive`, raise AlreadyExists instead of replacing an object
    (S3 conditional write, If-None-Match: *)."""
    from botocore.exceptions import ClientError

    extra = {"IfNoneMatch": "*"} if exclusive else {}
    with s3_errors(dest, "write"):
        try:
            client.put_object(Bucket=dest.bucket, Key=dest.key, Body=data, **extra)
        except ClientError as exc:
            if exclusive and exc.response.get("Error", {}).get("Code") in ("PreconditionFailed",
                                                                             "ConditionalRequestConflict"):
                raise AlreadyExists(f"{dest} already exists", "") from exc
            raise


def delete_keys(bucket: str, keys: list[str], client: Any) -> None:
    """Delete `keys` from `bucket` (batches of 1000); EdgeoptError if S3 refuses any."""
    for start in range(0, len(keys), 1000):
        batch = keys[start:start + 1000]
        with s3_errors(f"s3://{bucket}", "delete objects in"):
            answer = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch],
                                                                  "Quiet": True})
        if answer.get("Errors"):
            first = answer["Errors"][0]
            raise EdgeoptError(f"cannot delete s3://{bucket}/{first.get('Key')}: {first.get('Code')}",
                               "delete the objects by hand")


def _object_exists(client: Any, uri: S3Uri) -> bool:
    from botocore.exceptions import ClientError

    try:
        client.head_object(Bucket=uri.bucket, Key=uri.key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def _safe_parts(rel: str, src: S3Uri) -> tuple[str, ...]:
    parts = PurePosixPath(rel).parts
    if not parts or any(p in ("..", ".", "") for p in parts) or rel.startswith("/"):
        raise EdgeoptError(f"refusing to download {src.join(rel)}: its key would leave the folder",
                           "rename the object so that its key has no '..' segments")
    return parts


def _endpoint_of(exc: Exception) -> str:
    """scheme://host:port of the URL a connection error was about."""
    url = urlsplit(str(getattr(exc, "kwargs", {}).get("endpoint_url") or ""))
    return f"{url.scheme}://{url.hostname}" + (f":{url.port}" if url.port else "") if url.hostname else "(unknown)"
