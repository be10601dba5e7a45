"""Simulating every device of a targets file with the real simulator (edgeopt.common.simulations): one
report per entry plus an index, which the gate reads as it is."""

import json
from pathlib import Path

import numpy as np
import pytest

from edgeopt.common.errors import EdgeoptError
from edgeopt.common.simulations import simulate_all
from edgeopt.device_simulate.core import render_markdown, simulate
from edgeopt.validate_targets.core import run

TARGETS = """\
targets:
  - target: cortex-m4f@80mhz
    latency_ms: 50
  - target: NUCLEO-H7A3ZI-Q
    runtime: tflm-reference
    latency_ms: {max: 0.0001}
require: any
"""


@pytest.fixture(scope="module")
def tiny_tflite(tmp_path_factory) -> Path:
    """A full-integer int8 TFLite model: conv 3x3 (16x16x1 -> 16x16x4), pooling, dense 3."""
    from edgeopt.common.tfenv import keras, tf

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Input((16, 16, 1)), keras.layers.Conv2D(4, 3, padding="same"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    rng = np.random.default_rng(0)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([rng.random((1, 16, 16, 1), dtype=np.float32)] for _ in range(8))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    path = tmp_path_factory.mktemp("tiny") / "tiny.tflite"
    path.write_bytes(converter.convert())
    return path


def test_one_report_per_entry_and_an_index(tmp_path, tiny_tflite):
    out = tmp_path / "sims"
    index = simulate_all(tiny_tflite, TARGETS, out, simulate, render_markdown)
    assert [(r["dir"], r["target"], r["runtime"]) for r in index["reports"]] == [
        ("0-cortex-m4f-80mhz", "cortex-m4f@80mhz", "tflm-cmsis-nn"),
        ("1-nucleo-h7a3zi-q", "NUCLEO-H7A3ZI-Q", "tflm-reference")]
    assert json.loads((out / "index.json").read_text()) == index
    for entry in index["reports"]:
        report = json.loads((out / entry["dir"] / "report.json").read_text())
        assert report["latency_ms"] == entry["latency_ms"] > 0 and report["runtime"] == entry["runtime"]
        assert (out / entry["dir"] / "report.md").read_text().startswith("#")

    candidate = tmp_path / "candidate.json"
    candidate.write_text(json.dumps({"accuracy": 0.9}))
    verdict = run(TARGETS, candidate, candidate, out, tmp_path / "verdict")
    assert verdict["passed"]  # the M4 passes; one device is enough
    assert [d["passed"] for d in verdict["targets"]] == [True, False]
    assert verdict["metrics"]["targets"][1]["target"] == "NUCLEO-H7A3ZI-Q"


def test_a_bad_model_writes_nothing(tmp_path):
    (tmp_path / "model.tflite").write_bytes(b"not a model")
    with pytest.raises(EdgeoptError):
        simulate_all(tmp_path / "model.tflite", TARGETS, tmp_path / "sims", simulate, render_markdown)
    assert not (tmp_path / "sims").exists()
