"""The gate: judge a candidate model's metrics and simulations against a targets file; write the verdict.

Verdict (also `verdict.json`)::

    {"passed": bool, "target": the first (or only) device, "require": "all" | "any",
     "checks": [{"target", "metric", "goal", "value", "threshold", "baseline", "passed", "reason"}, ...],
     "targets": [{"target", "runtime", "passed"}, ...],
     "baseline": {"source": "input"} or {"source": "registry", "registry", "name", "version", "uri", "note"},
     "metrics": {"quality": {metric: value}, "targets": [{"target", "runtime", "metrics": {metric: value}}]}}

The checks, in this order: for each device, `target` and `runtime` (its simulation was made for
them) and its goals; then the goals on the model's quality (`target` None); then, for each
device that requires it, `supported`. A device passes when all its rows pass; the model passes
when every quality goal does and every device (`require: all`) or one (`any`) passes. A missing
metric fails its row with a reason naming the stage that should have produced it; the verdict is
still written. `metrics` holds what was measured, for the registry: it is the baseline of the next
promotion with `baseline: registry`, where a change goal without a baseline value (no promoted
version yet, or one not measured on that device) passes and says so.
"""

import json
from pathlib import Path
from typing import Any

from edgeopt.common.errors import EdgeoptError
from edgeopt.common.fsutil import atomic_dir
from edgeopt.common.gate_metrics import DEVICE, METRICS, QUALITY, values
from edgeopt.common.targets import Goal, TargetEntry, Targets, load_targets
from edgeopt.common.verdict import BLESSED, NOT_BLESSED, REPORT_FILE, VERDICT_FILE, render_markdown, target_list
from edgeopt.validate_targets.inputs import read_metrics, read_registry_baseline, read_simulations
from edgeopt.validate_targets.rows import BaselineReading, Reading, device_check, judge, missing, supported


class ModelRejected(EdgeoptError):
    """The verdict failed and the caller asked for that to be an error (exit code 1)."""

    exit_code = 1


def validate(targets: Targets, baseline: dict[str, Any], candidate: dict[str, Any],
             simulation: dict[str, Any] | list[dict[str, Any]]) -> dict[str, Any]:
    """The verdict of `candidate` (the quantize stage's metrics) and its simulation report(s) on
    `targets`. `baseline` is the input model's metrics (ingest) or, with `baseline: registry`, the
    registry baseline document. Never raises for missing metrics."""
    reports = simulation if isinstance(simulation, list) else [simulation]
    base = _Baseline(targets.baseline, baseline)
    fronts, backs, devices, measured = [], [], [], []
    for entry in targets.entries:
        report, why_none = _report_for(entry, reports, len(targets.entries))
        front, back = _device_rows(entry, report, why_none, base)
        fronts += front
        backs += back
        devices.append({"target": entry.target, "runtime": entry.runtime,
                        "passed": all(r["passed"] for r in front + back)})
        if report is not None and all(r["passed"] for r in front[:2]):  # the report is this device's
            measured.append({"target": entry.target, "runtime": entry.runtime, "metrics": values(report, DEVICE)})
    quality = [judge(g, None, _reading(g, candidate, "candidate", ""), base.quality(g)) for g in targets.quality]
    combine = any if targets.require == "any" else all
    passed = all(r["passed"] for r in quality) and combine(d["passed"] for d in devices)
    return {"passed": passed, "target": targets.entries[0].target, "require": targets.require,
            "checks": fronts + quality + backs, "targets": devices, "baseline": base.describe(),
            "metrics": {"quality": values(candidate, QUALITY), "targets": measured}}


def run(targets_path_or_text: str | Path, baseline_metrics_path: str | Path | None, candidate_metrics_path: str | Path,
        simulation_path: str | Path, out_dir: str | Path,
        registry_baseline_path: str | Path | None = None) -> dict[str, Any]:
    """Load the targets and the inputs, validate, and write `out_dir` atomically: `verdict.json`,
    `report.md` and a `BLESSED` or `NOT_BLESSED` marker. Returns the verdict.

    Metrics paths are JSON files or stage output folders holding `metrics.json`; the simulation
    is one report or a folder of them (see `inputs`). The baseline read is the one the targets
    name: `baseline_metrics_path` (input) or `registry_baseline_path` (registry); EdgeoptError
    when it is not given.
    """
    targets = load_targets(targets_path_or_text)
    if targets.baseline == "registry":
        if registry_baseline_path is None:
            raise EdgeoptError(f"{targets.source} compares with the registry (`baseline: registry`), but no "
                               "registry baseline was given",
                               "pass --registry-baseline FILE, written by `edgeopt registry baseline --registry "
                               "REGISTRY NAME --output DIR`")
        baseline = read_registry_baseline(registry_baseline_path)
    elif baseline_metrics_path is None:
        raise EdgeoptError(f"{targets.source} compares with the input model, but no baseline metrics were given",
                           "pass --baseline with the metrics.json the ingest stage wrote")
    else:
        baseline = read_metrics(baseline_metrics_path, "baseline")
    verdict = validate(targets, baseline, read_metrics(candidate_metrics_path, "candidate"),
                       read_simulations(simulation_path))
    with atomic_dir(out_dir) as scratch:
        (scratch / VERDICT_FILE).write_text(json.dumps(verdict, indent=2, sort_keys=True) + "\n")
        (scratch / REPORT_FILE).write_text(render_markdown(verdict))
        (scratch / (BLESSED if verdict["passed"] else NOT_BLESSED)).write_text("")
    return verdict


