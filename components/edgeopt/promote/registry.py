"""Where registry entries are stored: a local folder (`LocalRegistry`), an S3 prefix (`S3Registry`) or
MLflow's model registry (`MlflowRegistry`, in registry_mlflow.py).

Each gives each version exactly one writer and publishes an entry only complete (locally and on S3
`metadata.json`, written last, marks it complete; readers ignore entries without it):

- local: the entry is built in a scratch folder `<name>/.incoming-<random>` and renamed to the
  next free version in one step (a rename never replaces a version another promotion took
  meanwhile: it moves on to the next number). A failure removes that scratch folder only.
- S3: the version is claimed with a conditional write of `<version>/.claim` (If-None-Match: *)
  whose body names the owner (a random token, the UTC time, host and pid; no secrets). The
  claim is never deleted once the entry is complete, so a promotion that stalled between
  listing and claiming finds the version taken and moves on. Every file is written with
  If-None-Match too, so nothing is ever replaced. Before `metadata.json` the claim is read
  again: if it is no longer this promotion's (gc removed the abandoned entry), it stops. A
  failure deletes only the objects this promotion wrote (its conditional put succeeded), its
  claim last, and only while it still holds the claim and the entry is incomplete.
- MLflow: the server numbers the model versions; see registry_mlflow.py.

Entries that were never completed (a crash, a cut connection) are found by `abandoned()` and
removed by `remove()` (`edgeopt registry gc`); complete entries are never touched.
"""

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from edgeopt.common import storage
from edgeopt.common.errors import EdgeoptError

METADATA_FILE = "metadata.json"
CLAIM_FILE = ".claim"
SCRATCH_PREFIX = ".incoming-"
PROBE_PREFIX = ".edgeopt-probe-"
VERSION_RE = re.compile(r"v([1-9][0-9]*)")
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
MAX_ATTEMPTS = 20  # versions tried when concurrent promotions take the same number
RETRY_HINT = "nothing of this promotion was kept; promote again"
WRITE_HINTS = {
    errno.ENOSPC: "free space on the registry's file system, or pass another writable registry folder",
    errno.EDQUOT: "free space within your quota, or pass another writable registry folder",
    errno.EACCES: "make the registry folder writable for this user, or pass another registry folder",
    errno.EPERM: "make the registry folder writable for this user, or pass another registry folder",
    errno.EROFS: "the registry folder is on a read-only file system: pass a writable one "
                 "(in a cluster, mount a writable volume)",
}

# An entry's contents before publishing: relative path -> local file or the bytes to write.
Contents = dict[str, Path | bytes]


@dataclass(frozen=True)
class Abandoned:
    """An entry that was never completed: its name, version (or scratch folder), location,
    number of files or objects, and the time of its newest write."""

    name: str
    entry: str
    uri: str
    objects: int
    modified: datetime


