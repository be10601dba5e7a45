"""The Pareto front of a sweep's candidates and the choice of the one to promote.

Objectives, all minimised: the quality metric (negated when higher is better), then for each
target the predicted latency and flash + RAM. A candidate is on the front when no other candidate
is at least as good in every objective and better in one; a candidate missing a figure (its
simulation failed) is never on the front. The chosen candidate is the best one whose verdict
passed: highest quality, then lowest latency on the targets in the file's order, then least
flash + RAM; None when no verdict passed.
"""

from collections.abc import Sequence
from typing import Any

Vector = tuple[float, ...]


def objectives(candidate: dict[str, Any], targets: Sequence[str], better: str) -> Vector | None:
    """The minimised objective vector of a candidate (see the module docstring), None when a figure is missing."""
    quality = candidate.get("quality")
    values = [None if quality is None else (-quality if better == "higher" else quality)]
    for target in targets:
        figures = candidate["simulation"].get(target) or {}
        values += [figures.get("latency_ms"), figures.get("total_bytes")]
    return None if any(v is None for v in values) else tuple(float(v) for v in values)


def dominates(a: Vector, b: Vector) -> bool:
    """Whether `a` is at least as good as `b` in every objective and better in one."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def front(vectors: dict[str, Vector | None]) -> list[str]:
    """The ids whose vectors no other vector dominates, in the given order (missing vectors excluded)."""
    known = {key: v for key, v in vectors.items() if v is not None}
    return [key for key, v in known.items() if not any(dominates(other, v) for o, other in known.items() if o != key)]


def choose(candidates: Sequence[dict[str, Any]], targets: Sequence[str], better: str) -> dict[str, Any] | None:
    """The passing candidate to promote (see the module docstring), or None."""
    passing = [c for c in candidates if c["verdict"]["passed"] and objectives(c, targets, better) is not None]
    if not passing:
        return None

    def rank(c: dict[str, Any]) -> tuple[float, ...]:
        v = objectives(c, targets, better)
        latencies, totals = v[1::2], v[2::2]
        return (v[0], *latencies, sum(totals))

    return min(passing, key=rank)
