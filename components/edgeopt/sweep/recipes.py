"""Compression recipes: what one sweep candidate does to the model before it is simulated and gated.

A recipe (a YAML/JSON mapping, in a recipes file or the `edge-sweep` pipeline's `recipes` list)::

    name: half-width, 50 % channels     # optional; a label is made from the sections otherwise
    distill: {width: 0.5}               # or a number (the width), or none: no distillation
    prune: {method: structured, ratio: 0.5}   # or a method name, or none: no pruning
    quantize: {method: int8}            # or a method name; default int8

Each section takes the options of its stage by the stage's own names (`docs/STAGES.md`: distill's
width, temperature, epochs...; prune's method, ratio, target_sparsity, rank_ratio...; quantize's
method, per_channel, float_layers...). `recipe_defaults`, a mapping of the same sections, sets an
option for every recipe that has the section (e.g. `{prune: {epochs: 4}}`); a recipe's own value
wins. A recipes file is a list of recipes, or `{recipes: [...], defaults: {...}}`.

`plan` checks every recipe against the stage declarations and each method's option checks, then
returns one flat mapping per recipe keyed by pipeline parameter names (`distill_width`,
`prune_method`, `target_sparsity`, `quantize_method`, ...), every key present, plus `candidate`
(c0, c1, ...) and `label`: what the pipeline's ParallelFor hands to each candidate's tasks.
"""

import json
from pathlib import Path
from typing import Any

import yaml

from edgeopt.common.errors import EdgeoptError
from edgeopt.common.spec import stage_options
from edgeopt.distill.spec import SPEC as DISTILL
from edgeopt.prune.core import check_options as check_prune
from edgeopt.prune.spec import SPEC as PRUNE
from edgeopt.quantize.core import check_options as check_quantize
from edgeopt.quantize.spec import SPEC as QUANTIZE

SECTIONS = {"distill": DISTILL, "prune": PRUNE, "quantize": QUANTIZE}
SHORTHAND = {"distill": "width", "prune": "method", "quantize": "method"}  # what a bare value sets
FIXED = ("enabled", "trust_model")  # set by the sweep, not by a recipe
# the sweep's own defaults where a stage's pipeline default suits one run better than many
SWEEP_DEFAULTS = {"distill_compare_without_teacher": False, "quantize_latency_runs": 10}
SIMULATED_BACKEND = "tflite"  # device-simulate reads TFLite flatbuffers


def recipe_keys() -> list[str]:
    """The keys of a planned recipe: `candidate`, `label`, then every stage option by pipeline name."""
    return ["candidate", "label"] + [pipe for spec in SECTIONS.values() for name, pipe in spec.pipeline_names().items()
                                     if name != "trust_model"]


