"""`edgeopt demo` and `edgeopt run`: the whole pipeline on this machine."""

import argparse
import sys
from pathlib import Path
from typing import Any

from edgeopt.common.errors import EdgeoptError
from edgeopt.stages import option_specs

DEMO_TARGETS = """\
# Built-in demo targets: Cortex-M4F at 80 MHz, latency < 50 ms, flash + RAM < 300 KB,
# accuracy drop at most 2 points against the baseline.
target: cortex-m4f@80mhz
latency_ms: 50
total_kb: 300
accuracy_drop: 0.02
"""


def _common(parser: argparse.ArgumentParser, default_output: str) -> None:
    parser.add_argument("--output", default=default_output, help=f"results folder (default {default_output})")
    parser.add_argument("--registry", help="registry folder or s3://bucket/prefix (default OUTPUT/registry)")
    parser.add_argument("--name", help="model name in the registry")
    parser.add_argument("--allow-duplicate", action="store_true",
                        help="publish a new version even when the same model and verdict are the latest one")
    parser.add_argument("--distill", action=argparse.BooleanOptionalAction, default=None,
                        help="distill into a half-width student first")
    parser.add_argument("--prune", action=argparse.BooleanOptionalAction, default=True,
                        help="magnitude-prune and fine-tune (default on)")
    parser.add_argument("--sparsity", type=float, default=0.5, help="pruning target sparsity (default 0.5)")
    parser.add_argument("--distill-epochs", type=int, default=10, help="distillation epochs (10; the demo uses 20)")
    parser.add_argument("--prune-epochs", type=int, default=2, help="pruning fine-tuning epochs (2; the demo uses 4)")
    parser.add_argument("--method", default="int8", help="quantization method (quantize_method): int8, int16x8, "
                        "dynamic, float16, mixed (with --quantize-float-layers or --quantize-accuracy-budget), qat; "
                        "static, int4 with --quantize-backend onnxruntime")
    add_stage_options(parser)
    parser.add_argument("--runner", default="subprocess", choices=["subprocess", "docker"],
                        help="kfp.local runner: subprocess (default; this environment) or docker (each "
                             "stage in its own image, on Docker or podman at DOCKER_HOST; "
                             "`edgeopt images build` first)")
    parser.add_argument("--verbose", action="store_true", help="echo the full kfp.local log")


# pipeline parameters that keep the flags they had before every option became one
SHORT_FLAGS = {"distill_enabled": "distill", "prune_enabled": "prune", "target_sparsity": "sparsity",
               "distill_epochs": "distill_epochs", "prune_epochs": "prune_epochs", "quantize_method": "method",
               "trust_model": "trust_model"}


def add_stage_options(parser: argparse.ArgumentParser) -> None:
    """One `--<pipeline parameter>` flag for every stage option the pipeline takes, from the declarations
    (defaults stay the declaration's: a flag not given is not passed)."""
    from edgeopt.common.spec import UNSET

    seen = set(SHORT_FLAGS)
    for spec in option_specs():
        for name, pipeline in spec.pipeline_names().items():
            if pipeline in seen:
                continue
            seen.add(pipeline)
            p = spec.param(name)
            flag = "--" + pipeline.replace("_", "-")
            text = f"{spec.name}: {p.description}".replace("%", "%%")
            if p.type is bool:
                parser.add_argument(flag, dest=pipeline, action=argparse.BooleanOptionalAction, default=None,
                                    help=text)
            else:
                parser.add_argument(flag, dest=pipeline, default=UNSET, type=str if p.type is list else p.type,
                                    metavar=p.metavar or "VALUE", help=text)


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    _common(parser, "edgeopt-demo")
    parser.add_argument("--epochs", type=int, default=15, help="training epochs of the demo baseline")
    parser.set_defaults(distill_epochs=20, prune_epochs=4)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="Keras (.h5/.keras) file or SavedModel directory")
    parser.add_argument("--data", required=True, help=".npz with x_train, x_test (and y_train, y_test)")
    parser.add_argument("--targets", required=True, help="targets YAML file")
    _common(parser, "edgeopt-out")


def run_demo(args: argparse.Namespace) -> None:
    """Train the digits baseline, then run the pipeline on it with the demo targets."""
    from edgeopt.demo.digits import digits_dataset, train_digits_cnn
    from edgeopt.common.datasets import save_dataset

    out = Path(args.output)
    inputs = out / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    _progress(f"training the demo baseline on scikit-learn digits ({args.epochs} epochs)")
    data = digits_dataset()
    save_dataset(inputs / "digits.npz", data)
    train_digits_cnn(data, epochs=args.epochs).save(inputs / "digits_cnn.keras")
    (inputs / "targets.yaml").write_text(DEMO_TARGETS)
    args.name = args.name or "digits-cnn"
    args.distill = True if args.distill is None else args.distill
    _run(inputs / "digits_cnn.keras", inputs / "digits.npz", inputs / "targets.yaml", args)


def run_run(args: argparse.Namespace) -> None:
    """Check the user's inputs and every option up front, then run the pipeline on them."""
    from edgeopt.local.preflight import preflight

    args.name = args.name or Path(args.model).stem
    args.distill = bool(args.distill)
    preflight(Path(args.model), Path(args.data), Path(args.targets), pipeline_params(args))
    _run(Path(args.model), Path(args.data), Path(args.targets), args)


def pipeline_params(args: argparse.Namespace) -> dict[str, Any]:
    """The edge-optimize pipeline parameters the command-line options stand for (stage options not
    given on the command line are left out: the pipeline's defaults are the declarations')."""
    from edgeopt.common.spec import UNSET

    out = Path(args.output)
    given = {}
    for spec in option_specs():
        for name, pipeline in spec.pipeline_names().items():
            value = getattr(args, pipeline, UNSET)
            if pipeline not in SHORT_FLAGS and value not in (UNSET, None):  # checked by the preflight, as the stage would
                given[pipeline] = value.split(",") if spec.param(name).type is list else value
    return {**given,
        "model_name": args.name,
        "registry": args.registry or str((out / "registry").resolve()),
        "distill_enabled": args.distill,
        "distill_epochs": args.distill_epochs,
        "prune_enabled": args.prune,
        "prune_epochs": args.prune_epochs,
        "target_sparsity": args.sparsity,
        "quantize_method": args.method,
        "trust_model": bool(getattr(args, "trust_model", False)),
        "allow_duplicate": args.allow_duplicate,
    }


def _run(model: Path, data: Path, targets: Path, args: argparse.Namespace) -> None:
    from edgeopt.local.run import run_pipeline
    from edgeopt.local.summary import render_summary

    out = Path(args.output)
    if not 0 <= args.sparsity < 1:
        raise EdgeoptError(f"--sparsity {args.sparsity} is outside [0, 1)", "pass a fraction such as 0.5")
    params = pipeline_params(args)
    _progress(f"running the edge-optimize pipeline (artifacts under {out / 'pipeline-root'})")
    summary = run_pipeline(model, data, targets.read_text(), out, params, runner=args.runner,
                           verbose=args.verbose)
    print()
    print(render_summary(summary))
    print(f"\nsummary: {out / 'summary.json'}")
    if summary.get("report_html"):
        print(f"report: {summary['report_html']}")


def _progress(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)
