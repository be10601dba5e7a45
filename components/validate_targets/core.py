"""The gate: check a candidate's metrics against a targets file and write a verdict.

Verdict (also `verdict.json`)::

    {"passed": bool, "target": str,
     "checks": [{"metric", "value", "threshold", "passed", "reason"}, ...]}

One check per configured limit, in this order: `target` and `runtime` (the simulation was
made for the device and runtime the targets name), `latency_ms`, `flash_kb`, `ram_kb`,
`total_kb`, `accuracy_drop`, `accuracy_drop_relative`, `min_accuracy`, `supported` (when
`require_supported`). A value equal to its limit passes. A metric missing from the stage that
should have produced it fails its check with a reason saying so; the verdict is still written.
"""

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeopt.common.errors import EdgeoptError
from edgeopt.common.fsutil import atomic_dir
from edgeopt.common.verdict import BLESSED, NOT_BLESSED, REPORT_FILE, VERDICT_FILE, fmt, pct, points, render_markdown
from edgeopt.common.metrics import METRICS_FILE, read_metrics
from edgeopt.common.targets import Targets, load_targets


# Which stage produces each metrics dict, for "missing metric" reasons.
PRODUCERS = {"baseline": "ingest", "candidate": "quantize", "simulation": "device-simulate"}
# How a check compares its value with its threshold, for the report.


class ModelRejected(EdgeoptError):
    """The verdict failed and the caller asked for that to be an error (exit code 1)."""

    exit_code = 1


def validate(targets: Targets, baseline: dict[str, Any], candidate: dict[str, Any],
             simulation: dict[str, Any]) -> dict[str, Any]:
    """Check the metrics of the baseline (ingest), the candidate (quantize) and the device
    simulation against `targets`; return the verdict. Never raises for missing metrics."""
    metrics = {"baseline": baseline, "candidate": candidate, "simulation": simulation}
    checks = [_device_check("target", targets.target, simulation),
              _device_check("runtime", targets.runtime, simulation)]
    for metric, check in _LIMIT_CHECKS:
        threshold = getattr(targets, metric)
        if threshold is not None:
            checks.append(check(metric, threshold, targets.target, metrics))
    if targets.require_supported:
        checks.append(_supported(targets, simulation))
    return {"passed": all(c["passed"] for c in checks), "target": targets.target, "checks": checks}


