"""The quantize stage's declaration: its parameters and the metrics it emits. The methods themselves
are registered in `edgeopt.quantize.methods`."""

from edgeopt.common.spec import MetricSpec, Param, StageSpec, trust_model_param
from edgeopt.quantize.methods import BACKENDS, names

SPEC = StageSpec(
    name="quantize",
    description="quantize a float model (TFLite or ONNX Runtime) and measure it with its own runtime",
    params=(
        Param("method", str, "int8", "quantization method: " + "; ".join(
            f"{', '.join(names(b))} ({b})" for b in BACKENDS), metavar="METHOD", pipeline="quantize_method"),
        Param("calibration_samples", int, 200, "samples that calibrate the activations", minimum=0, metavar="N",
              pipeline="calibration_samples"),
        Param("io_type", str, "", "input/output dtype; empty: the method's own (int8 for int8)",
              choices=("", "int8", "uint8", "int16", "float32"), unset=""),
        Param("per_channel", bool, True, "one weight scale per tensor instead of one per output channel",
              flag="--per-tensor", invert=True),
        Param("float_layers", list, [], "mixed: Keras layer names, TFLite operator types (e.g. SOFTMAX) or tensor "
              "names to keep in float", metavar="NAME[,NAME...]"),
        Param("accuracy_budget", float, -1.0, "mixed: largest accuracy drop against the float model (a fraction; "
              "negative: no budget); keeps the most sensitive layers float until it is met", minimum=0, maximum=1,
              exclusive_maximum=True, unset=-1.0, metavar="DROP"),
        Param("qat_epochs", int, 2, "qat: epochs of quantization-aware fine-tuning on x_train", minimum=0,
              metavar="N"),
        Param("backend", str, "tflite", "tflite, or onnxruntime (ONNX models always use onnxruntime)",
              choices=tuple(BACKENDS)),
        Param("calibration_method", str, "minmax", "minmax (TFLite's only one); ONNX Runtime also has entropy "
              "and percentile", choices=("minmax", "entropy", "percentile")),
        Param("latency_runs", int, 50, "timed single-sample runs for host latency (0 skips the measurement)",
              minimum=0, metavar="N"),
        trust_model_param(),
    ),
    metrics=(
        MetricSpec("accuracy", "fraction", "higher", "accuracy on x_test, run by the model's own runtime"),
        MetricSpec("agreement", "fraction", "higher", "top-1 agreement with the float model"),
        MetricSpec("snr_db", "dB", "higher", "signal-to-noise ratio of the outputs against the float model"),
        MetricSpec("relative_error", "fraction", "lower", "relative L2 error of the outputs against the float model"),
        MetricSpec("max_abs_diff", "output units", "lower", "largest absolute output difference"),
        MetricSpec("size_bytes", "bytes", "lower", "quantized model file size"),
        MetricSpec("compression_ratio", "ratio", "higher", "source model bytes over quantized bytes"),
        MetricSpec("latency_ms_median", "ms", "lower", "host latency, median of single-sample runs"),
        MetricSpec("peak_memory_bytes", "bytes", "lower", "host peak memory of the interpreter"),
        MetricSpec("speedup_vs_float", "ratio", "higher", "host float latency over quantized latency"),
    ),
)
