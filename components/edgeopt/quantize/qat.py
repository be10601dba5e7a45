"""Quantization-aware training with TF Model Optimization, converted to a full-integer int8 TFLite model.

`tfmot.quantization.keras.quantize_model` wraps every supported layer of a tf_keras Sequential or
functional model with fake-quantization (tfmot's default 8-bit scheme: int8 activations, int8
weights per output channel for convolutions); the model is fine-tuned for `epochs` on x_train
(y_train, or the float model's own top-1 when the dataset has no labels) and converted with the
representative samples for the int8 input/output parameters.
"""

from typing import Any

import numpy as np

from edgeopt.common.datasets import Dataset
from edgeopt.common.errors import EdgeoptError, first_line
from edgeopt.common.evaluate import accuracy, parity
from edgeopt.common.keras_io import load_keras
from edgeopt.common.runtimes import predict_tflite
from edgeopt.common.training import check_training_args, classifier_from_logits
from edgeopt.quantize.job import Built, Job
from edgeopt.quantize.tflite_methods import convert, representative, to_tflite_bytes

LEARNING_RATE = 1e-4  # fine-tuning rate: the float weights are already trained; only adapt to the rounding


def qat_flatbuffer(keras_model: Any, data: Dataset, calibration: np.ndarray, epochs: int, io_type: str,
                   batch_size: int = 64) -> tuple[bytes, dict[str, Any]]:
    """The int8 TFLite flatbuffer of `keras_model` after `epochs` of quantization-aware fine-tuning.

    Returns it with training facts (`qat_epochs`, `qat_train_samples`, `qat_labels`). Raises
    EdgeoptError when tfmot cannot wrap a layer (named) or the model is not a classifier.
    """
    import tensorflow_model_optimization as tfmot

    from edgeopt.common.tfenv import keras, tf

    check_training_args(epochs, batch_size)
    if keras_model is None:
        raise EdgeoptError("quantization-aware training needs a Keras model, and this SavedModel does not load "
                           "as one", "pass the .h5/.keras form of the model, or use --method int8")
    from_logits = classifier_from_logits(keras_model, "quantization-aware training")
    try:
        wrapped = tfmot.quantization.keras.quantize_model(keras_model)
    except Exception as exc:  # tfmot raises ValueError/RuntimeError naming the layer
        raise EdgeoptError(f"tfmot cannot prepare the model for quantization-aware training: {first_line(exc)}",
                           "annotate or replace that layer (tfmot supports built-in Conv, Dense, BatchNorm, "
                           "pooling and activation layers of Sequential/functional tf_keras models), or use "
                           "--method int8 (post-training)") from exc
    labels, source = data.y_train, data.labels
    if labels is None:
        labels = keras_model.predict(data.x_train, batch_size=256, verbose=0).reshape(len(data.x_train), -1)
        labels, source = labels.argmax(-1), "float_model"
    if epochs:
        wrapped.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE),
                        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits))
        wrapped.fit(data.x_train.astype(np.float32), labels, epochs=epochs, batch_size=batch_size, verbose=0)
    converter = tf.lite.TFLiteConverter.from_keras_model(wrapped)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative(calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = getattr(tf, io_type)
    converter.inference_output_type = getattr(tf, io_type)
    flatbuffer = convert(converter, "qat")
    return flatbuffer, {"qat_epochs": epochs, "qat_train_samples": int(len(data.x_train)), "qat_labels": source}



def build(job: Job) -> Built:
    """Quantization-aware training for `qat_epochs`, then int8; the post-training int8 model of the
    same data is made too and its accuracy reported beside it (`ptq_*`)."""
    o, source = job.options, job.source
    keras_model = source.keras_model
    if keras_model is None:
        try:
            keras_model = load_keras(source.path)
        except EdgeoptError:
            keras_model = None
    flatbuffer, extra = qat_flatbuffer(keras_model, job.data, job.calib, o["qat_epochs"], o["io_type"])
    ptq = to_tflite_bytes(source, "int8", job.calib, o["io_type"], o["per_channel"])
    ptq_out = predict_tflite(ptq, job.x_test)
    extra.update({"ptq_accuracy": accuracy(ptq_out, job.labels),
                  "ptq_agreement": parity(ptq_out, job.reference)["top1_agreement"], "ptq_size_bytes": len(ptq)})
    return Built(flatbuffer, extra=extra)
