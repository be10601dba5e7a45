"""Low-rank factorization: split Dense layers and 1x1 convolutions in two by truncated SVD.

A kernel W (inputs x outputs) becomes A (inputs x r) then B (r x outputs) with A = U_r sqrt(S_r)
and B = sqrt(S_r) V_r^T, the best rank-r approximation of W. The rank r is `rank_ratio` of the
full rank min(inputs, outputs), or the smallest that keeps `energy` of the squared singular values.
A layer is split only where r * (inputs + outputs) < inputs * outputs (fewer weights and MACs);
the first new layer (`<name>_lowrank`, linear, no bias) carries the strides, the second keeps the
original name, bias and activation. Then the model is fine-tuned.
"""

import numpy as np

from edgeopt.common.errors import EdgeoptError
from edgeopt.prune.graph import Entry, model_graph
from edgeopt.prune.job import Compressed, Job
from edgeopt.prune.methods.registry import PruneMethod, register

LAYERS = ("Dense", "Conv1D", "Conv2D")

register(PruneMethod(
    "lowrank", "split Dense layers and 1x1 convolutions in two thinner ones by truncated SVD",
    "edgeopt.prune.methods.lowrank:compress", uses=frozenset({"rank_ratio", "energy"}),
    needs_one_of=("rank_ratio", "energy"), structural=True))


def rank_for(singular: np.ndarray, rank_ratio: float | None, energy: float | None) -> int:
    """The rank kept for singular values `singular` (descending) by `rank_ratio` or `energy`."""
    if rank_ratio is not None:
        return max(1, int(round(rank_ratio * len(singular))))
    share = np.cumsum(singular ** 2) / np.sum(singular ** 2)
    return int(np.searchsorted(share, energy - 1e-12) + 1)


def compress(job: Job) -> Compressed:
    """Factorize the eligible layers of `job.model` (left unchanged); see the module docstring."""
    o = job.options
    graph = model_graph(job.model, "low-rank factorization")
    weights, layers = {}, {}
    for e in list(graph):
        if not _eligible(e) or e.name in job.excluded:
            continue
        kernel, *bias = graph.source.get_layer(e.name).get_weights()
        inputs, outputs = kernel.shape[-2:]
        u, s, vt = np.linalg.svd(kernel.reshape(inputs, outputs).astype(np.float64), full_matrices=False)
        rank = rank_for(s, o["rank_ratio"], o["energy"])
        if rank * (inputs + outputs) >= inputs * outputs:
            continue
        root = np.sqrt(s[:rank])
        first, second = (u[:, :rank] * root), (root[:, None] * vt[:rank])
        spatial = kernel.shape[:-2]
        name = _free_name(graph, f"{e.name}_lowrank")
        graph.insert_before(e.name, _first_config(e, name, rank), e.class_name, name)
        _second_config(e)
        weights[name] = [first.reshape(*spatial, inputs, rank).astype(kernel.dtype)]
        weights[e.name] = [second.reshape(*spatial, rank, outputs).astype(kernel.dtype), *bias]
        layers[e.name] = {"rank": rank, "full_rank": int(len(s)), "factor": name,
                          "energy": float(np.sum(s[:rank] ** 2) / np.sum(s ** 2))}
    if not layers:
        raise EdgeoptError("low-rank factorization found no Dense layer or 1x1 convolution where the kept rank "
                           "saves weights", "lower --rank-ratio or --energy, or check --exclude")
    model = graph.build(weights)
    rounds = [job.recover(model)]
    pruned = [n for name, report in layers.items() for n in (report["factor"], name)]
    return Compressed(model, pruned, layers, rounds)


def _eligible(e: Entry) -> bool:
    c = e.config
    if e.class_name == "Dense":
        return True
    return e.class_name in LAYERS[1:] and all(k == 1 for k in c["kernel_size"]) and c.get("groups", 1) == 1 \
        and c.get("data_format", "channels_last") == "channels_last"


def _first_config(e: Entry, name: str, rank: int) -> dict:
    config = dict(e.config, name=name, use_bias=False, activation="linear", activity_regularizer=None)
    config["units" if e.class_name == "Dense" else "filters"] = rank
    return config


def _second_config(e: Entry) -> None:
    if e.class_name != "Dense":
        ones = tuple(1 for _ in e.config["kernel_size"])
        e.config.update(strides=ones, dilation_rate=ones, padding="valid")


def _free_name(graph, name: str) -> str:
    taken, candidate, i = graph.names(), name, 1
    while candidate in taken:
        i += 1
        candidate = f"{name}_{i}"
    return candidate
