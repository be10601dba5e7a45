"""The sweep report: a search over compression recipes, each candidate simulated on several targets
and gated, read from the pareto.json document (`edgeopt.sweep/v1`).

It shows the Pareto plot (one panel per target), the table of every candidate, why the chosen one
was chosen (or that none passed and what failed most often), and for the chosen candidate its
per-layer latency on each target, its use of each budget and its confusion matrix. Any figure may
be missing (a failed simulation): what is there is plotted and the text names what is not."""

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from edgeopt.common.gate_metrics import METRICS
from edgeopt.common.reports import plots
from edgeopt.common.reports.blocks import Block, Bullets, Cell, Heading, Plot, Row, Table, Text
from edgeopt.common.reports.document import Report, build
from edgeopt.common.reports.sections import (BUDGETED, RANK_PARETO, budget_bars, budget_plot, confusion_plot,
                                             layer_plots, number)
from edgeopt.common.verdict import fmt, join_and

SHOWN_UNITS = ("ms", "KB", "µJ", "dB")
MOST_FAILED = 3   # the failures named when no candidate passed
NAMED = 4         # candidates named in a panel's note of what it lacks


@dataclass(frozen=True)
class Quality:
    """How the quality metric is shown: its name, the factor and unit (accuracy 0.97 -> 97 %), and
    which direction is better."""

    metric: str
    scale: float
    unit: str
    better: str

    @classmethod
    def of(cls, doc: dict[str, Any]) -> "Quality":
        metric = str(doc.get("quality_metric") or "quality")
        known = METRICS.get(metric)
        better = doc.get("quality_better") or (known.better if known else "higher")
        if known and known.is_fraction:
            return cls(metric, 100.0, "%", better)
        return cls(metric, 1.0, known.spec.unit if known and known.spec.unit in SHOWN_UNITS else "", better)

    @property
    def label(self) -> str:
        return f"{self.metric}" + (f" ({self.unit})" if self.unit else "") + f", {self.better} is better"

    def value(self, raw: Any) -> float | None:
        value = number(raw)
        return None if value is None else value * self.scale

    def show(self, raw: Any) -> str:
        value = self.value(raw)
        return "-" if value is None else f"{fmt(value)} {self.unit}".rstrip()

    def fails_floor(self, raw: Any, floor: Any) -> bool:
        value, limit = number(raw), number(floor)
        if value is None or limit is None:
            return False
        return value < limit if self.better == "higher" else value > limit


def render_sweep_report(doc: dict[str, Any], simulations: dict[str, dict[str, Any]],
                        confusion: list[list[int]] | None) -> Report:
    """The report of the sweep `doc` (pareto.json); `simulations`: target name -> the chosen
    candidate's full simulation report there ({} when nothing was chosen); `confusion`: the chosen
    candidate's confusion matrix (rows: true class) or None."""
    quality = Quality.of(doc)
    targets = [t for t in doc.get("targets") or [] if isinstance(t, dict) and "target" in t]
    candidates = [c for c in doc.get("candidates") or [] if isinstance(c, dict)]
    chosen = next((c for c in candidates if doc.get("chosen") is not None and c.get("id") == doc.get("chosen")), None)
    title = f"Sweep: {len(candidates)} candidates on {len(targets)} target{'s' if len(targets) != 1 else ''}"
    blocks: list[Block] = [Heading(title, 1), Text(_summary(doc, candidates, targets, quality))]
    blocks += _outcome(doc, chosen, candidates, targets, quality)
    blocks += [Heading("Pareto front")] + _pareto(doc, candidates, chosen, targets, quality)
    blocks += [Heading("Candidates"), _table(candidates, chosen, targets, quality)]
    if chosen is None:
        blocks.append(Text("No candidate was chosen, so there are no per-layer, budget or confusion plots.", "note"))
    else:
        blocks += _chosen(chosen, targets, simulations, confusion)
    return build(title, blocks)


def _summary(doc: dict[str, Any], candidates: list[dict[str, Any]], targets: list[dict[str, Any]],
             quality: Quality) -> str:
    passed = sum(1 for c in candidates if _passed(c))
    front = sum(1 for c in candidates if c.get("on_front"))
    names = join_and([str(t["target"]) for t in targets]) or "no target"
    text = (f"{len(candidates)} candidates were simulated on {names} and gated: {passed} passed, {front} on the "
            "Pareto front.")
    baseline = doc.get("baseline") or {}
    facts = [f"{quality.metric} {quality.show(baseline.get(quality.metric))}"] if quality.metric in baseline else []
    if number(baseline.get("size_bytes")) is not None:
        facts.append(f"{fmt(baseline['size_bytes'] / 1024)} KB")
    if number(baseline.get("params")) is not None:
        facts.append(f"{int(baseline['params']):,} parameters")
    if facts:
        text += f" Baseline: {', '.join(facts)}."
    if number(doc.get("quality_floor")) is not None:
        text += f" Quality floor: {quality.metric} {quality.show(doc['quality_floor'])}."
    return text


