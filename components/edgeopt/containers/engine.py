"""The container engine that `DOCKER_HOST` names (Docker, or podman's Docker-compatible API)."""

import os

from edgeopt.common.errors import EdgeoptError, first_line

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
# One API call hung once against podman; every client gets a timeout. Image builds and task log
# streams pass a long one (a pip step or a training epoch can print nothing for minutes).
API_TIMEOUT_S = 60
ENGINE_HINT = ("start Docker, or podman's Docker-compatible API: "
               "`podman system service --time=0 unix:///tmp/podman.sock &` then "
               "`export DOCKER_HOST=unix:///tmp/podman.sock` (scripts/ci-container-engine.sh sets podman up)")


class EngineUnavailable(EdgeoptError):
    """No container engine answers at DOCKER_HOST."""


def engine_address() -> str:
    """Where the docker SDK will look: DOCKER_HOST, or Docker's default socket."""
    return os.environ.get("DOCKER_HOST") or f"{DEFAULT_SOCKET} (DOCKER_HOST is not set)"


def connect(timeout: float | None = API_TIMEOUT_S):
    """A `docker.DockerClient` for the engine at DOCKER_HOST that answered a ping, or EngineUnavailable."""
    try:
        import docker
    except ImportError as exc:  # the `images` extra
        raise EngineUnavailable("the Python package `docker` is not installed",
                                "pip install 'edgeopt[images]' (or docker==7.2.0)") from exc
    try:
        client = docker.DockerClient.from_env(timeout=timeout)
        client.ping()
    except Exception as exc:  # DockerException, requests' ConnectionError, PermissionError, ...
        raise EngineUnavailable(f"no container engine is reachable at {engine_address()}: "
                                f"{first_line(exc)}", ENGINE_HINT) from exc
    return client


def engine_available() -> str | None:
    """None when an engine answers; else the reason it does not (for skipping tests)."""
    try:
        connect(timeout=10).close()
    except EngineUnavailable as exc:
        return exc.message
    return None


def engine_name(client) -> str:
    """'podman 4.3.1' or 'Docker 27.0.3', from the engine's version answer."""
    info = client.version()
    names = [c.get("Name", "") for c in info.get("Components", [])]
    product = "podman" if any("podman" in n.lower() for n in names) else "Docker"
    return f"{product} {info.get('Version', '?')}"

