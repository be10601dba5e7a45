"""The convert stage's declaration: its parameters and the metrics it emits."""

from edgeopt.common.spec import MetricSpec, Param, StageSpec, trust_model_param

SPEC = StageSpec(
    name="convert",
    description="export the float model to TFLite, ONNX (plain and ORT-optimized), a C array and OpenVINO IR, "
                "each checked for parity",
    params=(
        Param("samples", int, 64, "x_test inputs that feed the parity checks", minimum=1, metavar="N",
              pipeline="convert_samples"),
        trust_model_param(),
    ),
    metrics=(
        MetricSpec("tflite_parity_max_abs_diff", "output units", "lower", "float TFLite against the Keras model"),
        MetricSpec("tflite_top1_agreement", "fraction", "higher", "float TFLite top-1 agreement"),
        MetricSpec("onnx_parity_max_abs_diff", "output units", "lower", "ONNX against the Keras model"),
        MetricSpec("onnx_top1_agreement", "fraction", "higher", "ONNX top-1 agreement"),
        MetricSpec("c_array_bytes", "bytes", "lower", "bytes of the C array's model"),
    ),
)
