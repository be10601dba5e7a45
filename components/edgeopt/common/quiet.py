"""Keep TensorFlow's C++ log lines (absl, CUDA probing, CPU feature notes) and ANSI colour codes out of
what people read: the terminal and `pipeline.log`."""

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
NOISE = re.compile(
    r"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w./-]+:\d+\]"            # absl / glog: I0000 12:00:00.1 42 f.cc:1]
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] [\w./-]+:\d+\]"         # TensorFlow's own C++ format
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|To enable the following instructions: .* rebuild TensorFlow"
    r"|This TensorFlow binary is optimized to use available CPU instructions)")


def clean(line: str) -> str | None:
    """`line` without ANSI codes, or None when it is C++ log noise."""
    line = ANSI.sub("", line)
    return None if NOISE.match(line.lstrip()) else line


@contextlib.contextmanager
def filtered_stderr() -> Iterator[None]:
    """Within the block, whatever reaches file descriptor 2 (Python, C++ and child processes alike)
    passes through `clean` before it reaches the real standard error."""
    sys.stderr.flush()
    real = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    pump = threading.Thread(target=_pump, args=(read_end, real), daemon=True)
    pump.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(real, 2)   # closes the pipe's last write end held by this process
        pump.join(timeout=5)
        os.close(real)


def _pump(read_end: int, real: int) -> None:
    with os.fdopen(read_end, "r", encoding="utf-8", errors="replace", newline="") as source:
        for line in source:
            kept = clean(line)
            if kept is not None:
                os.write(real, kept.encode("utf-8", errors="replace"))
