"""The `edgeopt` command line: the whole pipeline (`demo`, `run`) and every stage alone."""

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from edgeopt import __version__
from edgeopt.common.errors import EdgeoptError, first_line
from edgeopt.common.fsutil import MANIFEST, WRITE_ERRNOS, check_writable_dir
from edgeopt.common.modelfile import trusting
from edgeopt.common.quiet import filtered_stderr
from edgeopt.common.spec import TRUST_MODEL_HELP
from edgeopt.stages import STAGES

# sub-command -> (module with add_arguments(parser) and run(args) -> dict, help); the stage commands
# come from the stage table
COMMANDS = {
    "demo": ("edgeopt.local.commands", "run the whole pipeline on the built-in digits example"),
    "run": ("edgeopt.local.commands", "run the whole pipeline on your model, dataset and targets"),
    "sweep": ("edgeopt.local.sweep", "try compression recipes (a grid sized from the budget, or yours), keep the "
                                     "Pareto front, promote the best candidate that passes"),
    **{s.command: (f"edgeopt.{s.package}.cli", s.help) for s in STAGES},
    "registry": ("edgeopt.promote.registry_cli", "list, show and clean up registry entries"),
    "targets": ("edgeopt.validate_targets.targets_cli", "print the targets file's JSON Schema, or check a targets file"),
    "images": ("edgeopt.containers.cli", "build (and push) the container images of the stages"),
    "compile": ("edgeopt.cluster.compile", "compile the pipeline to YAML naming your image registry"),
    "submit": ("edgeopt.cluster.submit", "submit a compiled pipeline to Kubeflow Pipelines"),
}
BUNDLE_MARKERS = (MANIFEST, "model.json", "metrics.json", "summary.json", "verdict.json", "report.json",
                  "pareto.json")
# commands that load a user's model, and so take --trust-model
MODEL_COMMANDS = ("run", "sweep", *(s.command for s in STAGES if s.loads_models))


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
        if name in MODEL_COMMANDS:
            sp.add_argument("--trust-model", action="store_true", help=TRUST_MODEL_HELP)
        sp.add_argument("--debug", action="store_true", help="show the full traceback of an unexpected error")
    return parser


def check_output_dir(path: str | None) -> None:
    """Refuse an --output directory that holds files edgeopt did not write (they would be replaced)."""
    if not path:
        return
    out = Path(path)
    check_writable_dir(out, "--output")
    if out.is_dir() and any(out.iterdir()) and not any((out / m).exists() for m in BUNDLE_MARKERS):
        raise EdgeoptError(f"--output {out} is not empty and was not written by edgeopt",
                           "pass a new or empty directory, so that no file of yours is replaced")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `edgeopt` console script; returns the process exit code.

    0: done (a rejected model included); 2: bad input or environment, one message and a hint on
    stderr; 1: an unexpected error, one line on stderr and the traceback in a log file (on
    stderr with --debug); 130: interrupted.
    """
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    with filtered_stderr():
        return _dispatch(args)


def _dispatch(args: argparse.Namespace) -> int:
    try:
        check_output_dir(getattr(args, "output", None))
        with trusting(getattr(args, "trust_model", False)):
            result: Any = args.handler(args)
    except EdgeoptError as exc:
        return _report(args.command, exc.message, exc.hint, exc.exit_code)
    except OSError as exc:
        if exc.errno not in WRITE_ERRNOS:
            return _unexpected(args, exc)
        where = f" {exc.filename}" if exc.filename else ""
        return _report(args.command, f"cannot write{where}: {exc.strerror or exc}",
                       "free some space or pass a writable --output; nothing half-written was kept", 2)
    except KeyboardInterrupt:
        print("edgeopt: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # anything else is a bug: one line here, the traceback in a file
        return _unexpected(args, exc)
    if isinstance(result, dict) and not getattr(args, "quiet_result", False):
        print(json.dumps(result, indent=2, sort_keys=True, default=str))
    return 0


def _report(command: str, message: str, hint: str, code: int) -> int:
    print(f"edgeopt {command}: error: {message}", file=sys.stderr)
    if hint:
        print(f"hint: {hint}", file=sys.stderr)
    return code


def _unexpected(args: argparse.Namespace, exc: BaseException) -> int:
    text = "".join(traceback.format_exception(exc))
    if getattr(args, "debug", False):
        print(text, file=sys.stderr, end="")
        return _report(args.command, f"unexpected {type(exc).__name__}: {first_line(exc)}", "", 1)
    log = Path(tempfile.gettempdir()) / f"edgeopt-{args.command}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    log.write_text(text)
    return _report(args.command, f"unexpected {type(exc).__name__}: {first_line(exc)}",
                   f"the full traceback is in {log} (or rerun with --debug); please report it", 1)


if __name__ == "__main__":
    sys.exit(main())
