"""Channel groups: which output channels of which layers must be removed together.

Walking the graph in order, every tensor gets the group of its channels (its last axis):
- a producer (Conv1D/2D/3D, Dense, SeparableConv, the transposed convolutions) starts a group: its
  filters or units; it consumes its input's group through the input axis of its kernel;
- BatchNormalization, DepthwiseConv (multiplier 1), activations, dropout, pooling, padding and
  cropping keep their input's group (the weighted ones are sliced along with it);
- Add, Subtract, Multiply, Average, Maximum and Minimum join the groups of their inputs into one:
  the branches of a residual block are pruned together;
- Flatten keeps the group, spread over its spatial positions: the next Dense loses the rows of
  every removed channel at every position.
Any other built-in layer (Concatenate, Reshape, Softmax, ...) freezes the groups it reads and
starts a frozen one; so do the model's inputs and outputs, a producer with a softmax, excluded
layers and a layer called on several inputs that are not one group. A layer of a class Keras does
not ship (a custom layer) reading a group that could be pruned is refused: exclude the layers
feeding it.
"""

from dataclasses import dataclass, field

import numpy as np

from edgeopt.common.errors import EdgeoptError
from edgeopt.prune.graph import Graph, TensorRef

# class -> (input axis, output axis) of the kernel
PRODUCERS = {"Conv1D": (-2, -1), "Conv2D": (-2, -1), "Conv3D": (-2, -1), "Dense": (-2, -1),
             "Conv1DTranspose": (-1, -2), "Conv2DTranspose": (-1, -2), "Conv3DTranspose": (-1, -2),
             "SeparableConv1D": (-2, -1), "SeparableConv2D": (-2, -1)}
FOLLOWERS = {"BatchNormalization", "DepthwiseConv1D", "DepthwiseConv2D"}  # per-channel weights, sliced along
PASS = {"Activation", "ReLU", "LeakyReLU", "ELU", "ThresholdedReLU", "Dropout", "SpatialDropout1D",
        "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
        "ActivityRegularization", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D",
        "AveragePooling2D", "AveragePooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
        "GlobalAveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
        "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D",
        "UpSampling1D", "UpSampling2D", "UpSampling3D"}
MERGE = {"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"}
CHANNEL_MIXING = {"softmax", "log_softmax"}  # activations that normalise across channels


@dataclass(frozen=True)
class Chan:
    """The channels of a tensor: its group and, after Flatten, how many positions each channel spans."""

    group: int
    positions: int = 1
    flat: bool = False


@dataclass
class Group:
    """Channels removed together: size, the producers making them, why they stay (if they do)."""

    size: int
    producers: list[str] = field(default_factory=list)
    frozen: list[str] = field(default_factory=list)
    probes: list[TensorRef] = field(default_factory=list)  # tensors next layers read (for data importance)


@dataclass
class ChannelMap:
    """The result of `channel_groups`: groups by id and the channels of every tensor and weighted layer."""

    groups: dict[int, Group] = field(default_factory=dict)
    tensors: dict[TensorRef, Chan] = field(default_factory=dict)
    consumers: dict[str, Chan] = field(default_factory=dict)  # layer -> its input, sliced on the kernel's input axis
    followers: dict[str, Chan] = field(default_factory=dict)  # layer -> channels its per-channel weights follow
    outputs: dict[str, int] = field(default_factory=dict)     # producer -> its output group
    custom: list[tuple[str, str, Chan]] = field(default_factory=list)  # (layer, class, input) of custom layers
    parent: dict[int, int] = field(default_factory=dict)

    def root(self, gid: int) -> int:
        while gid in self.parent:
            gid = self.parent[gid]
        return gid

    def group(self, gid: int) -> Group:
        return self.groups[self.root(gid)]

    def new(self, size: int, frozen: str | None = None) -> int:
        gid = max([0, *self.groups, *self.parent]) + 1
        self.groups[gid] = Group(int(size), frozen=[frozen] if frozen else [])
        return gid

    def join(self, chans: list[Chan]) -> Chan:
        """One group for the channels of all `chans` (which must have the same size)."""
        roots = sorted({self.root(c.group) for c in chans})
        for other in roots[1:]:
            g, o = self.groups[roots[0]], self.groups.pop(other)
            g.producers += o.producers
            g.frozen += o.frozen
            g.probes += o.probes
            self.parent[other] = roots[0]
        return Chan(roots[0], chans[0].positions, chans[0].flat)

    def prunable(self) -> dict[int, Group]:
        """Groups that may lose channels: made by producers, not frozen."""
        return {gid: g for gid, g in self.groups.items() if g.producers and not g.frozen}

    def indices(self, chan: Chan, keep: dict[int, np.ndarray]) -> np.ndarray | None:
        """Kept positions along the axis described by `chan` (None: all kept)."""
        root = self.root(chan.group)
        if root not in keep:
            return None
        kept = keep[root]
        size = self.groups[root].size
        return (np.arange(chan.positions)[:, None] * size + kept[None, :]).reshape(-1) if chan.flat else kept


