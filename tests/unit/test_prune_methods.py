"""prune methods magnitude (schedules, rounds, exclusions), N:M and lowrank; the option checks made
before any work; recovery on unlabelled data; the max-drop gate."""

import numpy as np
import pytest

from edgeopt.cli import main
from edgeopt.common.bundle import read_bundle
from edgeopt.common.datasets import Dataset, load_dataset, save_dataset
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.keras_io import load_keras
from edgeopt.prune.core import check_options, prune
from edgeopt.prune.methods.lowrank import rank_for
from edgeopt.prune.sparse import nm_groups, nm_prune


def kernel(model, name):
    return model.get_layer(name).kernel.numpy()


def zeros(array) -> float:
    return float(np.mean(array == 0))


def test_magnitude_constant_schedule_per_layer_targets_rounds_and_exclusion(baseline, tmp_path):
    bundle, data, _ = baseline
    metrics = prune(bundle, data, tmp_path / "p", schedule="constant", target_sparsity=0.6, rounds=2, epochs=1,
                    layer_ratios=["fc1=0.8"], exclude=["Conv2D"])
    saved = load_keras(read_bundle(tmp_path / "p")[1])
    assert zeros(kernel(saved, "fc1")) == pytest.approx(0.8, abs=0.01)
    assert zeros(kernel(saved, "logits")) == pytest.approx(0.6, abs=0.01)
    assert all(zeros(kernel(saved, n)) == 0 for n in ("conv1", "conv2", "conv3"))  # excluded by type
    assert set(metrics["layers"]) == {"fc1", "logits"} and metrics["layers"]["fc1"]["target"] == 0.8
    assert metrics["layers"]["fc1"]["sparsity"] == pytest.approx(zeros(kernel(saved, "fc1")))
    assert len(metrics["rounds"]) == 2 and metrics["epochs_run"] == 2


def test_magnitude_schedule_steps_outside_the_run_are_refused(baseline, tmp_path):
    bundle, data, _ = baseline
    with pytest.raises(EdgeoptError, match="past the end of fine-tuning") as err:
        prune(bundle, data, tmp_path / "p", epochs=1, end_step=10_000)
    assert "at most" in err.value.hint and not (tmp_path / "p").exists()


def test_two_four_sparsity_holds_on_the_stripped_weights(baseline, tmp_path):
    import tensorflow_model_optimization as tfmot  # noqa: F401  (checked against tfmot's own verifier)
    from tensorflow_model_optimization.python.core.sparsity.keras.pruning_utils import is_pruned_m_by_n

    bundle, data, _ = baseline
    metrics = prune(bundle, data, tmp_path / "p", method="2:4", epochs=1)
    saved = load_keras(read_bundle(tmp_path / "p")[1])
    assert metrics["nm_pattern"] == "2:4" and metrics["nm_groups_ok"] == 1.0
    assert metrics["nm_skipped_layers"] == ["conv1"]  # one input channel: no group of 4
    for name in metrics["layers"]:
        assert is_pruned_m_by_n(saved.get_layer(name).kernel, (2, 4))
        assert zeros(kernel(saved, name)) >= 0.5
    assert metrics["nonzero_macs"] < 0.6 * metrics["macs"]


def test_nm_helpers_agree_with_tfmot():
    from tensorflow_model_optimization.python.core.sparsity.keras.pruning_utils import is_pruned_m_by_n as tfmot_ok

    from edgeopt.common.tfenv import tf

    def is_pruned_m_by_n(w, m_by_n):
        return tfmot_ok(tf.constant(w), m_by_n)

    rng = np.random.default_rng(0)
    for shape in [(8, 6), (3, 3, 8, 5)]:
        w = rng.normal(size=shape).astype(np.float32)
        assert nm_groups(w, 2, 4)[0] == 0 and not is_pruned_m_by_n(w, (2, 4))
        one = nm_prune(w, 1, 4)
        assert nm_groups(one, 1, 4)[0] == nm_groups(one, 1, 4)[1] and is_pruned_m_by_n(one, (3, 4))
        assert np.count_nonzero(one) == w.size // 4
        kept = one != 0
        assert np.array_equal(one[kept], w[kept])  # the survivors are untouched


def test_one_shot_n_m_without_fine_tuning(baseline, tmp_path):
    bundle, data, _ = baseline
    metrics = prune(bundle, data, tmp_path / "p", method="1:4", epochs=0)
    assert metrics["nm_groups_ok"] == 1.0 and metrics["sparsity"] == pytest.approx(0.75)


def test_rank_for_ratio_and_energy():
    s = np.array([4.0, 2.0, 1.0, 1.0])  # squared: 16, 4, 1, 1 of 22
    assert rank_for(s, 0.5, None) == 2 and rank_for(s, 0.01, None) == 1
    assert rank_for(s, None, 16 / 22) == 1 and rank_for(s, None, 0.9) == 2 and rank_for(s, None, 1.0) == 4


def test_lowrank_splits_dense_layers_into_the_best_rank_r_product(baseline, tmp_path):
    bundle, data, _ = baseline
    metrics = prune(bundle, data, tmp_path / "p", method="lowrank", rank_ratio=0.25, epochs=0)
    source = load_keras(read_bundle(bundle)[1])
    saved = load_keras(read_bundle(tmp_path / "p")[1])
    report = metrics["layers"]["fc1"]
    assert report["rank"] == 16 and report["full_rank"] == 64 and report["factor"] == "fc1_lowrank"
    w = kernel(source, "fc1")
    product = kernel(saved, "fc1_lowrank") @ kernel(saved, "fc1")
    s = np.linalg.svd(w, compute_uv=False)
    # Eckart-Young: the error of the best rank-16 approximation is the norm of the dropped singular values
    assert np.linalg.norm(w - product) == pytest.approx(np.sqrt(np.sum(s[16:] ** 2)), rel=1e-3)
    np.testing.assert_array_equal(saved.get_layer("fc1").bias.numpy(), source.get_layer("fc1").bias.numpy())
    assert metrics["params"] < metrics["source_params"] and metrics["macs"] < metrics["source_macs"]


