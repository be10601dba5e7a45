"""`edgeopt sweep`: the edge-sweep pipeline on this machine, on the built-in demo or the user's model.

Writes to `--output` (default edgeopt-sweep): `pareto.json` (every candidate with its recipe,
metrics, per-target verdict and `on_front`), `report.html` and `report.md`, `recipes.json` (the
planned recipes), `chosen/` (the chosen candidate's simulation reports and quantize metrics, which
`edgeopt report DIR` reads), `summary.json`, `pipeline.log`, the registry entry of the chosen model
(under `--registry`, default OUTPUT/registry) and kfp.local's `pipeline-root/`.
"""

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from edgeopt.common.errors import EdgeoptError

DEMO_TARGETS = """\
# Built-in sweep demo: the digits CNN at full width needs about 140 ms on a Cortex-M0+ at 48 MHz,
# far over its budget; the sweep has to find a recipe that fits both boards and keeps accuracy.
targets:
  - target: cortex-m0plus@48mhz
    latency_ms: 30
    total_kb: 96
  - target: cortex-m4f@80mhz
    latency_ms: 4
quality:
  accuracy: {max_drop: 0.03}
"""
# the demo's training settings for every candidate (the stage defaults suit larger datasets)
DEMO_DEFAULTS = {"distill": {"epochs": 20}, "prune": {"epochs": 4}}
DEFAULT_CANDIDATES = 8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--demo", action="store_true",
                        help="sweep the built-in digits CNN on a Cortex-M0+ and a Cortex-M4F budget")
    parser.add_argument("--model", help="Keras (.h5/.keras) file or SavedModel directory")
    parser.add_argument("--data", help=".npz with x_train, x_test (and y_train, y_test)")
    parser.add_argument("--targets", help="targets YAML file (several targets and quality goals allowed)")
    parser.add_argument("--recipes", metavar="FILE",
                        help="YAML/JSON list of recipes ({name, distill, prune, quantize}), or {recipes, defaults}; "
                             "default: a grid sized from the budget")
    parser.add_argument("--candidates", type=int, default=DEFAULT_CANDIDATES,
                        help=f"recipes in the generated grid (default {DEFAULT_CANDIDATES})")
    parser.add_argument("--plan-only", action="store_true",
                        help="print the recipes, defaults included, as JSON (the edge-sweep pipeline's `recipes` "
                             "parameter) and stop")
    parser.add_argument("--output", default="edgeopt-sweep", help="results folder (default edgeopt-sweep)")
    parser.add_argument("--registry", help="registry folder or s3://bucket/prefix (default OUTPUT/registry)")
    parser.add_argument("--name", help="model name in the registry (default the model file's name; demo: digits-cnn)")
    parser.add_argument("--allow-duplicate", action="store_true",
                        help="publish a new version even when the same model and verdict are the latest one")
    parser.add_argument("--epochs", type=int, default=15, help="training epochs of the demo baseline")
    parser.add_argument("--runner", default="subprocess", choices=["subprocess", "docker"],
                        help="kfp.local runner: subprocess (default) or docker (each stage in its image)")
    parser.add_argument("--verbose", action="store_true", help="echo the full kfp.local log")


