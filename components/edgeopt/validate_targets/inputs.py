"""What the gate reads: stage metrics, simulation reports and registry baselines, each checked.

- metrics: a JSON file, or a stage's output folder holding `metrics.json`.
- simulations: one report (a JSON file; a folder holding `report.json`, as `edgeopt simulate
  --output` writes it, or `metrics.json`), or the folder `edgeopt.common.simulations` describes:
  `index.json` naming one folder per targets entry, each with its `report.json`.
- a registry baseline: the JSON `edgeopt registry baseline` writes, `{"source": "registry",
  "registry", "name", "version" (None before the first promotion), "quality": {metric: value},
  "targets": [{"target", "runtime", "metrics": {metric: value}}], "note"}`.
Anything else raises EdgeoptError saying which file and what to pass instead.
"""

import json
from pathlib import Path
from typing import Any

from edgeopt.common.errors import EdgeoptError
from edgeopt.common.metrics import METRICS_FILE
from edgeopt.common.simulations import INDEX_FILE, REPORT_FILE, indexed_dirs
from edgeopt.validate_targets.rows import PRODUCERS

REGISTRY_HINT = "write it with `edgeopt registry baseline --registry REGISTRY NAME --output DIR`"


def read_metrics(path: str | Path, which: str) -> dict[str, Any]:
    """The metrics JSON object of stage output `which` (baseline, candidate or simulation)."""
    path = Path(path)
    file = path / METRICS_FILE if path.is_dir() else path
    return _object(file, f"{which} metrics {file}", f"the metrics JSON written by the {PRODUCERS[which]} stage",
                   f"re-run the {PRODUCERS[which]} stage to rewrite them", plural=True)


def read_simulations(path: str | Path) -> list[dict[str, Any]]:
    """Every simulation report at `path`: one file, a report folder, or a folder with an index."""
    path = Path(path)
    if not path.is_dir():
        return [read_metrics(path, "simulation")]
    if (path / INDEX_FILE).is_file():
        return _indexed(path)
    for name in (REPORT_FILE, METRICS_FILE):
        if (path / name).is_file():
            return [read_metrics(path / name, "simulation")]
    raise EdgeoptError(f"simulation folder {path} holds no {INDEX_FILE}, {REPORT_FILE} or {METRICS_FILE}",
                       "pass the folder `edgeopt simulate --output DIR` wrote (with --target or --targets), "
                       "or a report JSON file")


def read_registry_baseline(path: str | Path) -> dict[str, Any]:
    """The registry baseline document at `path` (a JSON file or the folder holding metrics.json)."""
    path = Path(path)
    file = path / METRICS_FILE if path.is_dir() else path
    doc = _object(file, f"registry baseline {file}", "the registry baseline JSON", REGISTRY_HINT)
    if doc.get("source") != "registry" or not isinstance(doc.get("quality"), dict) \
            or not isinstance(doc.get("targets"), list) or "version" not in doc:
        raise EdgeoptError(f"{file} is not a registry baseline (it needs source: registry, version, quality "
                           "and targets)", REGISTRY_HINT)
    return doc


def _indexed(folder: Path) -> list[dict[str, Any]]:
    index = _object(folder / INDEX_FILE, f"simulation index {folder / INDEX_FILE}", "the index.json written by "
                    "`edgeopt simulate --targets FILE --output DIR`", "simulate again")
    return [read_metrics(d / REPORT_FILE, "simulation") for d in indexed_dirs(folder, index)]


def _object(file: Path, what: str, expected: str, fix: str, plural: bool = False) -> dict[str, Any]:
    """The JSON object in `file`; EdgeoptError naming `what` (grammatically plural when `plural`)."""
    does, is_, holds = ("do", "are", "hold") if plural else ("does", "is", "holds")
    if not file.is_file():
        raise EdgeoptError(f"{what} {does} not exist", f"pass {expected}")
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise EdgeoptError(f"{what} {is_} not readable JSON: {exc}", fix) from exc
    if not isinstance(data, dict):
        raise EdgeoptError(f"{what} {holds} a JSON {type(data).__name__}, not an object", f"pass {expected}")
    return data
