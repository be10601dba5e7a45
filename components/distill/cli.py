"""`edgeopt distill`: train a smaller student to imitate a teacher model."""

import argparse
import tempfile
from pathlib import Path
from typing import Any

from edgeopt.distill.core import distill
from edgeopt.quantize.inputs import bundle_from_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="teacher: model bundle directory, or a Keras (.h5/.keras) file or SavedModel directory")
    parser.add_argument("--data", required=True, help="dataset .npz with x_train, y_train, x_test, y_test")
    parser.add_argument("--student", metavar="PATH",
                        help="student model (bundle or Keras file) to train instead of a width-scaled teacher copy")
    parser.add_argument("--width", type=float, default=0.5, metavar="F",
                        help="student width: fraction of the teacher's filters/units, in (0, 1] (default 0.5)")
    parser.add_argument("--temperature", type=float, default=4.0, metavar="F",
                        help="softmax temperature of the soft targets (default 4)")
    parser.add_argument("--alpha", type=float, default=0.1, metavar="F",
                        help="weight of the label loss; 1 - alpha weighs the teacher's soft targets (default 0.1)")
    parser.add_argument("--epochs", type=int, default=10, metavar="N", help="training epochs (default 10)")
    parser.add_argument("--output", required=True, help="directory that receives the student keras bundle")


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="edgeopt-distill-") as tmp:
        student = bundle_from_path(args.student, Path(tmp) / "student") if args.student else None
        return distill(bundle_from_path(args.model, Path(tmp) / "teacher"), args.data, args.output,
                       width=args.width, temperature=args.temperature, alpha=args.alpha, epochs=args.epochs,
                       student_dir=student)
