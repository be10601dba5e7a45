"""Local paths and `s3://bucket/key` URIs: `fetch` reads either alike; the S3 helpers write.

S3 goes through boto3 with its standard configuration: credentials only from the environment
or boto3's usual chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN,
AWS_PROFILE, instance roles), the endpoint from EDGEOPT_S3_ENDPOINT_URL when set, else from
boto3's own AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL (MinIO, moto, Ceph...). Credentials are
never logged, written or put in messages. Every S3 failure the user can fix (no credentials,
an endpoint that is no URL or cannot be reached, a connection cut mid-request, a bucket name S3
does not allow, a missing bucket, access refused) becomes an `EdgeoptError` naming what to fix.

Writes can be exclusive (`put(..., exclusive=True)`: If-None-Match, never replacing an object).
Local files are written with the umask's permissions (`scratch_dir` instead of mkdtemp's 0700)
and read without following symbolic links (`open_regular`).
"""

import contextlib
import errno
import os
import re
import shutil
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from edgeopt.common.errors import EdgeoptError

ENDPOINT_ENV = "EDGEOPT_S3_ENDPOINT_URL"
CREDENTIALS_HINT = ("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN for temporary "
                    "credentials) or AWS_PROFILE in the environment")
ENDPOINT_HINT = (f"set {ENDPOINT_ENV} (or AWS_ENDPOINT_URL) to your S3 endpoint, e.g. http://minio:9000; "
                 "leave both unset for AWS S3")
# where boto3 (or edgeopt) takes the endpoint from, first match wins
ENDPOINT_SOURCES = (ENDPOINT_ENV, "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
IP_RE = re.compile(r"\d+\.\d+\.\d+\.\d+")
BUCKET_HINT = ("S3 bucket names have 3 to 63 characters: lowercase letters, digits, '.' and '-', starting and "
               "ending with a letter or digit, e.g. s3://my-models/registry")
REFUSED_CODES = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "ExpiredToken",
                 "InvalidToken")
CONFLICT_CODES = ("PreconditionFailed", "ConditionalRequestConflict")


class AlreadyExists(EdgeoptError):
    """An exclusive write found the object or file already there."""


class Refused(EdgeoptError):
    """S3 refused the credentials or the request (access denied, unknown or expired key)."""

    def __init__(self, message: str, hint: str, code: str) -> None:
        super().__init__(message, hint)
        self.code = code


@dataclass(frozen=True)
class S3Object:
    """One object found by `list_objects`: its key relative to the listed folder, and when it was written."""

    key: str
    modified: datetime


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
        if not BUCKET_RE.fullmatch(bucket) or ".." in bucket or IP_RE.fullmatch(bucket):
            raise EdgeoptError(f"{uri}: {bucket!r} is not a valid S3 bucket name", BUCKET_HINT)
        return cls(bucket, key.strip("/"))

    def join(self, *parts: str) -> "S3Uri":
        """This URI with `parts` appended as path segments."""
        return S3Uri(self.bucket, "/".join(p.strip("/") for p in (self.key, *parts) if p.strip("/")))

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.key else f"s3://{self.bucket}"


def is_s3(uri: str | Path) -> bool:
    """Whether `uri` is an s3:// URI (a Path never is)."""
    return isinstance(uri, str) and uri.startswith("s3://")


def s3_client(endpoint_url: str | None = None, connect_timeout: float = 10, read_timeout: float = 60,
              attempts: int = 4) -> Any:
    """A boto3 S3 client configured from the environment (or for `endpoint_url`), trying each
    request up to `attempts` times in all.

    EdgeoptError if no credentials are found or the endpoint is not an http(s) URL.
    """
    import boto3
    from botocore.config import Config
    from botocore.exceptions import PartialCredentialsError

    endpoint = check_endpoint(endpoint_url)
    session = boto3.session.Session()
    try:
        credentials = session.get_credentials()
    except PartialCredentialsError as exc:  # its message names the missing variable, never a value
        raise EdgeoptError(f"incomplete S3 credentials: {exc}", CREDENTIALS_HINT) from exc
    if credentials is None:
        raise EdgeoptError("no S3 credentials found in the environment", CREDENTIALS_HINT)
    config = Config(connect_timeout=connect_timeout, read_timeout=read_timeout,
                    retries={"total_max_attempts": attempts, "mode": "standard"})
    return session.client("s3", endpoint_url=endpoint, config=config)