def run(targets_path_or_text: str | Path, baseline_metrics_path: str | Path, candidate_metrics_path: str | Path,
        simulation_metrics_path: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """Load the targets and the three metrics files, validate, and write `out_dir` atomically:
    `verdict.json`, `report.md` and a `BLESSED` or `NOT_BLESSED` marker. Returns the verdict.

    Each metrics path is a JSON file or a stage's output folder holding `metrics.json`.
    """
    targets = load_targets(targets_path_or_text)
    verdict = validate(targets, _read(baseline_metrics_path, "baseline"),
                       _read(candidate_metrics_path, "candidate"), _read(simulation_metrics_path, "simulation"))
    with atomic_dir(out_dir) as scratch:
        (scratch / VERDICT_FILE).write_text(json.dumps(verdict, indent=2, sort_keys=True) + "\n")
        (scratch / REPORT_FILE).write_text(render_markdown(verdict))
        (scratch / (BLESSED if verdict["passed"] else NOT_BLESSED)).write_text("")
    return verdict


def summary(verdict: dict[str, Any]) -> dict[str, Any]:
    """A flat summary of a verdict, for artifact metadata."""
    return {"passed": verdict["passed"], "target": verdict["target"],
            "checks": len(verdict["checks"]),
            "failed_checks": [c["metric"] for c in verdict["checks"] if not c["passed"]]}


def rejection(verdict: dict[str, Any]) -> ModelRejected:
    """The error raised when a failed verdict must stop the caller."""
    reasons = "; ".join(c["reason"] for c in verdict["checks"] if not c["passed"])
    return ModelRejected(f"the model does not meet the targets on {verdict['target']}: {reasons}",
                         "optimize further (e.g. prune harder, int8-quantize) or relax the targets")


def _read(path: str | Path, which: str) -> dict[str, Any]:
    path = Path(path)
    file = path / METRICS_FILE if path.is_dir() else path
    what = f"{which} metrics {file}"
    if not file.is_file():
        raise EdgeoptError(f"{what} do not exist", f"pass the metrics JSON written by the {PRODUCERS[which]} stage")
    try:
        data = read_metrics(file)
    except (OSError, ValueError) as exc:
        raise EdgeoptError(f"{what} are not readable JSON: {exc}",
                           f"re-run the {PRODUCERS[which]} stage to rewrite them") from exc
    if not isinstance(data, dict):
        raise EdgeoptError(f"{what} hold a JSON {type(data).__name__}, not an object",
                           f"pass the metrics JSON written by the {PRODUCERS[which]} stage")
    return data


def _row(metric: str, value: Any, threshold: Any, passed: bool, reason: str) -> dict[str, Any]:
    return {"metric": metric, "value": value, "threshold": threshold, "passed": bool(passed), "reason": reason}


def _number(metrics: dict[str, Any], key: str) -> float | None:
    value = metrics.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _missing(metric: str, threshold: Any, which: str, key: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """The failing row of a check whose input metric is absent or not usable."""
    found = f"have no `{key}`" if metrics.get(key) is None else f"hold an unusable `{key}` ({metrics[key]!r})"
    return _row(metric, None, threshold, False,
                f"cannot check {metric}: the {which} metrics {found}, which the "
                f"{PRODUCERS[which]} stage should have produced")


def _within(value: float, limit: float) -> bool:
    """value <= limit, treating float round-off at the boundary as equal."""
    return value <= limit or math.isclose(value, limit, rel_tol=1e-9, abs_tol=1e-12)


def _resource(label: str, keys: tuple[str, ...], unit: str, scale: float) -> Callable[..., dict[str, Any]]:
    """A check of the simulation's `keys` (summed, times `scale`) against a maximum."""

    def check(metric: str, limit: float, target: str, metrics: dict[str, dict[str, Any]]) -> dict[str, Any]:
        sim = metrics["simulation"]
        parts = [_number(sim, k) for k in keys]
        for key, part in zip(keys, parts):
            if part is None:
                return _missing(metric, limit, "simulation", key, sim)
        value = sum(parts) * scale
        ok = _within(value, limit)
        verb = "is within" if ok else "exceeds"
        return _row(metric, value, limit, ok,
                    f"{label} {fmt(value)} {unit} {verb} the {fmt(limit)} {unit} limit on {target}")

    return check


def _accuracies(metric: str, limit: float, metrics: dict[str, dict[str, Any]]
                ) -> tuple[float, float] | dict[str, Any]:
    """(baseline, candidate) accuracy, or the failing row when one is missing."""
    base, cand = _number(metrics["baseline"], "accuracy"), _number(metrics["candidate"], "accuracy")
    if base is None:
        return _missing(metric, limit, "baseline", "accuracy", metrics["baseline"])
    if cand is None:
        return _missing(metric, limit, "candidate", "accuracy", metrics["candidate"])
    return base, cand


def _accuracy_drop(metric: str, limit: float, target: str, metrics: dict[str, dict[str, Any]]) -> dict[str, Any]:
    acc = _accuracies(metric, limit, metrics)
    if isinstance(acc, dict):
        return acc
    base, cand = acc
    drop = base - cand
    ok = _within(drop, limit)
    change = f"fell by {points(drop)}" if drop > 0 else "did not fall"
    verdict = "within" if ok else "more than"
    return _row(metric, drop, limit, ok, f"accuracy {change} ({pct(base)} to {pct(cand)}), "
                f"{verdict} the allowed {points(limit)}")


def _accuracy_drop_relative(metric: str, limit: float, target: str,
                            metrics: dict[str, dict[str, Any]]) -> dict[str, Any]:
    acc = _accuracies(metric, limit, metrics)
    if isinstance(acc, dict):
        return acc
    base, cand = acc
    if base <= 0:
        return _row(metric, None, limit, False,
                    f"cannot check {metric}: the baseline accuracy is {pct(base)}, so a relative drop is undefined")
    drop = (base - cand) / base
    ok = _within(drop, limit)
    change = f"fell by {pct(drop)} of the baseline's {pct(base)}" if drop > 0 else \
        f"did not fall ({pct(base)} to {pct(cand)})"
    verdict = "within" if ok else "more than"
    return _row(metric, drop, limit, ok, f"accuracy {change}, {verdict} the allowed {pct(limit)}")


def _min_accuracy(metric: str, limit: float, target: str, metrics: dict[str, dict[str, Any]]) -> dict[str, Any]:
    cand = _number(metrics["candidate"], "accuracy")
    if cand is None:
        return _missing(metric, limit, "candidate", "accuracy", metrics["candidate"])
    ok = cand >= limit or math.isclose(cand, limit, rel_tol=1e-9, abs_tol=1e-12)
    verdict = "reaches" if ok else "is below"
    return _row(metric, cand, limit, ok, f"accuracy {pct(cand)} {verdict} the {pct(limit)} floor")


# (check name = Targets field holding its threshold, check function), in report order
_LIMIT_CHECKS: tuple[tuple[str, Callable[..., dict[str, Any]]], ...] = (
    ("latency_ms", _resource("latency", ("latency_ms",), "ms", 1.0)),
    ("flash_kb", _resource("flash", ("flash_bytes",), "KB", 1 / 1024)),
    ("ram_kb", _resource("RAM", ("ram_bytes",), "KB", 1 / 1024)),
    ("total_kb", _resource("flash + RAM", ("flash_bytes", "ram_bytes"), "KB", 1 / 1024)),
    ("accuracy_drop", _accuracy_drop),
    ("accuracy_drop_relative", _accuracy_drop_relative),
    ("min_accuracy", _min_accuracy),
)


def _supported(targets: Targets, simulation: dict[str, Any]) -> dict[str, Any]:
    value = simulation.get("supported")
    if not isinstance(value, bool):
        return _missing("supported", True, "simulation", "supported", simulation)
    on = f"{targets.target} with {targets.runtime}"
    if value:
        return _row("supported", True, True, True, f"every operator runs on {on}")
    reasons = simulation.get("reasons") or []
    detail = "; ".join(str(r) for r in reasons) if isinstance(reasons, list) else str(reasons)
    return _row("supported", False, True, False,
                f"the model cannot run on {on}" + (f": {detail}" if detail else ""))


def _device_check(key: str, wanted: str, simulation: dict[str, Any]) -> dict[str, Any]:
    """The simulation was made for the `target` / `runtime` the targets file names."""
    got = simulation.get(key)
    if not isinstance(got, str) or not got:
        return _missing(key, wanted, "simulation", key, simulation)
    ok = _same_target(got, wanted) if key == "target" else got.strip().lower() == wanted.strip().lower()
    if ok:
        return _row(key, got, wanted, True, f"simulated for {key} {got}")
    return _row(key, got, wanted, False,
                f"the simulation was made for {key} {got}, but the targets ask for {wanted}; "
                f"its numbers do not apply")


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
