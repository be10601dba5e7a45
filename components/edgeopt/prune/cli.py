"""`edgeopt prune`: magnitude-prune a Keras model and fine-tune it."""

import argparse
import tempfile
from typing import Any

from edgeopt.common.float_source import bundle_from_path
from edgeopt.prune.core import prune
from edgeopt.prune.spec import SPEC


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="model bundle directory, or a Keras (.h5/.keras) file or SavedModel directory")
    parser.add_argument("--data", required=True, help="dataset .npz with x_train, y_train, x_test, y_test")
    SPEC.add_cli_arguments(parser)
    parser.add_argument("--output", required=True, help="directory that receives the pruned keras bundle")


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="edgeopt-prune-") as tmp:
        return prune(bundle_from_path(args.model, tmp), args.data, args.output, **SPEC.values_from_cli(args))
