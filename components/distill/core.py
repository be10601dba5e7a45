"""Knowledge distillation: train a smaller student model to imitate a teacher (Hinton et al., 2015).

The student is a width-scaled copy of the teacher's architecture with fresh weights: every layer
with `filters` or `units` (Conv*, Dense, ...) is scaled by `width`, except the layer that
produces the class scores; depthwise layers keep their multiplier. A student bundle may be
given instead (`student_dir`); it is trained further from its current weights.

Loss per sample, with teacher logits t, student logits s, label y and temperature T:

    alpha * CE(y, softmax(s)) + (1 - alpha) * T^2 * KL(softmax(t / T) || softmax(s / T))

`alpha=1` trains the student from the labels alone: the baseline that shows what the teacher adds.

The logits are the inputs of the models' final softmax: the softmax is stripped (the output
layer is rebuilt with a linear activation and the same weights, or the model is cut before a
final Softmax/Activation layer), which is exact, unlike taking the log of clipped probabilities.
A model whose output is linear is taken to output logits already. The saved student has the
teacher's output activation and is a plain Sequential/functional model.
"""

import math
from pathlib import Path
from typing import Any

import numpy as np

from edgeopt.common.bundle import ModelInfo, parent_ref, write_bundle
from edgeopt.common.datasets import check_input_shape
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.evaluate import accuracy
from edgeopt.common.fsutil import atomic_dir
from edgeopt.common.keras_io import load_keras, save_keras
from edgeopt.common.metrics import write_metrics
from edgeopt.common.runtimes import predict_keras
from edgeopt.common.training import (check_training_args, classifier_from_logits, load_keras_bundle,
                                     load_labelled, output_activation, passthrough, shape_list)

LEARNING_RATE = 3e-3  # Adam; the student starts from fresh weights


def check_options(width: float = 0.5, temperature: float = 4.0, alpha: float = 0.1, epochs: int = 10,
                  batch_size: int = 64) -> None:
    """EdgeoptError unless the distillation options are usable (checked before any training)."""
    if not 0 < width <= 1:
        raise EdgeoptError(f"student width must be in (0, 1], got {width}",
                           "give the fraction of the teacher's filters/units the student keeps, e.g. 0.5; "
                           "pass a student model for another architecture")
    if not temperature > 0:
        raise EdgeoptError(f"temperature must be > 0, got {temperature}", "use e.g. 4 (1 means no softening)")
    if not 0 <= alpha <= 1:
        raise EdgeoptError(f"alpha must be in [0, 1], got {alpha}",
                           "alpha weighs the label loss, 1 - alpha the teacher's soft targets; e.g. 0.1")
    check_training_args(epochs, batch_size)


def distill(teacher_dir: Path | str, data_path: Path | str, out_dir: Path | str, width: float = 0.5,
            temperature: float = 4.0, alpha: float = 0.1, epochs: int = 10, enabled: bool = True,
            student_dir: Path | str | None = None, batch_size: int = 64, seed: int = 0) -> dict[str, Any]:
    """Distill the Keras teacher of bundle `teacher_dir` into a student trained for `epochs` on the
    dataset `data_path`; write the student bundle and `metrics.json` to `out_dir`; return the metrics.

    `enabled=False` copies the teacher bundle unchanged (metrics `skipped`, `accuracy`, `size_bytes`).
    Training is seeded with `seed` (Python, NumPy and TF global seeds).
    """
    check_options(width, temperature, alpha, epochs, batch_size)
    if not enabled:
        return passthrough(teacher_dir, data_path, out_dir)

    from edgeopt.common.tfenv import keras

    info, teacher = load_keras_bundle(teacher_dir, "distill")
    data = load_labelled(data_path, teacher, "distill")
    classifier_from_logits(teacher, "distill")  # EdgeoptError unless it outputs probabilities or logits
    keras.utils.set_random_seed(seed)
    if student_dir is None:
        student = width_scaled(teacher, width)
    else:
        student = load_keras_bundle(student_dir, "distill")[1]
        check_input_shape(data.x_train, shape_list(student.input_shape), "x_train (for the student)")
    if tuple(student.output_shape[1:]) != tuple(teacher.output_shape[1:]) or output_activation(student) is None:
        raise EdgeoptError(f"the student's output {student.output_shape} does not match the teacher's "
                           f"{teacher.output_shape}",
                           "the student must end, like the teacher, in one softmax or linear output per class")

    teacher_accuracy = accuracy(predict_keras(teacher, data.x_test), data.y_test)
    teacher_logits = predict_keras(logits_model(teacher), data.x_train)
    student_logits = logits_model(student)
    loss = _train(student_logits, data.x_train, data.y_train, teacher_logits,
                  temperature, alpha, epochs, batch_size, seed)
    student.set_weights(student_logits.get_weights())

    with atomic_dir(out_dir) as scratch:
        file = save_keras(student, scratch)
        saved = load_keras(scratch / file)
        written = write_bundle(scratch, ModelInfo(
            format="keras", file=file, input_shape=shape_list(saved.input_shape),
            output_shape=shape_list(saved.output_shape), stage="distill", parent=parent_ref(info),
            details={"params": int(saved.count_params()), "width": width if student_dir is None else None,
                     "temperature": temperature, "alpha": alpha}))
        metrics = {
            "skipped": False,
            "accuracy": accuracy(predict_keras(saved, data.x_test), data.y_test),
            "teacher_accuracy": teacher_accuracy,
            "student_params": int(saved.count_params()),
            "teacher_params": int(teacher.count_params()),
            "size_bytes": written.size_bytes,
            "teacher_size_bytes": info.size_bytes,
            "width": width if student_dir is None else None,
            "temperature": temperature,
            "alpha": alpha,
            "epochs": epochs,
            "loss": loss,
        }
        write_metrics(scratch, metrics)
    return metrics


