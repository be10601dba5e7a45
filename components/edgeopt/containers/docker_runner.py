"""`kfp.local.DockerRunner` for edgeopt: each task in its stage image, on Docker or podman.

`docker_runner()` returns a configured `kfp.local.DockerRunner` and replaces KFP's
`kfp.local.docker_task_handler.run_docker_container` with `run_container`, which

- runs the container WITHOUT auto-remove, streams its log, reads the exit code with `wait()` and
  only then removes it. podman 4.3 forgets an auto-removed container at once, so KFP's own
  function (always auto-remove) reports a failed task as SUCCESS and now and then crashes with
  `500 ... no such container`. On Docker the result is the same as KFP's.
- bind-mounts, at the same path, every local path the task gets as a string parameter (the
  pipeline's model_uri, data_uri and registry): read-only, except the `registry` folder, which
  is created when missing. KFP itself mounts only the pipeline root.
- runs the task as you: with your uid:gid when you are not root, so that the files it writes are
  yours; when you are root (CI), as the image's own non-root user (uid 10001), to which the
  folders it must write (the pipeline root, the registry) are handed over.
- passes on the S3 settings of your environment (AWS_*, EDGEOPT_S3_ENDPOINT_URL), by name.

Only `kfp.local` in this process is affected; nothing is changed on disk.
"""

import codecs
import json
import os
from pathlib import Path
from typing import Any

IMAGE_UID = 10001  # USER of images/base/Dockerfile
WRITABLE_PARAMETERS = ("registry",)  # string parameters naming a folder the task writes into
FORWARDED_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION",
                 "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "EDGEOPT_S3_ENDPOINT_URL")
LOG_TIMEOUT_S = 3600  # longest silence of a task's log before we stop following it and just wait


def docker_runner(require_images: bool = True, **container_run_args: Any):
    """A `kfp.local.DockerRunner` with edgeopt's container handling installed (see the module doc).

    Raises EngineUnavailable (exit code 2, with a hint) when no engine answers at DOCKER_HOST, and
    EdgeoptError when `require_images` and a stage image is missing: both before any task runs.
    """
    from kfp import local
    from kfp.local import docker_task_handler

    from edgeopt.containers.engine import connect

    client = connect(timeout=30)
    try:
        if require_images:
            check_images(client)
    finally:
        client.close()
    docker_task_handler.run_docker_container = run_container
    environment = {name: os.environ[name] for name in FORWARDED_ENV if os.environ.get(name)}
    environment.update(container_run_args.pop("environment", {}) or {})
    if environment:
        container_run_args["environment"] = environment
    return local.DockerRunner(**container_run_args)


def check_images(client) -> None:
    """EdgeoptError naming the stage images the engine does not have."""
    import docker

    from edgeopt.common.errors import EdgeoptError
    from edgeopt.containers.images import STAGES, default_tag, image_ref

    missing = []
    for stage in STAGES:
        ref = image_ref(stage, tag=default_tag())
        try:
            client.images.get(ref)
        except docker.errors.ImageNotFound:
            missing.append(ref)
    if missing:
        raise EdgeoptError(f"{len(missing)} stage image(s) are not built: {', '.join(missing)}",
                           "build them first: `edgeopt images build` (the same engine, DOCKER_HOST)")


