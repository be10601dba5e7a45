"""KFP components of the sweep: plan the recipes, then gather the candidates into the Pareto front,
the chosen candidate and the reports."""

from typing import List, NamedTuple

from kfp import dsl
from kfp.dsl import Artifact, ClassificationMetrics, HTML, Input, Markdown, Metrics, Model, Output

from edgeopt.containers.images import image_for


@dsl.component(base_image=image_for("sweep"), install_kfp_package=False)
def plan_recipes(recipes: List[dict], recipe_defaults: dict = {}) -> List[dict]:
    """Check every recipe and return it flat, one mapping per candidate for the sweep's ParallelFor.

    recipes: list of {name, distill, prune, quantize}, each section the stage's options by its own
    names, a bare value for its main option (distill width, prune or quantize method) or none.
    recipe_defaults: the same sections, applied to every recipe that has them (e.g.
    {"prune": {"epochs": 4}}). Returns each recipe with `candidate` (c0, c1, ...), `label` and every
    distill, prune and quantize option by its pipeline parameter name. Fails, naming the recipe and
    the option, on anything the stages would refuse.
    """
    from edgeopt.sweep.recipes import plan

    return plan(list(recipes), dict(recipe_defaults))


@dsl.component(base_image=image_for("sweep"), install_kfp_package=False)
def pareto(recipes: List[dict], targets: str, baseline_metrics: Input[Metrics],
           candidate_metrics: Input[List[Metrics]], simulations: Input[List[Artifact]],
           verdicts: Input[List[Artifact]], models: Input[List[Model]], float_models: Input[List[Model]],
           front: Output[Artifact], report_html: Output[HTML], report_md: Output[Markdown],
           confusion: Output[ClassificationMetrics], summary: Output[Metrics], best_model: Output[Model],
           best_float_model: Output[Model], best_verdict: Output[Artifact], best_report: Output[Markdown]
           ) -> NamedTuple("Outputs", [("chosen", str)]):
    """Gather the sweep: the Pareto front over quality, latency on each target and flash + RAM, and
    the best candidate whose verdict passed (highest quality, then lowest latency).

    recipes: plan_recipes' output, in the order of the collected outputs. targets: the targets YAML
    text. baseline_metrics: ingest's metrics. candidate_metrics, simulations, verdicts, models,
    float_models: each candidate's quantize metrics, device-simulate reports folder, validate-targets
    verdict, quantized model and float (pruned) model, collected in recipe order.
    Outputs: `front`, pareto.json (every candidate with its recipe, metrics, per-target verdict and
    on_front); `report_html` and `report_md`, the report with the Pareto plot, the chosen model's
    per-layer latency, budget bars and confusion matrix; `confusion`, the chosen model's confusion
    matrix; `summary`, candidates, passing and front counts; `best_model`, `best_float_model`,
    `best_verdict` and `best_report`, the chosen candidate's, for convert and promote (with none
    chosen, empty models and a NOT_BLESSED verdict); `chosen`, its id or "".
    """
    import json
    from collections import namedtuple
    from pathlib import Path

    from edgeopt.common.metrics import log_to_kfp
    from edgeopt.common.reports import render_sweep_report, write_report
    from edgeopt.sweep.core import Candidate, chosen_details, gather, write_choice

    counts = {len(recipes), len(candidate_metrics), len(simulations), len(verdicts), len(models), len(float_models)}
    if len(counts) != 1:
        raise ValueError(f"the sweep gathered unequal numbers of recipes and outputs: {sorted(counts)}")
    candidates = [Candidate(r, Path(m.path), Path(s.path), Path(v.path))
                  for r, m, s, v in zip(recipes, candidate_metrics, simulations, verdicts)]
    doc = gather(targets, baseline_metrics.path, candidates)
    Path(front.path).parent.mkdir(parents=True, exist_ok=True)
    Path(front.path).write_text(json.dumps(doc, indent=2, default=str) + "\n")
    chosen = write_choice(doc, candidates, [Path(m.path) for m in float_models], [Path(m.path) for m in models],
                          best_model.path, best_float_model.path, best_verdict.path, best_report.path)
    simulations_of_chosen, matrix = chosen_details(doc, chosen)
    write_report(render_sweep_report(doc, simulations_of_chosen, matrix), report_html.path, report_md.path)
    if matrix:
        confusion.log_confusion_matrix([str(c) for c in range(len(matrix))], matrix)
    rows = doc["candidates"]
    log_to_kfp(summary, {"candidates": len(rows), "passing": sum(r["verdict"]["passed"] for r in rows),
                         "on_front": len(doc["front"]), "chosen_quality": next((r["quality"] for r in rows
                                                                                if r["chosen"]), None)})
    front.metadata.update({"chosen": doc["chosen"] or "", "front": doc["front"]})
    return namedtuple("Outputs", ["chosen"])(doc["chosen"] or "")
