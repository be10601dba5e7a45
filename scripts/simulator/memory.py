"""The simulator's memory against the MLPerf Tiny submissions (offline tool).

Reads `refdata`/mlperf_tiny_memory_calibration.csv and sorts every row by what its figure is (the
`note` column): the kinds differ and are compared only like with like.

- `network-ram` / `network-flash`: X-CUBE-AI's own estimate for the network (ModelRamOccupation,
  ModelFlashOccupation), against the simulator's activation pool (`arena_bytes`) and its model data
  in flash (`weights_flash_bytes`);
- `arena-bound`: the TFLM tensor arena configured in the source (kTensorArenaSize), an upper bound
  and not measured usage, against `arena_bytes`; besides the error, the fraction of rows where the
  prediction is below the bound;
- `workspace`: microTVM's generated AOT workspace (intermediate tensors), against `arena_bytes`;
- `buffers`: ONNC's generated static buffers (activations and im2col), against `arena_bytes`;
- `firmware`: whole-application sizes (model + runtime + harness + HAL): not compared, nor rows of
  frameworks no runtime profile claims or boards the catalog does not know.

Each compared row is one real `simulate()` of the official int8 model on the row's board with the
row's runtime. Error = (predicted - submitted) / submitted, in percent.

    python -m scripts.simulator.memory [--refdata DIR] [--models DIR] [--rows]
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from edgeopt.device_simulate.core import simulate
from edgeopt.device_simulate.hardware import find_board

from scripts.simulator.data import BENCHMARKS, MEMORY_CSV, SHARED, runtime_of

KINDS = ("network-ram", "network-flash", "arena-bound", "workspace", "buffers")
PREDICTED = {"network-ram": "arena_bytes", "network-flash": "weights_flash_bytes", "arena-bound": "arena_bytes",
             "workspace": "arena_bytes", "buffers": "arena_bytes"}


@dataclass(frozen=True)
class Compared:
    """One submitted figure against the simulator's matching figure."""

    kind: str
    family: str
    runtime: str
    board: str
    benchmark: str
    submitted_bytes: int
    predicted_bytes: int
    source_path: str

    @property
    def error_pct(self) -> float:
        return (self.predicted_bytes - self.submitted_bytes) / self.submitted_bytes * 100.0


@dataclass(frozen=True)
class Skipped:
    """One CSV row not compared, and why."""

    framework: str
    board: str
    benchmark: str
    reason: str
    source_path: str


def _bytes(pattern: str, note: str) -> int | None:
    m = re.search(pattern, note)
    return int(m.group(1)) if m else None


def classify(rec: dict) -> list[tuple[str, int]] | str:
    """The (kind, submitted bytes) figures of a CSV row, or the reason it is not comparable."""
    note, ram_kb = rec["note"], rec["ram_kb"]
    if "ModelFlashOccupation" in note:
        flash = _bytes(r"ModelFlashOccupation=(\d+) B", note) or round(float(rec["flash_kb"]) * 1024)
        ram = _bytes(r"ModelRamOccupation=(\d+) B", note) or round(float(ram_kb) * 1024)
        return [("network-ram", ram), ("network-flash", flash)]
    if "kTensorArenaSize" in note:
        m = re.search(r"kTensorArenaSize = (\d+) \* (\d+)", note)
        return [("arena-bound", int(m.group(1)) * int(m.group(2)) if m else round(float(ram_kb) * 1024))]
    if "WORKSPACE_SIZE" in note:
        return [("workspace", _bytes(r"WORKSPACE_SIZE = (\d+) B", note) or round(float(ram_kb) * 1024))]
    if "ONNC-generated static buffers" in note:
        return [("buffers", _bytes(r"= (\d+) B \(", note) or round(float(ram_kb) * 1024))]
    if "whole application" in note:
        return ("whole-firmware size (model + runtime + EEMBC harness + HAL): the simulator does not model "
                "the harness and HAL, so no like-for-like figure")
    return f"figure of an unknown kind: {note}"


