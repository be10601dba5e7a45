"""`edgeopt simulate`: predict latency, RAM, flash and fit of an int8 TFLite model on a target."""

import argparse
import json
from pathlib import Path
from typing import Any

from edgeopt.common.errors import EdgeoptError
from edgeopt.common.fsutil import atomic_dir
from edgeopt.common.simulations import simulate_all
from edgeopt.common.spec import UNSET
from edgeopt.device_simulate.calibration import calibrated_on
from edgeopt.device_simulate.core import render_markdown, simulate
from edgeopt.device_simulate.runtimes import families, registry
from edgeopt.device_simulate.spec import SPEC
from edgeopt.device_simulate.summary import summary_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of `edgeopt simulate`."""
    parser.add_argument("--model", help=".tflite file or tflite model bundle directory")
    SPEC.add_cli_arguments(parser)
    parser.add_argument("--targets", metavar="FILE",
                        help="targets file: simulate every entry with its runtime; needs --output, which receives "
                             "one folder per entry (report.json, report.md) and index.json")
    parser.add_argument("--list-runtimes", action="store_true",
                        help="list the runtime profiles with what each was calibrated on, and exit")
    parser.add_argument("--json", action="store_true",
                        help="print the full report as JSON (layers included) instead of the short summary")
    parser.add_argument("--output", help="directory that receives report.json and report.md")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Simulate; write report.json and report.md to --output if given; return the report.

    Without --json a short summary is printed instead of the JSON (the returned dict then leaves out
    the per-layer breakdown). With
    --list-runtimes, the runtime profiles instead. An NPU target's Vela-compiled model is written to
    --output as model_vela.tflite.
    """
    if args.list_runtimes:
        return list_runtimes()
    if not args.model:
        raise EdgeoptError("simulate needs --model", "e.g. --model q/model.tflite --target NUCLEO-L4R5ZI")
    o = SPEC.values_from_cli(args)
    if args.targets:
        if not args.output or args.target is not UNSET:
            raise EdgeoptError("--targets simulates the devices the file names into --output",
                               "pass --output DIR, and no --target")
        args.quiet_result = False
        return simulate_all(args.model, Path(args.targets), args.output, simulate, render_markdown)
    if args.output:
        with atomic_dir(Path(args.output)) as out:
            report = simulate(args.model, o["target"], o["runtime"], artifacts_dir=out)
            (out / "report.json").write_text(json.dumps(report, indent=2))
            (out / "report.md").write_text(render_markdown(report))
    else:
        report = simulate(args.model, o["target"], o["runtime"])
    if args.json:
        return report
    args.quiet_result = True
    print(summary_text(report))
    return {k: v for k, v in report.items() if k != "layers"}


def list_runtimes() -> dict[str, Any]:
    """Every runtime profile: family, version, what it was calibrated on, its effects; and the
    family names that stand for their newest version."""
    out = {}
    for name, rt in registry().items():
        on = calibrated_on(rt)
        out[name] = {"family": rt.family, "version": rt.version,
                     "calibrated_on": (f"{', '.join(on['boards'])} ({on['rows']} MLPerf Tiny rows)" if "boards" in on
                                       else f"derived from {', '.join(on['derived_from'])}"),
                     "effects": vars(rt.effects).copy(), "description": rt.description}
    return {"runtimes": out, "families": families()}
