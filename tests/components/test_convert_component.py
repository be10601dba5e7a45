"""The convert KFP component: one typed output per format, as plain Python and chained after quantize
through `kfp.local`."""

import inspect
import json
import shutil
from pathlib import Path

import pytest
from kfp.dsl import Metrics, Model

from edgeopt.common.bundle import read_bundle
from edgeopt.common.metrics import read_metrics
from edgeopt.convert import artifacts
from edgeopt.convert.component import convert
from edgeopt.convert.core import parse_c_array
from edgeopt.convert.spec import SPEC
from edgeopt.quantize.core import quantize as quantize_core

FORMAT_OUTPUTS = {"tflite": "tflite_model", "onnx": "onnx_model", "optimized": "optimized_model",
                  "c_array": "c_array", "openvino": "openvino_model", "tensorrt": "tensorrt_engine"}


def test_the_component_declares_one_model_output_per_format_and_the_metrics():
    outputs = convert.component_spec.outputs
    assert list(outputs) == [*FORMAT_OUTPUTS.values(), "metrics"]
    assert {outputs[name].type for name in FORMAT_OUTPUTS.values()} == {"system.Model@0.0.1"}
    assert outputs["metrics"].type == "system.Metrics@0.0.1"
    assert "converted" not in inspect.signature(convert.python_func).parameters


@pytest.fixture(scope="module")
def run(baseline, tmp_path_factory):
    """(output artifacts by format, metrics artifact, folder) of the component run as plain Python, with
    real KFP artifact classes (module-scoped, so built here rather than by the `artifact` fixture)."""
    from kfp import dsl

    bundle, data, _ = baseline
    tmp = tmp_path_factory.mktemp("component")
    quantize_core(bundle, data, tmp / "q", method="dynamic")
    outputs = {fmt: dsl.Model(uri=str(tmp / name)) for fmt, name in FORMAT_OUTPUTS.items()}
    metrics = dsl.Metrics(uri=str(tmp / "metrics"))
    convert.python_func(model=dsl.Model(uri=str(bundle)), quantized_model=dsl.Model(uri=str(tmp / "q")),
                        dataset=dsl.Dataset(uri=str(data)), metrics=metrics, samples=16,
                        **{FORMAT_OUTPUTS[fmt]: artifact for fmt, artifact in outputs.items()})
    return outputs, metrics, tmp


def test_each_format_is_its_own_model_artifact(run):
    outputs, _, tmp = run
    for fmt in ("tflite", "onnx", "optimized", "c_array"):
        info, path = read_bundle(outputs[fmt].path)
        meta = outputs[fmt].metadata
        assert meta["status"] == "ok" and meta["format"] == info.format and meta["file"] == path.name
        assert meta["precision"] == info.precision and meta["parity"]["top1_agreement"] == 1.0
    assert [outputs[f].metadata["format"] for f in ("tflite", "onnx", "optimized", "c_array")] == [
        "tflite", "onnx", "onnx", "c_array"]
    assert outputs["tflite"].metadata["size_bytes"] == Path(outputs["tflite"].path, "model.tflite").stat().st_size
    c_array = outputs["c_array"].metadata
    assert c_array["precision"] == "dynamic_int8" and c_array["extra_files"] == {"header": "model_data.h"}
    array = parse_c_array(Path(outputs["c_array"].path, "model_data.cc").read_text())
    assert array == (tmp / "q" / "model.tflite").read_bytes() and c_array["size_bytes"] == len(array)
    assert c_array["parity"]["identical"] is True and c_array["parity"]["against"] == "quantized_tflite"


