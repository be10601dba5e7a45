"""Structured channel pruning: remove whole filters and units, giving a smaller dense model.

Each channel group (`edgeopt.prune.channels`: a layer's filters, joined across residual additions)
loses `ratio` of its channels (or its `layer_ratios` entry), keeping at least `min_channels`; the
channels kept are the most important by `importance` (`edgeopt.prune.importance`). The removal
propagates through the graph (`edgeopt.prune.slicing`), then the model is fine-tuned. With
`rounds` > 1 the channels go in equal steps, ranked again after each round's fine-tuning.
"""

import numpy as np

from edgeopt.common.errors import EdgeoptError
from edgeopt.common.modelfile import builtin_keras_classes
from edgeopt.prune.channels import ChannelMap, channel_groups
from edgeopt.prune.graph import Graph, model_graph
from edgeopt.prune.importance import data_scores, weight_scores
from edgeopt.prune.job import Compressed, Job
from edgeopt.prune.methods.registry import PruneMethod, register
from edgeopt.prune.slicing import shrink

register(PruneMethod(
    "structured", "remove whole filters and units: a smaller dense model with fewer MACs",
    "edgeopt.prune.methods.structured:compress",
    uses=frozenset({"ratio", "layer_ratios", "min_channels", "importance", "rounds"}), structural=True))


def compress(job: Job) -> Compressed:
    """Remove channels from `job.model` (which is left unchanged); see the module docstring."""
    o = job.options
    model, before, rounds = job.model, {}, []
    for k in range(1, o["rounds"] + 1):
        graph = model_graph(model, "structured pruning")
        cmap = channel_groups(graph, job.excluded, builtin_keras_classes())
        if k == 1:
            before = {name: cmap.groups[cmap.root(gid)].size for name, gid in cmap.outputs.items()}
            _check_ratios(cmap, job.layer_ratios)
        targets = {gid: _target(group.producers, before, job.layer_ratios.get, o, k)
                   for gid, group in cmap.prunable().items()}
        targets = {gid: t for gid, t in targets.items() if t < cmap.groups[gid].size}
        if k == 1 and not targets:
            raise EdgeoptError("structured pruning found no channels it may remove",
                               "every group of filters is excluded, frozen (model output, a layer it cannot "
                               "see through) or already at --min-channels; raise --ratio or check --exclude")
        model = shrink(graph, cmap, _choose(graph, cmap, targets, job))
        rounds.append(job.recover(model))
    after = {name: int(_width(model.get_layer(name))) for name in before}
    changed = [name for name in before if after[name] < before[name]]
    layers = {name: {"channels": [before[name], after[name]]} for name in changed}
    return Compressed(model, changed, layers, rounds)


def _target(producers: list[str], before: dict[str, int], ratio_of, o: dict, k: int) -> int:
    """Channels the group of `producers` keeps after round k: its ratio spread over the rounds."""
    size = before[producers[0]]
    ratio = next((ratio_of(p) for p in producers if ratio_of(p) is not None), o["ratio"])
    removed = int(round(ratio * size * k / o["rounds"]))
    return max(min(o["min_channels"], size), size - removed, 1)


def _choose(graph: Graph, cmap: ChannelMap, targets: dict[int, int], job: Job) -> dict[int, np.ndarray]:
    """Sorted indices of the channels each group keeps: the `targets[gid]` most important."""
    kind = job.options["importance"]
    if kind in ("l1", "l2"):
        scores = {gid: weight_scores(graph, cmap, gid, kind) for gid in targets}
    else:
        scores = data_scores(graph, cmap, targets, kind, job.training.x, job.training.y, job.from_logits)
    return {gid: np.sort(np.argsort(-scores[gid], kind="stable")[:count]) for gid, count in targets.items()}


def _check_ratios(cmap: ChannelMap, ratios: dict[str, float]) -> None:
    """EdgeoptError for a per-layer ratio on a layer whose channels cannot go, or two different
    ratios on layers joined into one group."""
    for name in ratios:
        if name not in cmap.outputs:
            raise EdgeoptError(f"--layer-ratios names {name}, which has no filters or units structured pruning removes",
                               f"name layers among {', '.join(cmap.outputs)}")
        group = cmap.group(cmap.outputs[name])
        if group.frozen:
            raise EdgeoptError(f"--layer-ratios names {name}, whose channels stay: {group.frozen[0]}",
                               "drop that entry")
        given = {ratios[p] for p in group.producers if p in ratios}
        if len(given) > 1:
            raise EdgeoptError(f"layers {', '.join(group.producers)} are joined (e.g. by an Add) and lose the same "
                               f"channels, but --layer-ratios gives them {', '.join(map(str, sorted(given)))}",
                               "give them one ratio")


def _width(layer) -> int:
    config = layer.get_config()
    return config.get("filters", config.get("units"))
