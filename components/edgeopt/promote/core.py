"""Publish a model that passed the gate as a new, immutable entry of a model registry.

A registry is a local folder, an `s3://bucket/prefix` URI or an MLflow tracking server
(`mlflow+http://HOST:PORT`; registry_mlflow.py says how an entry maps to a model version). One
entry in a folder or on S3::

    <registry>/<name>/<version>/
        model/          every file of the model bundle (model, model.json, metrics.json, ...)
        verdict.json    the validate-targets verdict
        report.md       its Markdown report
        metadata.json   name, version, created (UTC), model (model.json), passed, target, forced,
                        edgeopt_version, metrics (what the gate measured: the verdict's `metrics`,
                        the baseline of a later `baseline: registry`), sha256 of every other file,
                        content_sha256 (of the model/ files) and verdict_sha256 (of the verdict's
                        passed and checks); written last
        .claim          (S3 only) who claimed the version; kept for good once the entry is complete

Versions are `v1`, `v2`, ...: the next one above every number in use, complete or not; an
existing version is never overwritten and each has exactly one writer (`registry.py` says how,
locally and on S3). An entry counts (`list_versions`) only once `metadata.json` is there.

Re-promoting a byte-identical model with the same verdict returns the latest entry when it is
that model (`reused: true`, `duplicate_of`) instead of publishing a copy, unless `allow_duplicate`.
Bundles may hold only regular files and folders: symbolic links (never followed) and special
files are refused. `check_registry` tests a registry before a pipeline starts; `collect_garbage`
removes entries a crash or a cut connection left unfinished (never a complete one).
"""

import hashlib
import json
import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from edgeopt import __version__
from edgeopt.common import storage
from edgeopt.common.bundle import read_bundle
from edgeopt.common.errors import EdgeoptError
from edgeopt.promote.registry import (METADATA_FILE, NAME_RE, Contents, Registry, S3Registry, open_registry,
                                      utc_now)
from edgeopt.promote.registry_mlflow import MlflowRegistry, is_mlflow
from edgeopt.common.verdict import REPORT_FILE, VERDICT_FILE, render_markdown

# a preflight check must answer within seconds
PREFLIGHT_CLIENT = {"connect_timeout": 5, "read_timeout": 10, "attempts": 1}
log = logging.getLogger(__name__)


def promote(model_dir: str | Path, verdict_path: str | Path, registry: str | Path | Registry, name: str,
            report_path: str | Path | None = None, force: bool = False,
            allow_duplicate: bool = False, deliverables: dict[str, str | Path] | None = None) -> dict[str, Any]:
    """Publish the bundle `model_dir` as the next version of `name` in `registry`.

    `verdict_path` is `verdict.json` or the folder validate-targets wrote it to. The report is
    `report_path`, else the `report.md` beside the verdict, else rendered from the verdict. A
    failed verdict is refused unless `force` (the entry then records `forced: true`). When the
    latest entry holds the same model files and verdict, it is returned instead of a new version,
    unless `allow_duplicate`. `deliverables` (entry folder name -> a bundle folder) go into the entry
    beside the model, e.g. {"c_array": convert's C array bundle}: what a firmware build takes.
    Returns {"uri", "version", "name", "files", "reused"} (files: the entry's relative paths),
    plus "duplicate_of" (the version) when an existing entry was reused.
    """
    check_name(name)
    target_registry = open_registry(registry)
    bundle = Path(model_dir)
    model_files = dict(_bundle_files(bundle))
    info, _ = read_bundle(bundle)
    verdict, verdict_file, verdict_bytes = _read_verdict(verdict_path)
    if not verdict["passed"]:
        if not force:
            failed = "; ".join(str(c.get("reason") or c.get("metric")) for c in verdict["checks"]
                               if isinstance(c, dict) and not c.get("passed"))
            raise EdgeoptError(f"refusing to promote: the verdict {verdict_file} rejected the model"
                               + (f" ({failed})" if failed else ""),
                               "make the model meet the targets, or pass --force (force=True) to promote it "
                               "anyway; the entry then records that it was forced")
        log.warning("promoting %s although its verdict failed (forced)", name)
    contents: Contents = {f"model/{rel}": path for rel, path in model_files.items()}
    for folder, source in (deliverables or {}).items():
        check_name(folder)
        contents.update({f"{folder}/{rel}": path for rel, path in _bundle_files(Path(source))})
    contents[VERDICT_FILE] = verdict_bytes
    contents[REPORT_FILE] = _report(verdict_file, report_path, verdict)
    digests = {rel: _sha256(src) for rel, src in contents.items()}
    base = {
        "name": name,
        "created": utc_now(),
        "model": asdict(info),
        "passed": verdict["passed"],
        "target": verdict["target"],
        "forced": not verdict["passed"],
        "edgeopt_version": __version__,
        "metrics": verdict.get("metrics") or {},
        "sha256": digests,
        "content_sha256": content_sha256(digests),
        "verdict_sha256": verdict_sha256(verdict),
    }
    if not allow_duplicate:
        reused = _same_as_latest(target_registry, name, base)
        if reused is not None:
            return reused

    def metadata(version: str) -> bytes:
        return (json.dumps({**base, "version": version}, indent=2, sort_keys=True) + "\n").encode()

    uri, version = target_registry.publish(name, contents, metadata)
    return {"uri": uri, "version": version, "name": name, "files": sorted([*contents, METADATA_FILE]),
            "reused": False}