def summary(verdict: dict[str, Any]) -> dict[str, Any]:
    """A flat summary of a verdict, for artifact metadata: failed checks by metric, prefixed with
    their device when there are several."""
    several = len(verdict.get("targets", [])) > 1
    return {"passed": verdict["passed"], "target": verdict["target"], "checks": len(verdict["checks"]),
            "failed_checks": [f"{c['target']}/{c['metric']}" if several and c.get("target") else c["metric"]
                              for c in verdict["checks"] if not c["passed"]]}


def rejection(verdict: dict[str, Any]) -> ModelRejected:
    """The error raised when a failed verdict must stop the caller."""
    reasons = "; ".join(c["reason"] for c in verdict["checks"] if not c["passed"])
    return ModelRejected(f"the model does not meet the targets on {target_list(verdict)}: {reasons}",
                         "optimize further (e.g. prune harder, int8-quantize) or relax the targets")


def _device_rows(entry: TargetEntry, report: dict[str, Any] | None, why_none: str, base: "_Baseline"
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A device's rows: (`target`, `runtime` and its goals; `supported` when it is required)."""
    front = [device_check("target", entry.target, entry.target, report, why_none,
                          report is not None and _same_target(str(report.get("target")), entry.target)),
             device_check("runtime", entry.target, entry.runtime, report, why_none,
                          report is not None and _same_runtime(report.get("runtime"), entry.runtime))]
    front += [judge(g, entry.target, _reading(g, report, "simulation", why_none), base.device(g, entry))
              for g in entry.goals]
    back = [supported(entry.target, entry.runtime, report, why_none)] if entry.require_supported else []
    return front, back


class _Baseline:
    """The baseline values goals compare with: the input model's metrics or a registry version's."""

    def __init__(self, source: str, doc: dict[str, Any]) -> None:
        self.source = source
        self.doc = doc

    def describe(self) -> dict[str, Any]:
        if self.source != "registry":
            return {"source": "input"}
        return {"source": "registry", **{k: self.doc.get(k) for k in ("registry", "name", "version", "uri", "note")}}

    def quality(self, goal: Goal) -> BaselineReading:
        if self.source == "registry":
            return self._registered(goal, self.doc.get("quality") or {}, "")
        metric = METRICS[goal.metric]
        if not metric.input_baseline:
            return BaselineReading(None, f"the input model has no {goal.metric}: it is the reference "
                                   f"{goal.metric} is measured against")
        value, key = metric.read(self.doc)
        return BaselineReading(value, "" if value is not None else missing("baseline", key, self.doc))

    def device(self, goal: Goal, entry: TargetEntry) -> BaselineReading:
        if self.source != "registry":
            return BaselineReading(None, f"the input model is not simulated, so it has no {goal.metric}")
        for item in self.doc.get("targets") or []:
            if isinstance(item, dict) and _same_target(str(item.get("target")), entry.target) \
                    and _same_runtime(item.get("runtime"), entry.runtime):
                return self._registered(goal, item.get("metrics") or {}, f" on {entry.target}")
        return self._registered(goal, None, f" on {entry.target} with {entry.runtime}")

    def _registered(self, goal: Goal, found: dict[str, Any] | None, on: str) -> BaselineReading:
        version, name = self.doc.get("version"), self.doc.get("name")
        if version is None:
            return BaselineReading(None, str(self.doc.get("note") or f"{name} has no promoted version yet"),
                                   lenient=True)
        value = (found or {}).get(goal.metric)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            what = "was not judged" if found is None else f"has no {goal.metric}"
            return BaselineReading(None, f"{version} of {name} {what}{on}; the goal applies from the next "
                                   "promotion on", against=version, lenient=True)
        return BaselineReading(float(value), against=version)


def _reading(goal: Goal, metrics: dict[str, Any] | None, which: str, why_none: str) -> Reading:
    """The measured value of `goal`'s metric in the stage metrics `which`, or why there is none."""
    if metrics is None:
        return Reading(None, why_none)
    metric = METRICS[goal.metric]
    value, key = metric.read(metrics)
    if value is not None:
        return Reading(value)
    note = metrics.get(metric.note_key) if metric.note_key else None
    return Reading(None, missing(which, key, metrics, note if isinstance(note, str) else ""))


def _report_for(entry: TargetEntry, reports: list[dict[str, Any]], entries: int
                ) -> tuple[dict[str, Any] | None, str]:
    """The simulation report of `entry`: the one for its target and runtime, else one for its
    target, else the only report when there is one entry (its rows then say what it was made
    for); or None and why."""
    same = [r for r in reports if _same_target(str(r.get("target")), entry.target)]
    exact = [r for r in same if _same_runtime(r.get("runtime"), entry.runtime)]
    if exact or same:
        return (exact or same)[0], ""
    if len(reports) == 1 and entries == 1:
        return reports[0], ""
    made = ", ".join(f"{r.get('target')} with {r.get('runtime')}" for r in reports) or "nothing"
    return None, f"no simulation report is for {entry.target} (the reports are for {made})"


def _same_runtime(got: Any, wanted: str) -> bool:
    return isinstance(got, str) and got.strip().lower() == wanted.strip().lower()


def _same_target(a: str, b: str) -> bool:
    """Whether two target names mean the same device (a board name may alias a CORE@CLOCK)."""
    if a.strip().lower() == b.strip().lower():
        return True
    try:
        from edgeopt.device_simulate.catalog import resolve_target
    except ModuleNotFoundError as exc:
        if exc.name in ("edgeopt.device_simulate", "edgeopt.device_simulate.catalog"):
            return False
        raise
    try:
        return resolve_target(a) == resolve_target(b)
    except EdgeoptError:
        return False
