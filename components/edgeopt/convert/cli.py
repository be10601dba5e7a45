"""`edgeopt convert`: export a float model to TFLite, ONNX (plain and ORT-optimized) and a C array, and
check their parity; OpenVINO IR and a TensorRT engine where those runtimes are present."""

import argparse
import tempfile
from pathlib import Path
from typing import Any

from edgeopt.convert.core import convert
from edgeopt.convert.spec import SPEC
from edgeopt.common.float_source import bundle_from_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="float model bundle directory, or a Keras (.h5/.keras) file or SavedModel directory")
    parser.add_argument("--data", required=True, help="dataset .npz whose x_test feeds the parity checks")
    parser.add_argument("--quantized", metavar="BUNDLE",
                        help="tflite bundle from `edgeopt quantize` (or a .tflite file) to emit as the C array; "
                             "default: the float TFLite")
    SPEC.add_cli_arguments(parser)
    parser.add_argument("--output", required=True,
                        help="directory that receives tflite/, onnx/, optimized/ and c_array/ (and openvino/, "
                             "tensorrt/ where those runtimes are installed)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="edgeopt-convert-") as tmp:
        model = bundle_from_path(args.model, Path(tmp) / "model")
        quantized = bundle_from_path(args.quantized, Path(tmp) / "quantized") if args.quantized else None
        return convert(model, args.data, args.output, quantized_dir=quantized, **SPEC.values_from_cli(args))
