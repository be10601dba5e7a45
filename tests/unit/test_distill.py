"""distill: width-scaled student, Hinton loss, training from the teacher's soft targets, pass-through."""

import argparse
import filecmp

import numpy as np
import pytest

from edgeopt.common.bundle import ModelInfo, parent_ref, read_bundle, write_bundle
from edgeopt.common.datasets import load_dataset
from edgeopt.common.distillation import distillation_loss, logits_model
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.evaluate import accuracy
from edgeopt.common.keras_io import load_keras
from edgeopt.common.metrics import read_metrics
from edgeopt.common.runtimes import predict_keras
from edgeopt.distill import cli
from edgeopt.distill.core import distill, width_scaled


@pytest.fixture(scope="module")
def student(baseline, tmp_path_factory):
    """(bundle dir, metrics) of a half-width student distilled from the digits baseline for 6 epochs."""
    bundle, data, _ = baseline
    out = tmp_path_factory.mktemp("student") / "s"
    return out, distill(bundle, data, out, width=0.5, epochs=6)


def save_bundle(model, root, name):
    bundle = root / name
    bundle.mkdir()
    model.save(bundle / "model.keras")
    write_bundle(bundle, ModelInfo(format="keras", file="model.keras",
                                   input_shape=[None, *model.input_shape[1:]], stage="test"))
    return bundle


def test_student_is_smaller_and_accurate(baseline, student):
    _, _, base_metrics = baseline
    _, metrics = student
    assert metrics["accuracy"] > 0.8
    assert metrics["teacher_accuracy"] == pytest.approx(base_metrics["accuracy"])
    assert metrics["teacher_params"] == base_metrics["params"]
    assert 0.2 < metrics["student_params"] / metrics["teacher_params"] < 0.35  # about width ** 2
    assert metrics["size_bytes"] < metrics["teacher_size_bytes"]
    assert (metrics["width"], metrics["temperature"], metrics["alpha"], metrics["epochs"]) == (0.5, 4.0, 0.1, 6)
    assert metrics["skipped"] is False and metrics["loss"] > 0
    assert 0 < metrics["without_teacher_accuracy"] <= 1
    assert metrics["teacher_gain"] == pytest.approx(metrics["accuracy"] - metrics["without_teacher_accuracy"])


def test_comparison_without_teacher_can_be_skipped_and_is_itself_at_alpha_one(baseline, tmp_path):
    bundle, data, _ = baseline
    skipped = distill(bundle, data, tmp_path / "a", epochs=1, compare_without_teacher=False)
    assert skipped["without_teacher_accuracy"] is None and skipped["teacher_gain"] is None
    alone = distill(bundle, data, tmp_path / "b", epochs=1, alpha=1.0)
    assert alone["without_teacher_accuracy"] == alone["accuracy"] and alone["teacher_gain"] == 0


def test_student_bundle_loads_safely_as_a_plain_model(baseline, student):
    from edgeopt.common.tfenv import keras

    bundle, data_path, _ = baseline
    out, metrics = student
    info, path = read_bundle(out)
    assert (info.format, info.stage) == ("keras", "distill")
    assert info.parent == parent_ref(read_bundle(bundle)[0])
    model = load_keras(path)
    assert isinstance(model, (keras.Sequential, keras.Model)) and type(model).__module__.startswith("tf_keras")
    assert all(type(layer).__module__.startswith("tf_keras") for layer in model.layers)
    assert model.count_params() == metrics["student_params"] == info.details["params"]
    data = load_dataset(data_path)
    out_probs = predict_keras(model, data.x_test)
    np.testing.assert_allclose(out_probs.sum(-1), 1.0, rtol=1e-5)  # the teacher's softmax output is kept
    assert accuracy(out_probs, data.y_test) == pytest.approx(metrics["accuracy"])
    assert read_metrics(out) == metrics


