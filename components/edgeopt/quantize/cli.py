"""`edgeopt quantize`: quantize a float model (TFLite or ONNX Runtime) and measure it with its runtime."""

import argparse
import tempfile
from typing import Any

from edgeopt.common.float_source import bundle_from_path
from edgeopt.quantize import methods
from edgeopt.quantize.core import quantize
from edgeopt.quantize.spec import SPEC


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="model bundle directory, or a Keras (.h5/.keras) file, SavedModel directory or .onnx file")
    parser.add_argument("--data", required=True, help="dataset .npz (x_test, y_test, and x_calib or x_train)")
    SPEC.add_cli_arguments(parser)
    parser.add_argument("--output", required=True, help="directory that receives the quantized bundle")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "methods:\n" + "\n".join(
        f"  {m.name:9} {m.backend:12} {m.description}" for m in methods.METHODS.values())


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="edgeopt-quantize-") as tmp:
        return quantize(bundle_from_path(args.model, tmp), args.data, args.output, **SPEC.values_from_cli(args))
