"""`edgeopt validate`: check metrics and simulations against a targets file and write the verdict."""

import argparse
from typing import Any

from edgeopt.validate_targets import core


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--targets", required=True, help="targets YAML file")
    parser.add_argument("--baseline", help="the input model's metrics JSON (from ingest) or its folder; "
                                           "needed unless the targets say `baseline: registry`")
    parser.add_argument("--registry-baseline", metavar="FILE",
                        help="with `baseline: registry`: the JSON `edgeopt registry baseline` wrote")
    parser.add_argument("--candidate", required=True, help="candidate metrics JSON (from quantize) or its folder")
    parser.add_argument("--simulation", required=True,
                        help="the folder `edgeopt simulate --output DIR` wrote (one target with --target, every "
                             "entry with --targets), a report JSON, or the device-simulate metrics JSON")
    parser.add_argument("--output", required=True,
                        help="directory that receives verdict.json, report.md and BLESSED or NOT_BLESSED")
    parser.add_argument("--fail-on-reject", action="store_true",
                        help="exit with code 1 when the model does not meet the targets")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Write the verdict to --output and return it."""
    verdict = core.run(args.targets, args.baseline, args.candidate, args.simulation, args.output,
                       registry_baseline_path=args.registry_baseline)
    if args.fail_on_reject and not verdict["passed"]:
        raise core.rejection(verdict)
    return verdict
