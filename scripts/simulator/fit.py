"""Fit the device simulator to MLPerf Tiny and write its calibration (developers run this on purpose).

    .venv/bin/python scripts/simulator/fit.py [--refdata DIR] [--models DIR] [--check]

Reads the shared data folder's `refdata/mlperf_tiny_calibration.csv` (latency and energy on four
boards) and the four official int8 MLPerf Tiny models; writes the package's calibration.yaml (the
parameters and the cross-validated errors the simulator reports) and CALIBRATION.md. `--check`
writes nothing and exits 1 when either differs from a fresh fit.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml  # noqa: E402

import crossval  # noqa: E402
import data  # noqa: E402
import model  # noqa: E402
import report  # noqa: E402
from energy import energy_model  # noqa: E402

PACKAGE = data.REPO / "components" / "edgeopt" / "device_simulate"
CALIBRATION_FILE = PACKAGE / "calibration.yaml"
REPORT_FILE = PACKAGE / "CALIBRATION.md"
HEADER = "# Written by scripts/simulator/fit.py from the shared MLPerf Tiny data; do not edit by hand.\n"


def calibrate(refdata: Path, models: Path) -> tuple[dict, str]:
    """Fit on every row, cross-validate, and return (calibration.yaml content, CALIBRATION.md text)."""
    rows = data.load_rows(refdata)
    works = data.load_works(models)
    full = model.fit(rows, works)
    bench = crossval.leave_one_benchmark_out(rows, works)
    board, unscored = crossval.leave_one_board_out(rows, works)
    calibration = report.calibration_yaml(full, rows, bench, board, unscored, energy_model(bench))
    return calibration, report.markdown(calibration, full, rows, works, bench, board)


def render(calibration: dict) -> str:
    return HEADER + yaml.safe_dump(calibration, sort_keys=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--refdata", type=Path, default=data.SHARED / "refdata")
    parser.add_argument("--models", type=Path, default=data.SHARED / "models" / "mlperf-tiny")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when the committed files differ")
    args = parser.parse_args(argv)
    calibration, text = calibrate(args.refdata, args.models)
    files = {CALIBRATION_FILE: render(calibration), REPORT_FILE: text}
    if args.check:
        stale = [f.name for f, new in files.items() if not f.is_file() or f.read_text() != new]
        print(f"out of date: {', '.join(stale)}" if stale else "calibration is up to date")
        return 1 if stale else 0
    for path, new in files.items():
        path.write_text(new)
    err = calibration["error"]
    print(f"wrote {CALIBRATION_FILE.name} and {REPORT_FILE.name}: leave-one-board-out median "
          f"{err['leave_one_board_out']['all']['median_abs_pct']} %, leave-one-benchmark-out median "
          f"{err['leave_one_benchmark_out']['all']['median_abs_pct']} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
