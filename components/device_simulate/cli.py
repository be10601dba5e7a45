"""`edgeopt simulate`: predict latency, RAM, flash and fit of an int8 TFLite model on a target."""

import argparse
import json
import os
from pathlib import Path
from typing import Any

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
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        _write_atomic(out / "report.json", json.dumps(report, indent=2))
        _write_atomic(out / "report.md", render_markdown(report))
    if args.json:
        return report
    return {k: v for k, v in report.items() if k != "layers"}


def _write_atomic(path: Path, text: str) -> None:
    scratch = path.with_name(f".{path.name}.{os.getpid()}")
    scratch.write_text(text)
    os.replace(scratch, path)
