"""The progress lines of a local run: one per task start and end, loop iterations of the same task apart."""

import io

from edgeopt.local import progress
from edgeopt.local.progress import ProgressLog


def test_concurrent_iterations_of_a_task_are_timed_from_their_own_start(tmp_path, monkeypatch):
    clock = iter([10.0, 11.0, 14.0, 18.0])  # distill #1 starts, #2 starts, #1 ends, #2 ends
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    echo = io.StringIO()
    log = ProgressLog(tmp_path / "pipeline.log", echo=echo)
    log.write("12:00:00.000 - INFO - Executing task 'distill'\n")
    log.write("12:00:01.000 - INFO - Executing task 'distill'\n")
    log.write("12:00:04.000 - INFO - Task 'distill' finished with status SUCCESS\n")
    log.write("12:00:08.000 - INFO - Task 'distill' finished with status SUCCESS\n")
    log.close()
    assert echo.getvalue().splitlines() == ["    distill ...", "    distill ...", "    distill: done (4.0 s)",
                                            "    distill: done (7.0 s)"]
    assert (tmp_path / "pipeline.log").read_text().count("Executing task") == 2
