"""Check a pipeline run's inputs before any task starts, so that bad input fails in seconds, clearly,
with nothing written: the targets file, every stage option and the combinations a method needs,
the registry name and the registry itself, the model and the dataset."""

from pathlib import Path
from typing import Any

from edgeopt.common.errors import EdgeoptError


def preflight(model: Path, data: Path, targets: Path, params: dict[str, Any]) -> None:
    """Raise EdgeoptError for the first problem with the run's inputs or `params` (the pipeline
    parameters `edgeopt run` passes); load nothing but what must be checked."""
    from edgeopt.ingest.core import check_inputs
    from edgeopt.common.targets import load_targets

    if not targets.is_file():
        raise EdgeoptError(f"targets file {targets} does not exist",
                           "write a YAML file with at least `target: cortex-m4f@80mhz`")
    load_targets(targets)
    check_stage_options(params)
    check_registry_target(params["registry"], params["model_name"])
    check_inputs(model, data)


def check_stage_options(params: dict[str, Any]) -> None:
    """EdgeoptError unless every enabled stage accepts the options `params` gives it, checked against
    the stage declarations (and, for quantize, the chosen method's registry entry)."""
    from edgeopt.convert.spec import SPEC as CONVERT
    from edgeopt.distill.spec import SPEC as DISTILL
    from edgeopt.prune.core import check_options as check_prune
    from edgeopt.prune.spec import SPEC as PRUNE
    from edgeopt.quantize.core import check_options as check_quantize
    from edgeopt.quantize.spec import SPEC as QUANTIZE

    if stage_options(DISTILL, params).get("enabled", DISTILL.pipeline_defaults()["distill_enabled"]):
        DISTILL.check(stage_options(DISTILL, params))
    if stage_options(PRUNE, params).get("enabled", True):
        check_prune(**stage_options(PRUNE, params))  # the method's own combinations too
    check_quantize(**stage_options(QUANTIZE, params))
    CONVERT.check(stage_options(CONVERT, params))


def stage_options(spec, params: dict[str, Any]) -> dict[str, Any]:
    """The options of stage `spec` among the pipeline parameters `params`, by the stage's own names."""
    return {name: params[pipeline] for name, pipeline in spec.pipeline_names().items() if pipeline in params}


def check_registry_target(registry: str, name: str) -> None:
    """EdgeoptError unless `name` is a valid registry name and `registry` exists and takes writes."""
    from edgeopt.promote.core import check_name, check_registry

    try:
        check_name(name)
    except EdgeoptError as exc:
        raise EdgeoptError(exc.message, exc.hint + "; pass --name (the default is the model file's name)") from exc
    check_registry(registry, name)
