"""Container tests: need a Docker-compatible engine (Docker, or podman's API) at DOCKER_HOST.

Selected with `pytest -m container`; skipped, with the reason, where no engine answers, unless
EDGEOPT_REQUIRE_ENGINE=1 (CI), which turns that skip into a failure. The stage images are
(re)built once per session from this checkout, so they always hold the code under test; with a
warm layer cache that takes seconds.
"""

import argparse
import os

import pytest

from edgeopt.containers.images import STAGES

REPORT: list[str] = []  # lines for the end of the run (wall times), filled by the tests


@pytest.fixture(scope="session")
def engine():
    from edgeopt.containers.engine import connect, engine_available

    reason = engine_available()
    if reason:
        if os.environ.get("EDGEOPT_REQUIRE_ENGINE") == "1":
            pytest.fail(f"EDGEOPT_REQUIRE_ENGINE=1 but {reason}")
        pytest.skip(f"no container engine: {reason} (scripts/ci-container-engine.sh prepares podman)")
    client = connect(timeout=600)
    yield client
    client.close()


@pytest.fixture(scope="session")
def stage_images(engine) -> dict[str, str]:
    """{stage: image reference}, built from this checkout (base first)."""
    from edgeopt.containers.images import default_tag, image_ref
    from edgeopt.containers.cli import PYTHON_IMAGE, PYTHON_IMAGE_ENV, build

    if os.environ.get("EDGEOPT_SKIP_IMAGE_BUILD") != "1":
        args = argparse.Namespace(prefix="localhost", push=False, stage=None, no_cache=False, context=None,
                                  python_image=os.environ.get(PYTHON_IMAGE_ENV, PYTHON_IMAGE), quiet=True,
                                  json=True, tag=default_tag())
        build(args)
    return {stage: image_ref(stage, tag=default_tag()) for stage in STAGES}


@pytest.fixture(scope="session")
def report() -> list[str]:
    """Append lines to print at the end of the run."""
    return REPORT


def pytest_terminal_summary(terminalreporter):
    for line in REPORT:
        terminalreporter.write_line(line)
