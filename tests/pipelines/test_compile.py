"""The committed pipeline YAML is exactly what the source compiles to, and it is ready for a cluster:
stage images, caching only for pure stages, descriptions for the run form, resources, retries on
S3 tasks, non-root pods, promotion gated on the verdict."""

import pytest
import yaml

from edgeopt.containers.images import image_for
from edgeopt.pipelines.edge_optimize import COMPILED, compile_pipeline
from edgeopt.stages import STAGES


@pytest.fixture(scope="module")
def package() -> tuple[dict, dict]:
    spec, platform = list(yaml.safe_load_all(COMPILED.read_text()))
    return spec, platform


def test_compiled_yaml_matches_source(tmp_path):
    fresh = compile_pipeline(tmp_path / "edge_optimize.yaml")
    assert list(yaml.safe_load_all(fresh.read_text())) == list(yaml.safe_load_all(COMPILED.read_text())), (
        "pipelines/edge_optimize.yaml is stale: run `make compile` and commit it")


def test_each_task_runs_in_its_stage_image(package):
    executors = package[0]["deploymentSpec"]["executors"]
    for stage in STAGES:
        assert executors[f"exec-{stage.name}"]["container"]["image"] == image_for(stage.name)


def _tasks(spec: dict) -> dict[str, dict]:
    """Every task of the pipeline, those inside conditions included."""
    found = dict(spec["root"]["dag"]["tasks"])
    for component in spec["components"].values():
        found.update(component.get("dag", {}).get("tasks", {}))
    return found


def test_only_pure_stages_cache(package):
    tasks = _tasks(package[0])
    for stage in STAGES:
        assert tasks[stage.name].get("cachingOptions", {}).get("enableCache", False) == stage.cacheable, stage.name
    assert not tasks["ingest"].get("cachingOptions", {}).get("enableCache")
    assert not tasks["promote"].get("cachingOptions", {}).get("enableCache")
    assert tasks["quantize"]["cachingOptions"]["enableCache"]


def test_every_parameter_is_described_and_tasks_have_display_names(package):
    inputs = package[0]["root"]["inputDefinitions"]["parameters"]
    assert len(inputs) > 40
    assert all(p.get("description") for p in inputs.values()), [n for n, p in inputs.items() if not p.get("description")]
    assert all(t["taskInfo"]["name"] for t in _tasks(package[0]).values())
    assert _tasks(package[0])["ingest"]["taskInfo"]["name"].startswith("ingest:")


def test_resources_retries_and_non_root(package):
    spec, platform = package
    executors = spec["deploymentSpec"]["executors"]
    assert executors["exec-quantize"]["container"]["resources"]["resourceMemoryLimit"] == "6Gi"
    assert executors["exec-validate-targets"]["container"]["resources"]["resourceMemoryLimit"] == "1Gi"
    tasks = _tasks(spec)
    assert tasks["ingest"]["retryPolicy"]["maxRetryCount"] == 3 and "retryPolicy" not in tasks["quantize"]
    kubernetes = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for name in executors:
        assert kubernetes[name]["securityContext"]["runAsNonRoot"] is True, name


def test_promotion_is_gated_on_the_verdict(package):
    spec = package[0]
    tasks = spec["root"]["dag"]["tasks"]
    gate = next(t for t in tasks.values() if "triggerPolicy" in t)
    assert "is-blessed" in gate["triggerPolicy"]["condition"]
    inner = spec["components"][gate["componentRef"]["name"]]["dag"]["tasks"]
    assert set(inner) == {"promote"}
    assert "promote" not in tasks


def test_tasks_need_only_what_their_image_holds(package):
    """Each task runs the image's own python3 and kfp (no pip install at run time) and imports only
    its stage's package, which its image holds."""
    from kfp import components

    assert components.load_component_from_file(str(COMPILED)).name == "edge-optimize"
    executors = package[0]["deploymentSpec"]["executors"]
    for name, executor in executors.items():
        command = " ".join(executor["container"]["command"])
        assert "python3 -m kfp.dsl.executor_main" in command and "pip install" not in command, name
        source = executor["container"]["command"][-1]
        stage = name.removeprefix("exec-")
        package_name = {"is-blessed": "validate_targets", "registry-baseline": "promote"}.get(
            stage, stage.replace("-", "_"))
        imported = {line.split()[1].split(".")[1] for line in source.splitlines()
                    if line.strip().startswith("from edgeopt.") and line.split()[1].count(".") >= 1}
        assert imported <= {package_name, "common"}, (name, imported)
