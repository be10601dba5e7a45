"""device-simulate KFP component, called through `python_func` with stand-in artifacts."""

import json
import shutil

import numpy as np
import pytest

from edgeopt.common.bundle import ModelInfo, write_bundle
from edgeopt.device_simulate.component import device_simulate


@pytest.fixture(scope="module")
def dense_int8(tmp_path_factory):
    """A full-integer int8 two-layer dense model (16 -> 8 -> 4)."""
    from edgeopt.common.tfenv import keras, tf

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Input((16,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(4)])
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([np.full((1, 16), v, np.float32)] for v in np.linspace(-1, 1, 8))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    path = tmp_path_factory.mktemp("dense") / "dense_int8.tflite"
    path.write_bytes(converter.convert())
    return path


def test_component_writes_metrics_and_markdown(tmp_path, artifact, dense_int8):
    report, report_md = artifact(tmp_path / "report.json"), artifact(tmp_path / "report.md")
    device_simulate.python_func(model=artifact(dense_int8), report=report, report_md=report_md,
                                target="cortex-m4f@120mhz", runtime="tflm-cmsis-nn")
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["target"] == "cortex-m4f@120mhz" and saved["macs"] == 16 * 8 + 8 * 4
    assert [layer["op"] for layer in saved["layers"]] == ["FULLY_CONNECTED", "FULLY_CONNECTED"]
    assert report.logged["latency_ms"] == pytest.approx(saved["latency_ms"]) and saved["latency_ms"] > 0
    assert report.logged["supported"] == 1.0
    assert report.logged["ram_bytes"] == saved["ram_bytes"] > saved["arena_bytes"] > 0
    markdown = (tmp_path / "report.md").read_text()
    assert "cortex-m4f@120mhz" in markdown and "## Bottlenecks" in markdown


def test_component_reads_a_bundle_for_a_board(tmp_path, artifact, dense_int8):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    shutil.copy(dense_int8, bundle / "model.tflite")
    write_bundle(bundle, ModelInfo(format="tflite", file="model.tflite", precision="int8", stage="quantize"))
    report = artifact(tmp_path / "report.json")
    device_simulate.python_func(model=artifact(bundle), report=report, report_md=artifact(tmp_path / "report.md"),
                                target="NUCLEO-L4R5ZI", runtime="tflm-reference")
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["target"] == "NUCLEO-L4R5ZI" and saved["runtime"] == "tflm-reference"
    assert saved["board_ram_bytes"] == 655360 and report.logged["energy_uj"] == pytest.approx(saved["energy_uj"])
