"""`edgeopt targets`: the targets file's JSON Schema, and a check of a targets file.

    edgeopt targets schema         print the JSON Schema
    edgeopt targets check FILE     check FILE as the gate does; print its devices and goals as JSON
"""

import argparse
from dataclasses import asdict
from typing import Any

from edgeopt.common.targets import load_targets
from edgeopt.validate_targets.schema import targets_schema


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("schema", help="print the targets file's JSON Schema", description="print the JSON Schema")
    check = actions.add_parser("check", help="check a targets file and print its devices and goals",
                               description="check a targets file as the gate does (exit 2 with the line on error)")
    check.add_argument("file", help="targets YAML file")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The schema, or the checked file's devices and goals, for the CLI to print as JSON."""
    if args.action == "schema":
        return targets_schema()
    targets = load_targets(args.file)
    return {"source": targets.source, "baseline": targets.baseline, "require": targets.require,
            "targets": [asdict(e) for e in targets.entries], "quality": [asdict(g) for g in targets.quality]}
