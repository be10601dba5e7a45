"""Magnitude pruning: zero the smallest weights of a Keras model and fine-tune it to recover.

The schedule is TF Model Optimization's `PolynomialDecay` from 0 to `target_sparsity`, reached
a few steps before the end of fine-tuning so that the last steps train at full sparsity. Layers
that tfmot cannot prune (custom layers, layers without prunable weights) are kept unchanged.
With `epochs=0` the model is pruned once by magnitude, without fine-tuning.

The output is a dense Keras model whose pruned weights are exact zeros: the file does not
shrink, but it compresses (`gzip_bytes`), and a sparse kernel needs fewer multiplications
(`nonzero_macs`).

The helpers `load_keras_bundle`, `load_labelled`, `output_activation` and `passthrough` are
shared with the other training stage (distill).
"""

import gzip
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgeopt.common.bundle import ModelInfo, parent_ref, write_bundle
from edgeopt.common.datasets import Dataset
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.evaluate import accuracy
from edgeopt.common.fsutil import atomic_dir
from edgeopt.common.keras_io import load_keras, save_keras
from edgeopt.common.metrics import write_metrics
from edgeopt.common.runtimes import predict_keras
from edgeopt.common.training import (check_training_args, classifier_from_logits, load_keras_bundle,
                                     load_labelled, passthrough, shape_list)
from edgeopt.prune.macs import count_macs

LEARNING_RATE = 1e-3  # fine-tuning rate: low enough not to undo the training of the source model


def check_options(target_sparsity: float = 0.5, epochs: int = 2, batch_size: int = 64) -> None:
    """EdgeoptError unless the pruning options are usable (checked before any training)."""
    if not 0 <= target_sparsity < 1:
        raise EdgeoptError(f"target sparsity must be in [0, 1), got {target_sparsity}",
                           "give the fraction of weights to zero, e.g. 0.5 for half of them")
    check_training_args(epochs, batch_size)


def prune(model_dir: Path | str, data_path: Path | str, out_dir: Path | str, target_sparsity: float = 0.5,
          epochs: int = 2, enabled: bool = True, batch_size: int = 64, seed: int = 0) -> dict[str, Any]:
    """Prune the Keras model of bundle `model_dir` to `target_sparsity`, fine-tuning it for `epochs` on
    the dataset `data_path`; write the pruned bundle and `metrics.json` to `out_dir`; return the metrics.

    `enabled=False` copies the bundle unchanged (metrics `skipped`, `accuracy`, `size_bytes`, `sparsity`).
    """
    check_options(target_sparsity, epochs, batch_size)
    if not enabled:
        return passthrough(model_dir, data_path, out_dir)

    from edgeopt.common.tfenv import keras

    info, model = load_keras_bundle(model_dir, "prune")
    data = load_labelled(data_path, model, "prune")
    from_logits = classifier_from_logits(model, "prune")
    keras.utils.set_random_seed(seed)
    source_accuracy = accuracy(predict_keras(model, data.x_test), data.y_test)
    with tempfile.TemporaryDirectory() as tmp:  # the source as the same kind of file as the output
        source_file = Path(tmp) / save_keras(model, Path(tmp))
        source_size, source_gzip = source_file.stat().st_size, gzip_size(source_file)

    steps = epochs * math.ceil(len(data.x_train) / batch_size)
    wrapped, prunable = _wrap_prunable(model, _schedule(target_sparsity, steps))
    if not prunable:
        raise EdgeoptError("the model has no layer that TF Model Optimization can prune",
                           "pruning needs Dense or convolution layers; disable the prune stage for this model")
    if epochs:
        pruned = _fine_tune(wrapped, data, epochs, batch_size, from_logits)
    else:
        for layer, index in prunable:
            weight = layer.weights[index]
            weight.assign(magnitude_prune(weight.numpy(), target_sparsity))
        pruned = model

    sparsity = weight_sparsity([layer.weights[index] for layer, index in prunable])
    with atomic_dir(out_dir) as scratch:
        file = save_keras(pruned, scratch)
        saved = load_keras(scratch / file)
        macs, nonzero_macs = count_macs(saved, data.x_test.shape)
        written = write_bundle(scratch, ModelInfo(
            format="keras", file=file, input_shape=shape_list(saved.input_shape),
            output_shape=shape_list(saved.output_shape), sparsity=sparsity, stage="prune", parent=parent_ref(info),
            details={"params": int(saved.count_params()), "target_sparsity": target_sparsity,
                     "pruned_layers": sorted({layer.name for layer, _ in prunable})}))
        metrics = {
            "skipped": False,
            "accuracy": accuracy(predict_keras(saved, data.x_test), data.y_test),
            "source_accuracy": source_accuracy,
            "sparsity": sparsity,
            "target_sparsity": target_sparsity,
            "size_bytes": written.size_bytes,
            "source_size_bytes": source_size,
            "gzip_bytes": gzip_size(scratch / file),
            "source_gzip_bytes": source_gzip,
            "macs": macs,
            "nonzero_macs": nonzero_macs,
            "pruned_layers": len({layer.name for layer, _ in prunable}),
            "epochs": epochs,
        }
        write_metrics(scratch, metrics)
    return metrics


