"""The `edge-optimize` pipeline: baseline -> (distill) -> (prune) -> quantize -> convert ->
device-simulate -> validate-targets -> promote, the last only when the verdict passed.

Every stage option is a pipeline parameter named and described by the stage's declaration
(`components/edgeopt/<stage>/spec.py`); a test keeps the signature below equal to them.
`pipeline(options)` builds the pipeline for a cluster (image prefix and tag, S3 secret);
`edge_optimize` is the default build, compiled with `python -m edgeopt.pipelines.edge_optimize
[OUT.yaml]` (`make compile`) into the committed `pipelines/edge_optimize.yaml`, which a test keeps in step.
"""

import sys
from pathlib import Path
from typing import List

from kfp import compiler, dsl

from edgeopt.common.spec import pipeline_docstring, stage_arguments
from edgeopt.convert.component import convert
from edgeopt.convert.spec import SPEC as CONVERT
from edgeopt.device_simulate.component import device_simulate
from edgeopt.distill.component import distill
from edgeopt.distill.spec import SPEC as DISTILL
from edgeopt.ingest.component import ingest
from edgeopt.pipelines.cluster import ClusterOptions, configure
from edgeopt.promote.component import promote, registry_baseline
from edgeopt.prune.component import prune
from edgeopt.prune.spec import SPEC as PRUNE
from edgeopt.quantize.component import quantize
from edgeopt.quantize.spec import SPEC as QUANTIZE
from edgeopt.stages import option_specs
from edgeopt.validate_targets.component import is_blessed, validate_targets

COMPILED = Path(__file__).resolve().parents[3] / "pipelines" / "edge_optimize.yaml"  # committed beside the sources
DESCRIPTION = "Fit a trained model to an edge device and promote it only if it meets the targets."
PIPELINE_ONLY = {
    "model_uri": "local path or s3:// URI of the trained Keras model (.h5/.keras) or SavedModel folder.",
    "data_uri": "local path or s3:// URI of the .npz dataset (x_train, x_test, optional y_train, y_test, x_calib).",
    "targets": "the targets YAML text: the device target and the limits the model must meet.",
    "model_name": "the model's name in the registry.",
    "registry": "registry folder or s3://bucket/prefix the passing model is published to.",
    "allow_duplicate": "publish a new version even when the same model and verdict are already the latest one.",
    "fail_on_reject": "fail the run when the model does not meet the targets (for engines without conditions).",
}


def pipeline(options: ClusterOptions = ClusterOptions()):
    """The edge-optimize pipeline with its tasks set up for `options`."""

    def edge_optimize(
        model_uri: str,
        data_uri: str,
        targets: str,
        model_name: str = "model",
        registry: str = "registry",
        allow_duplicate: bool = False,
        fail_on_reject: bool = False,
        trust_model: bool = False,
        distill_enabled: bool = False,
        distill_width: float = 0.5,
        distill_temperature: float = 4.0,
        distill_alpha: float = 0.1,
        distill_epochs: int = 10,
        distill_compare_without_teacher: bool = True,
        prune_enabled: bool = True,
        prune_method: str = "magnitude",
        target_sparsity: float = 0.5,
        prune_ratio: float = 0.5,
        prune_layer_ratios: List[str] = [],
        prune_exclude: List[str] = [],
        prune_min_channels: int = 1,
        prune_importance: str = "l1",
        prune_schedule: str = "polynomial",
        prune_begin_step: int = 0,
        prune_end_step: int = 0,
        prune_frequency: int = 0,
        prune_rounds: int = 1,
        prune_rank_ratio: float = 0.0,
        prune_energy: float = 0.0,
        prune_epochs: int = 2,
        prune_learning_rate: float = 0.001,
        prune_early_stopping: int = 0,
        prune_distill_temperature: float = 0.0,
        prune_distill_alpha: float = 0.0,
        prune_max_drop: float = -1.0,
        quantize_method: str = "int8",
        calibration_samples: int = 200,
        quantize_io_type: str = "",
        quantize_per_channel: bool = True,
        quantize_float_layers: List[str] = [],
        quantize_accuracy_budget: float = -1.0,
        quantize_qat_epochs: int = 2,
        quantize_backend: str = "tflite",
        quantize_calibration_method: str = "minmax",
        quantize_latency_runs: int = 50,
        convert_samples: int = 64,
    ):
        values = dict(locals())
        base = configure(ingest(model_uri=model_uri, data_uri=data_uri, targets=targets, trust_model=trust_model),
                         "ingest", options, "ingest: check model, data and targets")
        student = configure(distill(teacher=base.outputs["model"], dataset=base.outputs["dataset"],
                                    **stage_arguments(DISTILL, values)), "distill", options, "distill")
        pruned = configure(prune(model=student.outputs["student_model"], dataset=base.outputs["dataset"],
                                 **stage_arguments(PRUNE, values)), "prune", options, "prune")
        quantized = configure(quantize(model=pruned.outputs["pruned_model"], dataset=base.outputs["dataset"],
                                       **stage_arguments(QUANTIZE, values)), "quantize", options, "quantize")
        converted = configure(convert(model=pruned.outputs["pruned_model"],
                                      quantized_model=quantized.outputs["quantized_model"],
                                      dataset=base.outputs["dataset"], **stage_arguments(CONVERT, values)),
                              "convert", options, "convert")
        simulated = configure(device_simulate(model=quantized.outputs["quantized_model"],
                                              target=base.outputs["target"], runtime=base.outputs["runtime"],
                                              targets=targets),
                              "device-simulate", options, "device-simulate: every target").after(converted)
        baseline = configure(registry_baseline(registry=registry, model_name=model_name), "promote", options,
                             "registry baseline: the latest promoted version")
        verdict = configure(validate_targets(baseline_metrics=base.outputs["metrics"],
                                             candidate_metrics=quantized.outputs["metrics"],
                                             simulation=simulated.outputs["reports"], targets=targets,
                                             registry_baseline=baseline.outputs["baseline"],
                                             fail_on_reject=fail_on_reject),
                            "validate-targets", options, "validate-targets: the verdict")
        # The gate reads the BLESSED marker through a single-output task: kfp.local (2.17) cannot
        # evaluate a condition on a named output such as validate-targets' `passed`.
        blessed = configure(is_blessed(verdict=verdict.outputs["verdict"]), "validate-targets", options,
                            "blessed?")
        with dsl.If(blessed.output == True, name="verdict-passed"):  # noqa: E712 (KFP condition)
            configure(promote(model=quantized.outputs["quantized_model"], verdict=verdict.outputs["verdict"],
                              report=verdict.outputs["report"], registry=registry, model_name=model_name,
                              allow_duplicate=allow_duplicate, c_array=converted.outputs["c_array"]),
                      "promote", options, "promote to the registry")

    # the run form's parameter descriptions, in the declarations' words
    edge_optimize.__doc__ = pipeline_docstring(DESCRIPTION, option_specs(), PIPELINE_ONLY)
    return dsl.pipeline(name="edge-optimize", description=DESCRIPTION)(edge_optimize)


edge_optimize = pipeline()


def compile_pipeline(path: Path | str = COMPILED, options: ClusterOptions = ClusterOptions()) -> Path:
    """Compile the pipeline built for `options` to `path` and return it."""
    compiler.Compiler().compile(pipeline(options), str(path))
    return Path(path)


if __name__ == "__main__":
    print(compile_pipeline(sys.argv[1] if len(sys.argv) > 1 else COMPILED))