def distillation_loss(labels, student_logits, teacher_logits, temperature: float, alpha: float):
    """Mean Hinton distillation loss of a batch (see the module docstring); a scalar tensor."""
    from edgeopt.common.tfenv import tf

    labels = tf.cast(labels, tf.int32)
    hard = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=student_logits)
    log_p_teacher = tf.nn.log_softmax(teacher_logits / temperature)
    log_p_student = tf.nn.log_softmax(student_logits / temperature)
    soft = tf.reduce_sum(tf.exp(log_p_teacher) * (log_p_teacher - log_p_student), axis=-1)
    return tf.reduce_mean(alpha * hard + (1.0 - alpha) * temperature ** 2 * soft)


def width_scaled(teacher, width: float):
    """The teacher's architecture with `filters`/`units` scaled by `width` (at least 1), except in the
    layer producing the class scores, and fresh weights."""
    from edgeopt.common.tfenv import keras

    head = [layer for layer in _flat_layers(teacher) if _width_key(layer)][-1:]

    def scaled(layer):
        if isinstance(layer, keras.Model):
            return keras.models.clone_model(layer, clone_function=scaled)
        config = layer.get_config()
        key = _width_key(layer)
        if key and layer not in head:
            config[key] = max(1, int(round(config[key] * width)))
        return type(layer).from_config(config)

    try:
        return keras.models.clone_model(teacher, clone_function=scaled)
    except (ValueError, TypeError) as exc:
        raise EdgeoptError(f"cannot build a width-scaled student of this teacher: {str(exc).splitlines()[0]}",
                           "pass a student model (--student) that fits the teacher's inputs and outputs") from exc


def logits_model(model):
    """A model computing the logits behind `model`'s softmax output (`model` itself if its output is linear).

    A final Softmax/Activation layer is cut off (the result shares weights with `model`); a softmax
    fused into the output layer is replaced by a linear one in a copy that has `model`'s weights.
    """
    from edgeopt.common.tfenv import keras

    if output_activation(model) == "linear":
        return model
    head = model.get_layer(model.output_names[0])
    if isinstance(head, (keras.layers.Softmax, keras.layers.Activation)):
        return keras.Model(model.inputs, head.input)

    def linear_head(layer):
        config = layer.get_config()
        if layer is head:
            config["activation"] = "linear"
        return type(layer).from_config(config)

    twin = keras.models.clone_model(model, clone_function=linear_head)
    twin.set_weights(model.get_weights())
    return twin


def _train(student_logits, x: np.ndarray, y: np.ndarray, teacher_logits: np.ndarray, temperature: float,
           alpha: float, epochs: int, batch_size: int, seed: int) -> float | None:
    """Train `student_logits` on the distillation loss; return the mean loss of the last epoch."""
    from edgeopt.common.tfenv import keras, tf

    optimizer = keras.optimizers.Adam(LEARNING_RATE)
    variables = student_logits.trainable_variables
    batches = (tf.data.Dataset.from_tensor_slices((x.astype(np.float32), y, teacher_logits.astype(np.float32)))
               .shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size))

    @tf.function
    def step(xb, yb, tb):
        with tf.GradientTape() as tape:
            loss = distillation_loss(yb, student_logits(xb, training=True), tb, temperature, alpha)
            regularization = tf.add_n(student_logits.losses) if student_logits.losses else 0.0
            total = loss + regularization
        optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
        return loss

    last = None
    for _ in range(epochs):
        last = float(np.mean([float(step(xb, yb, tb)) for xb, yb, tb in batches]))
        if not math.isfinite(last):
            raise EdgeoptError("distillation diverged: the loss is not finite",
                               "check the dataset for NaN/inf values, or lower the temperature")
    return last


def _flat_layers(model):
    from edgeopt.common.tfenv import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _flat_layers(layer)
        else:
            yield layer


def _width_key(layer) -> str | None:
    """'filters' or 'units' when the layer's width is set by that config entry, else None."""
    config = layer.get_config()
    return next((key for key in ("filters", "units") if isinstance(config.get(key), int)), None)