def magnitude_prune(weights: np.ndarray, sparsity: float) -> np.ndarray:
    """A copy of `weights` with its round(sparsity * size) smallest-magnitude entries set to 0."""
    out = weights.copy()
    k = int(round(sparsity * weights.size))
    out.reshape(-1)[np.argsort(np.abs(weights), axis=None, kind="stable")[:k]] = 0
    return out


def weight_sparsity(weights: list) -> float:
    """Fraction of exact zeros over all entries of `weights` (arrays or variables)."""
    arrays = [np.asarray(w) for w in weights]
    total = sum(a.size for a in arrays)
    return float(sum(a.size - np.count_nonzero(a) for a in arrays) / total) if total else 0.0


def gzip_size(path: Path) -> int:
    """Bytes of the gzip (level 9) of a file: how small a sparse model gets when compressed."""
    return len(gzip.compress(path.read_bytes(), compresslevel=9, mtime=0))


def _schedule(target_sparsity: float, steps: int):
    """PolynomialDecay to `target_sparsity`; the last mask update lands ~10 % of `steps` before the end."""
    import tensorflow_model_optimization as tfmot

    end = max(1, steps - max(1, steps // 10))
    frequency = max(1, end // 10)
    end -= end % frequency
    return tfmot.sparsity.keras.PolynomialDecay(initial_sparsity=0.0, final_sparsity=target_sparsity,
                                                begin_step=0, end_step=end, frequency=frequency)


def _wrap_prunable(model, schedule) -> tuple[Any, list[tuple[Any, int]]]:
    """`model` with its prunable layers wrapped for pruning, and (layer, weight index) of every
    prunable weight. Layers tfmot cannot prune, or that have nothing to prune, stay as they are."""
    import tensorflow_model_optimization as tfmot

    from edgeopt.common.tfenv import keras

    prunable: list[tuple[Any, int]] = []

    def wrap(layer):
        if isinstance(layer, keras.Model):
            return keras.models.clone_model(layer, clone_function=wrap)
        try:
            wrapper = tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
        except ValueError:  # not supported by tfmot: keep the layer as it is
            return layer
        weights = wrapper.layer.get_prunable_weights()
        if not weights:
            return layer
        prunable.extend((layer, _index_of(layer, w)) for w in weights)
        return wrapper

    try:
        wrapped = keras.models.clone_model(model, clone_function=wrap)
    except ValueError as exc:
        raise EdgeoptError(f"cannot prepare the model for pruning: {str(exc).splitlines()[0]}",
                           "prune needs a Sequential or functional Keras model, not a subclassed one") from exc
    return wrapped, prunable


def _index_of(layer, weight) -> int:
    return next(i for i, w in enumerate(layer.weights) if w is weight)


def _fine_tune(wrapped, data: Dataset, epochs: int, batch_size: int, from_logits: bool):
    """Train the wrapped model under its pruning schedule; return it with the wrappers removed."""
    import tensorflow_model_optimization as tfmot

    from edgeopt.common.tfenv import keras

    wrapped.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits))
    wrapped.fit(data.x_train, data.y_train, epochs=epochs, batch_size=batch_size, verbose=0,
                callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    return tfmot.sparsity.keras.strip_pruning(wrapped)