def channel_groups(graph: Graph, excluded: set[str], builtin: frozenset[str]) -> ChannelMap:
    """The channel groups of `graph` (see the module docstring); `excluded` producers keep their
    channels; `builtin` are the class names Keras ships (others are custom layers)."""
    cmap = ChannelMap()
    model = graph.source
    for e in graph:
        layer = model.get_layer(e.name)
        config = e.config
        if e.class_name == "InputLayer":
            cmap.tensors[(e.name, 0, 0)] = Chan(cmap.new(layer.output_shape[0][-1], "model input"))
        for node, refs in enumerate(e.nodes):
            ins = [cmap.tensors[r] for r in refs]
            shapes = _output_shapes(layer, node)
            outs: list[Chan]
            if e.class_name in PRODUCERS and _plain_producer(config) and not ins[0].flat or \
                    e.class_name == "Dense" and ins[0].flat:
                _read(cmap, cmap.consumers, e.name, ins[0])
                if not ins[0].flat:  # after Flatten, the tensor before it is the probe
                    cmap.group(ins[0].group).probes.append(refs[0])
                if e.name not in cmap.outputs:
                    gid = cmap.new(shapes[0][-1], "excluded" if e.name in excluded else None)
                    cmap.groups[gid].producers.append(e.name)
                    if config.get("activation") in CHANNEL_MIXING:
                        cmap.groups[gid].frozen.append(f"{e.name} has a {config['activation']}")
                    cmap.outputs[e.name] = gid
                outs = [Chan(cmap.outputs[e.name])]
            elif e.class_name in FOLLOWERS and _plain_follower(e.class_name, config, layer, ins[0]):
                outs = [_read(cmap, cmap.followers, e.name, ins[0])]
            elif e.class_name in PASS and _plain_pass(e.class_name, config):
                outs = [ins[0]]
            elif e.class_name in MERGE and not any(c.flat for c in ins) \
                    and len({cmap.group(c.group).size for c in ins}) == 1:
                outs = [cmap.join(ins)]
            elif e.class_name == "Flatten" and config.get("data_format", "channels_last") == "channels_last" \
                    and not ins[0].flat:
                cmap.group(ins[0].group).probes.append(refs[0])
                positions = int(np.prod(layer.get_input_shape_at(node)[1:-1], dtype=np.int64))
                outs = [Chan(ins[0].group, positions, True)]
            else:
                if e.class_name not in builtin:
                    cmap.custom += [(e.name, e.class_name, c) for c in ins]
                for c in ins:
                    cmap.group(c.group).frozen.append(f"read by {e.class_name} {e.name}")
                outs = [Chan(cmap.new(s[-1] if s else 1, f"made by {e.class_name} {e.name}")) for s in shapes]
            for t, chan in enumerate(outs):
                cmap.tensors[(e.name, node, t)] = chan
    for ref in graph.outputs:
        cmap.group(cmap.tensors[ref].group).frozen.append("model output")
    _check_custom(cmap)
    return cmap


def _read(cmap: ChannelMap, table: dict[str, Chan], name: str, chan: Chan) -> Chan:
    """Record that layer `name` reads `chan`; a layer called on several inputs joins their groups,
    since one set of weights serves them all."""
    table[name] = cmap.join([table[name], chan]) if name in table else chan
    return table[name]


def _check_custom(cmap: ChannelMap) -> None:
    """EdgeoptError when a custom layer reads a group that would otherwise be pruned."""
    custom_reads = {f"read by {class_name} {name}" for name, class_name, _ in cmap.custom}
    for name, class_name, chan in cmap.custom:
        group = cmap.group(chan.group)
        others = [why for why in group.frozen if why not in custom_reads]
        if group.producers and not others:
            raise EdgeoptError(
                f"structured pruning cannot carry removed channels through layer {name} ({class_name}), "
                "a layer class it does not know",
                f"exclude the layers feeding it (--exclude {','.join(group.producers)}), or use --method magnitude")


def _output_shapes(layer, node: int) -> list[tuple]:
    shape = layer.get_output_shape_at(node)
    shapes = shape if isinstance(shape, list) else [shape]
    return [tuple(s) for s in shapes]


def _plain_producer(config: dict) -> bool:
    return config.get("data_format", "channels_last") == "channels_last" and config.get("groups", 1) == 1 \
        and config.get("depth_multiplier", 1) == 1


def _plain_follower(class_name: str, config: dict, layer, chan: Chan) -> bool:
    """Whether a BatchNormalization normalises the last axis, or a depthwise convolution keeps its
    input's channels one to one."""
    if class_name == "BatchNormalization":
        axis = config["axis"]
        axis = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        rank = len(layer.get_input_shape_at(0))
        return len(axis) == 1 and axis[0] in (-1, rank - 1)
    return config.get("depth_multiplier", 1) == 1 and not chan.flat \
        and config.get("data_format", "channels_last") == "channels_last"


def _plain_pass(class_name: str, config: dict) -> bool:
    if class_name == "Activation":
        return config.get("activation") not in CHANNEL_MIXING
    return config.get("data_format", "channels_last") == "channels_last"