def list_versions(registry: str | Path | Registry, name: str) -> list[str]:
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


def check_registry(registry: str, name: str) -> None:
    """Raise EdgeoptError (with a hint) unless `name` can be promoted to `registry` now.

    S3: credentials present, endpoint a valid URL that answers, bucket there, and a probe object
    `<prefix>/.edgeopt-probe-<uuid>` can be written (conditionally) and deleted. Local: the folder
    is, or can be created as, a writable folder (nothing created for the test is left behind).
    MLflow: the server answers and lets the credentials read its registry. Takes seconds at most.
    """
    check_name(name)
    if storage.is_s3(registry):
        base = storage.S3Uri.parse(registry)
        S3Registry(base, storage.s3_client(**PREFLIGHT_CLIENT)).check(name)
    elif is_mlflow(registry):
        MlflowRegistry(registry, preflight=True).check(name)
    else:
        open_registry(registry).check(name)


def list_entries(registry: str | Path | Registry, name: str | None = None) -> list[dict[str, Any]]:
    """The complete entries of `name` (or of every name), each {name, version, created, passed,
    target, forced}, by name then version."""
    target_registry = open_registry(registry)
    rows = []
    for model in [check_name(name)] if name else target_registry.names():
        for version in target_registry.versions(model):
            meta = target_registry.metadata(model, version) or {}
            rows.append({"name": model, "version": version, **{k: meta.get(k) for k in
                                                                ("created", "passed", "target", "forced")}})
    return rows


def show_entry(registry: str | Path | Registry, name: str, version: str) -> dict[str, Any]:
    """The metadata of the complete entry `name`/`version` (`v3`, or `3` as MLflow numbers it;
    `latest`: the newest complete one)."""
    target_registry = open_registry(registry)
    versions = target_registry.versions(check_name(name))
    chosen = versions[-1] if version == "latest" and versions else f"v{version}" if version.isdigit() else version
    meta = target_registry.metadata(name, chosen) if chosen in versions else None
    if meta is None:
        raise EdgeoptError(f"{registry} has no complete entry {name}/{version}",
                           f"`edgeopt registry list --registry {registry} --name {name}` lists its versions")
    return meta


def collect_garbage(registry: str | Path | Registry, older_than_hours: float = 24, dry_run: bool = False,
                    name: str | None = None) -> dict[str, Any]:
    """Remove the abandoned entries (never completed) whose newest write is older than
    `older_than_hours`; with `dry_run` only report them. Complete entries are never touched.
    Returns {registry, older_than_hours, dry_run, removed: [{name, entry, uri, objects, age_hours}],
    kept: [the same, for entries that were completed or claimed again meanwhile]}."""
    if older_than_hours < 0:
        raise EdgeoptError(f"--older-than {older_than_hours} is negative", "pass a number of hours, 0 or more")
    target_registry = open_registry(registry)
    now = datetime.now(timezone.utc)
    stale = [a for a in target_registry.abandoned(check_name(name) if name else None)
             if now - a.modified >= timedelta(hours=older_than_hours)]
    removed, kept = [], []
    for item in stale:
        row = {"name": item.name, "entry": item.entry, "uri": item.uri, "objects": item.objects,
               "age_hours": round((now - item.modified).total_seconds() / 3600, 2)}
        (removed if dry_run or target_registry.remove(item) else kept).append(row)
    return {"registry": str(registry), "older_than_hours": older_than_hours, "dry_run": dry_run,
            "removed": removed, "kept": kept}


