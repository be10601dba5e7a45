"""Plots both reports show, made from the pipeline's own records: a simulation report's per-layer
latency, a model's use of its budgets, a confusion matrix. Each maker returns the blocks to show:
the plot, or a note saying why there is none. Also the two reports' small readers of values."""

import math
from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any

from edgeopt.common.reports import plots
from edgeopt.common.reports.blocks import Block, Plot, Text
from edgeopt.common.verdict import fmt

TOP_LAYERS = 15
# a budgeted figure: (budget key, word, unit, the simulation key it is read from, the scale to the unit)
BUDGETED = (("latency_ms", "latency", "ms", "latency_ms", 1.0), ("flash_kb", "flash", "KB", "flash_bytes", 1 / 1024),
            ("ram_kb", "RAM", "KB", "ram_bytes", 1 / 1024), ("total_kb", "flash + RAM", "KB", "total_bytes", 1 / 1024))
# plots' ranks: the Markdown leaves out the highest first when it must
RANK_PARETO, RANK_BUDGET, RANK_CONFUSION, RANK_LAYERS = 0, 1, 2, 3


def number(value: Any) -> float | None:
    """`value` if it is a finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def layer_plots(reports: Sequence[dict[str, Any]]) -> list[Block]:
    """One per-layer latency plot per simulation report (its `layers`: the TOP_LAYERS slowest, the
    rest summed as one bar), or a note for a report without layers."""
    blocks: list[Block] = []
    for count, report in enumerate(reports):
        name = f"{report.get('target', '?')} ({report.get('runtime', '?')})"
        bars = layer_bars(report.get("layers"))
        if not bars:
            blocks.append(Text(f"No per-layer latency for {name}: its simulation report lists no layers.", "note"))
            continue
        total = number(report.get("latency_ms"))
        title = (f"Per-layer latency on {name}" + (f", {fmt(total)} ms in all" if total is not None else "")
                 + (f" (the {TOP_LAYERS} slowest layers)" if bars[-1].other else ""))
        blocks.append(Plot(f"layers-{count}", title, partial(plots.layers, f"eo-layers-{count}", bars),
                           RANK_LAYERS))
    return blocks


def layer_bars(layers: Any) -> list[plots.Bar]:
    """The bars of a report's `layers` ({index, op, ms, share, ...}): the TOP_LAYERS largest by ms,
    then "other N layers" with the rest; layers without a usable ms are skipped."""
    usable = [layer for layer in layers or [] if isinstance(layer, dict) and number(layer.get("ms")) is not None]
    total = sum(layer["ms"] for layer in usable) or 1.0

    def share(layer: dict[str, Any]) -> float:
        given = number(layer.get("share"))
        return layer["ms"] / total if given is None else given

    ranked = sorted(usable, key=lambda layer: -layer["ms"])
    bars = [plots.Bar(f"{layer.get('index', '?')} {layer.get('op', '?')}", float(layer["ms"]), share(layer))
            for layer in ranked[:TOP_LAYERS]]
    rest = ranked[TOP_LAYERS:]
    if rest:
        bars.append(plots.Bar(f"other {len(rest)} layers", sum(layer["ms"] for layer in rest),
                              sum(share(layer) for layer in rest), other=True))
    return bars


def budget_bars(entries: Iterable[tuple[str, Any, Any, str]]) -> tuple[list[plots.BudgetBar], list[str]]:
    """Bars of (label, value, limit, unit) entries, and the labels of those with no value; an entry
    without a positive limit has no bar."""
    bars, missing = [], []
    for label, value, limit, unit in entries:
        value, limit = number(value), number(limit)
        if limit is None or limit <= 0:
            continue
        if value is None:
            missing.append(label)
        else:
            bars.append(plots.BudgetBar(label, value, limit, unit))
    return bars, missing


def budget_plot(bars: Sequence[plots.BudgetBar], missing: Sequence[str], what: str) -> list[Block]:
    """The budget bars of `what` (e.g. "the chosen model"), with a note naming budgets that have
    no value to compare (`missing`)."""
    blocks: list[Block] = []
    if bars:
        over = [b.label for b in bars if b.over]
        title = f"Share of each budget {what} uses" + (f"; over budget: {', '.join(over)}" if over else
                                                      "; all within budget")
        blocks.append(Plot("budgets", title, partial(plots.budgets, tuple(bars)), RANK_BUDGET))
    else:
        blocks.append(Text(f"No budget plot: {what} has no budgeted figure to compare.", "note"))
    if missing:
        blocks.append(Text(f"Budgets with no value to compare: {', '.join(missing)}.", "note"))
    return blocks


def confusion_plot(matrix: Any, what: str) -> list[Block]:
    """The confusion matrix of `what` as a heatmap, or a note when there is none or it is not a
    rectangular table of counts."""
    if matrix is None:
        return [Text(f"No confusion matrix for {what}.", "note")]
    rows = matrix if isinstance(matrix, list) and matrix and all(isinstance(r, list) for r in matrix) else []
    if not rows or len({len(r) for r in rows}) != 1 or not rows[0] or \
            any(number(v) is None or v < 0 for r in rows for v in r):
        return [Text(f"The confusion matrix of {what} is not a table of counts; it is not shown.", "note")]
    title = f"Confusion matrix of {what} ({len(rows)} classes; rows: true class, colour: share of the row)"
    return [Plot("confusion", title, partial(plots.confusion, [list(r) for r in rows]), RANK_CONFUSION)]