class LocalRegistry:
    """A registry in a local (or mounted) folder."""

    def __init__(self, root: Path) -> None:
        self.root = root.absolute()

    def names(self) -> list[str]:
        """Model names that have a folder in the registry, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and NAME_RE.fullmatch(p.name))

    def versions(self, name: str) -> list[str]:
        """Complete versions of `name`, oldest first."""
        return _by_number(v for v in self._numbered(name) if (self.root / name / v / METADATA_FILE).is_file())

    def entry_uri(self, name: str, version: str) -> str:
        """Where the entry `name`/`version` is."""
        return str(self.root / name / version)

    def metadata(self, name: str, version: str) -> dict[str, Any] | None:
        """The metadata of a complete entry, None if there is no such entry."""
        path = self.root / name / version / METADATA_FILE
        return parse_metadata(path.read_bytes(), path) if path.is_file() else None

    def publish(self, name: str, contents: Contents, metadata: Callable[[str], bytes]) -> tuple[str, str]:
        """Build the entry in a scratch folder under `<root>/<name>/`, then rename it to the next
        free version; return (entry path, version)."""
        home = self._home(name)
        try:
            scratch = storage.scratch_dir(home, SCRATCH_PREFIX)
        except OSError as exc:
            raise _write_error(home, exc) from exc
        try:
            for rel, src in contents.items():
                write_file(scratch / rel, src)
            for _ in range(MAX_ATTEMPTS):
                version = _next_version(self._numbered(name))
                (scratch / METADATA_FILE).write_bytes(metadata(version))
                try:
                    os.rename(scratch, home / version)
                except OSError as exc:
                    if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                        continue  # another promotion took this version meanwhile
                    raise
                return str(home / version), version
            raise EdgeoptError(f"no free version of {name} found in {MAX_ATTEMPTS} attempts in {home}",
                               "too many promotions of this name run at once; retry")
        except BaseException as exc:
            shutil.rmtree(scratch, ignore_errors=True)
            if isinstance(exc, OSError):
                raise _write_error(home, exc) from exc
            raise

    def abandoned(self, name: str | None = None) -> list[Abandoned]:
        """Scratch folders and version folders without metadata.json, of `name` or of every name."""
        found = []
        for model in [name] if name else self.names():
            home = self.root / model
            for folder in sorted(home.iterdir()) if home.is_dir() else []:
                if _is_scratch(folder) or (folder.is_dir() and not folder.is_symlink()
                                           and VERSION_RE.fullmatch(folder.name)
                                           and not (folder / METADATA_FILE).exists()):
                    files, modified = _tree_stats(folder)
                    found.append(Abandoned(model, folder.name, str(folder), files, modified))
        return found

    def remove(self, item: Abandoned) -> bool:
        """Delete an abandoned entry; False (nothing deleted) if it has become complete meanwhile."""
        folder = Path(item.uri)
        if (folder / METADATA_FILE).exists():
            return False
        shutil.rmtree(folder)
        return True

    def check(self, name: str) -> None:
        """EdgeoptError unless `<root>/<name>` is, or can be created as, a writable folder. Folders
        created for the test are removed again; the test file too."""
        home = self.root / name
        _refuse_a_file_on(home)
        missing = [p for p in reversed([home, *home.parents]) if not p.exists()]
        try:
            for folder in missing:
                folder.mkdir()
            fd, probe = tempfile.mkstemp(prefix=PROBE_PREFIX, dir=home)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise _write_error(home, exc) from exc
        finally:
            for folder in reversed(missing):
                with contextlib.suppress(OSError):
                    folder.rmdir()

    def _home(self, name: str) -> Path:
        home = self.root / name
        _refuse_a_file_on(home)
        try:
            home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _write_error(home, exc) from exc
        return home

    def _numbered(self, name: str) -> list[str]:
        home = self.root / name
        return [p.name for p in home.iterdir() if VERSION_RE.fullmatch(p.name)] if home.is_dir() else []


class S3Registry:
    """A registry under an s3://bucket/prefix URI, reached through boto3."""

    def __init__(self, base: storage.S3Uri, client: Any = None) -> None:
        """`client`: a boto3 S3 client, by default one from the environment (EdgeoptError at once
        when no S3 credentials are configured)."""
        self.base = base
        self.client = client if client is not None else storage.s3_client()

    def names(self) -> list[str]:
        """Model names that have objects in the registry, sorted."""
        return [n for n in storage.list_folders(self.base, self.client) if NAME_RE.fullmatch(n)]

    def versions(self, name: str) -> list[str]:
        """Complete versions of `name`, oldest first."""
        keys = storage.list_keys(self.base.join(name), self.client)
        return _by_number(k.split("/")[0] for k in keys
                          if k.count("/") == 1 and k.endswith(f"/{METADATA_FILE}")
                          and VERSION_RE.fullmatch(k.split("/")[0]))

    def entry_uri(self, name: str, version: str) -> str:
        """Where the entry `name`/`version` is."""
        return str(self.base.join(name, version))

    def metadata(self, name: str, version: str) -> dict[str, Any] | None:
        """The metadata of a complete entry, None if there is no such entry."""
        uri = self.base.join(name, version, METADATA_FILE)
        data = storage.get(uri, self.client)
        return None if data is None else parse_metadata(data, uri)

    def publish(self, name: str, contents: Contents, metadata: Callable[[str], bytes]) -> tuple[str, str]:
        """Claim the next free version, write the files, then `metadata.json`, every write
        conditional; return (URI, version)."""
        token, claim = _new_claim()
        version = self._claim(name, token, claim)
        entry = self.base.join(name, version)
        written: list[str] = []
        try:
            for rel, src in contents.items():
                self._put_new(entry.join(rel), src)
                written.append(entry.join(rel).key)
            if self._claim_token(entry) != token:
                raise EdgeoptError(f"the claim on {entry} is no longer this promotion's: the unfinished entry was "
                                   "removed (e.g. by `edgeopt registry gc`) while the upload stalled", RETRY_HINT)
            self._put_metadata(entry, metadata(version))
        except BaseException:
            self._discard(entry, written, token)
            raise
        return str(entry), version

    def abandoned(self, name: str | None = None) -> list[Abandoned]:
        """Version prefixes without metadata.json, of `name` or of every name."""
        found = []
        for model in [name] if name else self.names():
            by_version: dict[str, list[storage.S3Object]] = {}
            for obj in storage.list_objects(self.base.join(model), self.client):
                version = obj.key.split("/")[0]
                if VERSION_RE.fullmatch(version) and "/" in obj.key:
                    by_version.setdefault(version, []).append(obj)
            for version, objects in sorted(by_version.items(), key=lambda kv: int(kv[0][1:])):
                if not any(o.key == f"{version}/{METADATA_FILE}" for o in objects):
                    found.append(Abandoned(model, version, self.entry_uri(model, version), len(objects),
                                           max(o.modified for o in objects)))
        return found

    def remove(self, item: Abandoned) -> bool:
        """Delete an abandoned entry, its claim first; False (the rest kept) if it became complete or
        was claimed again meanwhile."""
        entry = self.base.join(item.name, item.entry)
        if METADATA_FILE in storage.list_keys(entry, self.client):
            return False
        storage.delete_keys(entry.bucket, [entry.join(CLAIM_FILE).key], self.client)
        left = storage.list_keys(entry, self.client)
        if METADATA_FILE in left or CLAIM_FILE in left:
            return False
        storage.delete_keys(entry.bucket, [entry.join(k).key for k in left], self.client)
        return True

    def check(self, name: str) -> None:
        """EdgeoptError unless the endpoint answers, the bucket exists and the credentials may list and
        write under the registry prefix (a probe object is written and deleted)."""
        storage.check_bucket(self.base, self.client)
        probe = self.base.join(f"{PROBE_PREFIX}{uuid.uuid4().hex}")
        try:
            storage.put(probe, b"", self.client, exclusive=True)
        except storage.Refused as exc:
            raise EdgeoptError(f"the S3 credentials cannot write to {self.base} ({exc.code})",
                               "give the credentials s3:PutObject and s3:DeleteObject on the registry prefix, "
                               "or pass a registry they may write to") from exc
        storage.delete_keys(probe.bucket, [probe.key], self.client)

    def _claim(self, name: str, token: str, claim: bytes) -> str:
        """Take the next free version of `name` with a conditional write of its `.claim`."""
        home = self.base.join(name)
        for _ in range(MAX_ATTEMPTS):
            version = _next_version(storage.list_folders(home, self.client))
            try:
                storage.put(home.join(version, CLAIM_FILE), claim, self.client, exclusive=True)
                return version
            except storage.AlreadyExists:
                if self._claim_token(home.join(version)) == token:
                    return version  # our own write, retried after its answer was lost
        raise EdgeoptError(f"no free version of {name} found in {MAX_ATTEMPTS} attempts under {home}",
                           "too many promotions of this name run at once; retry")

    def _claim_token(self, entry: storage.S3Uri) -> str | None:
        """The token in the entry's claim; None without a claim, "" for a claim without a token
        (written by an older edgeopt, or by something else)."""
        data = storage.get(entry.join(CLAIM_FILE), self.client)
        if data is None:
            return None
        try:
            token = json.loads(data).get("token")
        except (ValueError, AttributeError):
            return ""
        return token if isinstance(token, str) else ""

    def _put_new(self, dest: storage.S3Uri, src: Path | bytes) -> None:
        try:
            if isinstance(src, bytes):
                storage.put(dest, src, self.client, exclusive=True)
            else:
                with storage.open_regular(src) as body:
                    storage.put(dest, body, self.client, exclusive=True)
        except storage.AlreadyExists as exc:
            raise EdgeoptError(f"{dest} was written by another promotion while this one held the version",
                               RETRY_HINT) from exc

    def _put_metadata(self, entry: storage.S3Uri, data: bytes) -> None:
        try:
            storage.put(entry.join(METADATA_FILE), data, self.client, exclusive=True)
        except storage.AlreadyExists as exc:
            if storage.get(entry.join(METADATA_FILE), self.client) != data:  # else: our retried write landed
                raise EdgeoptError(f"{entry} was completed by another promotion", RETRY_HINT) from exc

    def _discard(self, entry: storage.S3Uri, written: list[str], token: str) -> None:
        """Delete what this promotion wrote, its claim last, unless the entry is complete or another
        promotion claimed it since; if S3 cannot be reached, `edgeopt registry gc` removes the rest later."""
        with contextlib.suppress(EdgeoptError):
            holder = self._claim_token(entry)
            if storage.exists(entry.join(METADATA_FILE), self.client) or holder not in (token, None):
                return
            storage.delete_keys(entry.bucket, written, self.client)
            if holder == token:
                storage.delete_keys(entry.bucket, [entry.join(CLAIM_FILE).key], self.client)


