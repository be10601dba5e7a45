"""`edgeopt ingest`: check a model and dataset and write the baseline bundle and dataset."""

import argparse
from pathlib import Path
from typing import Any

from edgeopt.common.fsutil import atomic_dir
from edgeopt.common.metrics import write_metrics
from edgeopt.ingest.core import ingest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="Keras (.h5/.keras) file or SavedModel directory")
    parser.add_argument("--data", required=True, help=".npz with x_train, x_test (and y_train, y_test)")
    parser.add_argument("--output", required=True, help="directory that receives model/, data.npz, metrics.json")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Write model/, data.npz and metrics.json into --output together (all or nothing)."""
    with atomic_dir(Path(args.output)) as out:
        metrics = ingest(args.model, args.data, out / "model", out / "data.npz")
        write_metrics(out / "metrics.json", metrics)
    return metrics
