"""A grid of recipes sized from the budget, for a sweep given no recipes.

The baseline, quantized to int8 and simulated on each target, says how far it is from the budget:
`shrink` is the largest ratio of a predicted figure to its limit (latency, flash, RAM, flash + RAM)
over all targets. The cost of a recipe that distils to width `w` and then removes a share `r` of
each layer's channels (structured pruning) scales about as (w * (1 - r))^2, since both the inputs
and the outputs of every convolution shrink. The grid keeps the plain int8 baseline as a reference
and the recipes whose estimated cost lies nearest to, and on both sides of, 1 / (shrink * MARGIN):
what it takes to fit with some room for the estimate's error.
"""

import math
from collections.abc import Sequence
from typing import Any

from edgeopt.sweep.core import budgets

WIDTHS = (1.0, 0.75, 0.5, 0.35, 0.25)
RATIOS = (0.0, 0.25, 0.5, 0.75)
MARGIN = 1.25
LIMITS = {"latency_ms": ("latency_ms", 1.0), "flash_kb": ("flash_bytes", 1024.0), "ram_kb": ("ram_bytes", 1024.0),
          "total_kb": ("total_bytes", 1024.0)}


def shrink_needed(predicted: dict[str, dict[str, float]], budgets: dict[str, dict[str, float | None]]) -> float:
    """The largest predicted / limit ratio over every target and limit (below 1: the baseline fits).

    `predicted`: target -> {latency_ms, flash_bytes, ram_bytes, total_bytes} of the int8 baseline;
    `budgets`: target -> {latency_ms, flash_kb, ram_kb, total_kb}, None where there is no limit."""
    ratios = [1e-9]
    for target, limits in budgets.items():
        for key, limit in limits.items():
            if limit and key in LIMITS:
                figure, scale = LIMITS[key]
                value = predicted.get(target, {}).get(figure)
                if value is not None:
                    ratios.append(value / scale / limit)
    return max(ratios)


def grid(shrink: float, count: int = 8) -> list[dict[str, Any]]:
    """`count` recipes (the user form of `edgeopt.sweep.recipes`): the int8 baseline, then the
    width and channel-ratio pairs whose estimated cost is nearest to 1 / (shrink * MARGIN)."""
    if count < 1:
        raise ValueError("a grid needs at least one recipe")
    goal = math.log(1.0 / max(shrink * MARGIN, 1.0))
    pairs = [(w, r) for w in WIDTHS for r in RATIOS if (w, r) != (1.0, 0.0)]
    below = sorted((p for p in pairs if _log_cost(*p) <= goal), key=lambda p: goal - _log_cost(*p))
    above = sorted((p for p in pairs if _log_cost(*p) > goal), key=lambda p: _log_cost(*p) - goal)
    chosen: list[tuple[float, float]] = []
    while len(chosen) < count - 1 and (below or above):  # alternate sides, nearest first
        for side in (below, above):
            if side and len(chosen) < count - 1:
                chosen.append(side.pop(0))
    chosen.sort(key=lambda p: -_log_cost(*p))
    return [recipe(1.0, 0.0)] + [recipe(w, r) for w, r in chosen]


def recipe(width: float, ratio: float, method: str = "int8") -> dict[str, Any]:
    """One grid recipe: distil to `width` (none at 1), prune `ratio` of the channels (none at 0), quantize."""
    return {"distill": "none" if width >= 1.0 else {"width": width},
            "prune": "none" if ratio <= 0.0 else {"method": "structured", "ratio": ratio},
            "quantize": {"method": method}}


def estimated_cost(width: float, ratio: float) -> float:
    """The recipe's cost as a fraction of the baseline's (see the module docstring)."""
    return (width * (1.0 - ratio)) ** 2


def _log_cost(width: float, ratio: float) -> float:
    return math.log(estimated_cost(width, ratio))


def budgets_of(entries: Sequence[Any]) -> dict[str, dict[str, float | None]]:
    """target -> its `max` limits, from the entries of a checked targets file."""
    return {entry.target: budgets(entry) for entry in entries}
