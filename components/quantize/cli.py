"""`edgeopt quantize`: quantize a float model to TFLite and measure it with LiteRT."""

import argparse
import tempfile
from typing import Any

from edgeopt.quantize.core import METHODS, quantize
from edgeopt.quantize.inputs import bundle_from_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="model bundle directory, or a Keras (.h5/.keras) file or SavedModel directory")
    parser.add_argument("--data", required=True, help="dataset .npz (x_test, y_test, and x_calib or x_train)")
    parser.add_argument("--method", choices=tuple(METHODS), default="int8",
                        help="int8: full integer (default); dynamic: int8 weights; float16: float16 weights")
    parser.add_argument("--calibration-samples", type=int, default=200, metavar="N",
                        help="samples used to calibrate int8 activations (default 200)")
    parser.add_argument("--output", required=True, help="directory that receives the tflite bundle")


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="edgeopt-quantize-") as tmp:
        return quantize(bundle_from_path(args.model, tmp), args.data, args.output, method=args.method,
                        calibration_samples=args.calibration_samples)
