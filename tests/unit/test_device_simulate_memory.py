"""device-simulate memory against the MLPerf Tiny submissions: recomputed from the shared CSV with real
simulate() calls, and checked against the table in CALIBRATION.md."""

import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REFDATA = REPO.parent / "shared" / "refdata"
MODELS = REPO.parent / "shared" / "models" / "mlperf-tiny"
CALIBRATION_MD = REPO / "components" / "edgeopt" / "device_simulate" / "CALIBRATION.md"
SECTION = "## Memory against the submissions"

pytestmark = pytest.mark.skipif(not (REFDATA / "mlperf_tiny_memory_calibration.csv").exists() or not MODELS.exists(),
                                reason="/work/shared (MLPerf Tiny refdata and models) is absent")


@pytest.fixture(scope="module")
def measured():
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from scripts.simulator import memory
    compared, skipped = memory.compare(REFDATA, MODELS)
    return memory, compared, skipped, memory.summary(compared)


def _documented_table() -> dict[tuple[str, str], dict]:
    text = CALIBRATION_MD.read_text()
    assert SECTION in text, f"CALIBRATION.md has no '{SECTION}' section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 6 or not re.fullmatch(r"\d+", cells[2]):
            continue
        below = None if cells[5] == "-" else float(cells[5].rstrip("%"))
        rows[(cells[0], cells[1])] = {"rows": int(cells[2]), "median": float(cells[3].rstrip("%")),
                                      "max": float(cells[4].rstrip("%")), "below": below}
    assert rows, "no table rows in the memory section of CALIBRATION.md"
    return rows


def test_every_comparable_kind_is_compared(measured):
    memory, compared, _, _ = measured
    kinds = {c.kind for c in compared}
    assert kinds == set(memory.KINDS), f"kinds compared: {sorted(kinds)}"


def test_errors_come_from_simulate(measured):
    memory, compared, _, _ = measured
    for c in compared:
        assert c.submitted_bytes > 0 and c.predicted_bytes > 0
        report = memory._simulate(str(MODELS / memory.BENCHMARKS[c.benchmark]), c.board, c.runtime)
        assert report[memory.PREDICTED[c.kind]] == c.predicted_bytes


def test_whole_firmware_rows_are_not_compared(measured):
    _, compared, skipped, _ = measured
    assert skipped and all("firmware" in s.reason for s in skipped)
    assert {s.framework for s in skipped} >= {"X-CUBE-AI v9.0", "X-CUBE-AI v10.2", "Bosch HALE 1.0"}
    compared_paths = {c.source_path for c in compared}
    assert not compared_paths & {s.source_path for s in skipped}


def test_table_matches_calibration_md(measured):
    _, _, _, summary = measured
    documented = _documented_table()
    computed = {(r["family"], r["kind"]): r for r in summary}
    assert set(documented) == set(computed)
    for key, r in computed.items():
        doc = documented[key]
        assert doc["rows"] == r["rows"], key
        assert doc["median"] == pytest.approx(r["median_abs_error_pct"], abs=0.1), key
        assert doc["max"] == pytest.approx(r["max_abs_error_pct"], abs=0.1), key
        if r["below_bound"] is None:
            assert doc["below"] is None, key
        else:
            assert doc["below"] == pytest.approx(r["below_bound"] * 100, abs=0.1), key
