"""device-simulate KFP component, called through `python_func` with stand-in artifacts."""

import json
import shutil

import numpy as np
import pytest

from kfp import dsl

from edgeopt.common.bundle import ModelInfo, write_bundle
from edgeopt.device_simulate.component import device_simulate


def _artifact(path, kind=dsl.Artifact):
    """A real KFP artifact at a local path, as the KFP executor hands it to the component."""
    return kind(uri=str(path))


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


def test_component_writes_metrics_and_markdown(tmp_path, dense_int8):
    report, report_md = _artifact(tmp_path / "metrics.json", dsl.Metrics), _artifact(tmp_path / "report.md", dsl.Markdown)
    device_simulate.python_func(model=_artifact(dense_int8, dsl.Model), report=report, report_md=report_md,
                                report_json=_artifact(tmp_path / "report.json"), npu_model=_artifact(tmp_path / "npu"),
                                reports=_artifact(tmp_path / "reports"),
                                target="cortex-m4f@120mhz", runtime="tflm-cmsis-nn")
    saved = json.loads((tmp_path / "report.json").read_text())
    assert json.loads((tmp_path / "metrics.json").read_text()) == saved
    assert "layers" not in report.metadata and "clock_mhz" not in report.metadata  # only the figures to compare
    assert saved["target"] == "cortex-m4f@120mhz" and saved["macs"] == 16 * 8 + 8 * 4
    assert [layer["op"] for layer in saved["layers"]] == ["FULLY_CONNECTED", "FULLY_CONNECTED"]
    assert report.metadata["latency_ms"] == pytest.approx(saved["latency_ms"]) and saved["latency_ms"] > 0
    assert report.metadata["supported"] == 1.0
    assert report.metadata["ram_bytes"] == saved["ram_bytes"] > saved["arena_bytes"] > 0
    markdown = (tmp_path / "report.md").read_text()
    assert "cortex-m4f@120mhz" in markdown and "## Bottlenecks" in markdown


def test_component_reads_a_bundle_for_a_board(tmp_path, dense_int8):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    shutil.copy(dense_int8, bundle / "model.tflite")
    write_bundle(bundle, ModelInfo(format="tflite", file="model.tflite", precision="int8", stage="quantize"))
    report = _artifact(tmp_path / "report.json", dsl.Metrics)
    device_simulate.python_func(model=_artifact(bundle, dsl.Model), report=report,
                                report_md=_artifact(tmp_path / "report.md", dsl.Markdown),
                                report_json=_artifact(tmp_path / "full.json"), npu_model=_artifact(tmp_path / "npu"),
                                reports=_artifact(tmp_path / "reports"),
                                target="NUCLEO-L4R5ZI", runtime="x-cube-ai")
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["target"] == "NUCLEO-L4R5ZI" and saved["runtime"] == "x-cube-ai@10.2"
    assert saved["error_band"]["leave_one_board_out"]["rows"] == 8  # 4 benchmarks x 2 boards
    assert saved["board_ram_bytes"] == 655360 and report.metadata["energy_uj"] == pytest.approx(saved["energy_uj"])
