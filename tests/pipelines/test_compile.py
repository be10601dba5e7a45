"""The committed pipeline YAML (edge-optimize and edge-sweep) is exactly what the source compiles to,
and it is ready for a cluster: stage images, caching only for pure stages, descriptions for the run
form, resources, retries on S3 tasks, non-root pods, promotion gated on the verdict."""

import pytest
import yaml

from edgeopt.containers.images import image_for
from edgeopt.pipelines import edge_optimize, edge_sweep
from edgeopt.stages import STAGES, stage

COMPILED = edge_optimize.COMPILED
# components that are not named after their stage -> the stage (and image) they belong to
COMPONENT_STAGES = {"is-blessed": "validate-targets", "registry-baseline": "promote", "teacher-outputs": "distill",
                    "plan-recipes": "sweep", "pareto": "sweep"}


def _stage_of(component: str) -> str:
    return COMPONENT_STAGES.get(component, component)


@pytest.fixture(scope="module")
def package() -> tuple[dict, dict]:
    spec, platform = list(yaml.safe_load_all(COMPILED.read_text()))
    return spec, platform


PACKAGES = {"edge-optimize": edge_optimize.COMPILED, "edge-sweep": edge_sweep.COMPILED}


@pytest.fixture(scope="module", params=sorted(PACKAGES))
def packages(request) -> tuple[dict, dict]:
    spec, platform = list(yaml.safe_load_all(PACKAGES[request.param].read_text()))
    return spec, platform


@pytest.mark.parametrize("module", [edge_optimize, edge_sweep], ids=["edge-optimize", "edge-sweep"])
def test_compiled_yaml_matches_source(tmp_path, module):
    fresh = module.compile_pipeline(tmp_path / module.COMPILED.name)
    assert list(yaml.safe_load_all(fresh.read_text())) == list(yaml.safe_load_all(module.COMPILED.read_text())), (
        f"pipelines/{module.COMPILED.name} is stale: run `make compile` and commit it")


def test_each_task_runs_in_its_stage_image(packages):
    executors = packages[0]["deploymentSpec"]["executors"]
    for name, executor in executors.items():
        assert executor["container"]["image"] == image_for(_stage_of(name.removeprefix("exec-"))), name
    optimize = yaml.safe_load_all(COMPILED.read_text()).__next__()["deploymentSpec"]["executors"]
    sweep = yaml.safe_load_all(edge_sweep.COMPILED.read_text()).__next__()["deploymentSpec"]["executors"]
    used = {_stage_of(n.removeprefix("exec-")) for n in (*optimize, *sweep)}
    assert used == {s.name for s in STAGES}  # every stage image is used by a pipeline


def _tasks(spec: dict) -> dict[str, dict]:
    """Every task of the pipeline, those inside conditions included."""
    found = dict(spec["root"]["dag"]["tasks"])
    for component in spec["components"].values():
        found.update(component.get("dag", {}).get("tasks", {}))
    return found


def test_only_pure_stages_cache(package, packages):
    for name, task in _tasks(packages[0]).items():
        if "executorLabel" not in packages[0]["components"][task["componentRef"]["name"]]:
            continue  # a condition or a loop, not a container task
        entry = stage(_stage_of(task["componentRef"]["name"].removeprefix("comp-")))
        assert task.get("cachingOptions", {}).get("enableCache", False) == entry.cacheable, name
    tasks = _tasks(package[0])
    assert not tasks["ingest"].get("cachingOptions", {}).get("enableCache")
    assert not tasks["promote"].get("cachingOptions", {}).get("enableCache")
    assert tasks["quantize"]["cachingOptions"]["enableCache"]


def test_every_parameter_is_described_and_tasks_have_display_names(package):
    inputs = package[0]["root"]["inputDefinitions"]["parameters"]
    assert len(inputs) > 40
    assert all(p.get("description") for p in inputs.values()), [n for n, p in inputs.items() if not p.get("description")]
    assert all(t["taskInfo"]["name"] for t in _tasks(package[0]).values())
    assert _tasks(package[0])["ingest"]["taskInfo"]["name"].startswith("ingest:")


def test_resources_retries_and_non_root(packages):
    spec, platform = packages
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


