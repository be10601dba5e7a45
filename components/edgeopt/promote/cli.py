"""`edgeopt promote`: publish a model bundle that passed the gate to a model registry.

With --output, the folder is checked and its metrics.json prepared before anything is published,
so that a local problem (a file in the way, no permission, no space) never fails the command
after the entry went out; a retry of a promotion that did publish returns the same entry.
"""

import argparse
import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgeopt.common import storage
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.metrics import METRICS_FILE, write_metrics
from edgeopt.promote.core import promote


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model bundle folder (e.g. the quantize output)")
    parser.add_argument("--verdict", required=True, help="verdict.json from `edgeopt validate`, or its folder")
    parser.add_argument("--report", help="report.md (default: the one beside the verdict)")
    parser.add_argument("--registry", default="./registry",
                        help="registry folder, s3://bucket/prefix or an MLflow tracking server as "
                             "mlflow+http://HOST:PORT (default ./registry); credentials and the S3 endpoint come "
                             "from the environment (AWS_*, EDGEOPT_S3_ENDPOINT_URL; MLFLOW_TRACKING_USERNAME/"
                             "PASSWORD or MLFLOW_TRACKING_TOKEN)")
    parser.add_argument("--name", required=True, help="model name in the registry, e.g. digits-cnn")
    parser.add_argument("--force", action="store_true", help="promote even though the verdict failed")
    parser.add_argument("--c-array", metavar="BUNDLE",
                        help="convert's c_array bundle (model_data.cc/.h), published in the entry's c_array/")
    parser.add_argument("--allow-duplicate", action="store_true",
                        help="publish a new version even when the latest one holds the same model and verdict")
    parser.add_argument("--output", help="directory that receives metrics.json describing the entry")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Publish the entry (or find it already published), write --output/metrics.json when asked,
    and return {uri, version, name, files, reused[, duplicate_of]}."""
    with _prepared_output(Path(args.output) if args.output else None) as pending:
        result = promote(args.model, args.verdict, args.registry, args.name, report_path=args.report,
                         force=args.force, allow_duplicate=args.allow_duplicate,
                         deliverables={"c_array": args.c_array} if args.c_array else None)
        if pending is not None:
            write_metrics(pending, result)
            os.replace(pending, pending.parent / METRICS_FILE)
    return result


@contextlib.contextmanager
def _prepared_output(out: Path | None) -> Iterator[Path | None]:
    """Yield a placeholder metrics file written into `out` before the block runs (None without `out`).

    EdgeoptError, before the block, if `out` cannot hold the result: a file at or on its path, no
    permission, no space. If the block fails, the placeholder goes, and `out` if this created it.
    """
    if out is None:
        yield None
        return
    blocker = storage.file_on_path(out)
    if blocker is not None:
        raise EdgeoptError(f"--output {out} cannot be used: {blocker} is a file; nothing was published",
                           "pass a folder path")
    created = not out.exists()
    pending = out / f".{METRICS_FILE}.{uuid.uuid4().hex[:12]}.pending"
    try:
        try:
            out.mkdir(parents=True, exist_ok=True)
            pending.write_text("{}\n")
        except OSError as exc:
            raise EdgeoptError(f"--output {out} is not writable ({exc.strerror or exc}); nothing was published",
                               "pass a folder you can write to, with free space") from exc
        yield pending
    except BaseException:
        with contextlib.suppress(OSError):
            pending.unlink(missing_ok=True)
            if created:
                out.rmdir()
        raise
