"""Recovery: fine-tune a compressed classifier back towards the model it came from.

The compressed model learns either from the labels (cross-entropy) or, with a `temperature`, from
the source model's soft targets (knowledge distillation, `edgeopt.common.distillation`), which needs
no labels when `alpha` is 0. Training runs on the logits behind the model's softmax (a twin that
shares or copies its weights) and the trained weights go back into the model by layer name.

With `early_stopping` > 0, a `validation_split` share of x_train is held out, training stops when
its loss has not improved for that many epochs, and the weights of the best epoch are restored.
The drop against the source is measured by the caller on x_test, never on these splits.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeopt.common.distillation import copy_weights_by_name, logits_model, pack_targets, packed_distillation_loss
from edgeopt.common.errors import EdgeoptError


@dataclass(frozen=True)
class Recovery:
    """How a compressed model is fine-tuned (see the module docstring)."""

    epochs: int
    batch_size: int = 64
    learning_rate: float = 1e-3
    early_stopping: int = 0
    validation_split: float = 0.1
    temperature: float | None = None
    alpha: float = 0.0
    seed: int = 0

    @property
    def needs_labels(self) -> bool:
        """Whether training reads y_train: on labels, or distilling with a label term."""
        return self.epochs > 0 and (self.temperature is None or self.alpha > 0)

    def split(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(train, held-out) indices of n training samples; no held-out ones without early stopping."""
        order = np.random.default_rng(self.seed).permutation(n)
        if not self.early_stopping:
            return np.arange(n), order[:0]
        held = max(1, int(round(self.validation_split * n)))
        if held >= n:
            raise EdgeoptError(f"early stopping holds out {held} of the {n} training samples, leaving none to train on",
                               "add training samples, or lower --validation-split")
        return np.sort(order[held:]), np.sort(order[:held])

    def steps_per_epoch(self, n: int) -> int:
        """Optimizer steps in one epoch over the training part of n samples."""
        return math.ceil(len(self.split(n)[0]) / self.batch_size)


@dataclass
class TrainingSet:
    """What a compressed model learns from: samples, labels (None when unlabelled) and the source's
    logits on the same samples (None unless distilling)."""

    x: np.ndarray
    y: np.ndarray | None
    teacher_logits: np.ndarray | None = None


def recover(model, data: TrainingSet, recovery: Recovery, prepare: Callable[[Any], Any] | None = None,
            finish: Callable[[Any], Any] | None = None, callbacks: Sequence[Any] = (),
            patience_from: int = 0) -> dict[str, Any]:
    """Fine-tune `model` in place for `recovery.epochs`; return what happened (`epochs_run`,
    `best_epoch` and `val_loss` with early stopping, `loss` of the last epoch).

    `prepare` turns the logits twin into the model to train (e.g. wraps it for pruning) and
    `finish` back into plain layers (strips the wrappers); `callbacks` join Keras `fit`; early
    stopping judges no epoch before `patience_from` (e.g. while a pruning schedule still runs).
    """
    from edgeopt.common.tfenv import keras

    if recovery.epochs == 0:
        return {"epochs_run": 0, "best_epoch": None, "loss": None, "val_loss": None}
    if recovery.temperature is not None and data.teacher_logits is None:
        raise ValueError("distilling needs the source model's logits")
    twin = logits_model(model)
    trainable = prepare(twin) if prepare else twin
    if recovery.temperature is None:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        targets = data.y
    else:
        loss = packed_distillation_loss(recovery.temperature, recovery.alpha)
        targets = pack_targets(data.y if recovery.alpha > 0 else None, data.teacher_logits)
    train, held = recovery.split(len(data.x))
    fit_callbacks = list(callbacks)
    stopper = None
    if recovery.early_stopping:
        stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=recovery.early_stopping,
                                                restore_best_weights=True, start_from_epoch=patience_from)
        fit_callbacks.append(stopper)
    trainable.compile(optimizer=keras.optimizers.Adam(recovery.learning_rate), loss=loss)
    history = trainable.fit(data.x[train], targets[train], epochs=recovery.epochs, batch_size=recovery.batch_size,
                            validation_data=(data.x[held], targets[held]) if len(held) else None,
                            callbacks=fit_callbacks, verbose=0)
    losses = history.history["loss"]
    if not all(math.isfinite(v) for v in losses):
        raise EdgeoptError("fine-tuning diverged: the loss is not finite",
                           "lower --learning-rate, or check the dataset for extreme values")
    trained = finish(trainable) if finish else trainable
    if trained is not model:
        copy_weights_by_name(trained, model)
    val = history.history.get("val_loss")
    best = int(np.argmin(val[patience_from:]) + patience_from) if stopper and len(val) > patience_from else None
    return {"epochs_run": len(losses), "best_epoch": None if best is None else best + 1, "loss": float(losses[-1]),
            "val_loss": None if best is None else float(val[best])}
