"""A Keras model as an editable functional graph: layer entries with their configs and inputs.

`model_graph` reads a Sequential or functional model into `Graph` (Sequential models become the
equivalent functional chain); methods edit entries (a new config, a layer inserted before another)
and `Graph.build` makes the new functional model, taking each layer's weights from a given table
or, by name, from the original model. `Graph.source` is a functional copy of the model whose
layers' node indices are the ones the entries use. Nested models and subclassed models are refused: structural
changes must see every layer.
"""

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeopt.common.errors import EdgeoptError

TensorRef = tuple[str, int, int]  # (layer name, node index, tensor index), as in Keras functional configs


@dataclass
class Entry:
    """One layer of the graph: its class, config and the inputs of each of its calls (nodes)."""

    name: str
    class_name: str
    config: dict[str, Any]
    nodes: list[list[TensorRef]]
    raw: dict[str, Any]  # the entry as Keras wrote it (module, registered name, call kwargs)


@dataclass
class Graph:
    """A functional model's layers in topological order, its inputs and outputs."""

    name: str
    entries: list[Entry]
    inputs: list[TensorRef]
    outputs: list[TensorRef]
    source: Any = field(repr=False)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def entry(self, name: str) -> Entry:
        return next(e for e in self.entries if e.name == name)

    def names(self) -> set[str]:
        return {e.name for e in self.entries}

    def insert_before(self, name: str, entry_config: dict[str, Any], class_name: str, new_name: str) -> None:
        """Insert a layer `new_name` (single input) between layer `name` and its inputs, one call per node."""
        target = self.entry(name)
        raw = {"class_name": class_name, "config": entry_config, "name": new_name,
               "inbound_nodes": copy.deepcopy(target.raw["inbound_nodes"])}
        new = Entry(new_name, class_name, entry_config, [list(n) for n in target.nodes], raw)
        target.nodes = [[(new_name, i, 0)] for i in range(len(target.nodes))]
        target.raw["inbound_nodes"] = [[[new_name, i, 0, {}]] for i in range(len(target.nodes))]
        self.entries.insert(self.entries.index(target), new)

    def build(self, weights: dict[str, list[np.ndarray]]):
        """The functional model of this graph; layer weights from `weights` by name, else from the source."""
        from edgeopt.common.tfenv import keras

        layers = []
        for e in self.entries:
            raw = dict(e.raw)
            raw["config"] = e.config
            layers.append(raw)
        config = {"name": self.name, "layers": layers, "input_layers": [list(r) for r in self.inputs],
                  "output_layers": [list(r) for r in self.outputs]}
        model = keras.Model.from_config(config)
        source_names = {layer.name for layer in self.source.layers}
        for layer in model.layers:
            if layer.name in weights:
                layer.set_weights(weights[layer.name])
            elif layer.weights and layer.name in source_names:
                layer.set_weights(self.source.get_layer(layer.name).get_weights())
        return model


def model_graph(model, what: str) -> Graph:
    """The functional graph of a Sequential or functional model; EdgeoptError (naming `what` needs it)
    for a subclassed model or one with nested models."""
    from edgeopt.common.tfenv import keras

    nested = [layer.name for layer in model.layers if isinstance(layer, keras.Model)]
    if nested:
        raise EdgeoptError(f"{what} needs a flat model, but layer {nested[0]} is a nested model",
                           "rebuild the model without nested sub-models, or use --method magnitude")
    if isinstance(model, keras.Sequential):
        inputs = keras.Input(batch_shape=model.input_shape)
        x = inputs
        for layer in model.layers:
            x = layer(x)
        model = keras.Model(inputs, x, name=model.name)
    if not getattr(model, "_is_graph_network", False):
        raise EdgeoptError(f"{what} needs a Sequential or functional Keras model, not a subclassed one",
                           "rebuild the model with the functional API, or use --method magnitude")
    config = model.get_config()
    entries = [Entry(raw["name"], raw["class_name"], raw["config"],
                     [[(r[0], int(r[1]), int(r[2])) for r in node] for node in raw["inbound_nodes"]], raw)
               for raw in copy.deepcopy(config["layers"])]
    graph = Graph(config["name"], _topological(entries), [tuple(r) for r in config["input_layers"]],
                  [tuple(r) for r in config["output_layers"]], model)
    graph.source = graph.build({})  # a copy whose node indices are the config's
    return graph


def _topological(entries: list[Entry]) -> list[Entry]:
    done: set[str] = set()
    ordered: list[Entry] = []
    pending = list(entries)
    while pending:
        ready = [e for e in pending if all(ref[0] in done for node in e.nodes for ref in node)]
        if not ready:
            raise EdgeoptError("the model's layer graph has a cycle", "pass a plain feed-forward Keras model")
        for e in ready:
            done.add(e.name)
            ordered.append(e)
            pending.remove(e)
    return ordered