@cache
def _simulate(model: str, board: str, runtime: str) -> dict:
    return simulate(model, board, runtime)


def compare(refdata: Path = SHARED / "refdata",
            models: Path = SHARED / "models" / "mlperf-tiny") -> tuple[list[Compared], list[Skipped]]:
    """Every comparable row of the memory CSV against simulate(), and the rows left out with why."""
    compared, skipped = [], []
    with open(Path(refdata) / MEMORY_CSV, newline="") as fh:
        for rec in csv.DictReader(fh):
            figures = classify(rec)
            framework = re.sub(r"^X-CUBE-AI (\d)", r"X-CUBE-AI v\1", rec["framework"])
            rt, board = runtime_of(framework, rec["version"]), find_board(rec["board"])
            reason = (figures if isinstance(figures, str) else
                      "no runtime profile claims this framework" if rt is None else
                      "board not in the catalog" if board is None else None)
            if reason is not None:
                skipped.append(Skipped(rec["framework"], rec["board"], rec["benchmark"], reason,
                                       rec["source_path"]))
                continue
            report = _simulate(str(Path(models) / BENCHMARKS[rec["benchmark"]]), board, rt.name)
            for kind, submitted in figures:
                compared.append(Compared(kind, rt.family, rt.name, board, rec["benchmark"], submitted,
                                         int(report[PREDICTED[kind]]), rec["source_path"]))
    return compared, skipped


def summary(compared: list[Compared]) -> list[dict]:
    """Per (runtime family, kind): rows, median and max |error| %, and for arena bounds the fraction below."""
    groups: dict[tuple[str, str], list[Compared]] = {}
    for c in compared:
        groups.setdefault((c.family, c.kind), []).append(c)
    out = []
    for (family, kind), cs in sorted(groups.items(), key=lambda kv: (kv[0][0], KINDS.index(kv[0][1]))):
        errs = [abs(c.error_pct) for c in cs]
        below = (sum(c.predicted_bytes < c.submitted_bytes for c in cs) / len(cs)) if kind == "arena-bound" else None
        out.append({"family": family, "kind": kind, "rows": len(cs), "median_abs_error_pct": statistics.median(errs),
                    "max_abs_error_pct": max(errs), "below_bound": below})
    return out


def markdown(rows: list[dict]) -> str:
    lines = ["| runtime family | kind | rows | median abs error | max abs error | predicted below bound |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        below = "-" if r["below_bound"] is None else f"{r['below_bound'] * 100:.1f}%"
        lines.append(f"| {r['family']} | {r['kind']} | {r['rows']} | {r['median_abs_error_pct']:.1f}% "
                     f"| {r['max_abs_error_pct']:.1f}% | {below} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refdata", type=Path, default=SHARED / "refdata")
    ap.add_argument("--models", type=Path, default=SHARED / "models" / "mlperf-tiny")
    ap.add_argument("--rows", action="store_true", help="also print every compared row")
    args = ap.parse_args(argv)
    compared, skipped = compare(args.refdata, args.models)
    print(markdown(summary(compared)))
    if args.rows:
        print("\n| kind | runtime | board | benchmark | submitted B | predicted B | error |\n| --- | --- | --- | --- | --- | --- | --- |")
        for c in compared:
            print(f"| {c.kind} | {c.runtime} | {c.board} | {c.benchmark} | {c.submitted_bytes:,} "
                  f"| {c.predicted_bytes:,} | {c.error_pct:+.1f}% |")
    reasons: dict[tuple[str, str], int] = {}
    for s in skipped:
        reasons[(s.framework, s.reason)] = reasons.get((s.framework, s.reason), 0) + 1
    print("\nNot compared:")
    for (framework, reason), n in sorted(reasons.items()):
        print(f"- {framework}: {n} rows ({reason})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
