"""`edgeopt prune`: magnitude-prune a Keras model and fine-tune it."""

import argparse
import tempfile
from typing import Any

from edgeopt.prune.core import prune
from edgeopt.quantize.inputs import bundle_from_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="model bundle directory, or a Keras (.h5/.keras) file or SavedModel directory")
    parser.add_argument("--data", required=True, help="dataset .npz with x_train, y_train, x_test, y_test")
    parser.add_argument("--sparsity", type=float, default=0.5, metavar="F",
                        help="fraction of prunable weights to zero, in [0, 1) (default 0.5)")
    parser.add_argument("--epochs", type=int, default=2, metavar="N",
                        help="fine-tuning epochs while pruning; 0 prunes once without fine-tuning (default 2)")
    parser.add_argument("--output", required=True, help="directory that receives the pruned keras bundle")


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="edgeopt-prune-") as tmp:
        return prune(bundle_from_path(args.model, tmp), args.data, args.output,
                     target_sparsity=args.sparsity, epochs=args.epochs)
