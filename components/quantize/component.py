"""KFP component: quantize the float model (TFLite or ONNX Runtime)."""

from kfp import dsl
from kfp.dsl import ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from edgeopt.images import image_for


@dsl.component(base_image=image_for("quantize"), install_kfp_package=False)
def quantize(model: Input[Model], dataset: Input[Dataset], quantized_model: Output[Model],
             metrics: Output[Metrics], confusion: Output[ClassificationMetrics], method: str = "int8", calibration_samples: int = 200,
             io_type: str = "", per_channel: bool = True, float_layers: str = "",
             accuracy_budget: float = -1.0, qat_epochs: int = 2, backend: str = "tflite",
             calibration_method: str = "minmax", latency_runs: int = 50, trust_model: bool = False):
    """Quantize a float Keras/SavedModel (or ONNX) bundle and measure the result with its own runtime.

    model: float bundle (keras, savedmodel or onnx); dataset: .npz with x_test, y_test and x_calib or x_train.
    method: int8 (full integer), int16x8, dynamic, float16, mixed or qat (TFLite); static, dynamic,
    int4 or float16 with backend onnxruntime. io_type: "" for the method's default, else int8,
    uint8, int16 or float32. per_channel: False for one weight scale per tensor. float_layers:
    comma-separated layers kept float (mixed). accuracy_budget: largest accuracy drop for mixed's
    automatic search (negative: off). qat_epochs: fine-tuning epochs for qat.
    trust_model: allow a SavedModel, whose graph runs as stored (Keras files are checked and never need it).
    Outputs: `quantized_model` (bundle with the model, model.json, metrics.json), `metrics`
    (accuracy, agreement, size_bytes, latency_ms_median, speedup_vs_float, float_layers, fusions, ...)
    and `confusion`, the confusion matrix on x_test (empty for models that are not classifiers).
    """
    from edgeopt.common.bundle import read_bundle
    from edgeopt.common.metrics import log_to_kfp
    from edgeopt.common.modelfile import trusting
    from edgeopt.quantize.core import quantize as run

    with trusting(trust_model):
        result = run(model.path, dataset.path, quantized_model.path, method=method,
                     calibration_samples=calibration_samples, io_type=io_type or None, per_channel=per_channel,
                     float_layers=[name.strip() for name in float_layers.split(",") if name.strip()],
                     accuracy_budget=None if accuracy_budget < 0 else accuracy_budget, qat_epochs=qat_epochs,
                     backend=backend, calibration_method=calibration_method, latency_runs=latency_runs)
    info, _ = read_bundle(quantized_model.path)
    quantized_model.metadata.update({"format": info.format, "precision": info.precision})
    log_to_kfp(metrics, result)
    if result.get("confusion_matrix"):
        matrix = result["confusion_matrix"]
        confusion.log_confusion_matrix([str(c) for c in range(len(matrix))], matrix)
