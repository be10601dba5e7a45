"""Weight sparsity with TF Model Optimization: wrapping layers for pruning, schedules, N:M groups.

`wrap_for_pruning` wraps the layers tfmot can prune (Dense, convolutions, ...) that a `choose`
function accepts, each with its own arguments (schedule, `sparsity_m_by_n`); layers tfmot cannot
prune, or that have nothing to prune, stay as they are. `strip` removes the wrappers. The one-shot
functions (`magnitude_prune`, `nm_prune`) do the same without training, for `epochs=0`.

N:M groups follow tfmot's layout (the one TFLite's sparse kernels read): M consecutive weights
along the input channels of one output channel (and kernel position). `nm_groups` counts the
groups of a kernel that hold at most N non-zeros.
"""

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from edgeopt.common.errors import EdgeoptError


def tfmot_prunable(model) -> list[str]:
    """Names of the layers of `model` tfmot can prune (with at least one prunable weight)."""
    import tensorflow_model_optimization as tfmot

    names = []
    for layer in model.layers:
        try:
            wrapper = tfmot.sparsity.keras.prune_low_magnitude(layer)
        except ValueError:
            continue
        if wrapper.layer.get_prunable_weights():
            names.append(layer.name)
    return names


def wrap_for_pruning(model, choose: Callable[[Any], dict[str, Any] | None]):
    """`model` with every layer for which `choose(layer)` gives prune_low_magnitude arguments wrapped."""
    import tensorflow_model_optimization as tfmot

    from edgeopt.common.tfenv import keras

    def wrap(layer):
        arguments = choose(layer)
        if arguments is None:
            return layer
        return tfmot.sparsity.keras.prune_low_magnitude(layer, **arguments)

    try:
        return keras.models.clone_model(model, clone_function=wrap)
    except ValueError as exc:
        raise EdgeoptError(f"cannot prepare the model for pruning: {str(exc).splitlines()[0]}",
                           "prune needs a Sequential or functional Keras model, not a subclassed one") from exc


def strip(wrapped):
    """The model without its pruning wrappers (the pruned weights stay zero)."""
    import tensorflow_model_optimization as tfmot

    return tfmot.sparsity.keras.strip_pruning(wrapped)


def update_step_callback():
    """The Keras callback that advances the pruning step (needed by every wrapped model's `fit`)."""
    import tensorflow_model_optimization as tfmot

    return tfmot.sparsity.keras.UpdatePruningStep()


def timing(steps: int, begin: int, end: int | None, frequency: int | None) -> tuple[int, int]:
    """(end step, frequency) of mask updates within `steps` training steps: by default the last update
    lands ~10 % of the pruning span before the end and there are ~10 updates; the end is aligned
    to the frequency so that the last update reaches the final sparsity. EdgeoptError when the
    given steps do not fit."""
    if begin >= steps:
        raise EdgeoptError(f"--begin-step {begin} is not before the end of fine-tuning ({steps} steps per round)",
                           f"use a begin step below {steps}, or more --epochs")
    if end is not None and end > steps:
        raise EdgeoptError(f"--end-step {end} is past the end of fine-tuning ({steps} steps per round): the target "
                           "sparsity would never be reached", f"use an end step of at most {steps}, or more --epochs")
    span = steps - begin
    if end is None:
        end = begin + max(1, span - max(1, span // 10))
    frequency = frequency or max(1, (end - begin) // 10)
    if frequency > end - begin and end - begin > 0:
        raise EdgeoptError(f"--frequency {frequency} is longer than the pruning span ({end - begin} steps)",
                           "update the masks more often, or widen begin_step..end_step")
    aligned = end - (end - begin) % frequency
    return (aligned if aligned > begin else end), frequency


def polynomial(initial: float, final: float, begin: int, end: int, frequency: int):
    import tensorflow_model_optimization as tfmot

    return tfmot.sparsity.keras.PolynomialDecay(initial_sparsity=initial, final_sparsity=final,
                                                begin_step=begin, end_step=end, frequency=frequency)


def constant(target: float, begin: int, frequency: int):
    import tensorflow_model_optimization as tfmot

    return tfmot.sparsity.keras.ConstantSparsity(target, begin_step=begin, frequency=frequency)


def epochs_until(step: int, steps_per_epoch: int) -> int:
    """The number of whole epochs after which `step` has been trained."""
    return math.ceil(step / steps_per_epoch) if steps_per_epoch else 0


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


def nm_rows(kernel: np.ndarray) -> np.ndarray:
    """A Dense (in, out) or Conv2D (h, w, in, out) kernel as rows of input-channel weights, tfmot's layout."""
    if kernel.ndim == 2:
        return kernel.T
    return np.transpose(kernel, (3, 0, 1, 2)).reshape(-1, kernel.shape[2])


def nm_prune(kernel: np.ndarray, n: int, m: int) -> np.ndarray:
    """A copy of `kernel` keeping the n largest-magnitude weights of every group of m (input channels
    a multiple of m)."""
    rows = nm_rows(kernel)
    groups = rows.reshape(rows.shape[0], -1, m)
    order = np.argsort(-np.abs(groups), axis=-1, kind="stable")
    mask = np.zeros_like(groups, dtype=bool)
    np.put_along_axis(mask, order[..., :n], True, axis=-1)
    pruned = np.where(mask, groups, 0).reshape(rows.shape)
    if kernel.ndim == 2:
        return pruned.T.copy()
    h, w, _, out = kernel.shape
    return np.transpose(pruned.reshape(out, h, w, -1), (1, 2, 3, 0)).copy()


def nm_groups(kernel: np.ndarray, n: int, m: int) -> tuple[int, int]:
    """(groups of m with at most n non-zeros, all groups) of a kernel whose input channels are a multiple of m."""
    rows = nm_rows(kernel)
    counts = np.count_nonzero(rows.reshape(rows.shape[0], -1, m), axis=-1)
    return int(np.sum(counts <= n)), int(counts.size)
