"""Pruning methods: the registry (`registry`) and one module per method, each registering itself on import."""

from edgeopt.prune.methods import lowrank, magnitude, nm, structured  # noqa: F401  (they register)
from edgeopt.prune.methods.registry import METHODS, PruneMethod, check, layer_ratios, lookup, names

__all__ = ["METHODS", "PruneMethod", "check", "layer_ratios", "lookup", "names"]
