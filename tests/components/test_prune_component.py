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
    assert metrics.metadata["skipped"] == 0.0 and metrics.metadata["epochs"] == 1.0
    assert metrics.metadata["macs"] > metrics.metadata["nonzero_macs"] > 0
    assert metrics.metadata["gzip_bytes"] < metrics.metadata["source_gzip_bytes"]
    assert pruned_model.metadata == {"format": "keras", "sparsity": saved["sparsity"]}


def test_component_disabled_passes_the_model_through(baseline, tmp_path, artifact):
    bundle, data, base_metrics = baseline
    pruned_model, metrics = artifact(tmp_path / "pruned"), artifact(tmp_path / "metrics.json", Metrics)
    prune.python_func(model=artifact(bundle), dataset=artifact(data), pruned_model=pruned_model, metrics=metrics,
                      enabled=False)
    assert read_bundle(tmp_path / "pruned")[0] == read_bundle(bundle)[0]
    assert metrics.metadata["skipped"] == 1.0
    assert metrics.metadata["accuracy"] == pytest.approx(base_metrics["accuracy"])
    assert pruned_model.metadata == {"format": "keras", "sparsity": 0.0}