def test_student_follows_the_teacher_not_the_labels(baseline, tmp_path):
    """With alpha=0 only the teacher's soft targets train the student: a teacher whose classes are
    shifted by one teaches the shift."""
    bundle, data_path, _ = baseline
    teacher = load_keras(read_bundle(bundle)[1])
    head = teacher.get_layer("logits")
    kernel, bias = head.get_weights()
    head.set_weights([np.roll(kernel, 1, axis=1), np.roll(bias, 1)])
    shifted = save_bundle(teacher, tmp_path, "shifted")
    metrics = distill(shifted, data_path, tmp_path / "s", alpha=0.0, epochs=5)
    data = load_dataset(data_path)
    out = predict_keras(load_keras(tmp_path / "s" / "model.keras"), data.x_test)
    assert metrics["teacher_accuracy"] < 0.1 and metrics["accuracy"] < 0.2
    assert accuracy(out, (data.y_test + 1) % 10) > 0.5
    # the same student on the labels alone, same budget, learns the real classes: the teacher cost points
    assert metrics["without_teacher_accuracy"] > 0.5
    assert metrics["teacher_gain"] == pytest.approx(metrics["accuracy"] - metrics["without_teacher_accuracy"])


def test_width_scaled_student_architecture(baseline):
    teacher = load_keras(read_bundle(baseline[0])[1])
    student = width_scaled(teacher, 0.5)
    widths = {layer.name: layer.get_config().get("filters", layer.get_config().get("units"))
              for layer in student.layers}
    assert widths == {"conv1": 8, "conv2": 16, "pool": None, "conv3": 16, "flatten": None, "fc1": 32,
                      "logits": 10}
    same = width_scaled(teacher, 1.0)
    assert same.count_params() == teacher.count_params()
    assert not np.allclose(same.get_layer("conv1").kernel.numpy(), teacher.get_layer("conv1").kernel.numpy())


def test_depthwise_layers_keep_their_multiplier():
    from edgeopt.common.tfenv import keras

    teacher = keras.Sequential([keras.layers.Input((8, 8, 1)), keras.layers.Conv2D(8, 3, name="c"),
                                keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw"),
                                keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10, activation="softmax")])
    student = width_scaled(teacher, 0.25)
    assert student.get_layer("c").filters == 2 and student.get_layer("dw").depth_multiplier == 2
    assert student.output_shape == teacher.output_shape


@pytest.mark.parametrize("head", ["fused", "softmax_layer"])
def test_logits_model_inverts_the_final_softmax(head):
    from edgeopt.common.tfenv import keras, tf

    keras.utils.set_random_seed(0)
    if head == "fused":
        layers = [keras.layers.Dense(5, activation="softmax")]
    else:
        layers = [keras.layers.Dense(5), keras.layers.Softmax()]
    model = keras.Sequential([keras.layers.Input((3,)), keras.layers.Dense(4, activation="relu"), *layers])
    x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    logits = logits_model(model)(x)
    np.testing.assert_allclose(tf.nn.softmax(logits).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-7)
    assert np.ptp(logits.numpy().sum(-1)) > 0  # real logits, not log-probabilities


def test_distillation_loss_is_hintons():
    from edgeopt.common.tfenv import tf

    rng = np.random.default_rng(0)
    s, t = rng.normal(size=(6, 4)).astype(np.float32), rng.normal(size=(6, 4)).astype(np.float32)
    y = rng.integers(0, 4, size=6)
    ce = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=s)).numpy()
    assert distillation_loss(y, s, t, 3.0, 1.0).numpy() == pytest.approx(ce, rel=1e-5)
    assert distillation_loss(y, t, t, 3.0, 0.0).numpy() == pytest.approx(0.0, abs=1e-6)

    def softmax(z):
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    p_t, p_s = softmax(t / 3.0), softmax(s / 3.0)
    kl = np.mean(np.sum(p_t * np.log(p_t / p_s), axis=-1))
    expected = 0.25 * ce + 0.75 * 9.0 * kl
    assert distillation_loss(y, s, t, 3.0, 0.25).numpy() == pytest.approx(expected, rel=1e-4)


def test_given_student_is_trained(baseline, tmp_path):
    from edgeopt.demo.digits import build_digits_cnn

    bundle, data, _ = baseline
    small = build_digits_cnn(width=0.25)
    given = save_bundle(small, tmp_path, "given")
    metrics = distill(bundle, data, tmp_path / "s", student_dir=given, epochs=3)
    assert metrics["student_params"] == small.count_params() and metrics["width"] is None
    assert metrics["accuracy"] > 0.3


