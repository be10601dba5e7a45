"""KFP component: quantize the float model to TFLite."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from edgeopt.images import image_for


@dsl.component(base_image=image_for("quantize"), install_kfp_package=False)
def quantize(model: Input[Model], dataset: Input[Dataset], quantized_model: Output[Model],
             metrics: Output[Metrics], method: str = "int8", calibration_samples: int = 200):
    """Quantize a float Keras/SavedModel bundle to a TFLite bundle and measure it with LiteRT.

    model: float bundle (keras or savedmodel); dataset: .npz with x_test, y_test and x_calib or x_train.
    method: int8 (full integer, int8 input/output, calibrated on `calibration_samples` samples),
    dynamic (int8 weights) or float16.
    Outputs: `quantized_model` (bundle with model.tflite, model.json, metrics.json) and `metrics`
    (accuracy with LiteRT, agreement and snr_db vs the float model, size_bytes, compression_ratio, ...).
    """
    from edgeopt.common.metrics import log_to_kfp
    from edgeopt.quantize.core import quantize as run

    result = run(model.path, dataset.path, quantized_model.path, method=method,
                 calibration_samples=calibration_samples)
    quantized_model.metadata.update({"format": "tflite", "precision": result["precision"]})
    log_to_kfp(metrics, result)