def _outcome(doc: dict[str, Any], chosen: dict[str, Any] | None, candidates: list[dict[str, Any]],
             targets: list[dict[str, Any]], quality: Quality) -> list[Block]:
    blocks: list[Block] = []
    if chosen is not None:
        blocks.append(Text(f"Chosen: {chosen.get('id')} ({chosen.get('label', '')}), "
                           f"{quality.metric} {quality.show(chosen.get('quality'))}.", "ok"))
    else:
        failures = _failures(candidates, targets, quality, doc.get("quality_floor"))
        blocks.append(Text(f"No candidate passed: none of the {len(candidates)} meets every gate."
                           + (" Failed most often:" if failures else ""), "alert"))
        if failures:
            blocks.append(Bullets(tuple(f"{reason}: {count} of {len(candidates)} candidates"
                                        for reason, count in failures[:MOST_FAILED])))
    if doc.get("why"):
        blocks.append(Text(f"Why this model: {doc['why']}" if chosen is not None else str(doc["why"])))
    return blocks


def _failures(candidates: list[dict[str, Any]], targets: list[dict[str, Any]], quality: Quality,
              floor: Any) -> list[tuple[str, int]]:
    """What failed, most frequent first: from the figures against the budgets and the floor, or
    for a candidate where none of those failed, from its verdict's reasons."""
    counts: Counter[str] = Counter()
    for candidate in candidates:
        if _passed(candidate):
            continue
        found = _failed_checks(candidate, targets, quality, floor)
        verdict = candidate.get("verdict") or {}
        counts.update(set(found or verdict.get("failed") or ["no reason given"]))
    return counts.most_common()


def _failed_checks(candidate: dict[str, Any], targets: list[dict[str, Any]], quality: Quality,
                   floor: Any) -> list[str]:
    found = []
    if quality.value(candidate.get("quality")) is None:
        found.append(f"no {quality.metric} measured")
    elif quality.fails_floor(candidate.get("quality"), floor):
        found.append(f"{quality.metric} {'below' if quality.better == 'higher' else 'above'} the floor "
                     f"({quality.show(floor)})")
    for target in targets:
        name = target["target"]
        simulation = (candidate.get("simulation") or {}).get(name)
        if not simulation or number(simulation.get("latency_ms")) is None:
            found.append(f"no {'latency' if simulation else 'simulation'} on {name}")
            continue
        if simulation.get("supported") is False:
            found.append(f"unsupported operators on {name}")
        for key, word, unit, field, scale in BUDGETED:
            budget, value = number((target.get("budgets") or {}).get(key)), number(simulation.get(field))
            if budget is not None and value is not None and value * scale > budget:
                found.append(f"{word} over the {fmt(budget)} {unit} budget on {name}")
    return found


def _pareto(doc: dict[str, Any], candidates: list[dict[str, Any]], chosen: dict[str, Any] | None,
            targets: list[dict[str, Any]], quality: Quality) -> list[Block]:
    if not targets:
        return [Text("No Pareto plot: the sweep names no target.", "note")]
    panels, notes = [], []
    floor = quality.value(doc.get("quality_floor"))
    for target in targets:
        name = target["target"]
        points, unplotted, lacking = [], [], []
        for candidate in candidates:
            simulation = (candidate.get("simulation") or {}).get(name) or {}
            latency, value = number(simulation.get("latency_ms")), quality.value(candidate.get("quality"))
            size = number(simulation.get("total_bytes"))
            cid = str(candidate.get("id", "?"))
            if latency is None or value is None:
                unplotted.append(cid)
                missing = quality.metric if value is None else "latency" if simulation else "simulation"
                lacking.append(f"{cid} (no {missing})")
                continue
            if size is None:
                lacking.append(f"{cid} (no flash + RAM: smallest marker)")
            points.append(plots.Point(cid, latency, value, size, _passed(candidate), bool(candidate.get("on_front")),
                                      candidate is chosen))
        note = ""
        if unplotted:
            note = "not plotted: " + ", ".join(unplotted[:NAMED]) + (
                f" and {len(unplotted) - NAMED} more" if len(unplotted) > NAMED else "")
        if lacking:
            notes.append(f"{name}: {', '.join(lacking)}")
        budget = number((target.get("budgets") or {}).get("latency_ms"))
        panels.append(plots.Panel(f"{name} ({target.get('runtime', '?')})", tuple(points), budget, floor, note))
    title = (f"Predicted latency against {quality.metric} on each target; marker area: flash + RAM; "
             "grey: rejected; black ring and orange steps: the Pareto front; star: the chosen candidate")
    blocks: list[Block] = [Plot("pareto", title, partial(plots.pareto, tuple(panels), quality.label, quality.unit),
                                RANK_PARETO)]
    if notes:
        blocks.append(Text("Missing figures. " + "; ".join(notes) + ".", "note"))
    return blocks


