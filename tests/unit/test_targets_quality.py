"""Quality measures for models without class outputs (MSE, cosine beside SNR) and the gate judging such a
model on them: an autoencoder whose "accuracy" (argmax agreement over its outputs) means nothing."""

import numpy as np
import pytest

from edgeopt.common.evaluate import parity, quality
from edgeopt.common.targets import load_targets
from edgeopt.common.verdict import fmt
from edgeopt.validate_targets.core import validate

SIM = {"latency_ms": 9.0, "flash_bytes": 300 * 1024, "ram_bytes": 20 * 1024, "supported": True, "reasons": [],
       "target": "cortex-m4f@80mhz", "runtime": "tflm-cmsis-nn"}


def test_mse_and_cosine_against_the_reference():
    reference = np.array([[3.0, 4.0], [1.0, 0.0]])
    outputs = np.array([[3.0, 4.5], [0.0, 1.0]])
    p = parity(outputs, reference)
    assert p["mse"] == pytest.approx((0.25 + 1 + 1) / 4)
    expected = (np.dot([3, 4.5], [3, 4]) / (np.hypot(3, 4.5) * 5) + 0.0) / 2  # the second pair is orthogonal
    assert p["cosine"] == pytest.approx(expected)
    same = parity(reference, reference)
    assert same["mse"] == 0.0 and same["cosine"] == pytest.approx(1.0)


def test_cosine_of_zero_outputs():
    zeros, ones = np.zeros((2, 3)), np.ones((2, 3))
    assert parity(zeros, zeros)["cosine"] == 1.0
    assert parity(zeros, ones)["cosine"] == 0.0
    assert parity(-ones, ones)["cosine"] == pytest.approx(-1.0)


def test_quality_keeps_its_keys_and_adds_mse_and_cosine():
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(20, 4))
    labels = reference.argmax(1)
    q = quality(reference + 0.01, reference, labels)
    assert set(q) == {"accuracy", "float_accuracy", "confusion_matrix", "agreement", "snr_db", "max_abs_diff",
                      "relative_error", "mse", "cosine"}
    assert q["mse"] == pytest.approx(1e-4) and q["cosine"] > 0.999


@pytest.fixture(scope="module")
def autoencoder_metrics() -> tuple[dict, dict]:
    """(baseline, candidate) metrics of an autoencoder-like model: 640 outputs of nearly equal value
    with int8-like noise at 35 dB SNR, so that their argmax, the "accuracy" against the float
    model's own argmax, agrees on only ~78% of samples (the MLPerf Tiny anomaly-detection case)."""
    rng = np.random.default_rng(0)
    n = 400
    reference = 1 + 0.01 * rng.standard_normal((n, 640))
    reference[np.arange(n), rng.integers(0, 640, n)] += 0.08
    outputs = reference + 10 ** (-35 / 20) * rng.standard_normal((n, 640))
    candidate = quality(outputs.astype(np.float32), reference.astype(np.float32), reference.argmax(1))
    assert candidate["confusion_matrix"] is None  # not a classifier
    assert 0.7 < candidate["accuracy"] < 0.85 and 34 < candidate["snr_db"] < 36
    return {"accuracy": 1.0, "size_bytes": 1_200_000}, candidate


def test_an_autoencoder_fails_any_accuracy_gate(autoencoder_metrics):
    baseline, candidate = autoencoder_metrics
    verdict = validate(load_targets("target: cortex-m4f@80mhz\naccuracy_drop: 0.02\n"), baseline, candidate, SIM)
    assert not verdict["passed"]
    assert [c["metric"] for c in verdict["checks"] if not c["passed"]] == ["accuracy_drop"]


def test_an_autoencoder_passes_on_its_output_quality(autoencoder_metrics):
    baseline, candidate = autoencoder_metrics
    targets = load_targets("target: cortex-m4f@80mhz\nlatency_ms: 50\nquality:\n  snr_db: {min: 30}\n"
                           "  cosine: {min: 0.999}\n  mse: {max: 0.001}\n")
    verdict = validate(targets, baseline, candidate, SIM)
    assert verdict["passed"], [c["reason"] for c in verdict["checks"] if not c["passed"]]
    snr = next(c for c in verdict["checks"] if c["metric"] == "snr_db")
    assert snr["target"] is None and snr["goal"] == "min"
    assert snr["reason"] == f"SNR {fmt(candidate['snr_db'])} dB reaches the 30 dB floor"
    assert verdict["metrics"]["quality"]["snr_db"] == pytest.approx(candidate["snr_db"])
    strict = load_targets("target: cortex-m4f@80mhz\nquality:\n  snr_db: {min: 40}\n")
    assert "dB is below the 40 dB floor" in validate(strict, baseline, candidate, SIM)["checks"][2]["reason"]
