"""Energy per inference: each board's average power while inferring, and the estimate's error.

Power of a board = median over its rows with an energy measurement of E / T (uJ / ms = mW). The
estimate's error (leave-one-benchmark-out, like latency): power from the board's rows of the other
benchmarks times the leave-one-benchmark-out latency, against the measured energy.
"""

import statistics

from crossval import Prediction, summary


def energy_model(predictions: list[Prediction]) -> dict:
    """Per board with measured energy: power_mw, its range, and the estimate's error summary."""
    out = {}
    for board in sorted({p.row.board for p in predictions if p.row.energy_uj}):
        measured = [p for p in predictions if p.row.board == board and p.row.energy_uj]
        power = [p.row.energy_uj / p.row.latency_ms for p in measured]
        errors = []
        for p in measured:
            others = [q.row.energy_uj / q.row.latency_ms for q in measured if q.row.benchmark != p.row.benchmark]
            errors.append(statistics.median(others) * p.predicted_ms / p.row.energy_uj - 1)
        out[board] = {"power_mw": round(statistics.median(power), 2),
                      "power_range_mw": [round(min(power), 2), round(max(power), 2)], "error": summary(errors)}
    return out
