"""`edgeopt promote`: publish a model bundle that passed the gate to a model registry."""

import argparse
from pathlib import Path
from typing import Any

from edgeopt.common.metrics import write_metrics
from edgeopt.promote.core import promote


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model bundle folder (e.g. the quantize output)")
    parser.add_argument("--verdict", required=True, help="verdict.json from `edgeopt validate`, or its folder")
    parser.add_argument("--report", help="report.md (default: the one beside the verdict)")
    parser.add_argument("--registry", default="./registry",
                        help="registry folder or s3://bucket/prefix (default ./registry); S3 credentials and "
                             "endpoint come from the environment (AWS_*, EDGEOPT_S3_ENDPOINT_URL)")
    parser.add_argument("--name", required=True, help="model name in the registry, e.g. digits-cnn")
    parser.add_argument("--force", action="store_true", help="promote even though the verdict failed")
    parser.add_argument("--output", help="directory that receives metrics.json describing the new entry")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Publish the entry, write --output/metrics.json when asked, and return {uri, version, name, files}."""
    result = promote(args.model, args.verdict, args.registry, args.name, report_path=args.report, force=args.force)
    if args.output:
        write_metrics(Path(args.output) / "metrics.json", result)
    return result
