"""prune: tfmot magnitude pruning with fine-tuning, the MAC counter, pass-through and errors."""

import argparse
import filecmp

import numpy as np
import pytest

from edgeopt.common.bundle import ModelInfo, parent_ref, read_bundle, write_bundle
from edgeopt.common.datasets import load_dataset
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.evaluate import accuracy
from edgeopt.common.keras_io import load_keras
from edgeopt.common.metrics import read_metrics
from edgeopt.common.runtimes import predict_keras
from edgeopt.prune import cli
from edgeopt.prune.core import prune
from edgeopt.prune.macs import count_macs, layer_macs
from edgeopt.prune.sparse import magnitude_prune


@pytest.fixture(scope="module")
def pruned(baseline, tmp_path_factory):
    """(bundle dir, metrics) of the digits baseline pruned to 50 % with 2 epochs of fine-tuning."""
    bundle, data, _ = baseline
    out = tmp_path_factory.mktemp("pruned") / "p"
    return out, prune(bundle, data, out, target_sparsity=0.5, epochs=2)


def kernel_zeros(model) -> float:
    """Fraction of exact zeros over the Conv2D/Dense kernels of a model, counted independently."""
    kernels = [layer.kernel.numpy() for layer in model.layers if hasattr(layer, "kernel")]
    return sum(int(np.sum(k == 0)) for k in kernels) / sum(k.size for k in kernels)


def test_prune_reaches_target_and_compresses(baseline, pruned):
    _, _, base_metrics = baseline
    _, metrics = pruned
    assert metrics["sparsity"] == pytest.approx(0.5, abs=0.05)
    assert metrics["gzip_bytes"] < 0.75 * metrics["source_gzip_bytes"]
    assert metrics["size_bytes"] >= 0.95 * metrics["source_size_bytes"]  # dense storage: the file does not shrink
    assert abs(metrics["accuracy"] - base_metrics["accuracy"]) <= 0.05
    assert metrics["nonzero_macs"] < metrics["macs"]
    assert metrics["nonzero_macs"] == pytest.approx(0.5 * metrics["macs"], rel=0.05)
    assert (metrics["pruned_layers"], metrics["epochs"], metrics["skipped"]) == (5, 2, False)


def test_pruned_bundle_is_what_the_metrics_say(baseline, pruned):
    bundle, data_path, _ = baseline
    out, metrics = pruned
    info, path = read_bundle(out)
    parent, _ = read_bundle(bundle)
    assert (info.format, info.stage, info.file) == ("keras", "prune", "model.keras")
    assert info.parent == parent_ref(parent) and info.input_shape == parent.input_shape
    assert info.sparsity == metrics["sparsity"] and info.size_bytes == metrics["size_bytes"]
    model = load_keras(path)
    assert kernel_zeros(model) == pytest.approx(metrics["sparsity"])
    assert count_macs(model) == (metrics["macs"], metrics["nonzero_macs"])
    data = load_dataset(data_path)
    assert accuracy(predict_keras(model, data.x_test), data.y_test) == pytest.approx(metrics["accuracy"])
    assert read_metrics(out) == metrics


def test_zero_epochs_prunes_once_without_training(baseline, tmp_path):
    bundle, data, _ = baseline
    metrics = prune(bundle, data, tmp_path / "p", target_sparsity=0.7, epochs=0)
    assert metrics["sparsity"] == pytest.approx(0.7, abs=0.001)
    assert metrics["epochs"] == 0 and metrics["accuracy"] > 0.5


def test_disabled_copies_the_bundle_unchanged(baseline, tmp_path):
    bundle, data, base_metrics = baseline
    out = tmp_path / "p"
    metrics = prune(bundle, data, out, enabled=False)
    info, path = read_bundle(bundle)
    assert filecmp.cmp(path, out / info.file, shallow=False)
    assert filecmp.cmp(bundle / "model.json", out / "model.json", shallow=False)
    assert metrics == {"skipped": True, "accuracy": pytest.approx(base_metrics["accuracy"]),
                       "size_bytes": info.size_bytes, "sparsity": 0.0}
    assert read_metrics(out)["skipped"] is True


@pytest.mark.parametrize("kwargs", [{"target_sparsity": 1.5}, {"target_sparsity": 1.0},
                                    {"target_sparsity": -0.1}, {"epochs": -1}, {"epochs": 1.5}])
def test_bad_arguments_raise_and_write_nothing(baseline, tmp_path, kwargs):
    bundle, data, _ = baseline
    with pytest.raises(EdgeoptError) as err:
        prune(bundle, data, tmp_path / "p", **kwargs)
    assert err.value.hint
    assert not (tmp_path / "p").exists()


def test_non_keras_bundle_is_refused(baseline, tmp_path):
    bundle = tmp_path / "tflite"
    bundle.mkdir()
    (bundle / "model.tflite").write_bytes(b"not used")
    write_bundle(bundle, ModelInfo(format="tflite", file="model.tflite"))
    with pytest.raises(EdgeoptError, match="prune needs a Keras model"):
        prune(bundle, baseline[1], tmp_path / "p")
    assert not (tmp_path / "p").exists()


