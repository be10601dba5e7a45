"""The `edgeopt` command line: the whole pipeline (`demo`, `run`) and every stage alone."""

import argparse
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from edgeopt import __version__
from edgeopt.common.errors import EdgeoptError

# sub-command -> module with add_arguments(parser) and run(args) -> dict
COMMANDS = {
    "demo": ("edgeopt.pipeline_cli", "run the whole pipeline on the built-in digits example"),
    "run": ("edgeopt.pipeline_cli", "run the whole pipeline on your model, dataset and targets"),
    "ingest": ("edgeopt.ingest.cli", "check a model and dataset and measure the baseline"),
    "distill": ("edgeopt.distill.cli", "distill a teacher into a smaller student"),
    "prune": ("edgeopt.prune.cli", "magnitude-prune and fine-tune a Keras model"),
    "quantize": ("edgeopt.quantize.cli", "quantize: TFLite int8, int16x8, dynamic, float16, mixed, QAT; ONNX Runtime QDQ, dynamic, int4, float16"),
    "convert": ("edgeopt.convert.cli", "convert to TFLite, ONNX and a C array, with parity checks"),
    "simulate": ("edgeopt.device_simulate.cli", "predict latency, RAM and flash on a device"),
    "validate": ("edgeopt.validate_targets.cli", "check metrics against a targets file"),
    "promote": ("edgeopt.promote.cli", "push a passing model to the registry"),
    "images": ("edgeopt.images_cli", "build (and push) the container images of the stages"),
    "compile": ("edgeopt.compile_cli", "compile the pipeline to YAML naming your image registry"),
    "submit": ("edgeopt.submit", "submit a compiled pipeline to Kubeflow Pipelines"),
}
BUNDLE_MARKERS = ("model.json", "metrics.json", "summary.json", "verdict.json", "report.json")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; only `command`'s module is imported, so that each stage image needs
    only its own dependencies (with no command, none is imported)."""
    parser = argparse.ArgumentParser(prog="edgeopt", description=__doc__)
    parser.add_argument("--version", action="version", version=f"edgeopt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if command == name:
            mod = importlib.import_module(module)
            add = getattr(mod, f"add_{name}_arguments", None) or mod.add_arguments
            add(sp)
            sp.set_defaults(handler=getattr(mod, f"run_{name}", None) or mod.run)
    return parser


def check_output_dir(path: str | None) -> None:
    """Refuse an --output directory that holds files edgeopt did not write (they would be replaced)."""
    if not path:
        return
    out = Path(path)
    if out.is_file():
        raise EdgeoptError(f"--output {out} is a file", "pass a directory path")
    if out.is_dir() and any(out.iterdir()) and not any((out / m).exists() for m in BUNDLE_MARKERS):
        raise EdgeoptError(f"--output {out} is not empty and was not written by edgeopt",
                           "pass a new or empty directory, so that no file of yours is replaced")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `edgeopt` console script; returns the process exit code."""
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    try:
        check_output_dir(getattr(args, "output", None))
        result: Any = args.handler(args)
    except EdgeoptError as exc:
        print(f"edgeopt {args.command}: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("edgeopt: interrupted", file=sys.stderr)
        return 130
    if isinstance(result, dict) and not getattr(args, "quiet_result", False):
        print(json.dumps(result, indent=2, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
