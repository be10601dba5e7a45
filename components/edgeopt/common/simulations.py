"""A folder of simulation reports, one per device of a targets file, plus an index: written by the
device-simulate stage (`simulate_all`), read by validate-targets (`edgeopt validate --simulation`).

`simulate_all(model, targets, out_dir, simulate, render)` writes `out_dir` completely or not at all::

    index.json            {"model", "targets" (the file), "reports": [{"dir", "target", "runtime",
                           "supported", "latency_ms", "ram_bytes", "flash_bytes", "energy_uj"}, ...]}
    0-cortex-m4f-80mhz/   report.json and report.md of targets[0] (and the Vela-compiled model of
    1-nucleo-h7a3zi-q/    an NPU target), then one folder per further entry, in the file's order

The simulator is passed in (`edgeopt.device_simulate.core.simulate` and its `render_markdown`), so
that this module, shared by both stages, imports neither.
"""

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeopt.common.errors import EdgeoptError
from edgeopt.common.fsutil import atomic_dir
from edgeopt.common.targets import load_targets

INDEX_FILE = "index.json"
REPORT_FILE = "report.json"
REPORT_MARKDOWN = "report.md"
SUMMARY_KEYS = ("target", "runtime", "supported", "latency_ms", "ram_bytes", "flash_bytes", "energy_uj")


def simulate_all(model: str | Path, targets: str | Path, out_dir: str | Path, simulate: Callable[..., dict[str, Any]],
                 render: Callable[[dict[str, Any]], str]) -> dict[str, Any]:
    """Simulate `model` (.tflite file or tflite bundle) on each entry of the targets file `targets`
    (a path or the YAML text) with the entry's runtime, as `simulate(model, target, runtime,
    artifacts_dir=...)`; write each report and its Markdown (`render(report)`) and the index to
    `out_dir`; return the index. EdgeoptError for a bad targets file or model, and `out_dir` as it was."""
    spec = load_targets(targets)
    reports = []
    with atomic_dir(out_dir) as scratch:
        for number, entry in enumerate(spec.entries):
            name = f"{number}-{re.sub(r'[^a-z0-9]+', '-', entry.target.lower()).strip('-')}"
            folder = scratch / name
            folder.mkdir()
            report = simulate(model, entry.target, entry.runtime, artifacts_dir=folder)
            (folder / REPORT_FILE).write_text(json.dumps(report, indent=2, default=str) + "\n")
            (folder / REPORT_MARKDOWN).write_text(render(report))
            reports.append({"dir": name, **{k: report.get(k) for k in SUMMARY_KEYS}})
        index = {"model": str(model), "targets": spec.source, "reports": reports}
        (scratch / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n")
    return index


def read_reports(folder: str | Path) -> list[dict[str, Any]]:
    """The reports in a folder `simulate_all` wrote, in the index's order, or the one `report.json` of
    a single simulation; EdgeoptError when the folder holds neither or its index is not one."""
    folder = Path(folder)
    if (folder / INDEX_FILE).is_file():
        index = json.loads((folder / INDEX_FILE).read_text())
        return [json.loads((d / REPORT_FILE).read_text()) for d in indexed_dirs(folder, index)]
    if (folder / REPORT_FILE).is_file():
        return [json.loads((folder / REPORT_FILE).read_text())]
    raise EdgeoptError(f"{folder} holds no simulation report ({INDEX_FILE} or {REPORT_FILE})",
                       "pass the reports folder device-simulate wrote")


def indexed_dirs(folder: Path, index: Any) -> list[Path]:
    """The report folders `index` (the JSON of `folder`'s index.json) lists, each a folder inside
    `folder`; EdgeoptError for an index that does not list them so."""
    entries = index.get("reports") if isinstance(index, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("dir"), str)
                                                 and _plain(e["dir"]) for e in entries):
        raise EdgeoptError(f"simulation index {folder / INDEX_FILE} does not list its reports as "
                           '{"reports": [{"dir": ...}, ...]}', "simulate again")
    return [folder / e["dir"] for e in entries]


def _plain(name: str) -> bool:
    """A folder name inside the index's folder (no separators, not `.` or `..`)."""
    return bool(name) and "/" not in name and "\\" not in name and name not in (".", "..")