class Registry(Protocol):
    """What promote, list, show, gc and the registry baseline need of a backend."""

    def names(self) -> list[str]: ...
    def versions(self, name: str) -> list[str]: ...
    def entry_uri(self, name: str, version: str) -> str: ...
    def metadata(self, name: str, version: str) -> dict[str, Any] | None: ...
    def publish(self, name: str, contents: Contents, metadata: Callable[[str], bytes]) -> tuple[str, str]: ...
    def abandoned(self, name: str | None = None) -> list[Abandoned]: ...
    def remove(self, item: Abandoned) -> bool: ...
    def check(self, name: str) -> None: ...


KINDS_HINT = "pass a folder path, s3://bucket/prefix or an MLflow tracking server as mlflow+http://HOST:PORT"


def open_registry(registry: str | Path | Registry) -> Registry:
    """The registry at a local folder path, an s3://bucket/prefix URI or an MLflow tracking server
    (`mlflow+http(s)://...` or `http(s)://...`); an opened one as it is."""
    if not isinstance(registry, (str, Path)):
        return registry
    from edgeopt.promote.registry_mlflow import MlflowRegistry, is_mlflow

    if storage.is_s3(registry):
        return S3Registry(storage.S3Uri.parse(str(registry)))
    if is_mlflow(str(registry)):
        return MlflowRegistry(str(registry))
    if not str(registry).strip():
        raise EdgeoptError("no registry given", KINDS_HINT)
    if "://" in str(registry):
        raise EdgeoptError(f"registry {registry} has an unsupported scheme", KINDS_HINT)
    return LocalRegistry(Path(registry))


