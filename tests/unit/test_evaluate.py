"""Quality measures shared by the stages."""

import numpy as np

from edgeopt.common.evaluate import accuracy, confusion_matrix, parity


def test_confusion_matrix_counts_true_by_predicted():
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.0, 0.1, 0.9]])
    labels = np.array([0, 1, 2, 2])
    assert confusion_matrix(scores, labels) == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert accuracy(scores, labels) == 0.75


def test_no_confusion_matrix_for_wide_outputs():
    assert confusion_matrix(np.zeros((4, 640)), np.zeros(4, dtype=int)) is None


def test_parity_of_identical_outputs():
    x = np.random.default_rng(0).normal(size=(8, 5))
    p = parity(x, x)
    assert p["max_abs_diff"] == 0.0 and p["top1_agreement"] == 1.0 and p["snr_db"] is None


def test_relative_error_is_the_l2_ratio():
    reference = np.array([[3.0, 4.0]])
    p = parity(reference + np.array([[0.0, 0.5]]), reference)
    assert p["relative_error"] == 0.1  # 0.5 / 5
    assert abs(p["snr_db"] - 20.0) < 1e-9
