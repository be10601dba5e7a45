"""The errors users need: leave-one-benchmark-out and leave-one-board-out, and the floor.

- Leave-one-benchmark-out: each MLPerf model is predicted, on every board and runtime it was
  measured with, by a fit that never saw that model on any board or runtime.
- Leave-one-board-out: each calibration board is predicted by a fit without any of its rows;
  only rows whose runtime was measured on another board can be predicted (a runtime seen on one
  board only has no scale without it: those rows are counted, not scored).
- Floor: the same runtime's latency of the same model on the other boards, scaled by clock
  (geometric mean over those boards), scored on the leave-one-board-out rows.

Errors are predicted / measured - 1; summaries are median, 90th percentile and maximum of |error|
in percent, overall, per runtime and per core.
"""

import math
import statistics
from dataclasses import dataclass

import numpy as np

from data import Row
from edgeopt.device_simulate.costmodel import OpWork
from model import fit


@dataclass(frozen=True)
class Prediction:
    """One held-out row: its prediction, and the floor's where defined."""

    row: Row
    predicted_ms: float
    floor_ms: float | None = None

    @property
    def error(self) -> float:
        return self.predicted_ms / self.row.latency_ms - 1

    @property
    def floor_error(self) -> float | None:
        return None if self.floor_ms is None else self.floor_ms / self.row.latency_ms - 1


def leave_one_benchmark_out(rows: list[Row], works: dict[str, list[OpWork]]) -> list[Prediction]:
    """Every row predicted by a fit on the other benchmarks' rows."""
    out = []
    for bench in sorted({r.benchmark for r in rows}):
        trained = fit([r for r in rows if r.benchmark != bench], works)
        out += [Prediction(r, trained.predict_ms(works, r.runtime, r.core, r.clock_mhz, bench))
                for r in rows if r.benchmark == bench]
    return out


def leave_one_board_out(rows: list[Row], works: dict[str, list[OpWork]]) -> tuple[list[Prediction], int]:
    """Rows predicted by a fit on the other boards' rows, and the count of rows that cannot be."""
    out, unscored = [], 0
    for board in sorted({r.board for r in rows}):
        train = [r for r in rows if r.board != board]
        seen = {r.runtime for r in train}
        held = [r for r in rows if r.board == board]
        unscored += sum(1 for r in held if r.runtime not in seen)
        trained = fit(train, works)
        for r in held:
            if r.runtime in seen:
                others = [t for t in train if t.runtime == r.runtime and t.benchmark == r.benchmark]
                floor = math.exp(statistics.fmean(math.log(t.latency_ms * t.clock_mhz / r.clock_mhz) for t in others)) \
                    if others else None
                out.append(Prediction(r, trained.predict_ms(works, r.runtime, r.core, r.clock_mhz, r.benchmark), floor))
    return out, unscored


def summary(errors: list[float]) -> dict[str, float]:
    """Median, 90th percentile and maximum |error| in percent, and the count."""
    absolute = np.abs(np.array(errors)) * 100
    return {"median_abs_pct": round(float(np.median(absolute)), 1),
            "p90_abs_pct": round(float(np.percentile(absolute, 90)), 1),
            "max_abs_pct": round(float(absolute.max()), 1), "rows": len(errors)}


def grouped(predictions: list[Prediction], key) -> dict[str, dict[str, float]]:
    """`summary` per value of `key(row)`."""
    groups: dict[str, list[float]] = {}
    for p in predictions:
        groups.setdefault(key(p.row), []).append(p.error)
    return {k: summary(v) for k, v in sorted(groups.items())}
