"""The verdict of the gate: its files and its Markdown report, shared by validate-targets (which writes
them) and promote (which publishes them).

`verdict.json`: {passed, target, require, checks: [{target, metric, goal, value, threshold,
baseline, passed, reason}], targets, baseline, metrics} (edgeopt.validate_targets.core says what
each holds); `report.md`: the verdict in words, then a table of the model's quality goals and one
table per device; `BLESSED` or `NOT_BLESSED`: an empty marker file a pipeline condition can read.
Verdicts written before there were several devices (rows without `target` and `goal`) render as
one table.
"""

from collections.abc import Sequence
from typing import Any

VERDICT_FILE = "verdict.json"
REPORT_FILE = "report.md"
BLESSED = "BLESSED"
NOT_BLESSED = "NOT_BLESSED"
# the limit column of a row: by its goal, or for rows without one by its metric
GOAL_LIMITS = {"min": "≥", "max": "≤", "equals": "=", "max_drop": "drop ≤", "max_drop_relative": "drop ≤",
               "max_increase": "increase ≤", "max_increase_relative": "increase ≤", "max_decrease": "decrease ≤",
               "max_decrease_relative": "decrease ≤", "min_improvement": "gain ≥",
               "min_improvement_relative": "gain ≥"}
COMPARISONS = {"min_accuracy": "≥", "supported": "=", "target": "=", "runtime": "="}
HEADER = ["| check | value | limit | result | baseline | reason |", "| --- | --- | --- | --- | --- | --- |"]


def render_markdown(verdict: dict[str, Any]) -> str:
    """A Markdown report: the verdict first, the baseline it compared with, then the tables."""
    checks = verdict["checks"]
    failed = [c for c in checks if not c["passed"]]
    devices = verdict.get("targets") or []
    reasons = "; ".join(c["reason"] for c in failed)
    passing = [d["target"] for d in devices if d["passed"]]
    if not verdict["passed"]:
        text = f"{len(failed)} of {len(checks)} checks failed on {target_list(verdict)}: {reasons}."
    elif failed:
        text = (f"The model passes on {join_and(passing)}, and one device is enough (`require: any`); "
                f"{len(failed)} of {len(checks)} checks failed elsewhere: {reasons}.")
    else:
        text = f"The model passes all {len(checks)} checks on {target_list(verdict)}."
    parts = [f"# Verdict: {'PASSED' if verdict['passed'] else 'REJECTED'}", text]
    baseline = verdict.get("baseline") or {}
    if baseline.get("source") == "registry":
        parts.append(f"Baseline: {baseline['version']} of {baseline['name']} in {baseline['registry']}."
                     if baseline.get("version") else f"Baseline: none. {baseline.get('note')}; the change goals "
                     "were not checked.")
    if not devices:
        return "\n\n".join(parts + [_table(checks)]) + "\n"
    quality = [c for c in checks if c.get("target") is None]
    if quality:
        parts += ["## Model quality", _table(quality)]
    for device in devices:
        rows = [c for c in checks if c.get("target") == device["target"]]
        parts += [f"## {device['target']} ({device['runtime']}): {'passed' if device['passed'] else 'FAILED'}",
                  _table(rows)]
    return "\n\n".join(parts) + "\n"


def target_list(verdict: dict[str, Any]) -> str:
    """The verdict's devices in a sentence: A, B and C."""
    return join_and([d["target"] for d in verdict.get("targets") or []] or [verdict["target"]])


def fmt(x: float) -> str:
    """A number for a sentence: 61.2, 50, 0.0042."""
    if x != 0 and abs(x) < 1:
        return f"{x:.2g}"
    return f"{x:.2f}".rstrip("0").rstrip(".")


def pct(x: float) -> str:
    """A fraction as a percentage: 0.0526 -> 5.26%."""
    return f"{fmt(100 * x)}%"


def _table(rows: list[dict[str, Any]]) -> str:
    lines = list(HEADER)
    for c in rows:
        metric, value, limit, passed, baseline, reason = check_cells(c)
        lines.append(f"| {_escape(metric)} | {_escape(value)} | {_escape(limit)} | {'pass' if passed else '**FAIL**'} | "
                     f"{_escape(baseline)} | {_escape(reason)} |")
    return "\n".join(lines)


def check_cells(check: dict[str, Any]) -> tuple[str, str, str, bool, str, str]:
    """A check row as the reports tabulate it: (metric, value, limit, passed, baseline, reason), the limit
    with its comparison (`drop ≤ 2%`), a relative goal's figures as percentages."""
    goal = check.get("goal")
    relative = isinstance(goal, str) and goal.endswith("_relative")
    sign = GOAL_LIMITS.get(goal, "≤") if goal else COMPARISONS.get(check.get("metric"), "≤")
    return (str(check.get("metric")), cell_text(check.get("value"), relative),
            f"{sign} {cell_text(check.get('threshold'), relative)}", bool(check.get("passed")),
            cell_text(check.get("baseline")), str(check.get("reason", "")))


def join_and(names: Sequence[str]) -> str:
    """Names in a sentence: "A", "A and B", "A, B and C" ("" for none)."""
    return " and ".join(filter(None, [", ".join(names[:-1]), names[-1]])) if names else ""


def cell_text(value: Any, relative: bool = False) -> str:
    """A check's value, limit or baseline as the report shows it (a fraction as points when `relative`)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return pct(value) if relative else fmt(value)
    return str(value)


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
