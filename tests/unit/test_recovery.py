"""common.recovery: the held-out split, labels or soft targets, early stopping that keeps the best epoch."""

import numpy as np
import pytest

from edgeopt.common.datasets import load_dataset
from edgeopt.common.distillation import logits_model
from edgeopt.common.keras_io import load_keras
from edgeopt.common.recovery import Recovery, TrainingSet, recover


def small_classifier(seed: int = 0):
    from edgeopt.common.tfenv import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.layers.Input((8, 8, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(16, activation="relu"), keras.layers.Dense(10, activation="softmax")])


def test_split_holds_out_a_share_only_with_early_stopping():
    train, held = Recovery(epochs=1).split(100)
    assert len(train) == 100 and len(held) == 0
    train, held = Recovery(epochs=1, early_stopping=2, validation_split=0.2, seed=3).split(100)
    assert len(held) == 20 and sorted(np.concatenate([train, held]).tolist()) == list(range(100))
    assert np.array_equal(held, Recovery(epochs=1, early_stopping=2, validation_split=0.2, seed=3).split(100)[1])


def test_needs_labels_unless_distilling_without_a_label_term():
    assert Recovery(epochs=1).needs_labels
    assert not Recovery(epochs=1, temperature=4.0).needs_labels
    assert Recovery(epochs=1, temperature=4.0, alpha=0.3).needs_labels
    assert not Recovery(epochs=0).needs_labels


def test_early_stopping_restores_the_best_epoch(digits_npz):
    """With a learning rate that makes training erratic, the weights kept are the ones whose
    held-out loss is the reported best, not the last epoch's."""
    from edgeopt.common.tfenv import keras

    data = load_dataset(digits_npz)
    model = small_classifier()
    recovery = Recovery(epochs=6, learning_rate=0.5, early_stopping=6, validation_split=0.2)
    report = recover(model, TrainingSet(data.x_train, data.y_train), recovery)
    _, held = recovery.split(len(data.x_train))
    loss = keras.losses.SparseCategoricalCrossentropy()(data.y_train[held], model.predict(data.x_train[held],
                                                                                           verbose=0))
    assert report["epochs_run"] == 6 and 1 <= report["best_epoch"] <= 6
    assert float(loss) == pytest.approx(report["val_loss"], rel=1e-4)


def test_distilling_follows_the_teacher_without_labels(digits_npz, digits_model_file):
    """Soft targets of a trained teacher teach an untrained student with no label at all."""
    data = load_dataset(digits_npz)
    teacher = load_keras(digits_model_file)
    teacher_top1 = teacher.predict(data.x_test, verbose=0).argmax(-1)
    student = small_classifier(1)
    before = np.mean(student.predict(data.x_test, verbose=0).argmax(-1) == teacher_top1)
    recover(student, TrainingSet(data.x_train, None, logits_model(teacher).predict(data.x_train, verbose=0)),
            Recovery(epochs=10, learning_rate=3e-3, temperature=2.0))
    after = np.mean(student.predict(data.x_test, verbose=0).argmax(-1) == teacher_top1)
    assert before < 0.3 < 0.8 < after
