"""Simulate a model on every device of a targets file: one report per entry, plus an index.

`simulate_all(model, targets, out_dir)` writes `out_dir` completely or not at all::

    index.json            {"model", "targets" (the file), "reports": [{"dir", "target", "runtime",
                           "supported", "latency_ms", "ram_bytes", "flash_bytes", "energy_uj"}, ...]}
    0-cortex-m4f-80mhz/   report.json and report.md of targets[0] (and the Vela-compiled model of
    1-nucleo-h7a3zi-q/    an NPU target), then one folder per further entry, in the file's order

`edgeopt validate --simulation out_dir` reads that folder.
"""

import json
import re
from pathlib import Path
from typing import Any

from edgeopt.common.fsutil import atomic_dir
from edgeopt.common.targets import load_targets

INDEX_FILE = "index.json"
REPORT_FILE = "report.json"
REPORT_MARKDOWN = "report.md"
SUMMARY_KEYS = ("target", "runtime", "supported", "latency_ms", "ram_bytes", "flash_bytes", "energy_uj")


def simulate_all(model: str | Path, targets: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """Simulate `model` (.tflite file or tflite bundle) on each entry of the targets file `targets`
    (a path or the YAML text) with the entry's runtime; write `out_dir` and return the index.
    EdgeoptError for a bad targets file or model, before anything is written."""
    from edgeopt.device_simulate.core import render_markdown, simulate

    spec = load_targets(targets)
    reports = []
    with atomic_dir(out_dir) as scratch:
        for number, entry in enumerate(spec.entries):
            name = f"{number}-{re.sub(r'[^a-z0-9]+', '-', entry.target.lower()).strip('-')}"
            folder = scratch / name
            folder.mkdir()
            report = simulate(model, entry.target, entry.runtime, artifacts_dir=folder)
            (folder / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
            (folder / REPORT_MARKDOWN).write_text(render_markdown(report))
            reports.append({"dir": name, **{k: report.get(k) for k in SUMMARY_KEYS}})
        index = {"model": str(model), "targets": spec.source, "reports": reports}
        (scratch / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n")
    return index