def run(args: argparse.Namespace) -> dict[str, Any] | None:
    """Check everything, plan the recipes, run edge-sweep through kfp.local and gather its files."""
    from edgeopt.common.targets import load_targets
    from edgeopt.local.preflight import check_registry_target
    from edgeopt.sweep.recipes import load_recipes, plan, with_defaults

    if args.candidates < 1:
        raise EdgeoptError(f"--candidates {args.candidates} is below 1", "pass the number of recipes the grid should hold")
    recipes, defaults = load_recipes(args.recipes) if args.recipes else (None, DEMO_DEFAULTS if args.demo else {})
    if recipes is not None:
        plan(recipes, defaults)  # bad recipes fail here, before any work
    model, data, targets = _inputs(args)
    out = Path(args.output)
    spec = load_targets(targets)
    name = args.name or ("digits-cnn" if args.demo else Path(model).stem)
    registry = args.registry or str((out / "registry").resolve())
    if not args.plan_only:
        check_registry_target(registry, name)
    if recipes is None:
        recipes = generated_grid(model, data, spec, args.candidates)
    planned = plan(recipes, defaults)
    if args.plan_only:  # the defaults written into the recipes: the list alone is the pipeline's `recipes`
        print(json.dumps(with_defaults(recipes, defaults), indent=2))
        return None
    out.mkdir(parents=True, exist_ok=True)
    (out / "recipes.json").write_text(json.dumps({"recipes": recipes, "defaults": defaults}, indent=2) + "\n")
    _progress(f"sweeping {len(planned)} recipes: " + "; ".join(f"{p['candidate']} {p['label']}" for p in planned))
    summary = sweep(model, data, Path(targets).read_text(), out, recipes, defaults,
                    {"model_name": name, "registry": registry, "allow_duplicate": args.allow_duplicate,
                     "trust_model": bool(getattr(args, "trust_model", False))}, args.runner, args.verbose)
    print(render_summary(summary, json.loads((out / "pareto.json").read_text())))
    return None


def sweep(model: Path, data: Path, targets_text: str, out: Path, recipes: list[Any], defaults: dict[str, Any],
          params: dict[str, Any], runner: str = "subprocess", verbose: bool = False) -> dict[str, Any]:
    """Run edge-sweep locally and copy its results into `out`; return the summary (also summary.json)."""
    from edgeopt.local.run import find_output, run_local
    from edgeopt.pipelines.edge_sweep import pipeline

    _progress(f"running the edge-sweep pipeline (artifacts under {out / 'pipeline-root'})")
    run_dir = run_local(pipeline, {"model_uri": str(Path(model).resolve()), "data_uri": str(Path(data).resolve()),
                                   "targets": targets_text, "recipes": recipes, "recipe_defaults": defaults,
                                   **params}, out, runner, verbose)
    front = find_output(run_dir, "pareto", "front")
    doc = json.loads(front.read_text())
    (out / "pareto.json").write_text(front.read_text())
    shutil.copyfile(find_output(run_dir, "pareto", "report_html"), out / "report.html")
    shutil.copyfile(find_output(run_dir, "pareto", "report_md"), out / "report.md")
    _keep_chosen(run_dir, doc, out / "chosen")
    entry = find_output(run_dir, "promote", "entry")
    summary = {"run_dir": str(run_dir), "pareto": str(out / "pareto.json"), "report": str(out / "report.html"),
               "chosen": doc["chosen"], "front": doc["front"], "why": doc["why"],
               "candidates": len(doc["candidates"]), "passing": sum(c["verdict"]["passed"] for c in doc["candidates"]),
               "promoted": json.loads(entry.read_text()).get("uri") if entry else None}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary


def generated_grid(model: Path, data: Path, spec, count: int) -> list[dict[str, Any]]:
    """The grid for the budget: the baseline quantized to int8 and simulated on every target first."""
    import tempfile

    from edgeopt.common.float_source import bundle_from_path
    from edgeopt.device_simulate.core import simulate
    from edgeopt.quantize.core import quantize
    from edgeopt.sweep.core import figures
    from edgeopt.sweep.grid import budgets_of, grid, shrink_needed

    _progress("sizing the grid: the baseline in int8 on every target")
    with tempfile.TemporaryDirectory(prefix="edgeopt-grid-") as tmp:
        bundle = bundle_from_path(model, Path(tmp) / "baseline")
        quantize(bundle, data, Path(tmp) / "int8", method="int8", latency_runs=0)
        predicted = {entry.target: figures(simulate(Path(tmp) / "int8", entry.target, entry.runtime))
                     for entry in spec.entries}
    shrink = shrink_needed(predicted, budgets_of(spec.entries))
    figures = "; ".join(f"{t}: {p['latency_ms']:.1f} ms, {p['total_bytes'] / 1024:.0f} KB" for t, p in predicted.items())
    _progress(f"baseline int8 {figures}: it must shrink {shrink:.1f}x; {count} recipes around that")
    return grid(shrink, count)


