"""The `edge-sweep` pipeline: try many compression recipes on one model, gate each candidate on every
target, and promote the best one that passes.

    ingest, plan-recipes, teacher-outputs, registry-baseline        (once)
    ParallelFor recipe:  distill -> prune -> quantize -> device-simulate -> validate-targets
    pareto (Collected outputs): front, chosen candidate, reports
    is-blessed(chosen verdict) -> convert -> promote               (only when a candidate passed)

The work every candidate shares runs once: ingest (the baseline's metrics, the float reference of
every accuracy drop), the teacher's logits for distillation and the registry baseline. Each recipe
sets the distill, prune and quantize options of its candidate (`edgeopt.sweep.recipes`); the gate
and the registry are edge-optimize's. KFP fixes a ParallelFor's parallelism at compile time, so it
is a compile option (`ClusterOptions.parallelism`, `edgeopt compile --parallelism N`).
Compiled with `python -m edgeopt.pipelines.edge_sweep [OUT.yaml]` (`make compile`) into the
committed `pipelines/edge_sweep.yaml`, which a test keeps in step.
"""

import sys
from pathlib import Path
from typing import List

from kfp import compiler, dsl

from edgeopt.common.spec import pipeline_docstring, stage_arguments
from edgeopt.convert.component import convert
from edgeopt.convert.spec import SPEC as CONVERT
from edgeopt.device_simulate.component import device_simulate
from edgeopt.distill.component import distill, teacher_outputs
from edgeopt.distill.spec import SPEC as DISTILL
from edgeopt.ingest.component import ingest
from edgeopt.pipelines.cluster import ClusterOptions, configure
from edgeopt.pipelines.edge_optimize import PIPELINE_ONLY
from edgeopt.promote.component import promote, registry_baseline
from edgeopt.prune.component import prune
from edgeopt.prune.spec import SPEC as PRUNE
from edgeopt.quantize.component import quantize
from edgeopt.quantize.spec import SPEC as QUANTIZE
from edgeopt.sweep.component import pareto, plan_recipes
from edgeopt.sweep.recipes import recipe_keys
from edgeopt.validate_targets.component import is_blessed, validate_targets

COMPILED = Path(__file__).resolve().parents[3] / "pipelines" / "edge_sweep.yaml"  # committed beside the sources
DESCRIPTION = ("Try compression recipes on a model, gate every candidate on every target, and promote the best "
               "one that passes.")
SWEEP_ONLY = {
    **{key: PIPELINE_ONLY[key] for key in ("model_uri", "data_uri", "model_name", "registry", "allow_duplicate")},
    "targets": "the targets YAML text: the devices and the goals every candidate is gated on.",
    "recipes": "the candidates, a list of {name, distill, prune, quantize}; each section holds its stage's options "
               "by their own names, a bare value for its main option (distill width; prune or quantize method), "
               "or none (e.g. [{\"distill\": 0.5, \"prune\": {\"method\": \"structured\", \"ratio\": 0.5}, "
               "\"quantize\": \"int8\"}]).",
    "recipe_defaults": "options applied to every recipe that has the section, e.g. {\"prune\": {\"epochs\": 4}}.",
}