def check_endpoint(endpoint_url: str | None = None) -> str | None:
    """The endpoint edgeopt passes to boto3 (`endpoint_url`, else EDGEOPT_S3_ENDPOINT_URL, else None:
    boto3's own variables or AWS). EdgeoptError if the endpoint that applies is not an http(s) URL."""
    source, value = ("endpoint_url", endpoint_url) if endpoint_url else next(
        ((name, os.environ[name]) for name in ENDPOINT_SOURCES if os.environ.get(name)), ("", None))
    if value is None:
        return None
    if not _is_http_url(value.strip()):
        shown = re.sub(r"//[^/@]*@", "//***@", value)  # never echo credentials written into the URL
        raise EdgeoptError(f"S3 endpoint {shown!r} (from {source}) is not a valid URL",
                           f"set {source} to http://HOST[:PORT] or https://HOST[:PORT], e.g. http://minio:9000; "
                           "leave the endpoint variables unset for AWS S3")
    return value.strip() if source in ("endpoint_url", ENDPOINT_ENV) else None


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # a port that is no number, or out of range
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and port_ok and not re.search(r"\s", value)


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
    except bx.ConnectionError as exc:  # refused, unresolvable, connect timeout, TLS or proxy failure
        raise EdgeoptError(f"{where}: the S3 endpoint {_endpoint_of(exc)} cannot be reached",
                           ENDPOINT_HINT) from exc
    except bx.ReadTimeoutError as exc:
        raise EdgeoptError(f"{where}: the S3 endpoint {_endpoint_of(exc)} did not answer in time",
                           "check the S3 service and the network, then retry") from exc
    except bx.HTTPClientError as exc:  # the connection closed or reset mid-request
        raise EdgeoptError(f"{where}: the connection to the S3 endpoint {_endpoint_of(exc)} was cut",
                           "check the S3 service and the network, then retry") from exc
    except bx.ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in ("NoSuchBucket",):
            raise EdgeoptError(f"{where}: bucket {S3Uri.parse(str(uri)).bucket} does not exist",
                               "create the bucket first, or fix the bucket name in the URI") from exc
        if code in REFUSED_CODES:
            raise Refused(f"{where}: S3 refused the credentials ({code})",
                          "check the credentials' values and permissions; " + CREDENTIALS_HINT, code) from exc
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
        if exists(src, client):
            client.download_file(src.bucket, src.key, str(target))
            return target
        keys = list_keys(src, client)
        if not keys:
            raise EdgeoptError(f"{uri} does not exist (no object or folder at that key)", "check the URI")
        scratch = scratch_dir(dest_dir, f".{target.name}.")
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
    return [o.key for o in list_objects(prefix, client)]


def list_objects(prefix: S3Uri, client: Any) -> list[S3Object]:
    """The objects under the folder `prefix` (keys relative to it), sorted by key, folder markers left out."""
    base = f"{prefix.key}/" if prefix.key else ""
    found = []
    with s3_errors(prefix, "list"):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=prefix.bucket, Prefix=base):
            found += [S3Object(o["Key"][len(base):], o["LastModified"]) for o in page.get("Contents", [])
                      if not o["Key"].endswith("/")]
    return sorted(found, key=lambda o: o.key)


def list_folders(prefix: S3Uri, client: Any) -> list[str]:
    """Names of the sub-folders directly under the folder `prefix`, sorted."""
    base = f"{prefix.key}/" if prefix.key else ""
    found = []
    with s3_errors(prefix, "list"):
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=prefix.bucket, Prefix=base, Delimiter="/")
        for page in pages:
            found += [p["Prefix"][len(base):].rstrip("/") for p in page.get("CommonPrefixes", [])]
    return sorted(found)


def check_bucket(uri: S3Uri, client: Any) -> None:
    """EdgeoptError unless the endpoint answers, the bucket exists and the credentials may list it."""
    with s3_errors(uri, "list"):
        client.list_objects_v2(Bucket=uri.bucket, Prefix=f"{uri.key}/" if uri.key else "", MaxKeys=1)


def put(dest: S3Uri, body: bytes | BinaryIO, client: Any, exclusive: bool = False) -> None:
    """Write `body` (bytes or an open binary file) to `dest`; with `exclusive`, raise AlreadyExists
    instead of replacing an object (S3 conditional write, If-None-Match: *)."""
    from botocore.exceptions import ClientError

    extra = {"IfNoneMatch": "*"} if exclusive else {}
    with s3_errors(dest, "write"):
        try:
            client.put_object(Bucket=dest.bucket, Key=dest.key, Body=body, **extra)
        except ClientError as exc:
            if exclusive and exc.response.get("Error", {}).get("Code") in CONFLICT_CODES:
                raise AlreadyExists(f"{dest} already exists", "") from exc
            raise


def get(uri: S3Uri, client: Any) -> bytes | None:
    """The bytes of the object at `uri`, or None when there is none."""
    from botocore.exceptions import ClientError

    with s3_errors(uri, "read"):
        try:
            return client.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise


def exists(uri: S3Uri, client: Any) -> bool:
    """Whether an object is stored at `uri`."""
    from botocore.exceptions import ClientError

    with s3_errors(uri, "read"):
        try:
            client.head_object(Bucket=uri.bucket, Key=uri.key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
    return True


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


def scratch_dir(parent: Path, prefix: str) -> Path:
    """Create and return a new, uniquely named folder `parent/<prefix><random>` with the umask's
    permissions (tempfile.mkdtemp would make it 0700)."""
    path = parent / f"{prefix}{uuid.uuid4().hex[:12]}"
    path.mkdir()
    return path


def open_regular(path: Path) -> BinaryIO:
    """`path` opened for reading; EdgeoptError if it is a symbolic link (never followed) or not a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise EdgeoptError(f"{path} is a symbolic link", "replace the link by a copy of the file") from exc
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise EdgeoptError(f"{path} is not a regular file", "keep only regular files and folders there")
    return os.fdopen(fd, "rb")


def file_on_path(path: Path) -> Path | None:
    """The first existing part of `path` (`path` itself included) that is not a folder, or None."""
    for part in reversed([path, *path.parents]):
        if part.is_symlink() or part.exists():
            if not part.is_dir():
                return part
        else:
            return None
    return None


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
