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
    the stage declarations (and each method's registry entry)."""
    from edgeopt.common.spec import stage_options
    from edgeopt.convert.spec import SPEC as CONVERT
    from edgeopt.sweep.recipes import check_compression_options

    check_compression_options(params)
    CONVERT.check(stage_options(CONVERT, params))


def check_registry_target(registry: str, name: str) -> None:
    """EdgeoptError unless `name` is a valid registry name and `registry` exists and takes writes."""
    from edgeopt.promote.core import check_name, check_registry

    try:
        check_name(name)
    except EdgeoptError as exc:
        raise EdgeoptError(exc.message, exc.hint + "; pass --name (the default is the model file's name)") from exc
    check_registry(registry, name)