def test_student_with_other_outputs_is_refused(baseline, tmp_path):
    from edgeopt.common.tfenv import keras

    bundle, data, _ = baseline
    wrong = keras.Sequential([keras.layers.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(5, activation="softmax")])
    with pytest.raises(EdgeoptError, match="does not match the teacher"):
        distill(bundle, data, tmp_path / "s", student_dir=save_bundle(wrong, tmp_path, "wrong"), epochs=1)
    assert not (tmp_path / "s").exists()


def test_disabled_copies_the_teacher_unchanged(baseline, tmp_path):
    bundle, data, base_metrics = baseline
    metrics = distill(bundle, data, tmp_path / "s", enabled=False)
    info, path = read_bundle(bundle)
    assert filecmp.cmp(path, tmp_path / "s" / info.file, shallow=False)
    assert filecmp.cmp(bundle / "model.json", tmp_path / "s" / "model.json", shallow=False)
    assert metrics["skipped"] is True and metrics["size_bytes"] == info.size_bytes
    assert metrics["accuracy"] == pytest.approx(base_metrics["accuracy"])


@pytest.mark.parametrize("kwargs", [{"width": 0.0}, {"width": 1.5}, {"temperature": 0.0}, {"alpha": -0.1},
                                    {"alpha": 1.5}, {"epochs": -1}])
def test_bad_arguments_raise_and_write_nothing(baseline, tmp_path, kwargs):
    bundle, data, _ = baseline
    with pytest.raises(EdgeoptError) as err:
        distill(bundle, data, tmp_path / "s", **kwargs)
    assert err.value.hint
    assert not (tmp_path / "s").exists()


def test_cli_distills_a_raw_keras_file(digits_model_file, digits_npz, tmp_path):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--model", str(digits_model_file), "--data", str(digits_npz), "--width", "0.25",
                              "--temperature", "2", "--alpha", "0.5", "--epochs", "1", "--output", str(tmp_path / "o")])
    metrics = cli.run(args)
    assert (metrics["width"], metrics["temperature"], metrics["alpha"], metrics["epochs"]) == (0.25, 2.0, 0.5, 1)
    info, _ = read_bundle(tmp_path / "o")
    assert info.stage == "distill" and info.parent["stage"] == "user"


def test_teacher_outputs_computed_once_give_the_same_student(baseline, tmp_path):
    """A sweep runs the teacher once: the student trained from its saved logits is the student trained
    with the teacher in the loop, weight for weight; logits of another dataset are refused."""
    from edgeopt.common.datasets import Dataset, save_dataset
    from edgeopt.distill.core import write_teacher_outputs

    bundle, data, base_metrics = baseline
    saved = write_teacher_outputs(bundle, data, tmp_path / "teacher.npz")
    assert saved["teacher_accuracy"] == pytest.approx(base_metrics["accuracy"])
    options = dict(width=0.5, epochs=2, compare_without_teacher=False)
    direct = distill(bundle, data, tmp_path / "direct", **options)
    reused = distill(bundle, data, tmp_path / "reused", teacher_outputs=tmp_path / "teacher.npz", **options)
    assert reused["teacher_accuracy"] == direct["teacher_accuracy"]
    a = load_keras(tmp_path / "direct" / read_bundle(tmp_path / "direct")[0].file)
    b = load_keras(tmp_path / "reused" / read_bundle(tmp_path / "reused")[0].file)
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))

    fewer = load_dataset(data)
    half = len(fewer.x_train) // 2
    save_dataset(tmp_path / "half.npz", Dataset(x_train=fewer.x_train[:half], y_train=fewer.y_train[:half],
                                                x_test=fewer.x_test, y_test=fewer.y_test))
    with pytest.raises(EdgeoptError, match="one row of"):
        distill(bundle, tmp_path / "half.npz", tmp_path / "bad", teacher_outputs=tmp_path / "teacher.npz", **options)
    assert not (tmp_path / "bad").exists()
