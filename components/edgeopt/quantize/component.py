"""KFP component: quantize the float model (TFLite or ONNX Runtime)."""

from typing import List

from kfp import dsl
from kfp.dsl import ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from edgeopt.containers.images import image_for
from edgeopt.quantize.spec import SPEC


@dsl.component(base_image=image_for("quantize"), install_kfp_package=False)
@SPEC.describe(
    "Quantize a float Keras/SavedModel (or ONNX) bundle and measure the result with its own runtime.",
    artifacts={"model": "float bundle (keras, savedmodel or onnx).",
               "dataset": ".npz with x_test, y_test and x_calib or x_train.",
               "quantized_model": "output: bundle with the model, model.json and metrics.json.",
               "metrics": "output: accuracy, agreement, size_bytes, latency_ms_median, speedup_vs_float, ...",
               "confusion": "output: the confusion matrix on x_test (empty for models that are not classifiers)."})
def quantize(model: Input[Model], dataset: Input[Dataset], quantized_model: Output[Model], metrics: Output[Metrics],
             confusion: Output[ClassificationMetrics], method: str = "int8", calibration_samples: int = 200,
             io_type: str = "", per_channel: bool = True, float_layers: List[str] = [],
             accuracy_budget: float = -1.0, qat_epochs: int = 2, backend: str = "tflite",
             calibration_method: str = "minmax", latency_runs: int = 50, trust_model: bool = False):
    from edgeopt.common.bundle import read_bundle
    from edgeopt.common.metrics import log_to_kfp
    from edgeopt.common.modelfile import trusting
    from edgeopt.quantize.core import quantize as run
    from edgeopt.quantize.spec import SPEC

    with trusting(trust_model):
        result = run(model.path, dataset.path, quantized_model.path, method=method,
                     calibration_samples=calibration_samples, io_type=io_type, per_channel=per_channel,
                     float_layers=list(float_layers), accuracy_budget=accuracy_budget, qat_epochs=qat_epochs,
                     backend=backend, calibration_method=calibration_method, latency_runs=latency_runs)
    info, _ = read_bundle(quantized_model.path)
    quantized_model.metadata.update({"format": info.format, "precision": info.precision})
    log_to_kfp(metrics, result, keys=[m.key for m in SPEC.metrics])
    if result.get("confusion_matrix"):
        matrix = result["confusion_matrix"]
        confusion.log_confusion_matrix([str(c) for c in range(len(matrix))], matrix)
