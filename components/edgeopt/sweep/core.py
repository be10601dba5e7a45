"""Gather a sweep: every candidate's recipe, metrics, simulations and verdict into `pareto.json`, the
Pareto front, the chosen candidate and the files promotion needs.

`pareto.json` (schema `edgeopt.sweep/v1`)::

    {"schema", "quality_metric", "quality_better", "baseline" (the input model's metrics),
     "targets": [{"target", "runtime", "budgets": {"latency_ms", "flash_kb", "ram_kb", "total_kb"}}],
     "quality_floor" (the worst quality the quality goals allow, when they fix one, else null),
     "candidates": [{"id", "label", "recipe", "metrics", "quality",
                     "simulation": {target: {"latency_ms", "ram_bytes", "flash_bytes", "total_bytes",
                                             "energy_uj", "supported", "runtime"}},
                     "verdict": {"passed", "targets": {target: passed}, "quality_passed", "failed": [reason],
                                 "failed_goals": ["latency_ms on TARGET", "accuracy_drop", ...]},
                     "on_front", "chosen"}],
     "front": [id], "chosen": id or null, "why": a sentence}

The figures come from each candidate's own verdict (what the gate judged); the simulation folders
and quantize metrics of the same candidate must agree with it, which catches outputs gathered out
of order. The chosen candidate's model, float model, verdict and report are copied out for
promotion; with none chosen the verdict written is NOT_BLESSED, so that promotion is skipped.
"""

import json
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeopt.common.errors import EdgeoptError
from edgeopt.common.gate_metrics import METRICS
from edgeopt.common.metrics import read_metrics
from edgeopt.common.simulations import read_reports
from edgeopt.common.targets import Targets, load_targets
from edgeopt.common.verdict import NOT_BLESSED, REPORT_FILE, VERDICT_FILE
from edgeopt.sweep import pareto

SCHEMA = "edgeopt.sweep/v1"
PARETO_FILE = "pareto.json"
BUDGET_KEYS = ("latency_ms", "flash_kb", "ram_kb", "total_kb")
QUALITY_FALLBACK = ("accuracy", "agreement", "snr_db")
BIG_KEYS = ("confusion_matrix", "layers", "per_class")  # arrays kept out of pareto.json


@dataclass(frozen=True)
class Candidate:
    """The outputs of one candidate's tasks: quantize metrics, simulation reports folder, verdict folder."""

    recipe: dict[str, Any]
    metrics: Path
    simulations: Path
    verdict: Path


def gather(targets_text: str, baseline_metrics: Path | str, candidates: Sequence[Candidate]) -> dict[str, Any]:
    """The pareto.json document of `candidates` judged against the targets file text `targets_text`."""
    if not candidates:
        raise EdgeoptError("the sweep has no candidates", "give the sweep at least one recipe")
    spec = load_targets(targets_text)
    baseline = read_metrics(baseline_metrics)
    names = [entry.target for entry in spec.entries]
    rows = [_candidate(c, names) for c in candidates]
    quality_key = quality_metric(spec, rows)
    better = METRICS[quality_key].spec.better if quality_key in METRICS else "higher"
    for row in rows:
        row["quality"] = row["metrics"].get(quality_key)
    on_front = pareto.front({r["id"]: pareto.objectives(r, names, better) for r in rows})
    chosen = pareto.choose(rows, names, better)
    for row in rows:
        row["on_front"] = row["id"] in on_front
        row["chosen"] = chosen is not None and row["id"] == chosen["id"]
    doc = {"schema": SCHEMA, "quality_metric": quality_key, "quality_better": better,
           "baseline": {k: v for k, v in baseline.items() if k not in BIG_KEYS},
           "targets": [{"target": e.target, "runtime": e.runtime, "budgets": budgets(e)} for e in spec.entries],
           "quality_floor": quality_floor(spec, quality_key, better, baseline),
           "candidates": rows, "front": on_front, "chosen": chosen["id"] if chosen else None}
    doc["why"] = why(doc, chosen)
    return doc