def pipeline(options: ClusterOptions = ClusterOptions()):
    """The edge-sweep pipeline with its tasks set up for `options`."""

    def edge_sweep(
        model_uri: str,
        data_uri: str,
        targets: str,
        recipes: List[dict],
        recipe_defaults: dict = {},
        model_name: str = "model",
        registry: str = "registry",
        allow_duplicate: bool = False,
        trust_model: bool = False,
        convert_samples: int = 64,
    ):
        base = configure(ingest(model_uri=model_uri, data_uri=data_uri, targets=targets, trust_model=trust_model),
                         "ingest", options, "ingest: check model, data and targets")
        planned = configure(plan_recipes(recipes=recipes, recipe_defaults=recipe_defaults), "sweep", options,
                            "plan the recipes")
        teacher = configure(teacher_outputs(teacher=base.outputs["model"], dataset=base.outputs["dataset"],
                                            trust_model=trust_model), "distill", options,
                            "teacher outputs: once for every student")
        baseline = configure(registry_baseline(registry=registry, model_name=model_name), "promote", options,
                             "registry baseline: the latest promoted version")
        with dsl.ParallelFor(planned.output, parallelism=options.parallelism, name="candidates") as recipe:
            values = {key: getattr(recipe, key) for key in recipe_keys()[2:]}
            values["trust_model"] = trust_model
            student = configure(distill(teacher=base.outputs["model"], dataset=base.outputs["dataset"],
                                        teacher_outputs=teacher.outputs["outputs"],
                                        **stage_arguments(DISTILL, values)), "distill", options, "distill")
            pruned = configure(prune(model=student.outputs["student_model"], dataset=base.outputs["dataset"],
                                     **stage_arguments(PRUNE, values)), "prune", options, "prune")
            quantized = configure(quantize(model=pruned.outputs["pruned_model"], dataset=base.outputs["dataset"],
                                           **stage_arguments(QUANTIZE, values)), "quantize", options, "quantize")
            simulated = configure(device_simulate(model=quantized.outputs["quantized_model"],
                                                  target=base.outputs["target"], runtime=base.outputs["runtime"],
                                                  targets=targets),
                                  "device-simulate", options, "device-simulate: every target")
            verdict = configure(validate_targets(baseline_metrics=base.outputs["metrics"],
                                                 candidate_metrics=quantized.outputs["metrics"],
                                                 simulation=simulated.outputs["reports"], targets=targets,
                                                 registry_baseline=baseline.outputs["baseline"]),
                                "validate-targets", options, "validate-targets: the candidate's verdict")
        gathered = configure(pareto(recipes=planned.output, targets=targets, baseline_metrics=base.outputs["metrics"],
                                    candidate_metrics=dsl.Collected(quantized.outputs["metrics"]),
                                    simulations=dsl.Collected(simulated.outputs["reports"]),
                                    verdicts=dsl.Collected(verdict.outputs["verdict"]),
                                    models=dsl.Collected(quantized.outputs["quantized_model"]),
                                    float_models=dsl.Collected(pruned.outputs["pruned_model"])),
                             "sweep", options, "pareto: the front and the best passing candidate")
        # a single-output task, as in edge-optimize: kfp.local skips conditions on named outputs
        blessed = configure(is_blessed(verdict=gathered.outputs["best_verdict"]), "validate-targets", options,
                            "blessed?")
        with dsl.If(blessed.output == True, name="a-candidate-passed"):  # noqa: E712 (KFP condition)
            converted = configure(convert(model=gathered.outputs["best_float_model"],
                                          quantized_model=gathered.outputs["best_model"],
                                          dataset=base.outputs["dataset"], samples=convert_samples,
                                          trust_model=trust_model), "convert", options, "convert the chosen model")
            configure(promote(model=gathered.outputs["best_model"], verdict=gathered.outputs["best_verdict"],
                              report=gathered.outputs["best_report"], registry=registry, model_name=model_name,
                              allow_duplicate=allow_duplicate, c_array=converted.outputs["c_array"]),
                      "promote", options, "promote the chosen model")

    # the run form's descriptions: edge-optimize's words for the shared parameters, convert's declaration
    edge_sweep.__doc__ = pipeline_docstring(DESCRIPTION, [CONVERT], SWEEP_ONLY)
    return dsl.pipeline(name="edge-sweep", description=DESCRIPTION)(edge_sweep)


edge_sweep = pipeline()


def compile_pipeline(path: Path | str = COMPILED, options: ClusterOptions = ClusterOptions()) -> Path:
    """Compile the pipeline built for `options` to `path` and return it."""
    compiler.Compiler().compile(pipeline(options), str(path))
    return Path(path)


if __name__ == "__main__":
    print(compile_pipeline(sys.argv[1] if len(sys.argv) > 1 else COMPILED))