def test_openvino_output_holds_the_ir_with_its_cpu_parity(run):
    outputs, _, _ = run
    meta = outputs["openvino"].metadata
    assert sorted(p.name for p in Path(outputs["openvino"].path).iterdir()) == ["model.bin", "model.xml"]
    assert meta["status"] == "ok" and meta["format"] == "openvino" and meta["file"] == "model.xml"
    assert meta["size_bytes"] == sum(p.stat().st_size for p in Path(outputs["openvino"].path).iterdir())
    assert meta["parity"]["device"] == "CPU" and meta["parity"]["inference_precision"] == "f32"
    assert meta["parity"]["max_abs_diff"] < 1e-5 and meta["parity"]["top1_agreement"] == 1.0


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="TensorRT may run here")
def test_a_skipped_format_still_has_its_output_with_the_reason_and_no_model(run):
    outputs, _, _ = run
    meta = outputs["tensorrt"].metadata
    assert meta == {"status": "skipped", "reason": meta["reason"]} and "no NVIDIA GPU" in meta["reason"]
    path = Path(outputs["tensorrt"].path)
    assert [p.name for p in path.iterdir()] == [artifacts.SKIPPED_FILE]  # KFP uploads every output path
    assert json.loads((path / artifacts.SKIPPED_FILE).read_text()) == meta


def test_metrics_artifact_logs_only_the_compared_results(run):
    outputs, metrics, _ = run
    logged = metrics.metadata
    assert set(logged) <= {m.key for m in SPEC.metrics}
    assert not {"samples", "onnx_opset", "onnx_nodes", "optimized_nodes", "source_size_bytes"} & set(logged)
    assert "tensorrt_parity_max_abs_diff" not in logged  # skipped: nothing to compare, no placeholder
    assert logged["c_array_identical"] == 1.0 and logged["optimized_top1_agreement"] == 1.0
    assert logged["onnx_parity_max_abs_diff"] < 1e-3 and logged["openvino_parity_max_abs_diff"] < 1e-5
    assert logged["tflite_size_bytes"] == outputs["tflite"].metadata["size_bytes"]
    full = read_metrics(metrics.path)  # the file keeps everything, settings and the formats list included
    assert full["samples"] == 16 and full["c_array_identical"] is True
    assert [f["format"] for f in full["formats"]] == list(FORMAT_OUTPUTS)


def test_formats_and_outputs_must_agree(artifact, monkeypatch, tmp_path):
    """A format the component has no output for (or the reverse) is a programming error, not a silent drop."""
    listed = [{"format": fmt, "status": "skipped", "reason": "r", "path": None, "bytes": None, "parity": None}
              for fmt in ("tflite", "onnx")]
    monkeypatch.setattr(artifacts, "convert", lambda *args, **kwargs: {"formats": listed})
    outputs = {"tflite": artifact(tmp_path / "t", Model)}
    with pytest.raises(ValueError, match=r"convert lists the formats \['onnx', 'tflite'\], the component has "
                                         r"\['tflite'\]"):
        artifacts.convert_to_artifacts("m", "d", None, outputs, artifact(tmp_path / "metrics", Metrics))


@pytest.mark.slow  # 25-45 s: two kfp.local subprocess tasks, each importing TensorFlow
@pytest.mark.filterwarnings("ignore:You may be attemping to run a task:RuntimeWarning")
def test_quantize_then_convert_through_kfp_local(baseline, tmp_path, monkeypatch):
    from kfp import dsl, local
    from kfp.dsl import Dataset
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
        return converted.outputs["c_array"]

    result = quantize_and_convert().output
    assert result.metadata["status"] == "ok" and result.metadata["precision"] == "int8"
    assert Path(result.path).is_relative_to(tmp_path / "root")
    quantized = next((tmp_path / "root").rglob("quantized_model"))
    assert parse_c_array((Path(result.path) / "model_data.cc").read_text()) == (quantized / "model.tflite").read_bytes()
    task = Path(result.path).parent
    assert {*FORMAT_OUTPUTS.values(), "metrics"} <= {p.name for p in task.iterdir()}
    assert (task / "openvino_model" / "model.xml").is_file()
    assert (task / "tensorrt_engine" / artifacts.SKIPPED_FILE).is_file() or shutil.which("nvidia-smi")
    assert read_metrics(task / "metrics")["openvino_top1_agreement"] == 1.0
