"""ingest: checks the user's model and dataset, measures the baseline, fills missing labels."""

import json

import numpy as np
import pytest

from edgeopt.common.bundle import read_bundle
from edgeopt.common.datasets import load_dataset
from edgeopt.common.errors import EdgeoptError
from edgeopt.ingest.core import ingest


def test_baseline_bundle_and_metrics(baseline):
    bundle, data_path, metrics = baseline
    info, model_path = read_bundle(bundle)
    assert info.format == "keras" and model_path.is_file()
    assert info.input_shape == [None, 8, 8, 1] and info.output_shape == [None, 10]
    assert info.size_bytes == model_path.stat().st_size == metrics["size_bytes"]
    assert 0.85 < metrics["accuracy"] <= 1.0
    assert metrics["labels"] == "true"
    assert load_dataset(data_path).y_test is not None


def test_without_labels_accuracy_means_agreement(tmp_path, digits_model_file, digits_npz):
    data = load_dataset(digits_npz)
    unlabeled = tmp_path / "unlabeled.npz"
    np.savez(unlabeled, x_train=data.x_train, x_test=data.x_test)
    metrics = ingest(digits_model_file, unlabeled, tmp_path / "model", tmp_path / "data.npz")
    filled = load_dataset(tmp_path / "data.npz")
    assert metrics["labels"] == "baseline" and filled.labels == "baseline"
    assert metrics["accuracy"] == 1.0  # the baseline agrees with itself
    assert filled.y_train.shape == (len(data.x_train),)


def test_shape_mismatch_is_reported_and_writes_nothing(tmp_path, digits_model_file):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((4, 28, 28, 1), np.float32), x_test=np.zeros((2, 28, 28, 1), np.float32))
    with pytest.raises(EdgeoptError, match=r"\(28, 28, 1\).*\(8, 8, 1\)"):
        ingest(digits_model_file, bad, tmp_path / "model", tmp_path / "data.npz")
    assert not (tmp_path / "model").exists() and not (tmp_path / "data.npz").exists()


def test_labels_beyond_model_outputs(tmp_path, digits_model_file, digits_npz):
    data = load_dataset(digits_npz)
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=data.x_train, x_test=data.x_test, y_train=data.y_train, y_test=data.y_test + 10)
    with pytest.raises(EdgeoptError, match="10 outputs"):
        ingest(digits_model_file, bad, tmp_path / "model", tmp_path / "data.npz")


def test_corrupt_model_file(tmp_path, digits_npz):
    corrupt = tmp_path / "model.h5"
    corrupt.write_bytes(b"this is not an HDF5 file")
    with pytest.raises(EdgeoptError, match="cannot tell what .* holds"):
        ingest(corrupt, digits_npz, tmp_path / "model", tmp_path / "data.npz")


def test_lambda_layer_is_refused(tmp_path, digits_npz):
    from edgeopt.common.tfenv import keras

    model = keras.Sequential([keras.layers.Input((8, 8, 1)), keras.layers.Lambda(lambda t: t * 2),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    path = tmp_path / "lambda.h5"
    model.save(path)
    with pytest.raises(EdgeoptError, match="Lambda layer"):
        ingest(path, digits_npz, tmp_path / "model", tmp_path / "data.npz")


def test_pickled_dataset_is_refused(tmp_path, digits_model_file):
    bad = tmp_path / "pickled.npz"
    np.savez(bad, x_train=np.array([object()], dtype=object), x_test=np.zeros((1, 8, 8, 1)))
    with pytest.raises(EdgeoptError, match="not a readable .npz"):
        ingest(digits_model_file, bad, tmp_path / "model", tmp_path / "data.npz")


def test_metadata_is_json(baseline):
    bundle, _, _ = baseline
    meta = json.loads((bundle / "model.json").read_text())
    assert meta["stage"] == "ingest" and meta["details"]["params"] > 0