def test_tasks_need_only_what_their_image_holds(packages):
    """Each task runs the image's own python3 and kfp (no pip install at run time) and imports only
    its stage's package, which its image holds."""
    from kfp import components

    name = packages[0]["pipelineInfo"]["name"]
    assert components.load_component_from_file(str(PACKAGES[name])).name == name
    executors = packages[0]["deploymentSpec"]["executors"]
    for name, executor in executors.items():
        command = " ".join(executor["container"]["command"])
        assert "python3 -m kfp.dsl.executor_main" in command and "pip install" not in command, name
        source = executor["container"]["command"][-1]
        package_name = stage(_stage_of(name.removeprefix("exec-"))).package
        imported = {line.split()[1].split(".")[1] for line in source.splitlines()
                    if line.strip().startswith("from edgeopt.") and line.split()[1].count(".") >= 1}
        assert imported <= {package_name, "common"}, (name, imported)


@pytest.fixture(scope="module")
def sweep_package() -> dict:
    return next(yaml.safe_load_all(edge_sweep.COMPILED.read_text()))


def test_sweep_fans_out_once_per_recipe_and_gathers_every_candidate(sweep_package):
    spec = sweep_package
    root = spec["root"]["dag"]["tasks"]
    loop_name, loop = next((n, t) for n, t in root.items() if "parameterIterator" in t)
    assert loop["iteratorPolicy"]["parallelismLimit"] == 4
    assert loop["parameterIterator"]["items"]["inputParameter"].endswith("plan-recipes-Output")
    body = spec["components"][loop["componentRef"]["name"]]["dag"]["tasks"]
    assert set(body) == {"distill", "prune", "quantize", "device-simulate", "validate-targets"}
    # the shared work runs once, outside the loop
    assert {"ingest", "plan-recipes", "teacher-outputs", "registry-baseline", "pareto"} <= set(root)
    assert body["distill"]["inputs"]["artifacts"]["teacher_outputs"]["componentInputArtifact"]
    # each candidate's options come from its recipe
    width = body["distill"]["inputs"]["parameters"]["width"]
    assert width["componentInputParameter"].endswith("loop-item") and width["parameterExpressionSelector"] == \
        'parseJson(string_value)["distill_width"]'
    gathered = root["pareto"]["inputs"]["artifacts"]
    for name in ("candidate_metrics", "simulations", "verdicts", "models", "float_models"):
        assert gathered[name]["taskOutputArtifact"]["producerTask"] == loop_name, name
    assert spec["components"]["comp-pareto"]["inputDefinitions"]["artifacts"]["verdicts"]["isArtifactList"]


def test_sweep_promotes_only_under_the_chosen_verdict(sweep_package):
    root = sweep_package["root"]["dag"]["tasks"]
    gate = next(t for t in root.values() if "triggerPolicy" in t)
    assert "is-blessed" in gate["triggerPolicy"]["condition"]
    assert root["is-blessed"]["inputs"]["artifacts"]["verdict"]["taskOutputArtifact"] == \
        {"outputArtifactKey": "best_verdict", "producerTask": "pareto"}
    inner = sweep_package["components"][gate["componentRef"]["name"]]["dag"]["tasks"]
    assert set(inner) == {"convert", "promote"}


def test_sweep_parallelism_is_a_compile_option(tmp_path):
    from edgeopt.pipelines.cluster import ClusterOptions

    path = edge_sweep.compile_pipeline(tmp_path / "sweep.yaml", ClusterOptions(parallelism=16))
    loop = next(t for t in next(yaml.safe_load_all(path.read_text()))["root"]["dag"]["tasks"].values()
                if "parameterIterator" in t)
    assert loop["iteratorPolicy"]["parallelismLimit"] == 16


def test_sweep_parameters_are_described_and_follow_the_declarations(sweep_package):
    import inspect

    from edgeopt.convert.spec import SPEC as CONVERT

    inputs = sweep_package["root"]["inputDefinitions"]["parameters"]
    assert {"recipes", "recipe_defaults", "targets", "model_uri", "data_uri"} <= set(inputs)
    assert inputs["recipes"]["parameterType"] == "LIST" and inputs["recipe_defaults"]["parameterType"] == "STRUCT"
    assert all(p.get("description") for p in inputs.values()), [n for n, p in inputs.items() if not p.get("description")]
    signature = inspect.signature(edge_sweep.edge_sweep.pipeline_func)
    assert signature.parameters["convert_samples"].default == CONVERT.pipeline_defaults()["convert_samples"]
