"""The verdict's rows: one goal judged on its measured value and baseline, and the device checks.

A row is {target, metric, goal, value, threshold, baseline, passed, reason}. `target` is the
device (None for a goal on the model's quality), `metric` the name the targets file gave (the
metric, or a v1 key such as `accuracy_drop`), `goal` its kind (min, max, max_drop, ...; `equals`
for the device checks). `value` is what is compared with `threshold`: the metric itself for
min/max, the change (absolute, or a fraction of the baseline) for the change goals. `baseline` is
the baseline's value of the metric, None when unknown. A value equal to its threshold passes.
"""

import math
from dataclasses import dataclass
from typing import Any

from edgeopt.common.gate_metrics import METRICS
from edgeopt.common.targets import RELATIVE_KINDS, Goal
from edgeopt.common.verdict import pct


@dataclass(frozen=True)
class Reading:
    """A measured value, or None and why (a phrase: "the simulation metrics have no `latency_ms`, ...")."""

    value: float | None
    why_not: str = ""


@dataclass(frozen=True)
class BaselineReading:
    """The baseline's value, or None and why. `against` names it in reasons ("" for the input model,
    e.g. "v3" for a registry version); when `lenient`, a change goal without a value passes,
    saying so (nothing promoted yet, or the version was not measured there)."""

    value: float | None
    why_not: str = ""
    against: str = ""
    lenient: bool = False


def row(target: str | None, metric: str, goal: str, value: Any, threshold: Any, baseline: Any, passed: bool,
        reason: str) -> dict[str, Any]:
    return {"target": target, "metric": metric, "goal": goal, "value": value, "threshold": threshold,
            "baseline": baseline, "passed": bool(passed), "reason": reason}


def judge(goal: Goal, target: str | None, measured: Reading, base: BaselineReading) -> dict[str, Any]:
    """The row of `goal` (on `target`, or None for a quality goal) given the measured value and the
    baseline. Never raises for missing values: the row fails and says which is missing."""
    if goal.rule in ("min", "max"):
        return _bound(goal, target, measured, base.value)
    return _change(goal, target, measured, base)


def _bound(goal: Goal, target: str | None, measured: Reading, baseline: float | None) -> dict[str, Any]:
    metric, limit = METRICS[goal.metric], goal.threshold
    if measured.value is None:
        return _cannot(goal, target, measured.why_not, baseline)
    value = measured.value
    on = f" on {target}" if target else ""
    if goal.rule == "max":
        ok = _at_most(value, limit)
        verdict = f"{'is within' if ok else 'exceeds'} the {metric.show(limit)} limit"
    else:
        ok = _at_most(limit, value)
        verdict = f"{'reaches' if ok else 'is below'} the {metric.show(limit)} floor"
    reason = f"{metric.label} {metric.show(value)} {verdict}{on}"
    return row(target, goal.name, goal.kind, value, limit, baseline, ok, reason)


def _change(goal: Goal, target: str | None, measured: Reading, base: BaselineReading) -> dict[str, Any]:
    metric, limit = METRICS[goal.metric], goal.threshold
    on = f" on {target}" if target else ""
    if base.value is None:
        if base.lenient:
            return row(target, goal.name, goal.kind, None, limit, None, True,
                       f"{goal.name} not compared{on}: {base.why_not}")
        return _cannot(goal, target, base.why_not, None)
    if measured.value is None:
        return _cannot(goal, target, measured.why_not, base.value)
    old, new = base.value, measured.value
    drop = old - new if metric.better == "higher" else new - old  # a change for the worse is positive
    wants_drop = goal.rule.startswith("max_drop")
    change = drop if wants_drop else -drop
    relative = goal.rule in RELATIVE_KINDS
    if relative:
        if old == 0:
            return _cannot(goal, target, f"the baseline {metric.label} is {metric.show(old)}, so a relative "
                           f"{'drop' if wants_drop else 'improvement'} is undefined", old)
        change /= abs(old)
    ok = _at_most(change, limit) if wants_drop else _at_most(limit, change)
    amount = pct(change) if relative else metric.show_change(change)
    allowed = pct(limit) if relative else metric.show_change(limit)
    before = f"{base.against}'s" if base.against else "the baseline's"
    span = f"({base.against}: {metric.show(old)}, now {metric.show(new)})" if base.against else \
        f"({metric.show(old)} to {metric.show(new)})"
    by = f"by {amount} of {before} {metric.show(old)}" if relative else f"by {amount} {span}"
    if wants_drop:
        worse = "fell" if metric.better == "higher" else "rose"
        moved = f"{worse} {by}" if drop > 0 else f"did not {'fall' if worse == 'fell' else 'rise'} {span}"
        verdict = f"{'within' if ok else 'more than'} the allowed {allowed}"
    else:
        moved = f"improved {by}" if change > 0 else f"did not improve {span}"
        verdict = f"{'at least' if ok else 'less than'} the required {allowed}"
    return row(target, goal.name, goal.kind, change, limit, old, ok, f"{metric.label} {moved}{on}, {verdict}")


def _cannot(goal: Goal, target: str | None, why: str, baseline: float | None) -> dict[str, Any]:
    return row(target, goal.name, goal.kind, None, goal.threshold, baseline, False, f"cannot check {goal.name}: {why}")


def _at_most(value: float, limit: float) -> bool:
    """value <= limit, treating float round-off at the boundary as equal."""
    return value <= limit or math.isclose(value, limit, rel_tol=1e-9, abs_tol=1e-12)


def device_check(key: str, target: str, wanted: str, report: dict[str, Any] | None, why_none: str,
                 same: bool) -> dict[str, Any]:
    """The row saying the simulation was made for the `target` / `runtime` (`key`) the entry names;
    `same` tells whether the report's value means `wanted`."""
    got = None if report is None else report.get(key)
    if report is None or not isinstance(got, str) or not got:
        reason = why_none if report is None else missing("simulation", key, report)
        return row(target, key, "equals", None, wanted, None, False, f"cannot check {key}: {reason}")
    if same:
        return row(target, key, "equals", got, wanted, None, True, f"simulated for {key} {got}")
    return row(target, key, "equals", got, wanted, None, False,
               f"the simulation was made for {key} {got}, but the targets ask for {wanted}; its numbers do not apply")


def supported(target: str, runtime: str, report: dict[str, Any] | None, why_none: str) -> dict[str, Any]:
    """The row saying the runtime can run every operator of the model on the target."""
    value = None if report is None else report.get("supported")
    if not isinstance(value, bool):
        reason = why_none if report is None else missing("simulation", "supported", report)
        return row(target, "supported", "equals", None, True, None, False, f"cannot check supported: {reason}")
    on = f"{target} with {runtime}"
    if value:
        return row(target, "supported", "equals", True, True, None, True, f"every operator runs on {on}")
    reasons = report.get("reasons") or []
    detail = "; ".join(str(r) for r in reasons) if isinstance(reasons, list) else str(reasons)
    return row(target, "supported", "equals", False, True, None, False,
               f"the model cannot run on {on}" + (f": {detail}" if detail else ""))


PRODUCERS = {"baseline": "ingest", "candidate": "quantize", "simulation": "device-simulate"}


def missing(which: str, key: str, metrics: dict[str, Any], note: str = "") -> str:
    """Why a metric has no value: the stage metrics `which` lack `key` or hold an unusable one."""
    if note:
        return f"the {which} metrics have no `{key}`: {note}"
    found = f"have no `{key}`" if metrics.get(key) is None else f"hold an unusable `{key}` ({metrics[key]!r})"
    return f"the {which} metrics {found}, which the {PRODUCERS[which]} stage should have produced"
