"""The tensor arena that the real TFLite Micro memory planner allocates for a model.

The `tflite-micro` Python package builds the TFLM interpreter (reference kernels) on the host;
constructing it runs `AllocateTensors`, and its RecordingMicroAllocator reports the arena it used
via `print_allocations()`, which writes to the C++ stderr. The interpreter runs in a forked child
process (POSIX): a malformed flatbuffer can crash the C++ code without taking the caller down, the
child's stderr is a pipe the report is read from, and forking reuses the parent's imported modules
(a fresh interpreter would spend most of a second importing numpy). Results are cached per model
content within the process.

The host is 64-bit; a Cortex-M is 32-bit. `arena_32bit` shrinks the persistent runtime structs
whose size is dominated by pointers and size_t (see `POINTER_STRUCT_FACTORS`); the planned
tensor data (the head) is the same on both, as TFLM aligns buffers to 16 bytes everywhere.
"""

import hashlib
import os
import re
import select
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from edgeopt.device_simulate.tflite_model import TfliteGraph

PROBE_ARENA_BYTES = 256 * 1024 * 1024  # virtual only on the host; far above any MCU's RAM
PROBE_TIMEOUT_S = 60.0

_TOTAL = re.compile(r"Arena allocation (total|head|tail) (\d+) bytes")
_CATEGORY = re.compile(r"'([^']+)' used (\d+) bytes with alignment overhead \(requested (\d+) bytes for (\d+)")
_MISSING_OP = re.compile(r"Didn't find op for builtin opcode '([^']+)'"
                         r"|Failed to get registration from op code ([\w ]+)")

# 32-bit size / 64-bit size of the persistent categories the RecordingMicroAllocator reports:
# TfLiteEvalTensor {data*, dims*, type} 24 -> 12 B; TfLiteNode + registration* 64 -> 32 B;
# TfLiteTensor (TF_LITE_STATIC_MEMORY) 64 -> 40 B; TfLiteAffineQuantization + arrays about 40/64.
# Kernel persistent buffers (per-channel int32 multipliers and shifts) and unreported tail
# allocations are kept as they are, an upper bound.
POINTER_STRUCT_FACTORS = {"TfLiteEvalTensor data": 0.5, "NodeAndRegistration struct": 0.5,
                          "Persistent TfLiteTensor data": 40 / 64,
                          "Persistent TfLiteTensor quantization data": 40 / 64}
BUFFER_ALIGNMENT = 16  # TFLM's kBufferAlignment

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

    def arena_32bit(self) -> int:
        """The arena on a 32-bit Cortex-M: the host total with pointer-sized structs shrunk."""
        saved = sum(used * (1 - POINTER_STRUCT_FACTORS[name]) for name, (used, _count) in self.categories.items()
                    if name in POINTER_STRUCT_FACTORS)
        return self.total - int(saved)


def measure_arena(model_path: Path | str) -> ArenaReport:
    """Run the TFLM planner on `model_path` in a forked child process and parse its allocation report."""
    data = Path(model_path).read_bytes()
    key = hashlib.sha256(data).hexdigest()
    if key not in _cache:
        _cache[key] = _probe(Path(model_path))
    return _cache[key]


def _probe(model_path: Path) -> ArenaReport:
    from tflite_micro.python.tflite_micro import runtime  # imported here, once, so the child inherits it

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report on the pipe, never return into the caller's code
        code = 1
        try:
            os.close(read_end)
            os.dup2(write_end, 1)
            os.dup2(write_end, 2)
            interpreter = runtime.Interpreter.from_file(str(model_path), arena_size=PROBE_ARENA_BYTES)
            interpreter.print_allocations()
            code = 0
        except BaseException as exc:  # noqa: BLE001 - everything must reach the parent as text
            os.write(2, f"{type(exc).__name__}: {exc}\n".encode(errors="replace"))
        finally:
            os._exit(code)
    os.close(write_end)
    text, timed_out = _read_until_eof(read_end, time.monotonic() + PROBE_TIMEOUT_S)
    os.close(read_end)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if timed_out:
        return ArenaReport(error=f"the TFLM planner did not finish within {PROBE_TIMEOUT_S:g} s")
    if os.WIFSIGNALED(status):
        return parse_report(text + f"\nthe TFLM interpreter crashed (signal {os.WTERMSIG(status)})", 1)
    return parse_report(text, os.WEXITSTATUS(status))


def _read_until_eof(fd: int, deadline: float) -> tuple[str, bool]:
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return b"".join(chunks).decode(errors="replace"), True
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks).decode(errors="replace"), False
            chunks.append(chunk)


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


def live_activation_bytes(graph: TfliteGraph) -> list[int]:
    """Per operator, the bytes of non-constant tensors alive while it runs (16-byte aligned).

    A tensor lives from the operator that writes it (graph inputs: from the first) to the last one
    that reads it (graph outputs: to the end); the planner's arena head is at least the maximum.
    """
    n = len(graph.operators)
    first: dict[int, int] = {i: 0 for i in graph.inputs}
    last: dict[int, int] = {i: n - 1 for i in graph.outputs}
    for op in graph.operators:
        for i in op.outputs:
            first.setdefault(i, op.index)
        for i in op.inputs:
            if i >= 0 and not graph.tensors[i].constant:
                first.setdefault(i, 0)
                last[i] = max(last.get(i, op.index), op.index)
    live = [0] * n
    for i, start in first.items():
        size = -(-graph.tensors[i].nbytes // BUFFER_ALIGNMENT) * BUFFER_ALIGNMENT
        for k in range(start, last.get(i, start) + 1):
            live[k] += size
    return live
