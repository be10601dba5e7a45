"""The verdict report: one model gated by `edge_optimize`, read from verdict.json
(`edgeopt.common.verdict` says what it holds), its simulation reports and its quantize metrics.

It holds what `edgeopt.common.verdict.render_markdown` writes (the verdict and its failed reasons,
the quality table, one table per target), then the per-layer latency on each simulated target,
the use of each budget (the checks with goal `max` on latency_ms, flash_kb, ram_kb, total_kb: value
against threshold) and the confusion matrix."""

from typing import Any

from edgeopt.common.reports.blocks import Block, Bullets, Cell, Heading, Row, Table, Text
from edgeopt.common.reports.document import Report, build
from edgeopt.common.reports.plots import BudgetBar
from edgeopt.common.reports.sections import BUDGETED, budget_bars, budget_plot, confusion_plot, layer_plots
from edgeopt.common.verdict import check_cells, join_and

COLUMNS = ("check", "value", "limit", "result", "baseline", "reason")
UNITS = {key: unit for key, _, unit, _, _ in BUDGETED}
WORDS = {key: word for key, word, _, _, _ in BUDGETED}


def render_verdict_report(verdict: dict[str, Any], simulations: list[dict[str, Any]],
                          metrics: dict[str, Any]) -> Report:
    """The report of `verdict` (verdict.json), with the plots of `simulations` (one simulation
    report per target) and the `confusion_matrix` of `metrics` (the quantize metrics) if it has one."""
    checks = [c for c in verdict.get("checks") or [] if isinstance(c, dict)]
    passed = bool(verdict.get("passed"))
    headline = f"Verdict: {'PASSED' if passed else 'REJECTED'}"
    blocks: list[Block] = [Heading(headline, 1), Text(_sentence(verdict, checks), "ok" if passed else "alert")]
    if verdict.get("reason"):
        blocks.append(Text(str(verdict["reason"])))
    failed = [str(c.get("reason", c.get("metric"))) for c in checks if not c.get("passed")]
    if failed:
        blocks += [Text("Failed:"), Bullets(tuple(failed))]
    blocks += _baseline(verdict.get("baseline") or {})
    devices = [d for d in verdict.get("targets") or [] if isinstance(d, dict)]
    if not devices:
        blocks.append(_table(checks))
    else:
        quality = [c for c in checks if c.get("target") is None]
        if quality:
            blocks += [Heading("Model quality"), _table(quality)]
        for device in devices:
            state = "passed" if device.get("passed") else "FAILED"
            blocks += [Heading(f"{device.get('target')} ({device.get('runtime')}): {state}"),
                       _table([c for c in checks if c.get("target") == device.get("target")])]
    blocks += [Heading("Per-layer latency")] + (layer_plots([s for s in simulations if isinstance(s, dict)])
                                                 or [Text("No simulation report.", "note")])
    bars, missing = _budget_bars(checks)
    blocks += [Heading("Budgets")] + budget_plot(bars, missing, "the model")
    blocks += [Heading("Confusion matrix")] + confusion_plot((metrics or {}).get("confusion_matrix"), "the model")
    return build(f"{headline} on {_where(verdict)}", blocks)


def _sentence(verdict: dict[str, Any], checks: list[dict[str, Any]]) -> str:
    failed = [c for c in checks if not c.get("passed")]
    if not checks:
        return f"No check was made on {_where(verdict)}."
    if not verdict.get("passed"):
        return f"{len(failed)} of {len(checks)} checks failed on {_where(verdict)}."
    if failed:
        passing = [str(d.get("target")) for d in verdict.get("targets") or [] if d.get("passed")]
        return (f"The model passes on {join_and(passing)}, and one device is enough (require: any); "
                f"{len(failed)} of {len(checks)} checks failed elsewhere.")
    return f"The model passes all {len(checks)} checks on {_where(verdict)}."


def _where(verdict: dict[str, Any]) -> str:
    """The verdict's devices in words: A, B and C (or its one `target`; "no target" without any)."""
    names = [str(d.get("target")) for d in verdict.get("targets") or [] if isinstance(d, dict)]
    return join_and(names or ([str(verdict["target"])] if verdict.get("target") else ["no target"]))


def _baseline(baseline: dict[str, Any]) -> list[Block]:
    if baseline.get("source") != "registry":
        return []
    if baseline.get("version"):
        return [Text(f"Baseline: {baseline['version']} of {baseline.get('name')} in {baseline.get('registry')}.")]
    return [Text(f"Baseline: none. {baseline.get('note')}; the change goals were not checked.")]


def _table(rows: list[dict[str, Any]]) -> Table:
    """The checks as `render_markdown` tabulates them."""
    out = []
    for c in rows:
        metric, value, limit, ok, baseline, reason = check_cells(c)
        result = Cell("pass" if ok else "FAIL", "pass" if ok else "fail")
        out.append(Row((Cell(metric), Cell(value), Cell(limit), result, Cell(baseline), Cell(reason)),
                       "check" if ok else "check failed"))
    return Table(COLUMNS, tuple(out), "checks")


def _budget_bars(checks: list[dict[str, Any]]) -> tuple[list[BudgetBar], list[str]]:
    """A bar per check with goal max on a budgeted figure of a target; the labels of those with no value."""
    budgeted = [c for c in checks
                if c.get("goal") == "max" and c.get("metric") in UNITS and c.get("target") is not None]
    return budget_bars((f"{c['target']} · {WORDS[c['metric']]}", c.get("value"), c.get("threshold"),
                        UNITS[c["metric"]]) for c in budgeted)
