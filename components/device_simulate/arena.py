"""The tensor arena that the real TFLite Micro memory planner allocates for a model.

The `tflite-micro` Python package builds the TFLM interpreter (reference kernels) on the host;
constructing it runs `AllocateTensors`, and its RecordingMicroAllocator reports the arena it used
via `print_allocations()`, which writes to the C++ stderr. The interpreter runs in a child
process (`python -m edgeopt.device_simulate.arena MODEL`): a malformed flatbuffer can crash the
C++ code, and the child's stderr is the simplest place to read the report from. Results are
cached per model content within the process.
"""

import hashlib
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

PROBE_ARENA_BYTES = 256 * 1024 * 1024  # virtual only on the host; far above any MCU's RAM
PROBE_TIMEOUT_S = 60

_TOTAL = re.compile(r"Arena allocation (total|head|tail) (\d+) bytes")
_CATEGORY = re.compile(r"'([^']+)' used (\d+) bytes with alignment overhead \(requested (\d+) bytes for (\d+)")
_MISSING_OP = re.compile(r"Didn't find op for builtin opcode '([^']+)'|Failed to get registration from op code ([\w ]+)")

_cache: dict[str, "ArenaReport"] = {}


@dataclass
class ArenaReport:
    """What the TFLM RecordingMicroAllocator reported on the host (64-bit) build.

    `head` is the non-persistent section the planner lays out (activations, scratch buffers),
    `tail` the persistent section (runtime structs, kernel data); `categories` maps each recorded
    persistent category to (bytes used, allocation count). `error` is set when TFLM could not
    allocate the model, `missing_ops` names operators TFLM has no kernel for.
    """

    total: int = 0
    head: int = 0
    tail: int = 0
    categories: dict[str, tuple[int, int]] = field(default_factory=dict)
    error: str = ""
    missing_ops: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.error


def measure_arena(model_path: Path | str) -> ArenaReport:
    """Run the TFLM planner on `model_path` in a child process and parse its allocation report."""
    data = Path(model_path).read_bytes()
    key = hashlib.sha256(data).hexdigest()
    if key not in _cache:
        _cache[key] = _probe(Path(model_path))
    return _cache[key]


def _probe(model_path: Path) -> ArenaReport:
    try:
        proc = subprocess.run([sys.executable, "-m", "edgeopt.device_simulate.arena", str(model_path)],
                              capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return ArenaReport(error=f"the TFLM planner did not finish within {PROBE_TIMEOUT_S} s")
    return parse_report(proc.stderr, proc.returncode)


def parse_report(text: str, returncode: int) -> ArenaReport:
    """Parse the child's stderr; a non-zero return code makes the report an error report."""
    report = ArenaReport()
    for kind, value in _TOTAL.findall(text):
        setattr(report, kind, int(value))
    for name, used, _requested, count in _CATEGORY.findall(text):
        report.categories[name] = (int(used), int(count))
    report.missing_ops = sorted({(a or b).strip() for a, b in _MISSING_OP.findall(text)})
    if returncode != 0 or report.total == 0:
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("Traceback")]
        detail = lines[-1] if lines else f"exit code {returncode}"
        report.error = f"TFLite Micro could not allocate the model: {detail[:300]}"
    return report


def _main(argv: list[str]) -> int:
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_file(argv[0], arena_size=PROBE_ARENA_BYTES)
    interpreter.print_allocations()
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