def plan(recipes: list[Any], defaults: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The checked, flat form of `recipes` (see the module docstring); EdgeoptError naming the recipe
    and the option for the first problem, and for an empty list or two recipes that are the same."""
    if not isinstance(recipes, list) or not recipes:
        raise EdgeoptError("the sweep has no recipes",
                           "pass a list of recipes (--recipes FILE), or leave it out to have a grid made from the budget")
    defaults = _sections(defaults or {}, "recipe defaults")
    planned = [_plan_one(recipe, number, defaults) for number, recipe in enumerate(recipes)]
    seen: dict[str, int] = {}
    for number, flat in enumerate(planned):
        key = json.dumps({k: v for k, v in flat.items() if k not in ("candidate", "label")}, sort_keys=True)
        if key in seen:
            raise EdgeoptError(f"recipes {seen[key]} and {number} are the same ({flat['label']})",
                               "drop one of them: each candidate costs a whole compression run")
        seen[key] = number
    return planned


def check_compression_options(params: dict[str, Any]) -> None:
    """EdgeoptError unless distill and prune (each when enabled) and quantize accept the options
    `params` (pipeline parameters, those given) sets for them: checked against each declaration and
    the chosen method's own combinations. `edgeopt run`'s preflight and the sweep's plan share it."""
    distill, prune = stage_options(DISTILL, params), stage_options(PRUNE, params)
    if distill.get("enabled", DISTILL.pipeline_defaults()["distill_enabled"]):
        DISTILL.check(distill)
    if prune.get("enabled", PRUNE.pipeline_defaults()["prune_enabled"]):
        check_prune(**prune)
    check_quantize(**stage_options(QUANTIZE, params))


def with_defaults(recipes: list[Any], defaults: dict[str, Any]) -> list[dict[str, Any]]:
    """`recipes` with `defaults` written into their sections (bare values expanded), so that the list
    alone plans to what `plan(recipes, defaults)` gives: for the pipeline's `recipes` parameter."""
    given = _sections(defaults, "recipe defaults")
    merged = []
    for recipe in recipes:
        recipe = dict(recipe)
        for section, options in given.items():
            value = recipe.get(section, {} if section == "quantize" else None)
            if section in recipe or section == "quantize":
                if not _off(value):
                    value = value if isinstance(value, dict) else {SHORTHAND[section]: value}
                    recipe[section] = {**options, **value}
        merged.append(recipe)
    return merged


def portable(recipes: list[Any]) -> list[Any]:
    """`recipes` as KFP can carry them (it cannot pass None): a section set to null becomes "none"."""
    return [{key: "none" if value is None else value for key, value in r.items()} if isinstance(r, dict) else r
            for r in recipes]


def load_recipes(path: Path | str) -> tuple[list[Any], dict[str, Any]]:
    """(recipes, defaults) from a YAML or JSON recipes file; EdgeoptError for a file that is neither."""
    path = Path(path)
    if not path.is_file():
        raise EdgeoptError(f"recipes file {path} does not exist", "pass a YAML list of recipes (see `edgeopt sweep --help`)")
    try:
        doc = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise EdgeoptError(f"recipes file {path} is not YAML: {str(exc).splitlines()[0]}",
                           "write a list of recipes, e.g. `- {distill: 0.5, prune: none, quantize: int8}`") from exc
    if isinstance(doc, dict) and set(doc) <= {"recipes", "defaults"} and "recipes" in doc:
        return portable(doc["recipes"]), doc.get("defaults") or {}
    if isinstance(doc, list):
        return portable(doc), {}
    raise EdgeoptError(f"recipes file {path} holds {type(doc).__name__}, not a list of recipes",
                       "write a list, or a mapping with `recipes:` (and optional `defaults:`)")


def label(flat: dict[str, Any]) -> str:
    """A short description of a planned recipe, e.g. `width 0.5 · structured 50% · int8`."""
    parts = [f"width {flat['distill_width']:g}" if flat["distill_enabled"] else "full width"]
    if not flat["prune_enabled"]:
        parts.append("no pruning")
    else:
        method = flat["prune_method"]
        amount = {"magnitude": flat["target_sparsity"], "structured": flat["prune_ratio"],
                  "lowrank": flat["prune_rank_ratio"] or flat["prune_energy"]}.get(method)
        parts.append(f"{method} {amount:.0%}" if amount else method)
    parts.append(flat["quantize_method"])
    return " · ".join(parts)


def _plan_one(recipe: Any, number: int, defaults: dict[str, dict[str, Any]]) -> dict[str, Any]:
    where = f"recipe {number}"
    if not isinstance(recipe, dict):
        raise EdgeoptError(f"{where} is {recipe!r}, not a mapping",
                           "write e.g. {distill: 0.5, prune: {method: structured, ratio: 0.5}, quantize: int8}")
    unknown = sorted(set(recipe) - {"name", *SECTIONS})
    if unknown:
        raise EdgeoptError(f"{where} has unknown key {', '.join(map(str, unknown))}",
                           f"a recipe has name, {', '.join(SECTIONS)}")
    sections = _sections({k: v for k, v in recipe.items() if k != "name"}, where)
    flat: dict[str, Any] = {}
    for section, spec in SECTIONS.items():
        enabled = section in sections if section != "quantize" else True
        options = {**defaults.get(section, {}), **sections.get(section, {})} if enabled else {}
        flat.update(_flatten(spec, options, enabled))
    try:
        check_compression_options(flat)
        if flat["quantize_backend"] != SIMULATED_BACKEND:
            raise EdgeoptError(f"quantize backend {flat['quantize_backend']} makes ONNX models, which the device "
                               "simulator cannot read", "use backend tflite (the default) in a sweep")
    except EdgeoptError as exc:
        raise EdgeoptError(f"{where}: {exc.message}", exc.hint) from exc
    flat = {k: flat[k] for k in recipe_keys()[2:]}
    name = recipe.get("name")
    if name is not None and not isinstance(name, str):
        raise EdgeoptError(f"{where}: name must be text, not {name!r}", "write e.g. name: half width")
    return {"candidate": f"c{number}", "label": name or label(flat), **flat}


def _sections(given: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """{section: {option: value}} from a recipe's (or the defaults') sections, shorthands expanded;
    a section set to none is left out."""
    if not isinstance(given, dict):
        raise EdgeoptError(f"{where} must be a mapping of {', '.join(SECTIONS)}", "write e.g. {prune: {epochs: 4}}")
    out = {}
    for section, value in given.items():
        if section not in SECTIONS:
            raise EdgeoptError(f"{where} has unknown section {section!r}", f"sections are {', '.join(SECTIONS)}")
        if _off(value):
            if section == "quantize":
                raise EdgeoptError(f"{where}: quantize cannot be none",
                                   "the simulator runs quantized TFLite models; give a method such as int8")
            continue
        if not isinstance(value, dict):
            value = {SHORTHAND[section]: value}
        spec = SECTIONS[section]
        for option in value:
            if option in FIXED or option not in {p.name for p in spec.params} or spec.param(option).pipeline is None:
                allowed = [name for name in spec.pipeline_names() if name not in FIXED]
                raise EdgeoptError(f"{where}: {section} has no recipe option {option!r}",
                                   f"{section} options are {', '.join(allowed)}")
        out[section] = dict(value)
    return out


def _off(value: Any) -> bool:
    """Whether a section's value turns the stage off: none, null, false, off."""
    return value is None or value is False or (isinstance(value, str) and value.strip().lower() in ("none", "off"))


def _flatten(spec, options: dict[str, Any], enabled: bool) -> dict[str, Any]:
    """The stage's options by pipeline name: the sweep's and the pipeline's defaults, then `options`."""
    names = spec.pipeline_names()
    flat = {pipe: SWEEP_DEFAULTS.get(pipe, default) for pipe, default in spec.pipeline_defaults().items()}
    flat.update({names[option]: value for option, value in options.items()})
    if "enabled" in names:
        flat[names["enabled"]] = enabled
    flat.pop("trust_model", None)
    return flat
