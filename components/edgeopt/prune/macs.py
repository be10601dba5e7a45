"""Multiply-accumulate (MAC) counts of a Keras model, dense and counting only non-zero weights.

Counted layers: Dense, Conv1D/2D/3D, DepthwiseConv1D/2D, SeparableConv1D/2D and the transposed
convolutions; every other layer counts as 0 (pooling, activations, normalisation, adds are
cheap next to these). Each weight of a kernel is used once per output position, so

    macs         = kernel.size * positions
    nonzero_macs = count_nonzero(kernel) * positions

where `positions` is the product of the output's spatial (or sequence) dimensions, or of the
input's for a transposed convolution. Bias additions are not counted. A layer called several
times counts once per call; nested models are walked.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgeopt.common.errors import EdgeoptError


@dataclass(frozen=True)
class LayerMacs:
    """MACs of one counted layer for one sample."""

    name: str
    type: str
    macs: int
    nonzero_macs: int


def count_macs(model, input_shape: Sequence[int | None] | None = None) -> tuple[int, int]:
    """(dense MACs, MACs whose weight is non-zero) of one forward pass of one sample.

    `input_shape` (with or without the batch dimension) fixes input dimensions the model leaves
    open; without it, such a model raises EdgeoptError.
    """
    layers = layer_macs(model, input_shape)
    return sum(l.macs for l in layers), sum(l.nonzero_macs for l in layers)


def layer_macs(model, input_shape: Sequence[int | None] | None = None) -> list[LayerMacs]:
    """Per-layer MACs of the counted layers of `model`, in layer order (see `count_macs`)."""
    if input_shape is not None and _has_open_dims(model.input_shape):
        model = _with_fixed_input(model, input_shape)
    return list(_walk(model))


def _walk(model):
    from edgeopt.common.tfenv import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _walk(layer)
            continue
        kernels = _kernels(layer)
        if not kernels:
            continue
        for node in layer.inbound_nodes:
            shape = node.input_shapes if _is_transposed(layer) else node.output_shapes
            positions = _positions(layer, shape)
            yield LayerMacs(
                name=layer.name, type=type(layer).__name__,
                macs=positions * sum(int(k.size) for k in kernels),
                nonzero_macs=positions * sum(int(np.count_nonzero(k)) for k in kernels))


def _kernels(layer) -> list[np.ndarray]:
    """The multiplying weights of a counted layer, or [] for a layer that is not counted."""
    from edgeopt.common.tfenv import keras

    if isinstance(layer, keras.layers.Dense):
        return [layer.kernel.numpy()]
    if isinstance(layer, (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)):
        return [layer.depthwise_kernel.numpy(), layer.pointwise_kernel.numpy()]
    if isinstance(layer, (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)):
        return [layer.depthwise_kernel.numpy()]
    if isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)):
        return [layer.kernel.numpy()]
    return []


def _is_transposed(layer) -> bool:
    from edgeopt.common.tfenv import keras

    return isinstance(layer, (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose,
                              keras.layers.Conv3DTranspose))


def _positions(layer, shape) -> int:
    """Product of the non-batch, non-channel dimensions of a layer's output (or input) shape."""
    if isinstance(shape, list):
        shape = shape[0]
    shape = tuple(shape)
    channels_first = getattr(layer, "data_format", "channels_last") == "channels_first"
    spatial = shape[2:] if channels_first else shape[1:-1]
    if any(d is None for d in spatial):
        raise EdgeoptError(f"cannot count the MACs of layer {layer.name}: its shape {shape} is not fully known",
                           "give the model a fixed input shape, or pass the sample shape to count_macs")
    return int(np.prod(spatial, dtype=np.int64))


def _has_open_dims(shape) -> bool:
    shapes = shape if isinstance(shape, list) else [shape]
    return any(d is None for s in shapes for d in tuple(s)[1:])


def _with_fixed_input(model, input_shape: Sequence[int | None]):
    """A copy of a single-input model, with its weights, built for samples of `input_shape`."""
    from edgeopt.common.tfenv import keras

    if isinstance(model.input_shape, list):
        raise EdgeoptError("cannot fix the input shape of a model with several inputs",
                           "give each model input a fixed shape")
    sample = tuple(input_shape)[1:] if len(input_shape) == len(model.input_shape) else tuple(input_shape)
    clone = keras.models.clone_model(model, input_tensors=keras.Input(shape=sample))
    clone.set_weights(model.get_weights())
    return clone
