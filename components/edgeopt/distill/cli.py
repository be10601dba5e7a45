"""`edgeopt distill`: train a smaller student to imitate a teacher model."""

import argparse
import tempfile
from pathlib import Path
from typing import Any

from edgeopt.distill.core import distill
from edgeopt.distill.spec import SPEC
from edgeopt.common.float_source import bundle_from_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="teacher: model bundle directory, or a Keras (.h5/.keras) file or SavedModel directory")
    parser.add_argument("--data", required=True, help="dataset .npz with x_train, y_train, x_test, y_test")
    parser.add_argument("--student", metavar="PATH",
                        help="student model (bundle or Keras file) to train instead of a width-scaled teacher copy")
    SPEC.add_cli_arguments(parser)
    parser.add_argument("--output", required=True, help="directory that receives the student keras bundle")


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="edgeopt-distill-") as tmp:
        student = bundle_from_path(args.student, Path(tmp) / "student") if args.student else None
        return distill(bundle_from_path(args.model, Path(tmp) / "teacher"), args.data, args.output,
                       student_dir=student, **SPEC.values_from_cli(args))