def test_lowrank_that_would_not_save_is_refused(baseline, tmp_path):
    bundle, data, _ = baseline
    with pytest.raises(EdgeoptError, match="found no Dense layer or 1x1 convolution"):
        prune(bundle, data, tmp_path / "p", method="lowrank", energy=1.0, epochs=0)
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("options, message", [
    ({"method": "structured", "rank_ratio": 0.5}, "--rank-ratio does not apply to pruning method structured"),
    ({"method": "magnitude", "ratio": 0.3}, "--ratio does not apply to pruning method magnitude"),
    ({"method": "2:4", "target_sparsity": 0.7}, "--sparsity does not apply to pruning method 2:4"),
    ({"method": "lowrank"}, "method lowrank needs one of --rank-ratio or --energy"),
    ({"method": "lowrank", "rank_ratio": 0.5, "energy": 0.9}, "needs only one of"),
    ({"method": "4:4"}, "N:M sparsity needs 1 <= N < M"),
    ({"method": "structurd"}, "unknown pruning method 'structurd'"),
    ({"epochs": 0, "rounds": 2}, "--rounds applies to fine-tuning, and --epochs 0 does none"),
    ({"epochs": 0, "distill_temperature": 4.0}, "--distill-temperature applies to fine-tuning"),
    ({"validation_split": 0.2}, "--validation-split applies only with --early-stopping"),
    ({"distill_alpha": 0.5}, "--distill-alpha applies only when distilling"),
    ({"begin_step": 5, "end_step": 5}, "--end-step 5 is not after --begin-step 5"),
    ({"layer_ratios": ["fc1"]}, "is not NAME=F"),
    ({"layer_ratios": ["fc1=1.5"]}, "is not NAME=F"),
])
def test_invalid_combinations_are_refused_from_the_declaration(options, message):
    with pytest.raises(EdgeoptError, match=message) as err:
        check_options(**options)
    assert err.value.hint


def test_refused_options_exit_2_before_any_work(baseline, tmp_path, capsys):
    bundle, data, _ = baseline
    code = main(["prune", "--model", str(bundle), "--data", str(data), "--method", "structured", "--rank-ratio",
                 "0.5", "--output", str(tmp_path / "p")])
    assert code == 2 and "--rank-ratio does not apply" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_unknown_layer_names_are_refused(baseline, tmp_path):
    bundle, data, _ = baseline
    with pytest.raises(EdgeoptError, match="--exclude fc matches no layer") as err:
        prune(bundle, data, tmp_path / "p", exclude=["fc"], epochs=0)
    assert "fc1" in err.value.hint
    with pytest.raises(EdgeoptError, match="--layer-ratios names pool"):
        prune(bundle, data, tmp_path / "p", method="structured", layer_ratios=["pool=0.5"], epochs=0)
    assert not (tmp_path / "p").exists()


def unlabelled(data_path, tmp_path):
    data = load_dataset(data_path)
    path = tmp_path / "unlabelled.npz"
    save_dataset(path, Dataset(x_train=data.x_train, x_test=data.x_test))
    return path


def test_unlabelled_data_recovers_by_distillation_only(baseline, tmp_path):
    bundle, data, _ = baseline
    plain = unlabelled(data, tmp_path)
    with pytest.raises(EdgeoptError, match="fine-tuning on labels needs y_train") as err:
        prune(bundle, plain, tmp_path / "p", method="structured", epochs=1)
    assert "--distill-temperature" in err.value.hint
    untrained = prune(bundle, plain, tmp_path / "p0", method="structured", ratio=0.6, epochs=0)
    recovered = prune(bundle, plain, tmp_path / "p", method="structured", ratio=0.6, epochs=3,
                      distill_temperature=4.0)
    assert recovered["labels"] == "none" and recovered["source_accuracy"] == 1.0
    assert recovered["accuracy"] == recovered["agreement"] == pytest.approx(1 - recovered["accuracy_drop"])
    assert recovered["agreement"] > untrained["agreement"] + 0.05 and recovered["agreement"] > 0.85


def test_a_drop_beyond_max_drop_fails_and_writes_nothing(baseline, tmp_path, capsys):
    bundle, data, _ = baseline
    kept = prune(bundle, data, tmp_path / "ok", target_sparsity=0.95, epochs=0)
    assert kept["accuracy_drop"] > 0.05  # the drop is reported even without a limit
    with pytest.raises(EdgeoptError, match=r"lowered accuracy by .* more than --max-drop 0.05"):
        prune(bundle, data, tmp_path / "p", target_sparsity=0.95, epochs=0, max_drop=0.05)
    assert not (tmp_path / "p").exists()
    code = main(["prune", "--model", str(bundle), "--data", str(data), "--sparsity", "0.95", "--epochs", "0",
                 "--max-drop", "0.05", "--output", str(tmp_path / "cli")])
    assert code == 2 and "more than --max-drop" in capsys.readouterr().err and not (tmp_path / "cli").exists()
    passed = prune(bundle, data, tmp_path / "p", target_sparsity=0.3, epochs=0, max_drop=0.05)
    assert passed["accuracy_drop"] <= 0.05 and passed["max_drop"] == 0.05