def render_summary(summary: dict[str, Any], doc: dict[str, Any]) -> str:
    """What the sweep found: a line per candidate, then the choice and where everything went."""
    key = doc["quality_metric"]
    header = ["id", "recipe", key] + [f"{t['target']} ms" for t in doc["targets"]] + ["flash+RAM KB", "verdict", "front"]
    rows = [header]
    for c in doc["candidates"]:
        figures = [c["simulation"].get(t["target"]) or {} for t in doc["targets"]]
        kb = max((f.get("total_bytes") or 0) for f in figures) / 1024
        rows.append([c["id"] + (" *" if c["chosen"] else ""), c["label"],
                     "-" if c["quality"] is None else f"{c['quality']:.4g}",
                     *["-" if f.get("latency_ms") is None else f"{f['latency_ms']:.2f}" for f in figures],
                     f"{kb:.1f}", "pass" if c["verdict"]["passed"] else "FAIL", "yes" if c["on_front"] else ""])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [""] + ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines += ["", f"{summary['passing']} of {summary['candidates']} candidates pass every target; "
                  f"Pareto front: {', '.join(summary['front']) or 'empty'}", summary["why"]]
    lines.append(f"promoted to: {summary['promoted']}" if summary["promoted"] else "not promoted: no candidate passed")
    lines += [f"report: {summary['report']}", f"pareto: {summary['pareto']}"]
    return "\n".join(lines)


def _inputs(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    """(model, data, targets): the demo's (trained now) or the user's, checked."""
    from edgeopt.ingest.core import check_inputs

    given = [flag for flag in ("model", "data", "targets") if getattr(args, flag)]
    if args.demo:
        if given:
            raise EdgeoptError(f"--demo brings its own model, data and targets; --{given[0]} is not used with it",
                               "drop --demo to sweep your model, or drop the other flags")
        return _demo_inputs(Path(args.output) / "inputs", args.epochs)
    missing = [f"--{flag}" for flag in ("model", "data", "targets") if not getattr(args, flag)]
    if missing:
        raise EdgeoptError(f"{', '.join(missing)} missing", "pass --model, --data and --targets, or --demo")
    targets = Path(args.targets)
    if not targets.is_file():
        raise EdgeoptError(f"targets file {targets} does not exist", "write a YAML file with `targets:` entries")
    check_inputs(Path(args.model), Path(args.data))
    return Path(args.model), Path(args.data), targets


def _demo_inputs(inputs: Path, epochs: int) -> tuple[Path, Path, Path]:
    from edgeopt.common.datasets import save_dataset
    from edgeopt.demo.digits import digits_dataset, train_digits_cnn

    inputs.mkdir(parents=True, exist_ok=True)
    _progress(f"training the demo baseline on scikit-learn digits ({epochs} epochs)")
    data = digits_dataset()
    save_dataset(inputs / "digits.npz", data)
    train_digits_cnn(data, epochs=epochs).save(inputs / "digits_cnn.keras")
    (inputs / "targets.yaml").write_text(DEMO_TARGETS)
    return inputs / "digits_cnn.keras", inputs / "digits.npz", inputs / "targets.yaml"


def _keep_chosen(run_dir: Path, doc: dict[str, Any], dest: Path) -> None:
    """Copy the chosen candidate's simulation reports and quantize metrics to `dest` (gone when none)."""
    if dest.exists():
        shutil.rmtree(dest)
    if doc["chosen"] is None:
        return
    index = [c["id"] for c in doc["candidates"]].index(doc["chosen"])
    iteration = next(p for p in run_dir.glob(f"*-iteration-{index}") if p.is_dir())
    dest.mkdir(parents=True)
    shutil.copytree(next(iteration.rglob("device-simulate/reports")), dest / "simulations")
    shutil.copyfile(next(iteration.rglob("quantize/metrics")), dest / "metrics.json")


def _progress(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)
