"""prune --method structured: channel groups, exact slicing, importance, options and refusals."""

import numpy as np
import pytest

from edgeopt.common.bundle import ModelInfo, read_bundle, write_bundle
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.keras_io import load_keras
from edgeopt.common.modelfile import builtin_keras_classes, trusting
from edgeopt.prune.channels import channel_groups
from edgeopt.prune.core import prune
from edgeopt.prune.graph import model_graph
from edgeopt.prune.importance import data_scores, weight_scores
from edgeopt.prune.macs import count_macs
from edgeopt.prune.slicing import shrink

MLPERF_MODELS = ["ic/resnet8_float.h5", "vww/mobilenet_v1_025_vww96_float.h5", "kws/dscnn_kws_savedmodel"]


def half_of_every_group(model, excluded=()):
    """(graph, channel map, keep): every prunable group keeps its first half of channels."""
    graph = model_graph(model, "test")
    cmap = channel_groups(graph, set(excluded), builtin_keras_classes())
    keep = {gid: np.arange(g.size // 2) for gid, g in cmap.prunable().items()}
    return graph, cmap, keep


def silence_removed_channels(graph, cmap, keep) -> None:
    """Zero what the removed channels carry (producer filters and biases, BatchNorm scale and offset,
    depthwise filters and biases), so that cutting them out must not change the model's outputs."""
    for gid, kept in keep.items():
        gone = np.setdiff1d(np.arange(cmap.groups[gid].size), kept)
        followers = [name for name, chan in cmap.followers.items() if cmap.root(chan.group) == gid]
        for name in cmap.groups[gid].producers + followers:
            layer = graph.source.get_layer(name)
            arrays = layer.get_weights()
            kind = type(layer).__name__
            if kind == "BatchNormalization":
                arrays[0][gone], arrays[1][gone] = 0, 0  # gamma, beta
            elif kind.startswith("Depthwise"):
                arrays[0][..., gone, :], arrays[1][gone] = 0, 0
            else:
                arrays[0][..., gone], arrays[1][gone] = 0, 0
            layer.set_weights(arrays)


def assert_slicing_is_exact(model, x):
    graph, cmap, keep = half_of_every_group(model)
    silence_removed_channels(graph, cmap, keep)
    reference = graph.source.predict(x, verbose=0)
    small = shrink(graph, cmap, keep)
    assert small.count_params() < 0.6 * model.count_params()
    np.testing.assert_allclose(small.predict(x, verbose=0), reference, rtol=1e-4, atol=1e-5)
    return small


def test_slicing_is_exact_on_the_demo_cnn_through_flatten(baseline):
    """Sequential digits CNN: conv -> pool -> conv -> Flatten -> Dense; the Dense loses the rows
    of the removed channels at every position."""
    model = load_keras(read_bundle(baseline[0])[1])
    x = np.random.default_rng(0).random((16, 8, 8, 1), dtype=np.float32)
    small = assert_slicing_is_exact(model, x)
    assert [small.get_layer(n).get_config().get("filters", small.get_layer(n).get_config().get("units"))
            for n in ("conv1", "conv2", "conv3", "fc1", "logits")] == [8, 16, 16, 32, 10]


@pytest.mark.parametrize("path", MLPERF_MODELS)
def test_slicing_is_exact_on_mlperf_tiny_models(mlperf, path):
    """ResNet-8 (residual additions, 1x1 shortcuts), MobileNetV1 (depthwise after pointwise) and
    DS-CNN (a SavedModel): outputs unchanged when the removed channels carry zeros."""
    with trusting(True):
        model = load_keras(mlperf / path)
    x = np.random.default_rng(1).random((8, *model.input_shape[1:]), dtype=np.float32)
    if path.startswith("ic"):
        x *= 255
    assert_slicing_is_exact(model, x)


def test_residual_branches_form_one_group(mlperf):
    model = load_keras(mlperf / "ic/resnet8_float.h5")
    cmap = channel_groups(model_graph(model, "test"), set(), builtin_keras_classes())
    groups = sorted(sorted(g.producers) for g in cmap.prunable().values())
    assert ["conv2d", "conv2d_2"] in groups          # the identity shortcut joins the stem and block 1
    assert ["conv2d_4", "conv2d_5"] in groups        # a 1x1 shortcut joins the block's second conv
    assert ["conv2d_7", "conv2d_8"] in groups
    assert not any("dense" in g for g in groups)     # the classifier's units are the model output


def test_mobilenet_at_30_percent_keeps_at_most_75_percent_of_params(mlperf, tmp_path):
    from edgeopt.common.datasets import Dataset, save_dataset
    from edgeopt.common.float_source import bundle_from_path

    rng = np.random.default_rng(0)
    save_dataset(tmp_path / "d.npz", Dataset(x_train=rng.random((8, 96, 96, 3), dtype=np.float32),
                                             x_test=rng.random((8, 96, 96, 3), dtype=np.float32)))
    bundle = bundle_from_path(mlperf / "vww/mobilenet_v1_025_vww96_float.h5", tmp_path / "src")
    metrics = prune(bundle, tmp_path / "d.npz", tmp_path / "p", method="structured", ratio=0.3, epochs=0)
    assert metrics["params"] <= 0.75 * metrics["source_params"] and metrics["params_ratio"] <= 0.75
    assert metrics["macs"] < 0.75 * metrics["source_macs"]
    assert metrics["size_bytes"] < metrics["source_size_bytes"]
    saved = load_keras(read_bundle(tmp_path / "p")[1])
    assert saved.count_params() == metrics["params"] and count_macs(saved)[0] == metrics["macs"]
    assert metrics["labels"] == "none" and metrics["accuracy"] == metrics["agreement"]


def test_structured_demo_shrinks_and_recovers(baseline, tmp_path):
    bundle, data, base = baseline
    metrics = prune(bundle, data, tmp_path / "p", method="structured", ratio=0.5, epochs=3)
    assert metrics["params"] < 0.3 * metrics["source_params"] and metrics["macs"] < 0.3 * metrics["source_macs"]
    assert metrics["size_bytes"] < 0.5 * metrics["source_size_bytes"]
    assert metrics["source_accuracy"] == pytest.approx(base["accuracy"])
    assert metrics["accuracy_drop"] == pytest.approx(metrics["source_accuracy"] - metrics["accuracy"])
    assert metrics["accuracy_drop"] <= 0.01  # the target: at most 1 point after fine-tuning
    assert metrics["layers"]["fc1"] == {"channels": [64, 32]} and metrics["pruned_layers"] == 4


def test_exclude_min_channels_and_layer_ratios(baseline, tmp_path):
    bundle, data, _ = baseline
    metrics = prune(bundle, data, tmp_path / "p", method="structured", ratio=0.75, epochs=0, exclude=["conv2"],
                    min_channels=6, layer_ratios=["fc1=0.25"])
    saved = load_keras(read_bundle(tmp_path / "p")[1])
    assert saved.get_layer("conv2").filters == 32             # excluded: keeps its filters
    assert saved.get_layer("conv1").filters == 6              # 16 * (1 - 0.75) = 4, raised to min_channels
    assert saved.get_layer("conv3").filters == 8              # 32 * (1 - 0.75)
    assert saved.get_layer("fc1").units == 48                 # its own ratio
    assert "conv2" not in metrics["layers"] and metrics["layers"]["conv1"] == {"channels": [16, 6]}


def test_every_importance_drops_a_dead_channel_first(baseline):
    """A filter with zero weights and a negative bias is dead after ReLU: l1/l2 (norm 0), activation
    (always 0) and taylor (no effect on the loss) all rank it last."""
    bundle, data_path, _ = baseline
    from edgeopt.common.datasets import load_dataset

    model = load_keras(read_bundle(bundle)[1])
    kernel, bias = model.get_layer("conv2").get_weights()
    kernel[..., 5], bias[5] = 0, -1.0
    model.get_layer("conv2").set_weights([kernel, bias])
    graph = model_graph(model, "test")
    cmap = channel_groups(graph, set(), builtin_keras_classes())
    gid = cmap.root(cmap.outputs["conv2"])
    data = load_dataset(data_path)
    for kind in ("l1", "l2"):
        assert np.argmin(weight_scores(graph, cmap, gid, kind)) == 5
    for kind in ("activation", "taylor"):
        scores = data_scores(graph, cmap, [gid], kind, data.x_train, data.y_train, False)[gid]
        assert scores[5] == 0 and np.all(np.delete(scores, 5) > 0)


def custom_layer_bundle(tmp_path):
    from edgeopt.common.tfenv import keras

    @keras.saving.register_keras_serializable(package="edgeopt_test_structured")
    class Gain(keras.layers.Layer):
        def build(self, input_shape):
            self.gain = self.add_weight(name="gain", shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            return x * self.gain

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(32, activation="relu", name="fc"), Gain(name="gain"),
                              keras.layers.Dense(16, activation="relu", name="fc2"),
                              keras.layers.Dense(10, activation="softmax", name="out")])
    bundle = tmp_path / "custom"
    bundle.mkdir()
    model.save(bundle / "model.keras")
    write_bundle(bundle, ModelInfo(format="keras", file="model.keras", input_shape=[None, 8, 8, 1]))
    return bundle


def test_a_custom_layer_in_the_way_is_refused_until_excluded(digits_npz, tmp_path):
    bundle = custom_layer_bundle(tmp_path)
    with pytest.raises(EdgeoptError, match=r"layer gain \(Gain\), a layer class it does not know") as err:
        prune(bundle, digits_npz, tmp_path / "p", method="structured", epochs=0)
    assert "--exclude fc" in err.value.hint and not (tmp_path / "p").exists()
    metrics = prune(bundle, digits_npz, tmp_path / "p", method="structured", epochs=0, exclude=["fc"])
    saved = load_keras(read_bundle(tmp_path / "p")[1])
    assert saved.get_layer("fc").units == 32 and saved.get_layer("fc2").units == 8
    assert metrics["layers"] == {"fc2": {"channels": [16, 8]}}
