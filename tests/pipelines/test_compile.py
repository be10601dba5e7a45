"""The committed pipeline YAML is exactly what the source compiles to, and every task names its image."""

import yaml

from edgeopt.images import image_for
from edgeopt.pipelines.edge_optimize import COMPILED, compile_pipeline


def test_compiled_yaml_matches_source(tmp_path):
    fresh = compile_pipeline(tmp_path / "edge_optimize.yaml")
    assert yaml.safe_load(fresh.read_text()) == yaml.safe_load(COMPILED.read_text()), (
        "pipelines/edge_optimize.yaml is stale: run `make compile` and commit it")


def test_each_task_runs_in_its_stage_image():
    spec = yaml.safe_load(COMPILED.read_text())
    executors = spec["deploymentSpec"]["executors"]
    images = {name: ex["container"]["image"] for name, ex in executors.items()}
    stages = {"ingest", "distill", "prune", "quantize", "convert", "device-simulate",
              "validate-targets", "promote"}
    for stage in stages:
        assert images[f"exec-{stage}"] == image_for(stage)


def test_promotion_is_gated_on_the_verdict():
    spec = yaml.safe_load(COMPILED.read_text())
    tasks = spec["root"]["dag"]["tasks"]
    gate = next(t for t in tasks.values() if "triggerPolicy" in t)
    assert "is-blessed" in gate["triggerPolicy"]["condition"]
    inner = spec["components"][gate["componentRef"]["name"]]["dag"]["tasks"]
    assert set(inner) == {"promote"}
    assert "promote" not in tasks
