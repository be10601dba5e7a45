"""KFP component: export the float model to TFLite, ONNX (plain and ORT-optimized) and a TFLite Micro C array."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from edgeopt.convert.spec import SPEC
from edgeopt.images import image_for


@dsl.component(base_image=image_for("convert"), install_kfp_package=False)
@SPEC.describe(
    "Export the float model to TFLite, ONNX, ORT-optimized ONNX, a C array and OpenVINO IR where OpenVINO is "
    "installed, each checked for parity against the float model.",
    artifacts={"model": "float bundle (keras or savedmodel).",
               "quantized_model": "tflite bundle whose model becomes the C array.",
               "dataset": ".npz whose first `samples` x_test inputs feed the parity checks.",
               "converted": "output: folder with one bundle per format and metrics.json; its metadata names the "
                            "formats written and why any was skipped.",
               "metrics": "output: parity max abs diff and top-1 agreement per format, c_array_bytes, sizes."})
def convert(model: Input[Model], quantized_model: Input[Model], dataset: Input[Dataset],
            converted: Output[Model], metrics: Output[Metrics], samples: int = 64, trust_model: bool = False):
    from edgeopt.common.metrics import log_to_kfp
    from edgeopt.common.modelfile import trusting
    from edgeopt.convert.core import convert as run

    with trusting(trust_model):
        result = run(model.path, dataset.path, converted.path, quantized_dir=quantized_model.path, samples=samples)
    converted.metadata.update({"formats": [f["format"] for f in result["formats"] if f["status"] == "ok"],
                               "skipped": {f["format"]: f["reason"] for f in result["formats"]
                                           if f["status"] == "skipped"},
                               "c_array_precision": result["c_array_precision"]})
    log_to_kfp(metrics, result)