def quality_metric(spec: Targets, rows: list[dict[str, Any]]) -> str:
    """The quality axis: the metric of the targets' first quality goal, else the first of accuracy,
    agreement and SNR every candidate reports."""
    if spec.quality:
        return spec.quality[0].metric
    for key in QUALITY_FALLBACK:
        if all(r["metrics"].get(key) is not None for r in rows):
            return key
    return QUALITY_FALLBACK[0]


def budgets(entry) -> dict[str, float | None]:
    """The `max` goals of a target entry on latency and memory (None where there is none)."""
    found = {key: None for key in BUDGET_KEYS}
    for goal in entry.goals:
        if goal.metric in found and goal.rule == "max":
            found[goal.metric] = goal.threshold
    return found


def quality_floor(spec: Targets, key: str, better: str, baseline: dict[str, Any]) -> float | None:
    """The worst value of `key` the quality goals let pass (against the input baseline), or None."""
    base = baseline.get(key)
    bounds = []
    sign = 1 if better == "higher" else -1
    for goal in spec.quality:
        if goal.metric != key:
            continue
        if goal.rule == ("min" if better == "higher" else "max"):
            bounds.append(goal.threshold)
        elif goal.rule == "max_drop" and base is not None and spec.baseline == "input":
            bounds.append(base - sign * goal.threshold)
        elif goal.rule == "max_drop_relative" and base is not None and spec.baseline == "input":
            bounds.append(base - sign * abs(base) * goal.threshold)
    if not bounds:
        return None
    return max(bounds) if better == "higher" else min(bounds)


def why(doc: dict[str, Any], chosen: dict[str, Any] | None) -> str:
    """One sentence on the choice: which candidate and why, or why none."""
    rows = doc["candidates"]
    key = doc["quality_metric"]
    if chosen is None:
        reasons = Counter(goal for r in rows for goal in r["verdict"]["failed_goals"])
        common = "; ".join(f"{text} ({count} of {len(rows)})" for text, count in reasons.most_common(3))
        return f"No candidate of {len(rows)} passes every target" + (f": {common}." if common else ".")
    passing = sum(r["verdict"]["passed"] for r in rows)
    latencies = ", ".join(f"{chosen['simulation'][t['target']]['latency_ms']:.2f} ms on {t['target']}"
                          for t in doc["targets"])
    return (f"{chosen['id']} ({chosen['label']}) has the best {key} ({_value(key, chosen['quality'])}) of the "
            f"{passing} of {len(rows)} candidates that pass every target; {latencies}.")


def write_choice(doc: dict[str, Any], candidates: Sequence[Candidate], float_models: Sequence[Path],
                 models: Sequence[Path], best_model: Path | str, best_float_model: Path | str,
                 best_verdict: Path | str, best_report: Path | str) -> Candidate | None:
    """Copy the chosen candidate's quantized and float models, verdict folder and report to the given
    paths; with none chosen, leave the models empty and write a NOT_BLESSED verdict. Returns the
    chosen candidate's outputs, or None."""
    index = next((i for i, r in enumerate(doc["candidates"]) if r["chosen"]), None)
    best_verdict = Path(best_verdict)
    if index is None:
        for folder in (best_model, best_float_model):
            Path(folder).mkdir(parents=True, exist_ok=True)
        best_verdict.mkdir(parents=True, exist_ok=True)
        verdict = {"passed": False, "checks": [], "targets": [], "reason": doc["why"]}
        (best_verdict / VERDICT_FILE).write_text(json.dumps(verdict, indent=2) + "\n")
        (best_verdict / NOT_BLESSED).touch()
        report = f"# Sweep: nothing to promote\n\n{doc['why']}\n"
        (best_verdict / REPORT_FILE).write_text(report)
        Path(best_report).parent.mkdir(parents=True, exist_ok=True)
        Path(best_report).write_text(report)
        return None
    chosen = candidates[index]
    _copy_tree(models[index], best_model)
    _copy_tree(float_models[index], best_float_model)
    _copy_tree(chosen.verdict, best_verdict)
    Path(best_report).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(chosen.verdict / REPORT_FILE, best_report)
    return chosen