def _new_claim() -> tuple[str, bytes]:
    """(token, claim body): who holds the version, for people and for the holder's own checks."""
    token = uuid.uuid4().hex
    body = {"token": token, "created": utc_now(), "host": socket.gethostname(), "pid": os.getpid()}
    return token, (json.dumps(body, sort_keys=True) + "\n").encode()


def utc_now() -> str:
    """The current UTC time as 2024-01-31T12:00:00Z."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_metadata(data: bytes, where: Any) -> dict[str, Any]:
    """An entry's metadata.json; EdgeoptError naming `where` when it is not a JSON object."""
    try:
        meta = json.loads(data)
    except ValueError as exc:
        raise EdgeoptError(f"{where} is not readable JSON", "fix or remove that registry entry") from exc
    if not isinstance(meta, dict):
        raise EdgeoptError(f"{where} is not an entry's metadata", "fix or remove that registry entry")
    return meta


def write_file(dest: Path, src: Path | bytes) -> None:
    """Write one file of an entry (with the umask's permissions, a source link never followed)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(src, bytes):
        dest.write_bytes(src)
        return
    with storage.open_regular(src) as fin, open(dest, "xb") as fout:
        shutil.copyfileobj(fin, fout)


def _refuse_a_file_on(home: Path) -> None:
    """EdgeoptError if a file stands at `home` or on its path."""
    blocker = storage.file_on_path(home)
    if blocker is not None:
        raise EdgeoptError(f"registry folder {home} cannot be used: {blocker} is a file",
                           "pass a folder path (it is created if missing) or s3://bucket/prefix")


def _write_error(home: Path, exc: OSError) -> EdgeoptError:
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        _refuse_a_file_on(home)  # a file appeared on the path meanwhile
    return EdgeoptError(f"cannot write the registry entry under {home}: {exc.strerror or exc}",
                        WRITE_HINTS.get(exc.errno, "check that the registry folder is writable and has free space"))


def _is_scratch(path: Path) -> bool:
    return path.name.startswith(SCRATCH_PREFIX) and path.is_dir() and not path.is_symlink()


def _tree_stats(folder: Path) -> tuple[int, datetime]:
    """(number of files, newest modification time) of everything under `folder`, links not followed."""
    times, files = [folder.lstat().st_mtime], 0
    for path in _walk(folder):
        times.append(path.lstat().st_mtime)
        files += not path.is_dir() or path.is_symlink()
    return files, datetime.fromtimestamp(max(times), timezone.utc)


def _walk(folder: Path) -> Iterator[Path]:
    for base, dirs, files in os.walk(folder):
        yield from (Path(base) / n for n in dirs + files)


def _next_version(taken: Iterable[str]) -> str:
    numbers = [int(m.group(1)) for m in map(VERSION_RE.fullmatch, taken) if m]
    return f"v{max(numbers, default=0) + 1}"


def _by_number(versions: Iterable[str]) -> list[str]:
    return sorted(set(versions), key=lambda v: int(v[1:]))
