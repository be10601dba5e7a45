"""Cut the removed channels out of a model: a smaller dense model with the kept weights.

Given the channels to keep of each group (`keep`: group id -> sorted channel indices), every
producer keeps those filters (kernel output axis, bias) and the input rows of its kept input
channels; every follower (BatchNormalization, depthwise convolution) keeps the same channels of
its per-channel weights; a Dense after Flatten keeps the rows of the kept channels at every
position. The result computes exactly what the original computes on the kept channels.
"""

import numpy as np

from edgeopt.prune.channels import PRODUCERS, Chan, ChannelMap
from edgeopt.prune.graph import Graph


def shrink(graph: Graph, cmap: ChannelMap, keep: dict[int, np.ndarray]):
    """The model of `graph` without the channels `keep` leaves out (see the module docstring)."""
    weights: dict[str, list[np.ndarray]] = {}
    for e in graph:
        layer = graph.source.get_layer(e.name)
        arrays = layer.get_weights()
        if e.name in cmap.outputs:
            rows = cmap.indices(cmap.consumers[e.name], keep)
            cols = cmap.indices(Chan(cmap.outputs[e.name]), keep)
            weights[e.name] = _producer(e.class_name, arrays, rows, cols)
            if cols is not None:
                e.config["filters" if "filters" in e.config else "units"] = int(len(cols))
        elif e.name in cmap.followers:
            kept = cmap.indices(cmap.followers[e.name], keep)
            if kept is not None:
                weights[e.name] = [np.take(w, kept, axis=w.ndim - 2 if w.ndim >= 3 else 0) for w in arrays]
    return graph.build(weights)


def _producer(class_name: str, arrays: list[np.ndarray], rows: np.ndarray | None,
              cols: np.ndarray | None) -> list[np.ndarray]:
    in_axis, out_axis = PRODUCERS[class_name]
    if class_name.startswith("SeparableConv"):
        depthwise, pointwise, *bias = arrays
        if rows is not None:
            multiplier = depthwise.shape[-1]
            depthwise = np.take(depthwise, rows, axis=-2)
            pointwise = np.take(pointwise, (rows[:, None] * multiplier + np.arange(multiplier)).reshape(-1), axis=-2)
        if cols is not None:
            pointwise = np.take(pointwise, cols, axis=-1)
            bias = [np.take(b, cols) for b in bias]
        return [depthwise, pointwise, *bias]
    kernel, *bias = arrays
    if rows is not None:
        kernel = np.take(kernel, rows, axis=in_axis)
    if cols is not None:
        kernel = np.take(kernel, cols, axis=out_axis)
        bias = [np.take(b, cols) for b in bias]
    return [kernel, *bias]
