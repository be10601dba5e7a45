"""The MLPerf Tiny measurements, read into rows of the runtime registry and the hardware catalog.

A latency row is one (runtime, board, benchmark): the median over its submissions. Runtimes come
from each profile's `mlperf` patterns in runtimes.yaml (`prefix` or `prefix|round`; the longest
prefix wins), boards from the catalog's names and aliases. Rows of frameworks no profile claims
are left out (Bosch HALE's int8_max_performance: one benchmark only).
"""

import csv
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

from edgeopt.device_simulate.costmodel import OpWork, analyse
from edgeopt.device_simulate.hardware import boards, find_board
from edgeopt.device_simulate.runtimes import Runtime, registry
from edgeopt.device_simulate.tflite_model import read_tflite

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
LATENCY_CSV = "mlperf_tiny_calibration.csv"
MEMORY_CSV = "mlperf_tiny_memory_calibration.csv"
BENCHMARKS = {"ad": "ad/autoencoder_toycar_int8_reference.tflite",
              "ic": "ic/resnet8_int8_reference.tflite",
              "kws": "kws/dscnn_kws_int8_reference.tflite",
              "vww": "vww/mobilenet_v1_025_vww96_int8_reference.tflite"}


@dataclass(frozen=True)
class Row:
    """One measured (runtime, board, benchmark): median latency and energy over its submissions."""

    runtime: str
    board: str
    benchmark: str
    latency_ms: float
    energy_uj: float | None
    submissions: int

    @property
    def core(self) -> str:
        return boards()[self.board]["core"]

    @property
    def clock_mhz(self) -> float:
        return float(boards()[self.board]["clock_mhz"])


def runtime_of(framework: str, round_: str) -> Runtime | None:
    """The profile whose `mlperf` pattern matches a framework value of a round, or None."""
    best, length = None, -1
    for rt in registry().values():
        for pattern in rt.mlperf:
            prefix, _, only = pattern.partition("|")
            if framework.startswith(prefix) and (not only or only == round_) and len(prefix) > length:
                best, length = rt, len(prefix)
    return best


def load_rows(refdata: Path) -> list[Row]:
    """The latency rows of `refdata`/mlperf_tiny_calibration.csv, merged per (runtime, board, benchmark)."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    with open(refdata / LATENCY_CSV, newline="") as fh:
        for rec in csv.DictReader(fh):
            rt, board = runtime_of(rec["framework"], rec["version"]), find_board(rec["board"])
            if rt is not None and board is not None:
                groups.setdefault((rt.name, board, rec["benchmark"]), []).append(rec)
    rows = []
    for (rt, board, bench), recs in sorted(groups.items()):
        energies = [float(r["energy_uj"]) for r in recs if r["energy_uj"]]
        rows.append(Row(rt, board, bench, statistics.median(float(r["latency_ms"]) for r in recs),
                        statistics.median(energies) if energies else None, len(recs)))
    return rows


def load_memory_rows(refdata: Path) -> list[dict]:
    """The memory CSV's rows with `runtime` and `board` resolved (rows no profile claims are left out)."""
    out = []
    with open(refdata / MEMORY_CSV, newline="") as fh:
        for rec in csv.DictReader(fh):
            framework = re.sub(r"^X-CUBE-AI (\d)", r"X-CUBE-AI v\1", rec["framework"])
            rt, board = runtime_of(framework, rec["version"]), find_board(rec["board"])
            if rt is not None and board is not None:
                out.append({**rec, "runtime": rt.name, "board": board})
    return out


def load_works(models: Path) -> dict[str, list[OpWork]]:
    """The per-operator work of the four official int8 MLPerf Tiny models."""
    return {bench: analyse(read_tflite((models / rel).read_bytes(), str(models / rel)))
            for bench, rel in BENCHMARKS.items()}