def chosen_details(doc: dict[str, Any], chosen: Candidate | None) -> tuple[dict[str, dict[str, Any]], Any]:
    """(target -> full simulation report, confusion matrix or None) of the chosen candidate, for the report."""
    if chosen is None:
        return {}, None
    reports = {r.get("target"): r for r in read_reports(chosen.simulations)}
    matrix = read_metrics(chosen.metrics).get("confusion_matrix")
    return {t["target"]: reports.get(t["target"]) for t in doc["targets"] if reports.get(t["target"])}, matrix


def _candidate(c: Candidate, names: list[str]) -> dict[str, Any]:
    """One candidate's row: its figures from its verdict, checked against its own outputs."""
    recipe = dict(c.recipe)
    ident = str(recipe.get("candidate", "?"))
    verdict = read_metrics(c.verdict / VERDICT_FILE if c.verdict.is_dir() else c.verdict)
    metrics = read_metrics(c.metrics)
    if metrics.get("method") not in (None, recipe.get("quantize_method")):
        raise EdgeoptError(f"candidate {ident} was quantized with {metrics.get('method')}, but its recipe says "
                           f"{recipe.get('quantize_method')}: the gathered outputs are out of order",
                           "gather each candidate's outputs in the order of the planned recipes")
    judged = verdict.get("metrics") or {}
    quality = dict(judged.get("quality") or {})
    for key, value in metrics.items():
        if key not in BIG_KEYS and not isinstance(value, (dict, list)):
            quality.setdefault(key, value)
    by_target = {t["target"]: t for t in judged.get("targets") or []}
    reports = {r.get("target"): r for r in read_reports(c.simulations)}
    simulation = {}
    for name in names:
        report = reports.get(name)
        judged_there = (by_target.get(name) or {}).get("metrics") or {}
        if report is not None and judged_there.get("latency_ms") is not None \
                and abs(report["latency_ms"] - judged_there["latency_ms"]) > 1e-9 * max(1.0, report["latency_ms"]):
            raise EdgeoptError(f"candidate {ident}: its verdict judged {judged_there['latency_ms']} ms on {name} "
                               f"but its simulation says {report['latency_ms']} ms: the gathered outputs are out of order",
                               "gather each candidate's outputs in the order of the planned recipes")
        simulation[name] = figures(report)
    passed_by_target = {t["target"]: bool(t["passed"]) for t in verdict.get("targets") or []}
    checks = verdict.get("checks") or []
    return {"id": ident, "label": recipe.get("label", ident), "recipe": recipe, "metrics": quality,
            "quality": None, "simulation": simulation,
            "verdict": {"passed": bool(verdict.get("passed")), "targets": passed_by_target,
                        "quality_passed": all(ch["passed"] for ch in checks if ch.get("target") is None),
                        "failed": [ch["reason"] for ch in checks if not ch["passed"]],
                        "failed_goals": sorted({f"{ch['metric']} on {ch['target']}" if ch.get("target") else ch["metric"]
                                                for ch in checks if not ch["passed"]})},
            "on_front": False, "chosen": False}


def figures(report: dict[str, Any] | None) -> dict[str, Any] | None:
    """The figures of one simulation report a sweep compares (flash + RAM as total_bytes); None for no report."""
    if report is None:
        return None
    ram, flash = report.get("ram_bytes"), report.get("flash_bytes")
    return {"latency_ms": report.get("latency_ms"), "ram_bytes": ram, "flash_bytes": flash,
            "total_bytes": None if ram is None or flash is None else ram + flash,
            "energy_uj": report.get("energy_uj"), "supported": report.get("supported"),
            "runtime": report.get("runtime")}


def _value(key: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.1f} %" if key in ("accuracy", "agreement") else f"{value:.4g}"


def _copy_tree(src: Path | str, dest: Path | str) -> None:
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest)
