"""`edgeopt simulate`: predict latency, RAM, flash and fit of an int8 TFLite model on a target."""

import argparse
import json
from pathlib import Path
from typing import Any

from edgeopt.common.fsutil import atomic_dir
from edgeopt.device_simulate.core import render_markdown, simulate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of `edgeopt simulate`."""
    parser.add_argument("--model", required=True, help=".tflite file or tflite model bundle directory")
    parser.add_argument("--target", required=True, help="board name, or CORE@CLOCK such as cortex-m4f@80mhz")
    parser.add_argument("--runtime", default="tflm-cmsis-nn",
                        help="runtime profile: tflm-cmsis-nn (default), tflm-v2.3.1-cmsis-nn, tflm-reference")
    parser.add_argument("--json", action="store_true", help="return the full report (layers included)")
    parser.add_argument("--output", help="directory that receives report.json and report.md")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Simulate; write report.json and report.md to --output if given; return the report.

    Without --json the per-layer breakdown is left out of the returned summary.
    """
    report = simulate(args.model, args.target, args.runtime)
    if args.output:
        with atomic_dir(Path(args.output)) as out:
            (out / "report.json").write_text(json.dumps(report, indent=2))
            (out / "report.md").write_text(render_markdown(report))
    if args.json:
        return report
    return {k: v for k, v in report.items() if k != "layers"}