def test_layers_tfmot_cannot_prune_are_kept(digits_npz, tmp_path):
    from edgeopt.common.tfenv import keras

    @keras.saving.register_keras_serializable(package="edgeopt_test")
    class Scale(keras.layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            return x * self.scale

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(32, activation="relu", name="fc"), Scale(name="scale"),
                              keras.layers.Dense(10, activation="softmax", name="out")])
    bundle = tmp_path / "custom"
    bundle.mkdir()
    model.save(bundle / "model.keras")
    write_bundle(bundle, ModelInfo(format="keras", file="model.keras", input_shape=[None, 8, 8, 1]))
    metrics = prune(bundle, digits_npz, tmp_path / "p", target_sparsity=0.6, epochs=1)
    info, path = read_bundle(tmp_path / "p")
    assert metrics["pruned_layers"] == 2 and info.details["pruned_layers"] == ["fc", "out"]
    assert metrics["sparsity"] == pytest.approx(0.6, abs=0.05)
    saved = load_keras(path)
    assert type(saved.get_layer("scale")).__name__ == "Scale"
    assert np.count_nonzero(saved.get_layer("scale").scale.numpy()) == 32


def test_cli_prunes_a_raw_keras_file(digits_model_file, digits_npz, tmp_path):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--model", str(digits_model_file), "--data", str(digits_npz),
                              "--sparsity", "0.6", "--epochs", "0", "--output", str(tmp_path / "out")])
    metrics = cli.run(args)
    assert metrics["sparsity"] == pytest.approx(0.6, abs=0.001)
    info, _ = read_bundle(tmp_path / "out")
    assert info.stage == "prune" and info.parent["stage"] == "user"


def test_magnitude_prune_zeroes_the_smallest():
    w = np.array([[0.5, -0.1], [0.05, -2.0]], dtype=np.float32)
    assert magnitude_prune(w, 0.5).tolist() == [[0.5, 0.0], [0.0, -2.0]]
    assert magnitude_prune(w, 0.0).tolist() == w.tolist()


def tiny_model(input_shape):
    from edgeopt.common.tfenv import keras

    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(3, 3, strides=2, padding="same", name="conv")(inputs)          # 5x5x2 -> 3x3x3
    x = keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="dw")(x)  # -> 3x3x6
    x = keras.layers.GlobalAveragePooling2D()(x)                                            # -> 6
    outputs = keras.layers.Dense(4, name="fc")(x)
    return keras.Model(inputs, outputs)


def test_mac_counter_matches_hand_count():
    model = tiny_model((5, 5, 2))
    conv = 3 * 3 * 3 * (3 * 3 * 2)    # output positions * output channels * kernel taps * input channels
    dw = 3 * 3 * 6 * (3 * 3)          # output positions * output channels * kernel taps
    fc = 6 * 4
    assert [(m.name, m.macs) for m in layer_macs(model)] == [("conv", conv), ("dw", dw), ("fc", fc)]
    kernel = model.get_layer("fc").kernel
    kernel.assign(np.where(np.arange(24).reshape(6, 4) % 3 == 0, 0.0, kernel.numpy()))  # 8 zeros
    assert count_macs(model) == (conv + dw + fc, conv + dw + fc - 8)


def test_mac_counter_fixes_open_input_dimensions():
    from edgeopt.common.tfenv import keras

    model = tiny_model((None, None, 2))
    with pytest.raises(EdgeoptError, match="not fully known"):
        count_macs(model)
    assert count_macs(model, (100, 5, 5, 2)) == count_macs(tiny_model((5, 5, 2)))
    sequence = keras.Sequential([keras.layers.Input((7, 5)), keras.layers.Dense(3)])
    assert count_macs(sequence) == (7 * 5 * 3, 7 * 5 * 3)


@pytest.mark.parametrize("model, published", [("ic/resnet8_float.h5", 12.5e6),
                                               ("vww/mobilenet_v1_025_vww96_float.h5", 7.5e6),
                                               ("kws/dscnn_kws_savedmodel", 2.7e6),
                                               ("ad/autoencoder_toycar_float.h5", 0.264e6)])
def test_mac_counter_matches_mlperf_tiny_figures(mlperf, model, published):
    """The MACs MLPerf Tiny publishes for its reference models (rounded to two or three digits)."""
    from edgeopt.common.modelfile import trusting

    with trusting(True):  # the KWS model is a SavedModel
        macs, nonzero = count_macs(load_keras(mlperf / model))
    assert macs == pytest.approx(published, rel=0.02) and nonzero <= macs


@pytest.mark.slow
def test_prune_resnet8_with_batchnorm_and_residuals(mlperf, tmp_path):
    from edgeopt.common.datasets import Dataset, save_dataset
    from edgeopt.common.float_source import bundle_from_path

    rng = np.random.default_rng(0)
    save_dataset(tmp_path / "data.npz", Dataset(
        x_train=rng.random((256, 32, 32, 3), dtype=np.float32), y_train=rng.integers(0, 10, 256),
        x_test=rng.random((64, 32, 32, 3), dtype=np.float32), y_test=rng.integers(0, 10, 64)))
    bundle = bundle_from_path(mlperf / "ic" / "resnet8_float.h5", tmp_path / "src")
    metrics = prune(bundle, tmp_path / "data.npz", tmp_path / "p", target_sparsity=0.5, epochs=1)
    assert metrics["sparsity"] == pytest.approx(0.5, abs=0.01) and metrics["pruned_layers"] == 10
    assert metrics["nonzero_macs"] == pytest.approx(0.5 * metrics["macs"], rel=0.01)
    assert metrics["gzip_bytes"] < 0.75 * metrics["source_gzip_bytes"]
