"""KFP component: export the float model to TFLite, ONNX (plain and ORT-optimized) and a TFLite Micro C array."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from edgeopt.images import image_for


@dsl.component(base_image=image_for("convert"), install_kfp_package=False)
def convert(model: Input[Model], quantized_model: Input[Model], dataset: Input[Dataset],
            converted: Output[Model], metrics: Output[Metrics], samples: int = 64, trust_model: bool = False):
    """Export the float model to TFLite, ONNX, ORT-optimized ONNX and a C array, each checked for parity.

    model: float bundle (keras or savedmodel); quantized_model: tflite bundle whose model becomes the
    C array; dataset: .npz whose first `samples` x_test inputs feed the parity checks.
    trust_model: allow a SavedModel, whose graph runs as stored (Keras files are checked and never need it).
    Outputs: `converted` (directory with tflite/, onnx/, optimized/ and c_array/ bundles, openvino/ or
    tensorrt/ where those runtimes are present, and metrics.json) and `metrics` (tflite/onnx/optimized
    parity max abs diff and top-1 agreement, c_array_bytes, c_array_identical, sizes; `formats` lists
    every format as ok or skipped with the reason). The artifact's metadata names the formats written.
    """
    from edgeopt.common.metrics import log_to_kfp
    from edgeopt.common.modelfile import trusting
    from edgeopt.convert.core import convert as run

    with trusting(trust_model):
        result = run(model.path, dataset.path, converted.path, quantized_dir=quantized_model.path,
                     samples=samples)
    converted.metadata.update({"formats": [f["format"] for f in result["formats"] if f["status"] == "ok"],
                               "skipped": {f["format"]: f["reason"] for f in result["formats"]
                                           if f["status"] == "skipped"},
                               "c_array_precision": result["c_array_precision"]})
    log_to_kfp(metrics, result)