def _table(candidates: list[dict[str, Any]], chosen: dict[str, Any] | None, targets: list[dict[str, Any]],
           quality: Quality) -> Table:
    header = ["id", "label", f"{quality.metric}" + (f" ({quality.unit})" if quality.unit else "")]
    for target in targets:
        header += [f"{target['target']} latency (ms)", f"{target['target']} flash + RAM (KB)",
                   f"{target['target']} gate"]
    header += ["on front", "chosen", "failed"]
    rows = []
    for candidate in candidates:
        verdict = candidate.get("verdict") or {}
        cells = [Cell(str(candidate.get("id", "?"))), Cell(str(candidate.get("label", "")), "label"),
                 Cell(_plain(quality.value(candidate.get("quality"))), "num")]
        for target in targets:
            simulation = (candidate.get("simulation") or {}).get(target["target"]) or {}
            total = number(simulation.get("total_bytes"))
            gate = (verdict.get("targets") or {}).get(target["target"])
            cells += [Cell(_plain(number(simulation.get("latency_ms"))), "num"),
                      Cell(_plain(None if total is None else total / 1024), "num"),
                      Cell("-" if gate is None else "pass" if gate else "FAIL",
                           "" if gate is None else "pass" if gate else "fail")]
        cells += [Cell("yes" if candidate.get("on_front") else ""), Cell("yes" if candidate is chosen else ""),
                  Cell("; ".join(str(r) for r in verdict.get("failed") or []), "reasons")]
        cls = ("passed" if _passed(candidate) else "rejected") + (" chosen" if candidate is chosen else "")
        rows.append(Row(tuple(cells), f"candidate {cls}"))
    return Table(tuple(header), tuple(rows), "candidates")


def _chosen(chosen: dict[str, Any], targets: list[dict[str, Any]], simulations: dict[str, dict[str, Any]],
            confusion: list[list[int]] | None) -> list[Block]:
    what = f"the chosen model {chosen.get('id')}"
    blocks: list[Block] = [Heading(f"Chosen model: {chosen.get('id')}")]
    names = [t["target"] for t in targets]
    given = {n: r for n, r in (simulations or {}).items() if isinstance(r, dict)}
    order = [n for n in names if n in given] + [n for n in given if n not in names]
    reports = [dict(given[n], target=given[n].get("target", n)) for n in order]
    absent = [n for n in names if n not in given]
    blocks += [Heading("Per-layer latency", 3)] + layer_plots(reports)
    if absent:
        blocks.append(Text(f"No simulation report for {join_and(absent)}.", "note"))
    bars, missing = budget_bars(_budget_entries(chosen, targets))
    blocks += [Heading("Budgets", 3)] + budget_plot(bars, missing, what)
    blocks += [Heading("Confusion matrix", 3)] + confusion_plot(confusion, what)
    return blocks


def _budget_entries(chosen: dict[str, Any], targets: list[dict[str, Any]]) -> Iterator[tuple[str, Any, Any, str]]:
    """(label, value, limit, unit) of each budgeted figure of the chosen candidate on each target."""
    for target in targets:
        simulation = (chosen.get("simulation") or {}).get(target["target"]) or {}
        for key, word, unit, field, scale in BUDGETED:
            value = number(simulation.get(field))
            yield (f"{target['target']} · {word}", None if value is None else value * scale,
                   (target.get("budgets") or {}).get(key), unit)


def _passed(candidate: dict[str, Any]) -> bool:
    return bool((candidate.get("verdict") or {}).get("passed"))


def _plain(value: float | None) -> str:
    return "-" if value is None else fmt(value)

