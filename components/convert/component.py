"""KFP component: export the float model to TFLite, ONNX and a TFLite Micro C array."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from edgeopt.images import image_for


@dsl.component(base_image=image_for("convert"), install_kfp_package=False)
def convert(model: Input[Model], quantized_model: Input[Model], dataset: Input[Dataset],
            converted: Output[Model], metrics: Output[Metrics], samples: int = 64):
    """Export the float model to TFLite, ONNX and a C array, and check each against the float model.

    model: float bundle (keras or savedmodel); quantized_model: tflite bundle whose model becomes the
    C array; dataset: .npz whose first `samples` x_test inputs feed the parity checks.
    Outputs: `converted` (directory with tflite/, onnx/ and c_array/ bundles and metrics.json) and
    `metrics` (tflite/onnx parity max abs diff and top-1 agreement, c_array_bytes, c_array_identical, sizes).
    """
    from edgeopt.common.metrics import log_to_kfp
    from edgeopt.convert.core import convert as run

    result = run(model.path, dataset.path, converted.path, quantized_dir=quantized_model.path, samples=samples)
    converted.metadata.update({"formats": ["tflite", "onnx", "c_array"],
                               "c_array_precision": result["c_array_precision"]})
    log_to_kfp(metrics, result)
