"""prune KFP component, called through `python_func` with stand-in artifacts."""

import json

import pytest

from edgeopt.common.bundle import read_bundle
from edgeopt.prune.component import prune


def test_component_prunes_and_logs_metrics(baseline, tmp_path, artifact):
    bundle, data, _ = baseline
    pruned_model, metrics = artifact(tmp_path / "pruned"), artifact(tmp_path / "metrics.json")
    prune.python_func(model=artifact(bundle), dataset=artifact(data), pruned_model=pruned_model, metrics=metrics,
                      target_sparsity=0.4, epochs=1)
    info, path = read_bundle(tmp_path / "pruned")
    assert info.stage == "prune" and path.is_file()
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved == json.loads((tmp_path / "pruned" / "metrics.json").read_text())
    assert metrics.logged["sparsity"] == pytest.approx(0.4, abs=0.05) == saved["sparsity"]
    assert metrics.logged["skipped"] == 0.0 and metrics.logged["epochs"] == 1.0
    assert metrics.logged["macs"] > metrics.logged["nonzero_macs"] > 0
    assert metrics.logged["gzip_bytes"] < metrics.logged["source_gzip_bytes"]
    assert pruned_model.metadata == {"format": "keras", "sparsity": saved["sparsity"]}


def test_component_disabled_passes_the_model_through(baseline, tmp_path, artifact):
    bundle, data, base_metrics = baseline
    pruned_model, metrics = artifact(tmp_path / "pruned"), artifact(tmp_path / "metrics.json")
    prune.python_func(model=artifact(bundle), dataset=artifact(data), pruned_model=pruned_model, metrics=metrics,
                      enabled=False)
    assert read_bundle(tmp_path / "pruned")[0] == read_bundle(bundle)[0]
    assert metrics.logged["skipped"] == 1.0
    assert metrics.logged["accuracy"] == pytest.approx(base_metrics["accuracy"])
    assert pruned_model.metadata == {"format": "keras", "sparsity": 0.0}
