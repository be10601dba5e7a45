"""The targets file's JSON Schema, made from the declarations the loader checks against
(`edgeopt.common.targets` keys and goal kinds, `edgeopt.common.gate_metrics` metrics).

The schema checks structure, types and ranges, as editors and CI linters can. The loader checks
more: that a goal's min is not above its max, that a change goal's metric is carried by the
baseline (`baseline: input` has no device metrics), that no device is listed twice, and target
and runtime names against the simulator's catalog.
"""

from typing import Any

from edgeopt.common.gate_metrics import METRICS, GateMetric, device_metrics, quality_metrics
from edgeopt.common.targets import (ALIASES, BASELINES, CHANGE_KINDS, KEYS, KIND_MEANINGS, RELATIVE_KINDS, REQUIRES,
                                    V1_QUALITY, canonical, goal_kinds)

SCHEMA_URI = "https://json-schema.org/draft/2020-12/schema"


def targets_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a targets file, in its one-device and its list form."""
    device = {key: {"description": KEYS[key].meaning, "oneOf": [
        {"type": "number", "exclusiveMinimum": 0, "description": "a maximum, as in v1"},
        {"$ref": f"#/$defs/goals_{key}"}]} for key in device_metrics()}
    entry = {"target": _name("target"), "runtime": _name("runtime"),
             "require_supported": {"type": "boolean", "description": KEYS["require_supported"].meaning}, **device}
    whole = {
        "quality": {"type": "object", "description": KEYS["quality"].meaning, "additionalProperties": False,
                    "properties": {key: {"$ref": f"#/$defs/goals_{key}"} for key in quality_metrics()}},
        "baseline": {"enum": list(BASELINES), "default": "input", "description": KEYS["baseline"].meaning},
        "require": {"enum": list(REQUIRES), "default": "all", "description": KEYS["require"].meaning},
        **{key: {"type": "number", "minimum": 0, "maximum": 1, "description": KEYS[key].meaning} for key in V1_QUALITY},
    }
    return {
        "$schema": SCHEMA_URI,
        "title": "edgeopt targets file",
        "description": "The devices a model must run on and the goals it must meet (edgeopt validate).",
        "oneOf": [
            {"title": "one device", "type": "object", "required": ["target"], "additionalProperties": False,
             "properties": {**entry, **whole}},
            {"title": "several devices", "type": "object", "required": ["targets"], "additionalProperties": False,
             "properties": {"targets": {"type": "array", "minItems": 1, "description": KEYS["targets"].meaning,
                                        "items": {"$ref": "#/$defs/entry"}}, **whole}},
        ],
        "$defs": {"entry": {"type": "object", "required": ["target"], "additionalProperties": False,
                            "properties": entry},
                  **{f"goals_{key}": _goals(metric) for key, metric in METRICS.items()}},
    }


def _name(key: str) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "pattern": r"\S", "description": KEYS[key].meaning}


def _goals(metric: GateMetric) -> dict[str, Any]:
    """The map of goals on `metric`: each kind with its range; an alias never beside its kind."""
    properties = {kind: {"type": "number", "description": KIND_MEANINGS[canonical(kind)], **_range(metric, kind)}
                  for kind in goal_kinds(metric)}
    aliases = ALIASES[metric.better]
    return {"type": "object", "minProperties": 1, "additionalProperties": False,
            "description": f"{metric.spec.description} ({metric.spec.unit}; {metric.better} is better)",
            "properties": properties,
            "not": {"anyOf": [{"required": [alias, kind]} for alias, kind in aliases.items()]}}


def _range(metric: GateMetric, kind: str) -> dict[str, float]:
    rule = canonical(kind)
    if rule in RELATIVE_KINDS:
        return {"minimum": 0, "maximum": 1}
    if rule in CHANGE_KINDS:
        return {"minimum": 0, "maximum": 1} if metric.is_fraction else {"minimum": 0}
    if rule == "max" and metric.source == "device":
        return {"exclusiveMinimum": 0}
    return {k: v for k, v in (("minimum", metric.low), ("maximum", metric.high)) if v is not None}
