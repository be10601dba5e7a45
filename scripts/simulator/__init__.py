"""Offline calibration of the device simulator (run by developers, never by the runtime package).

    .venv/bin/python scripts/simulator/fit.py [--check]

fits the cost model to the MLPerf Tiny measurements, runs the leave-one-benchmark-out and
leave-one-board-out cross-validations, and writes the package's calibration.yaml and
CALIBRATION.md (`--check` writes nothing and fails when they differ from a fresh fit).
"""
