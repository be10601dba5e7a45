"""The convert KFP component: as plain Python, and chained after quantize through `kfp.local`."""

import json
from pathlib import Path

import pytest
from kfp.dsl import Metrics

from edgeopt.common.bundle import read_bundle
from edgeopt.common.metrics import read_metrics
from edgeopt.convert.component import convert
from edgeopt.convert.core import parse_c_array
from edgeopt.quantize.core import quantize as quantize_core


def test_component_writes_three_formats(baseline, artifact, tmp_path):
    bundle, data, _ = baseline
    quantize_core(bundle, data, tmp_path / "q", method="dynamic")
    out, metrics = artifact(tmp_path / "converted"), artifact(tmp_path / "metrics.json", Metrics)
    convert.python_func(model=artifact(bundle), quantized_model=artifact(tmp_path / "q"), dataset=artifact(data),
                        converted=out, metrics=metrics, samples=16)
    assert {read_bundle(tmp_path / "converted" / sub)[0].format for sub in ("tflite", "onnx", "optimized",
                                                                           "c_array")} == {"tflite", "onnx", "c_array"}
    assert out.metadata["c_array_precision"] == "dynamic_int8"
    assert out.metadata["formats"][:4] == ["tflite", "onnx", "optimized", "c_array"]
    assert set(out.metadata["formats"][4:]) | set(out.metadata["skipped"]) == {"openvino", "tensorrt"}
    assert all(reason for reason in out.metadata["skipped"].values())
    assert metrics.metadata["optimized_top1_agreement"] == 1.0
    assert metrics.metadata["c_array_identical"] == 1.0 and metrics.metadata["samples"] == 16
    assert metrics.metadata["onnx_parity_max_abs_diff"] < 1e-3
    assert json.loads((tmp_path / "metrics.json").read_text())["c_array_identical"] is True


@pytest.mark.slow  # 25-45 s: two kfp.local subprocess tasks, each importing TensorFlow
@pytest.mark.filterwarnings("ignore:You may be attemping to run a task:RuntimeWarning")
def test_quantize_then_convert_through_kfp_local(baseline, tmp_path, monkeypatch):
    from kfp import dsl, local
    from kfp.dsl import Dataset, Model
    from kfp.local import config

    from edgeopt.quantize.component import quantize

    bundle, data, _ = baseline
    monkeypatch.setattr(config.LocalExecutionConfig, "instance", None)  # restored after the test
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"),
               workspace_root=str(tmp_path / "workspace"))

    @dsl.pipeline
    def quantize_and_convert() -> Model:
        model = dsl.importer(artifact_uri=str(bundle), artifact_class=Model)
        dataset = dsl.importer(artifact_uri=str(data), artifact_class=Dataset)
        quantized = quantize(model=model.output, dataset=dataset.output, method="int8", calibration_samples=64)
        converted = convert(model=model.output, quantized_model=quantized.outputs["quantized_model"],
                            dataset=dataset.output, samples=32)
        return converted.outputs["converted"]

    result = quantize_and_convert().output
    assert result.metadata["c_array_precision"] == "int8"
    metrics = read_metrics(result.path)
    assert metrics["c_array_identical"] is True and metrics["onnx_top1_agreement"] == 1.0
    quantized = next((tmp_path / "root").rglob("quantized_model"))
    assert Path(result.path).is_relative_to(tmp_path / "root")
    assert parse_c_array((Path(result.path) / "c_array" / "model_data.cc").read_text()) == (
        quantized / "model.tflite").read_bytes()
