"""KFP component: export the float model to TFLite, ONNX (plain and ORT-optimized), a TFLite Micro C array,
OpenVINO IR and a TensorRT engine, one typed output per format (`edgeopt.convert.artifacts`)."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from edgeopt.convert.spec import SPEC
from edgeopt.containers.images import image_for

MODEL_METADATA = "metadata: status ok, format, file, precision, size_bytes, parity"
SKIPPED = "; or, when {why}, status skipped with the reason and no model"


@dsl.component(base_image=image_for("convert"), install_kfp_package=False)
@SPEC.describe(
    "Export the float model to TFLite, ONNX, ORT-optimized ONNX, a C array, OpenVINO IR and a TensorRT engine, "
    "each checked for parity against the model it comes from; a format whose runtime is not installed is "
    "reported as skipped, never an error.",
    artifacts={"model": "float bundle (keras or savedmodel).",
               "quantized_model": "tflite bundle whose model becomes the C array.",
               "dataset": ".npz whose first `samples` x_test inputs feed the parity checks.",
               "tflite_model": f"output: float32 TFLite bundle (model.tflite); {MODEL_METADATA}.",
               "onnx_model": f"output: ONNX bundle (model.onnx, tf2onnx); {MODEL_METADATA}.",
               "optimized_model": f"output: the ONNX bundle as ONNX Runtime optimizes it offline, standard "
                                  f"operators only; {MODEL_METADATA}.",
               "c_array": f"output: TFLite Micro C array bundle (model_data.cc, model_data.h) of quantized_model; "
                          f"{MODEL_METADATA}.",
               "openvino_model": f"output: OpenVINO IR (model.xml, model.bin), parity on OpenVINO's CPU runtime; "
                                 f"{MODEL_METADATA}{SKIPPED.format(why='openvino is not installed')}.",
               "tensorrt_engine": f"output: TensorRT engine (model.engine); "
                                  f"{MODEL_METADATA}{SKIPPED.format(why='there is no NVIDIA GPU or TensorRT')}.",
               "metrics": "output: parity max abs diff, top-1 agreement and bytes per format, c_array_identical; "
                          "its file is the whole metrics.json."})
def convert(model: Input[Model], quantized_model: Input[Model], dataset: Input[Dataset],
            tflite_model: Output[Model], onnx_model: Output[Model], optimized_model: Output[Model],
            c_array: Output[Model], openvino_model: Output[Model], tensorrt_engine: Output[Model],
            metrics: Output[Metrics], samples: int = 64, trust_model: bool = False):
    from edgeopt.common.modelfile import trusting
    from edgeopt.convert.artifacts import convert_to_artifacts

    outputs = {"tflite": tflite_model, "onnx": onnx_model, "optimized": optimized_model, "c_array": c_array,
               "openvino": openvino_model, "tensorrt": tensorrt_engine}
    with trusting(trust_model):
        convert_to_artifacts(model.path, dataset.path, quantized_model.path, outputs, metrics, samples=samples)
