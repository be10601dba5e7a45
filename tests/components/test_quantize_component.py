"""The quantize KFP component, called as plain Python with real KFP artifacts."""

import json

from kfp.dsl import ClassificationMetrics, Metrics

from edgeopt.common.bundle import read_bundle
from edgeopt.quantize.component import quantize


def test_component_writes_bundle_and_logs_metrics(baseline, artifact, tmp_path):
    bundle, data, base_metrics = baseline
    out, metrics = artifact(tmp_path / "quantized"), artifact(tmp_path / "metrics.json", Metrics)
    confusion = artifact(tmp_path / "confusion", ClassificationMetrics)
    quantize.python_func(model=artifact(bundle), dataset=artifact(data), quantized_model=out, metrics=metrics,
                         confusion=confusion, method="int8", calibration_samples=50)
    info, model_path = read_bundle(out.path)
    assert model_path.name == "model.tflite" and info.precision == "int8"
    assert out.metadata == {"format": "tflite", "precision": "int8"}
    assert metrics.metadata["size_bytes"] == info.size_bytes
    assert "calibration_samples" not in metrics.metadata  # a setting, not a figure to compare runs by
    assert abs(metrics.metadata["accuracy"] - base_metrics["accuracy"]) <= 0.03
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["calibration_samples"] == 50
    assert written["method"] == "int8" and written["agreement"] == metrics.metadata["agreement"]
    logged = confusion.metadata["confusionMatrix"]  # the shape KFP's UI reads
    matrix = [row["row"] for row in logged["rows"]]
    assert [spec["displayName"] for spec in logged["annotationSpecs"]] == [str(c) for c in range(10)]
    assert sum(map(sum, matrix)) == written["num_test"]
    assert sum(matrix[c][c] for c in range(10)) / written["num_test"] == written["accuracy"]


def test_component_passes_mixed_options_and_logs_host_figures(baseline, artifact, tmp_path):
    bundle, data, _ = baseline
    out, metrics = artifact(tmp_path / "quantized"), artifact(tmp_path / "metrics.json", Metrics)
    quantize.python_func(model=artifact(bundle), dataset=artifact(data), quantized_model=out, metrics=metrics,
                         confusion=artifact(tmp_path / "confusion", ClassificationMetrics), method="mixed", calibration_samples=50, io_type="uint8", float_layers=["conv2", "fc1"],
                         latency_runs=10)
    info, _ = read_bundle(out.path)
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert out.metadata == {"format": "tflite", "precision": "mixed_int8_float"}
    assert [f["layer"] for f in written["float_layers"]] == ["conv2", "fc1"]
    assert written["io_type"] == "uint8" and "accuracy_budget" not in written
    assert info.details["float_layers"] == ["conv2", "fc1"]
    for key in ("latency_ms_median", "peak_memory_bytes", "speedup_vs_float"):
        assert metrics.metadata[key] == written[key] and written[key] > 0
    for key in ("latency_ms_p90", "float_latency_ms_median"):
        assert written[key] > 0
    assert written["fusions"] and written["fusions"][0]["op"] == "CONV_2D"
