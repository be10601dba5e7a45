"""How much each channel of a group matters: by weight norm, or measured on data.

- `l1`, `l2`: the norm of each producer's filter (all kernel entries making that channel);
- `activation`: the mean magnitude of the channel in the tensors the next layers read;
- `taylor`: first-order Taylor estimate of the loss change when the channel is removed
  (Molchanov et al., 2017): |mean over positions of activation * d loss / d activation|, averaged
  over samples. The loss is the cross-entropy against the labels, or, without labels, against the
  model's own top-1 prediction (its soft predictions would give a zero gradient).
A group made by several producers or read in several places sums their scores, each first scaled
to mean 1 so that no layer outweighs another by its scale alone.
"""

from collections.abc import Iterable

import numpy as np

from edgeopt.prune.channels import PRODUCERS, ChannelMap
from edgeopt.prune.graph import Graph

IMPORTANCE_SAMPLES = 512  # samples of x_train the data-driven scores look at
BATCH = 64


def weight_scores(graph: Graph, cmap: ChannelMap, gid: int, norm: str) -> np.ndarray:
    """Per-channel L1 (`norm` "l1") or L2 score of group `gid`, summed over its producers."""
    total = np.zeros(cmap.groups[gid].size)
    for name in cmap.groups[gid].producers:
        layer = graph.source.get_layer(name)
        kernel = (layer.pointwise_kernel if hasattr(layer, "pointwise_kernel") else layer.kernel).numpy()
        out_axis = PRODUCERS[type(layer).__name__][1] % kernel.ndim
        moved = np.moveaxis(kernel, out_axis, -1).reshape(-1, kernel.shape[out_axis])
        score = np.abs(moved).sum(0) if norm == "l1" else np.sqrt((moved ** 2).sum(0))
        total += _unit_mean(score)
    return total


def data_scores(graph: Graph, cmap: ChannelMap, gids: Iterable[int], kind: str, x: np.ndarray,
                y: np.ndarray | None, from_logits: bool) -> dict[int, np.ndarray]:
    """Per-channel `activation` or `taylor` scores of the groups `gids`, measured on up to
    IMPORTANCE_SAMPLES samples of `x` (labels `y`, or None)."""
    from edgeopt.common.tfenv import keras, tf

    model = graph.source
    probes = [(gid, ref) for gid in gids for ref in dict.fromkeys(cmap.groups[gid].probes)]
    tensors = [_tensor(model, ref) for _, ref in probes]
    probe_model = keras.Model(model.inputs, [*tensors, model.outputs[0]])
    sums = [np.zeros(int(t.shape[-1])) for t in tensors]
    x, y = x[:IMPORTANCE_SAMPLES], None if y is None else y[:IMPORTANCE_SAMPLES]
    for start in range(0, len(x), BATCH):
        xb = tf.constant(x[start:start + BATCH], tf.float32)
        with tf.GradientTape() as tape:
            outs = probe_model(xb, training=False)
            acts, pred = outs[:-1], outs[-1]
            labels = tf.argmax(pred, -1) if y is None else tf.constant(y[start:start + BATCH])
            loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(labels, pred, from_logits=from_logits))
        grads = tape.gradient(loss, acts) if kind == "taylor" else acts
        for i, (a, g) in enumerate(zip(acts, grads)):
            axes = tuple(range(1, len(a.shape) - 1))
            if kind == "taylor":
                per_sample = tf.abs(tf.reduce_mean(a * g, axis=axes)) if axes else tf.abs(a * g)
            else:
                per_sample = tf.reduce_mean(tf.abs(a), axis=axes) if axes else tf.abs(a)
            sums[i] += per_sample.numpy().sum(0)
    scores: dict[int, np.ndarray] = {gid: np.zeros(cmap.groups[gid].size) for gid in gids}
    for (gid, _), total in zip(probes, sums):
        scores[gid] += _unit_mean(total)
    return scores


def _tensor(model, ref):
    name, node, index = ref
    out = model.get_layer(name).get_output_at(node)
    return out[index] if isinstance(out, list) else out


def _unit_mean(score: np.ndarray) -> np.ndarray:
    mean = float(np.mean(score))
    return score / mean if mean > 0 else np.ones_like(score)
