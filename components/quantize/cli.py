"""`edgeopt quantize`: quantize a float model (TFLite or ONNX Runtime) and measure it with its runtime."""

import argparse
import tempfile
from typing import Any

from edgeopt.quantize.core import BACKENDS, METHODS, quantize
from edgeopt.quantize.inputs import bundle_from_path

METHOD_HELP = """TFLite methods: int8 = full integer, int8 weights and activations (default);
int16x8 = int16 activations, int8 weights; dynamic = int8 weights, float activations;
float16 = float16 weights; mixed = int8 with --float-layers kept float and/or, with
--accuracy-budget, the most sensitive layers kept float until the budget is met;
qat = quantization-aware training (tfmot) for --qat-epochs, then int8.
With --backend onnxruntime (or an ONNX model): static (int8 also means static), dynamic, int4, float16."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="model bundle directory, or a Keras (.h5/.keras) file, SavedModel directory or .onnx file")
    parser.add_argument("--data", required=True, help="dataset .npz (x_test, y_test, and x_calib or x_train)")
    parser.add_argument("--method", default="int8", metavar="METHOD",
                        help=f"one of {', '.join(METHODS)} (default int8). " + METHOD_HELP)
    parser.add_argument("--io-type", choices=("int8", "uint8", "int16", "float32"), default=None,
                        help="input/output dtype: int8 (default), uint8 or float32 for int8/mixed/qat; "
                             "int16 (default) or float32 for int16x8; dynamic and float16 keep float32")
    parser.add_argument("--per-tensor", action="store_true",
                        help="one weight scale per tensor instead of one per output channel (the default)")
    parser.add_argument("--calibration-samples", type=int, default=200, metavar="N",
                        help="samples used to calibrate activations (default 200)")
    parser.add_argument("--calibration-method", default="minmax",
                        help="minmax (TFLite's only one); ONNX Runtime also has entropy and percentile")
    parser.add_argument("--float-layers", default="", metavar="NAME[,NAME...]",
                        help="mixed: Keras layer names, TFLite operator types (e.g. SOFTMAX) or tensor names "
                             "to keep in float")
    parser.add_argument("--accuracy-budget", type=float, default=None, metavar="DROP",
                        help="mixed: largest accuracy drop against the float model (fraction, e.g. 0.01); keeps "
                             "the most sensitive layers float until it is met")
    parser.add_argument("--qat-epochs", type=int, default=2, metavar="N",
                        help="qat: epochs of quantization-aware fine-tuning on x_train (default 2)")
    parser.add_argument("--backend", choices=BACKENDS, default="tflite",
                        help="tflite (default) or onnxruntime; ONNX models always use onnxruntime")
    parser.add_argument("--latency-runs", type=int, default=50, metavar="N",
                        help="timed single-sample runs for host latency (default 50; 0 skips the measurement)")
    parser.add_argument("--output", required=True, help="directory that receives the quantized bundle")


def run(args: argparse.Namespace) -> dict[str, Any]:
    float_layers = [name.strip() for name in args.float_layers.split(",") if name.strip()]
    with tempfile.TemporaryDirectory(prefix="edgeopt-quantize-") as tmp:
        return quantize(bundle_from_path(args.model, tmp), args.data, args.output, method=args.method,
                        calibration_samples=args.calibration_samples, io_type=args.io_type,
                        per_channel=not args.per_tensor, float_layers=float_layers,
                        accuracy_budget=args.accuracy_budget, qat_epochs=args.qat_epochs, backend=args.backend,
                        calibration_method=args.calibration_method, latency_runs=args.latency_runs)
