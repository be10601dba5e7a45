"""Knowledge distillation: train a smaller student model to imitate a teacher (Hinton et al., 2015).

The student is a width-scaled copy of the teacher's architecture with fresh weights: every layer
with `filters` or `units` (Conv*, Dense, ...) is scaled by `width`, except the layer that
produces the class scores; depthwise layers keep their multiplier. A student bundle may be
given instead (`student_dir`); it is trained further from its current weights.

Loss per sample, with teacher logits t, student logits s, label y and temperature T
(`edgeopt.common.distillation`, which also takes the logits behind a softmax exactly):

    alpha * CE(y, softmax(s)) + (1 - alpha) * T^2 * KL(softmax(t / T) || softmax(s / T))

`alpha=1` trains the student from the labels alone: the baseline that shows what the teacher adds.
With `compare_without_teacher` (the default) the stage trains that baseline too, the same student
from the same initial weights for the same epochs, batches and learning rate, and reports its
accuracy beside the distilled one (`without_teacher_accuracy`, `teacher_gain`). The saved student
(the distilled one) has the teacher's output activation and is a plain Sequential/functional model.
"""

import math
from pathlib import Path
from typing import Any

import numpy as np

from edgeopt.common.bundle import ModelInfo, parent_ref, write_bundle
from edgeopt.common.datasets import check_input_shape
from edgeopt.common.distillation import distillation_loss, logits_model
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.evaluate import accuracy
from edgeopt.common.fsutil import atomic_dir
from edgeopt.common.keras_io import load_keras, save_keras
from edgeopt.common.metrics import write_metrics
from edgeopt.common.runtimes import predict_keras
from edgeopt.common.training import (classifier_from_logits, load_keras_bundle, load_labelled, output_activation,
                                     passthrough, shape_list)
from edgeopt.distill.spec import SPEC

LEARNING_RATE = 3e-3  # Adam; the student starts from fresh weights


def distill(teacher_dir: Path | str, data_path: Path | str, out_dir: Path | str,
            student_dir: Path | str | None = None, teacher_outputs: Path | str | None = None,
            **options: Any) -> dict[str, Any]:
    """Distill the Keras teacher of bundle `teacher_dir` into a student trained for `epochs` on the
    dataset `data_path`; write the student bundle and `metrics.json` to `out_dir`; return the metrics.

    `options` are the parameters of `edgeopt.distill.spec.SPEC` (checked there; defaults from it).
    `student_dir`, a Keras bundle, replaces the width-scaled copy of the teacher. `teacher_outputs`,
    the file `write_teacher_outputs` made for this teacher and dataset, saves running the teacher
    (a sweep computes it once for all its candidates).

    `enabled=False` copies the teacher bundle unchanged (metrics `skipped`, `accuracy`, `size_bytes`).
    Training is seeded with `seed` (Python, NumPy and TF global seeds).
    """
    o = SPEC.check(options)
    width, temperature, alpha, epochs = o["width"], o["temperature"], o["alpha"], o["epochs"]
    batch_size, seed = o["batch_size"], o["seed"]
    if not o["enabled"]:
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

    if teacher_outputs is None:
        teacher_accuracy, teacher_logits = _teacher_outputs(teacher, data)
    else:
        teacher_accuracy, teacher_logits = read_teacher_outputs(teacher_outputs, data, teacher)
    initial = student.get_weights()
    student_logits = logits_model(student)
    loss = _train(student_logits, data.x_train, data.y_train, teacher_logits,
                  temperature, alpha, epochs, batch_size, seed)
    student.set_weights(student_logits.get_weights())
    without_teacher = None
    if o["compare_without_teacher"] and alpha < 1:
        plain = keras.models.clone_model(student)
        plain.set_weights(initial)
        plain_logits = logits_model(plain)
        _train(plain_logits, data.x_train, data.y_train, teacher_logits, temperature, 1.0, epochs, batch_size, seed)
        without_teacher = accuracy(predict_keras(plain_logits, data.x_test), data.y_test)

    with atomic_dir(out_dir) as scratch:
        file = save_keras(student, scratch)
        saved = load_keras(scratch / file)
        written = write_bundle(scratch, ModelInfo(
            format="keras", file=file, input_shape=shape_list(saved.input_shape),
            output_shape=shape_list(saved.output_shape), stage="distill", parent=parent_ref(info),
            details={"params": int(saved.count_params()), "width": width if student_dir is None else None,
                     "temperature": temperature, "alpha": alpha}))
        student_accuracy = accuracy(predict_keras(saved, data.x_test), data.y_test)
        if o["compare_without_teacher"] and without_teacher is None:  # alpha 1: this student had no teacher
            without_teacher = student_accuracy
        metrics = {
            "skipped": False,
            "accuracy": student_accuracy,
            "without_teacher_accuracy": without_teacher,
            "teacher_gain": None if without_teacher is None else student_accuracy - without_teacher,
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


def write_teacher_outputs(teacher_dir: Path | str, data_path: Path | str, out_path: Path | str) -> dict[str, Any]:
    """Run the teacher once: write its logits on x_train and its accuracy on x_test to the `.npz`
    `out_path` (`train_logits`, `teacher_accuracy`), which `distill(teacher_outputs=...)` reads.
    Returns {teacher_accuracy, num_train}."""
    _, teacher = load_keras_bundle(teacher_dir, "distill")
    data = load_labelled(data_path, teacher, "distill")
    classifier_from_logits(teacher, "distill")
    teacher_accuracy, logits = _teacher_outputs(teacher, data)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(out_path, "wb") as f:
        np.savez(f, train_logits=logits.astype(np.float32), teacher_accuracy=np.float64(teacher_accuracy))
    return {"teacher_accuracy": teacher_accuracy, "num_train": int(len(logits))}


def read_teacher_outputs(path: Path | str, data, teacher) -> tuple[float, np.ndarray]:
    """(teacher accuracy, train logits) from a `write_teacher_outputs` file, checked against the data
    and the teacher; EdgeoptError when they do not belong together."""
    with np.load(path, allow_pickle=False) as f:
        logits, teacher_accuracy = f["train_logits"], float(f["teacher_accuracy"])
    if logits.shape != (len(data.x_train), *teacher.output_shape[1:]):
        raise EdgeoptError(f"the teacher outputs {path} hold logits of shape {logits.shape}, not one row of "
                           f"{tuple(teacher.output_shape[1:])} per training sample ({len(data.x_train)})",
                           "compute them again from this teacher and dataset")
    return teacher_accuracy, logits


def _teacher_outputs(teacher, data) -> tuple[float, np.ndarray]:
    return (accuracy(predict_keras(teacher, data.x_test), data.y_test),
            predict_keras(logits_model(teacher), data.x_train))


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