def run_container(client, image: str, command: list[str], volumes: dict[str, Any], **run_args: Any) -> int:
    """Drop-in for `kfp.local.docker_task_handler.run_docker_container`; returns the exit code."""
    import docker
    from kfp.local.docker_task_handler import add_latest_tag_if_not_present

    image = add_latest_tag_if_not_present(image)
    _ensure_image(client, image)
    rootless = _rootless(client)
    volumes = dict(volumes)
    writable = [Path(p) for p in volumes]  # the pipeline root (and a configured workspace)
    for path, mode in parameter_mounts(command).items():
        volumes.setdefault(str(path), {"bind": str(path), "mode": mode})
        if mode == "rw":
            writable.append(path)
    run_args = dict(run_args)
    run_args.pop("auto_remove", None)
    run_args.pop("remove", None)
    if "user" not in run_args:
        user, env = task_user(rootless)
        if user:
            run_args["user"] = user
        if env:
            run_args["environment"] = {**env, **(run_args.get("environment") or {})}
    if os.getuid() == 0 and not rootless and not str(run_args.get("user", "")).startswith("0"):
        for path in writable:
            hand_over(path)
    container = client.containers.run(image=image, command=command, detach=True, stdout=True, stderr=True,
                                      volumes=volumes, auto_remove=False, **run_args)
    try:
        _stream_logs(container)
        return int(container.wait()["StatusCode"])
    finally:
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass


def parameter_mounts(command: list[str]) -> dict[Path, str]:
    """{host path: 'ro'|'rw'} for the local paths among the task's string parameters.

    An existing absolute path is mounted read-only; a WRITABLE_PARAMETERS folder read-write,
    created first when missing. URIs (s3://...), relative paths and multi-line text are left alone.
    """
    mounts: dict[Path, str] = {}
    for name, value in _string_parameters(command).items():
        if not value.startswith("/") or "\n" in value or len(value) > 4096:
            continue
        path = Path(value)
        if name in WRITABLE_PARAMETERS:
            path.mkdir(parents=True, exist_ok=True)
            mounts[path] = "rw"
        elif path.exists():
            mounts.setdefault(path, "ro")
    return mounts


def task_user(rootless: bool) -> tuple[str | None, dict[str, str]]:
    """(`user` for containers.run or None for the image's own, extra environment)."""
    if rootless:  # container root is you on the host, and nothing more
        return "0:0", {}
    uid = os.getuid()
    if uid == 0:
        return None, {}
    return f"{uid}:{os.getgid()}", {"HOME": "/tmp"}  # your uid has no home in the image


def hand_over(path: Path) -> None:
    """Let the image's user write into `path` (as root: give it the folder itself, not its contents)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    if st.st_uid != IMAGE_UID and path.is_dir():
        os.chown(path, IMAGE_UID, IMAGE_UID)


def _string_parameters(command: list[str]) -> dict[str, str]:
    try:
        raw = command[command.index("--executor_input") + 1]
        values = json.loads(raw)["inputs"].get("parameterValues", {})
    except (ValueError, IndexError, KeyError, TypeError):
        return {}
    return {k: v for k, v in values.items() if isinstance(v, str)}


def _ensure_image(client, image: str) -> None:
    import docker

    try:
        client.images.get(image)
        print(f"Found image {image!r}\n")
    except docker.errors.ImageNotFound:
        print(f"Pulling image {image!r}")
        try:
            client.images.pull(image)
        except docker.errors.APIError as exc:
            from edgeopt.common.errors import EdgeoptError

            raise EdgeoptError(f"image {image} is neither here nor pullable: {exc.explanation or exc}",
                               "build the images first: `edgeopt images build`") from exc
        print("Image pull complete\n")


def _rootless(client) -> bool:
    try:
        options = client.info().get("SecurityOptions") or []
    except Exception:
        return False
    return any("rootless" in str(o) for o in options)


def _stream_logs(container) -> None:
    """Print the container's output as it comes; give up following after LOG_TIMEOUT_S of silence."""
    import requests

    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    api = container.client.api
    saved, api.timeout = api.timeout, LOG_TIMEOUT_S
    try:
        for chunk in container.logs(stream=True, follow=True):
            print(decoder.decode(chunk), end="", flush=True)
    except (requests.exceptions.ConnectionError, requests.exceptions.ReadTimeout):
        print(f"\n[edgeopt] stopped following the task's log after {LOG_TIMEOUT_S} s of silence; waiting for it")
    finally:
        api.timeout = saved
        print(decoder.decode(b"", final=True), end="")
