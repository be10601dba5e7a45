"""Short progress lines for a local pipeline run; the full kfp.local log goes to a file."""

import re
import sys
import time
from pathlib import Path
from typing import TextIO

from edgeopt.common.quiet import clean
STARTED = re.compile(r"Executing task '([^']+)'")
FINISHED = re.compile(r"Task '([^']+)' finished with status (\w+)")


class ProgressLog:
    """A stdout stand-in: writes every line to `log_path`, echoes task starts and ends to `echo`.

    With `verbose`, every line is echoed as well. ANSI colour codes and TensorFlow's C++ log lines
    are dropped from both.
    """

    def __init__(self, log_path: Path, echo: TextIO = sys.stderr, verbose: bool = False) -> None:
        self.log = open(log_path, "w", encoding="utf-8")
        self.echo = echo
        self.verbose = verbose
        self._partial = ""
        self._started: dict[str, list[float]] = {}  # task name -> start times (loop iterations share names)
        self.tail: list[str] = []
        self._failure: str | None = None  # the excerpt when the first task failed

    def write(self, text: str) -> int:
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        for line in lines:
            kept = clean(line)
            if kept is not None:
                self.log.write(kept + "\n")
                self._line(kept)
        return len(text)

    def flush(self) -> None:
        self.log.flush()
        self.echo.flush()

    def close(self) -> None:
        kept = clean(self._partial) if self._partial else None
        if kept:
            self.log.write(kept)
        self.log.close()

    def _line(self, line: str) -> None:
        self.tail = (self.tail + [line])[-60:]
        failed = FINISHED.search(line)
        if failed and failed.group(2) != "SUCCESS" and self._failure is None:
            self._failure = self._excerpt()
        if self.verbose:
            print(line, file=self.echo)
            return
        if m := STARTED.search(line):
            self._started.setdefault(m.group(1), []).append(time.monotonic())
            print(f"    {m.group(1)} ...", file=self.echo, flush=True)
        elif m := FINISHED.search(line):
            task, status = m.groups()
            starts = self._started.get(task) or [time.monotonic()]
            seconds = time.monotonic() - starts.pop(0)
            mark = "done" if status == "SUCCESS" else status
            print(f"    {task}: {mark} ({seconds:.1f} s)", file=self.echo, flush=True)

    def failure_excerpt(self) -> str:
        """The error lines of the first failed task (tasks that do not depend on it may run after it),
        else the last error lines of the log."""
        return self._failure if self._failure is not None else self._excerpt()

    def _excerpt(self) -> str:
        lines = [line for line in self.tail if line.strip()]
        start = max((i for i, line in enumerate(lines) if line.lstrip().startswith("Traceback")), default=0)
        return "\n".join(lines[start:][-25:])
