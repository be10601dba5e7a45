"""Publish a model that passed the gate as a new, immutable entry of a model registry.

A registry is a local folder or an `s3://bucket/prefix` URI. One entry::

    <registry>/<name>/<version>/
        model/          every file of the model bundle (model, model.json, metrics.json, ...)
        verdict.json    the validate-targets verdict
        report.md       its Markdown report
        metadata.json   name, version, created (UTC), model (model.json), passed, target, forced,
                        edgeopt_version, sha256 of every other file; written last

Versions are `v1`, `v2`, ...: the next one above every number in use, complete or not; an
existing version is never overwritten. An entry counts (`list_versions`) only once it is
complete: locally it is built in a hidden folder beside the versions and renamed into place
in one step; on S3 the version is first claimed with a conditional write (`.claim`,
If-None-Match), the files are uploaded, and `metadata.json` is written last as the completion
marker; on an upload error everything uploaded is deleted again.
"""

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgeopt import __version__
from edgeopt.common import storage
from edgeopt.common.bundle import read_bundle
from edgeopt.common.errors import EdgeoptError
from edgeopt.validate_targets.core import REPORT_FILE, VERDICT_FILE, render_markdown

METADATA_FILE = "metadata.json"
CLAIM_FILE = ".claim"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
VERSION_RE = re.compile(r"v([1-9][0-9]*)")
MAX_ATTEMPTS = 20  # versions tried when concurrent promotions take the same number

# An entry's contents before publishing: relative path -> local file or the bytes to write.
Contents = dict[str, Path | bytes]
log = logging.getLogger(__name__)


def promote(model_dir: str | Path, verdict_path: str | Path, registry: str | Path, name: str,
            report_path: str | Path | None = None, force: bool = False) -> dict[str, Any]:
    """Publish the bundle `model_dir` as the next version of `name` in `registry`.

    `verdict_path` is `verdict.json` or the folder validate-targets wrote it to. The report is
    `report_path`, else the `report.md` beside the verdict, else rendered from the verdict. A
    failed verdict is refused unless `force` (the entry then records `forced: true`).
    Returns {"uri", "version", "name", "files"} (files: the entry's relative paths).
    """
    check_name(name)
    target_registry = open_registry(registry)
    info, _ = read_bundle(model_dir)
    verdict, verdict_file = _read_verdict(verdict_path)
    if not verdict["passed"]:
        if not force:
            failed = "; ".join(str(c.get("reason") or c.get("metric")) for c in verdict["checks"]
                               if isinstance(c, dict) and not c.get("passed"))
            raise EdgeoptError(f"refusing to promote: the verdict {verdict_file} rejected the model"
                               + (f" ({failed})" if failed else ""),
                               "make the model meet the targets, or pass --force (force=True) to promote it "
                               "anyway; the entry then records that it was forced")
        log.warning("promoting %s although its verdict failed (forced)", name)
    bundle = Path(model_dir)
    contents: Contents = {f"model/{p.relative_to(bundle).as_posix()}": p
                          for p in sorted(bundle.rglob("*")) if p.is_file()}
    contents[VERDICT_FILE] = verdict_file
    contents[REPORT_FILE] = _report(verdict_file, report_path, verdict)
    base = {
        "name": name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "model": asdict(info),
        "passed": verdict["passed"],
        "target": verdict["target"],
        "forced": not verdict["passed"],
        "edgeopt_version": __version__,
        "sha256": {rel: _sha256(src) for rel, src in contents.items()},
    }

    def metadata(version: str) -> bytes:
        return (json.dumps({**base, "version": version}, indent=2, sort_keys=True) + "\n").encode()

    uri, version = target_registry.publish(name, contents, metadata)
    return {"uri": uri, "version": version, "name": name, "files": sorted([*contents, METADATA_FILE])}


def list_versions(registry: str | Path, name: str) -> list[str]:
    """The complete versions of `name` in `registry`, oldest first (entries without metadata.json
    are being written or were abandoned, and are left out)."""
    check_name(name)
    return open_registry(registry).versions(name)


