"""prune KFP component, called through `python_func` with real KFP artifacts."""

import json

import pytest
from kfp.dsl import Metrics

from edgeopt.common.bundle import read_bundle
from edgeopt.prune.component import prune


def test_component_prunes_and_logs_metrics(baseline, tmp_path, artifact):
    bundle, data, _ = baseline
    pruned_model, metrics = artifact(tmp_path / "pruned"), artifact(tmp_path / "metrics.json", Metrics)
    prune.python_func(model=artifact(bundle), dataset=artifact(data), pruned_model=pruned_model, metrics=metrics,
                      target_sparsity=0.4, epochs=1)
    info, path = read_bundle(tmp_path / "pruned")
    assert info.stage == "prune" and path.is_file()
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved == json.loads((tmp_path / "pruned" / "metrics.json").read_text())
    assert metrics.metadata["sparsity"] == pytest.approx(0.4, abs=0.05) == saved["sparsity"]
    assert (saved["skipped"], saved["epochs"], saved["method"]) == (False, 1, "magnitude")
    assert "epochs" not in metrics.metadata  # settings stay in the JSON; the artifact logs the figures
    assert metrics.metadata["macs"] > metrics.metadata["nonzero_macs"] > 0
    assert metrics.metadata["gzip_bytes"] < metrics.metadata["source_gzip_bytes"]
    assert pruned_model.metadata == {"format": "keras", "sparsity": saved["sparsity"]}


def test_component_disabled_passes_the_model_through(baseline, tmp_path, artifact):
    bundle, data, base_metrics = baseline
    pruned_model, metrics = artifact(tmp_path / "pruned"), artifact(tmp_path / "metrics.json", Metrics)
    prune.python_func(model=artifact(bundle), dataset=artifact(data), pruned_model=pruned_model, metrics=metrics,
                      enabled=False)
    assert read_bundle(tmp_path / "pruned")[0] == read_bundle(bundle)[0]
    assert json.loads((tmp_path / "metrics.json").read_text())["skipped"] is True
    assert metrics.metadata["accuracy"] == pytest.approx(base_metrics["accuracy"])
    assert pruned_model.metadata == {"format": "keras", "sparsity": 0.0}


def test_component_structured_with_list_options_shrinks_the_model(baseline, tmp_path, artifact):
    bundle, data, _ = baseline
    pruned_model, metrics = artifact(tmp_path / "pruned"), artifact(tmp_path / "metrics.json", Metrics)
    prune.python_func(model=artifact(bundle), dataset=artifact(data), pruned_model=pruned_model, metrics=metrics,
                      method="structured", ratio=0.5, exclude=["conv1"], layer_ratios=["fc1=0.25"], epochs=1,
                      max_drop=0.5)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["method"] == "structured" and "conv1" not in saved["layers"]
    assert saved["layers"]["fc1"] == {"channels": [64, 48]}
    assert metrics.metadata["params"] < metrics.metadata["source_params"]
    assert metrics.metadata["macs"] < metrics.metadata["source_macs"]
    assert metrics.metadata["accuracy_drop"] == pytest.approx(saved["accuracy_drop"]) and saved["accuracy_drop"] <= 0.5
