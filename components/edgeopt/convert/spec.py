"""The convert stage's declaration: its parameters and the metrics it emits.

The declared metrics are the results people compare across runs (parity, agreement, bytes); they
are what the component logs on its `Metrics` artifact. Settings and counts that describe the run
(`samples`, `onnx_opset`, node counts) stay in metrics.json only.
"""

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
        MetricSpec("tflite_size_bytes", "bytes", "lower", "bytes of the float TFLite"),
        MetricSpec("onnx_parity_max_abs_diff", "output units", "lower", "ONNX against the Keras model"),
        MetricSpec("onnx_top1_agreement", "fraction", "higher", "ONNX top-1 agreement"),
        MetricSpec("onnx_size_bytes", "bytes", "lower", "bytes of the ONNX model"),
        MetricSpec("optimized_parity_max_abs_diff", "output units", "lower", "ORT-optimized ONNX against the ONNX"),
        MetricSpec("optimized_top1_agreement", "fraction", "higher", "ORT-optimized ONNX top-1 agreement"),
        MetricSpec("optimized_size_bytes", "bytes", "lower", "bytes of the ORT-optimized ONNX"),
        MetricSpec("c_array_bytes", "bytes", "lower", "bytes of the C array's model"),
        MetricSpec("c_array_identical", "boolean", "higher", "the C array parses back to its .tflite byte for byte"),
        MetricSpec("c_array_top1_agreement", "fraction", "higher", "the C array's model against the Keras model"),
        MetricSpec("openvino_parity_max_abs_diff", "output units", "lower",
                   "OpenVINO IR on the CPU plugin (f32) against the ONNX; absent when OpenVINO is not installed"),
        MetricSpec("openvino_top1_agreement", "fraction", "higher", "OpenVINO IR top-1 agreement"),
        MetricSpec("openvino_size_bytes", "bytes", "lower", "bytes of the OpenVINO IR (model.xml + model.bin)"),
        MetricSpec("tensorrt_parity_max_abs_diff", "output units", "lower",
                   "TensorRT against the ONNX; absent without an NVIDIA GPU and TensorRT"),
        MetricSpec("tensorrt_top1_agreement", "fraction", "higher", "TensorRT top-1 agreement"),
        MetricSpec("tensorrt_size_bytes", "bytes", "lower", "bytes of the TensorRT engine"),
    ),
)
