"""edgeopt's kfp.local DockerRunner: real exit codes on podman, local path mounts, non-root tasks."""

import os
from pathlib import Path

import pytest
from kfp import dsl, local

from edgeopt.containers.images import image_for

pytestmark = pytest.mark.container

LIGHT = image_for("validate-targets")  # the smallest stage image: the base and nothing else


@dsl.component(base_image=LIGHT, install_kfp_package=False)
def exits(code: int):
    import sys

    print(f"exiting with {code}")
    sys.exit(code)


@dsl.component(base_image=LIGHT, install_kfp_package=False)
def reads_and_writes(source: str, registry: str, copy: dsl.Output[dsl.Artifact]) -> str:
    import json
    import os
    from pathlib import Path

    text = Path(source).read_text()
    try:
        Path(source).with_name("intruder.txt").write_text("x")
        wrote_beside_input = True
    except OSError:
        wrote_beside_input = False
    Path(registry, "entry.txt").write_text(text)
    Path(copy.path).write_text(text)
    return json.dumps({"uid": os.getuid(), "wrote_beside_input": wrote_beside_input})


@pytest.fixture
def docker_local(engine, stage_images, tmp_path):
    from edgeopt.containers.docker_runner import docker_runner

    root = tmp_path / "pipeline-root"
    root.mkdir()
    local.init(runner=docker_runner(), pipeline_root=str(root), raise_on_error=True)
    before = {c.id for c in engine.containers.list(all=True)}
    yield root
    after = {c.id for c in engine.containers.list(all=True)}
    assert after - before == set(), "a task container was left behind"


def test_a_failing_task_fails(docker_local):
    """KFP's own handler reports this as SUCCESS on podman (auto-removed container, lost exit code)."""
    with pytest.raises(RuntimeError, match="FAILURE"):
        exits(code=3)


def test_a_succeeding_task_succeeds(docker_local):
    exits(code=0)


def test_local_paths_are_mounted_and_tasks_run_unprivileged(docker_local, tmp_path):
    import json

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "model.txt").write_text("weights")
    registry = tmp_path / "registry"  # missing: created for the task
    task = reads_and_writes(source=str(inputs / "model.txt"), registry=str(registry))
    result = json.loads(task.outputs["Output"])
    assert result["wrote_beside_input"] is False  # inputs are mounted read-only
    assert not (inputs / "intruder.txt").exists()
    assert (registry / "entry.txt").read_text() == "weights"
    assert Path(task.outputs["copy"].path).read_text() == "weights"
    expected = 10001 if os.getuid() == 0 else os.getuid()  # image user as root, else you
    assert result["uid"] == expected


def test_runner_refuses_without_engine(monkeypatch):
    from edgeopt.containers.docker_runner import docker_runner
    from edgeopt.containers.engine import EngineUnavailable

    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/engine.sock")
    with pytest.raises(EngineUnavailable, match="no container engine is reachable"):
        docker_runner()


def test_runner_names_missing_images(engine, stage_images):
    from edgeopt.common.errors import EdgeoptError
    from edgeopt.containers.docker_runner import check_images

    check_images(engine)  # all there
    engine.images.get(stage_images["promote"]).tag("localhost/edgeopt-promote", "keep-for-test")
    engine.images.remove(stage_images["promote"])
    try:
        with pytest.raises(EdgeoptError, match="edgeopt-promote.* not built|not built: .*edgeopt-promote"):
            check_images(engine)
    finally:
        engine.images.get("localhost/edgeopt-promote:keep-for-test").tag(*stage_images["promote"].rsplit(":", 1))
        engine.images.remove("localhost/edgeopt-promote:keep-for-test")