def check_name(name: str) -> str:
    """Return `name` if it is a safe registry path component, else raise EdgeoptError."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise EdgeoptError(f"model name {name!r} cannot be used in the registry",
                           "use up to 128 letters, digits, '.', '_' or '-', starting with a letter or digit, "
                           "e.g. digits-cnn")
    return name


class LocalRegistry:
    """A registry in a local (or mounted) folder."""

    def __init__(self, root: Path) -> None:
        self.root = root.absolute()

    def versions(self, name: str) -> list[str]:
        """Complete versions of `name`, oldest first."""
        return _by_number(v for v in self._numbered(name) if (self.root / name / v / METADATA_FILE).is_file())

    def publish(self, name: str, contents: Contents, metadata: Callable[[str], bytes]) -> tuple[str, str]:
        """Build the entry in a hidden folder under `<root>/<name>/`, then rename it to the next
        free version; return (entry path, version)."""
        home = self.root / name
        try:
            home.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix=".incoming-", dir=home))
        except OSError as exc:
            raise EdgeoptError(f"cannot write to the registry folder {home}: {exc.strerror or exc}",
                               "pass a writable registry folder") from exc
        try:
            for rel, src in contents.items():
                dest = scratch / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(src, bytes):
                    dest.write_bytes(src)
                else:
                    shutil.copy2(src, dest)
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
        except OSError as exc:
            shutil.rmtree(scratch, ignore_errors=True)
            raise EdgeoptError(f"cannot write the registry entry under {home}: {exc}",
                               "check that the registry folder is writable and has free space") from exc
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise

    def _numbered(self, name: str) -> list[str]:
        home = self.root / name
        return [p.name for p in home.iterdir() if VERSION_RE.fullmatch(p.name)] if home.is_dir() else []


class S3Registry:
    """A registry under an s3://bucket/prefix URI, reached through boto3."""

    def __init__(self, base: storage.S3Uri) -> None:
        """EdgeoptError at once when no S3 credentials are configured."""
        self.base = base
        self.client = storage.s3_client()

    def versions(self, name: str) -> list[str]:
        """Complete versions of `name`, oldest first."""
        keys = storage.list_keys(self.base.join(name), self.client)
        return _by_number(k.split("/")[0] for k in keys
                          if k.count("/") == 1 and k.endswith(f"/{METADATA_FILE}")
                          and VERSION_RE.fullmatch(k.split("/")[0]))

    def publish(self, name: str, contents: Contents, metadata: Callable[[str], bytes]) -> tuple[str, str]:
        """Claim the next free version, upload the files, then `metadata.json`; return (URI, version)."""
        home = self.base.join(name)
        for _ in range(MAX_ATTEMPTS):
            version = _next_version({k.split("/")[0] for k in storage.list_keys(home, self.client)})
            try:
                storage.put_bytes(home.join(version, CLAIM_FILE), b"", self.client, exclusive=True)
                break
            except storage.AlreadyExists:
                continue  # another promotion claimed this version meanwhile
        else:
            raise EdgeoptError(f"no free version of {name} found in {MAX_ATTEMPTS} attempts under {home}",
                               "too many promotions of this name run at once; retry")
        entry = home.join(version)
        written = [entry.join(CLAIM_FILE).key]
        try:
            for rel, src in contents.items():
                dest = entry.join(rel)
                written.append(dest.key)
                if isinstance(src, bytes):
                    storage.put_bytes(dest, src, self.client)
                else:
                    storage.upload_file(src, dest, self.client)
            written.append(entry.join(METADATA_FILE).key)
            storage.put_bytes(entry.join(METADATA_FILE), metadata(version), self.client, exclusive=True)
        except BaseException:
            with contextlib.suppress(Exception):
                storage.delete_keys(entry.bucket, written, self.client)
            raise
        with contextlib.suppress(EdgeoptError):
            storage.delete_keys(entry.bucket, [entry.join(CLAIM_FILE).key], self.client)
        return str(entry), version


def open_registry(registry: str | Path) -> LocalRegistry | S3Registry:
    """The registry at a local folder path or an s3://bucket/prefix URI."""
    if storage.is_s3(registry):
        return S3Registry(storage.S3Uri.parse(str(registry)))
    if not str(registry).strip():
        raise EdgeoptError("no registry given", "pass a folder path or s3://bucket/prefix")
    if "://" in str(registry):
        raise EdgeoptError(f"registry {registry} has an unsupported scheme", "pass a folder path or s3://bucket/prefix")
    return LocalRegistry(Path(registry))


def _read_verdict(path: str | Path) -> tuple[dict[str, Any], Path]:
    path = Path(path)
    file = path / VERDICT_FILE if path.is_dir() else path
    if not file.is_file():
        raise EdgeoptError(f"verdict {file} does not exist", "pass the verdict.json written by `edgeopt validate`")
    try:
        verdict = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise EdgeoptError(f"verdict {file} is not readable JSON: {exc}", "re-run `edgeopt validate`") from exc
    if not (isinstance(verdict, dict) and isinstance(verdict.get("passed"), bool)
            and isinstance(verdict.get("target"), str) and isinstance(verdict.get("checks"), list)):
        raise EdgeoptError(f"{file} is not a verdict (it needs `passed`, `target` and `checks`)",
                           "pass the verdict.json written by `edgeopt validate`")
    return verdict, file


def _report(verdict_file: Path, report_path: str | Path | None, verdict: dict[str, Any]) -> Path | bytes:
    if report_path is not None:
        if not Path(report_path).is_file():
            raise EdgeoptError(f"report {report_path} does not exist",
                               "pass the report.md written by `edgeopt validate`, or leave it out")
        return Path(report_path)
    beside = verdict_file.with_name(REPORT_FILE)
    return beside if beside.is_file() else render_markdown(verdict).encode()


def _sha256(src: Path | bytes) -> str:
    if isinstance(src, bytes):
        return hashlib.sha256(src).hexdigest()
    digest = hashlib.sha256()
    with open(src, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _next_version(taken: Iterable[str]) -> str:
    numbers = [int(m.group(1)) for m in map(VERSION_RE.fullmatch, taken) if m]
    return f"v{max(numbers, default=0) + 1}"


def _by_number(versions: Iterable[str]) -> list[str]:
    return sorted(set(versions), key=lambda v: int(v[1:]))