def content_sha256(digests: dict[str, str]) -> str:
    """One digest of the model files, from their sha256 (`sha256sum` lines of the model/ files)."""
    lines = "".join(f"{digest}  {rel[len('model/'):]}\n" for rel, digest in sorted(digests.items())
                    if rel.startswith("model/"))
    return hashlib.sha256(lines.encode()).hexdigest()


def verdict_sha256(verdict: dict[str, Any]) -> str:
    """One digest of what the verdict decided: its `passed` and `checks`."""
    decided = json.dumps({"passed": verdict["passed"], "checks": verdict["checks"]}, sort_keys=True,
                         separators=(",", ":"), default=str)
    return hashlib.sha256(decided.encode()).hexdigest()


def _same_as_latest(target_registry: Registry, name: str, base: dict[str, Any]) -> dict[str, Any] | None:
    """The promote result for the latest complete entry of `name` if it holds the same model files
    and verdict, else None."""
    versions = target_registry.versions(name)
    meta = target_registry.metadata(name, versions[-1]) if versions else None
    if not meta or any(meta.get(k) != base[k] for k in ("content_sha256", "verdict_sha256")):
        return None
    log.info("%s %s already holds this model and verdict; not publishing a copy", name, versions[-1])
    return {"uri": target_registry.entry_uri(name, versions[-1]), "version": versions[-1], "name": name,
            "files": sorted([*meta.get("sha256", {}), METADATA_FILE]), "reused": True,
            "duplicate_of": versions[-1]}


def _bundle_files(bundle: Path) -> Iterator[tuple[str, Path]]:
    """(relative path, path) of every file in the bundle, sorted; EdgeoptError for a symbolic link
    (never followed) or anything but regular files and folders."""
    for base, dirs, files in os.walk(bundle):
        dirs.sort()
        for entry in sorted(Path(base) / n for n in dirs + files):
            mode = entry.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise EdgeoptError(f"refusing to promote: {entry} is a symbolic link (links are never followed)",
                                   "replace the link in the bundle by a copy of the file it points to")
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise EdgeoptError(f"refusing to promote: {entry} is not a regular file or folder",
                                   "remove it from the bundle")
        yield from sorted((Path(base, n).relative_to(bundle).as_posix(), Path(base, n)) for n in files)


def _read_verdict(path: str | Path) -> tuple[dict[str, Any], Path, bytes]:
    """(verdict, its file, its bytes as read: what is published is what was checked)."""
    path = Path(path)
    file = path / VERDICT_FILE if path.is_dir() else path
    if not file.is_file():
        raise EdgeoptError(f"verdict {file} does not exist", "pass the verdict.json written by `edgeopt validate`")
    try:
        data = file.read_bytes()
        verdict = json.loads(data)
    except (OSError, ValueError) as exc:
        raise EdgeoptError(f"verdict {file} is not readable JSON: {exc}", "re-run `edgeopt validate`") from exc
    if not (isinstance(verdict, dict) and isinstance(verdict.get("passed"), bool)
            and isinstance(verdict.get("target"), str) and isinstance(verdict.get("checks"), list)):
        raise EdgeoptError(f"{file} is not a verdict (it needs `passed`, `target` and `checks`)",
                           "pass the verdict.json written by `edgeopt validate`")
    return verdict, file, data


def _report(verdict_file: Path, report_path: str | Path | None, verdict: dict[str, Any]) -> bytes:
    if report_path is not None:
        if not Path(report_path).is_file():
            raise EdgeoptError(f"report {report_path} does not exist",
                               "pass the report.md written by `edgeopt validate`, or leave it out")
        return Path(report_path).read_bytes()
    beside = verdict_file.with_name(REPORT_FILE)
    return beside.read_bytes() if beside.is_file() else render_markdown(verdict).encode()


def _sha256(src: Path | bytes) -> str:
    if isinstance(src, bytes):
        return hashlib.sha256(src).hexdigest()
    digest = hashlib.sha256()
    with storage.open_regular(src) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
