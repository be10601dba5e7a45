"""`edgeopt submit`: run a pipeline on Kubeflow Pipelines through `kfp.Client`.

The token comes from the environment (KF_PIPELINES_TOKEN, or KFP_TOKEN), never from the command
line, and is never printed. Prints the run's URL; with --wait, the final state, and exits 0 only
when the run succeeded.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from edgeopt.common.errors import EdgeoptError
from edgeopt.containers.images import default_tag

TOKEN_ENVS = ("KF_PIPELINES_TOKEN", "KFP_TOKEN")
HOST_ENV = "KF_PIPELINES_ENDPOINT"
UI_ENV = "KF_PIPELINES_UI_ENDPOINT"
FINAL_STATES = {"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED", "CANCELLED", "ERROR"}
POLL_S = 5.0


class RunNotSucceeded(EdgeoptError):
    """The run ended in a state other than SUCCEEDED, or did not end in time."""

    exit_code = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from edgeopt.cluster.compile import PIPELINES, S3_SECRET
    from edgeopt.containers.images import DEFAULT_PREFIX

    parser.add_argument("--host", default=os.environ.get(HOST_ENV),
                        help=f"KFP API endpoint, e.g. http://localhost:8080 (default ${HOST_ENV})")
    parser.add_argument("--pipeline", required=True, metavar="NAME",
                        help=f"a pipeline name ({', '.join(sorted(PIPELINES))}; compiled now) "
                             "or the path of a compiled package (.yaml)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="pipeline argument (repeatable); KEY=@FILE reads the value from FILE "
                             "(for example targets=@manifests/base/targets/cortex-m4f-80mhz.yaml)")
    parser.add_argument("--experiment", default=None, help="experiment name (default: Default)")
    parser.add_argument("--run-name", help="run name (default: the pipeline and the time)")
    parser.add_argument("--wait", action="store_true", help="wait for the run to end; exit 0 only if it succeeded")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds --wait waits at most (default 3600)")
    parser.add_argument("--service-account", help="Kubernetes service account of the run's pods "
                                                  "(manifests/base creates edgeopt-runner)")
    parser.add_argument("--prefix", default=os.environ.get("EDGEOPT_IMAGE_PREFIX", DEFAULT_PREFIX),
                        metavar="REGISTRY/ORG", help="image prefix when compiling NAME (default localhost)")
    parser.add_argument("--s3-secret", default=S3_SECRET, metavar="NAME",
                        help=f"S3 secret when compiling NAME (default {S3_SECRET}; see edgeopt compile)")
    parser.add_argument("--no-s3-secret", dest="s3_secret", action="store_const", const=None,
                        help="compile NAME without the S3 secret")
    parser.add_argument("--tag", help="image tag when compiling NAME (default: as `edgeopt images build` tags it)")
    parser.add_argument("--no-cache", dest="enable_caching", action="store_false", default=None,
                        help="run every task afresh: no step is taken from KFP's cache for this run")


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """KEY=VALUE strings -> arguments; VALUE is YAML-typed (true, 0.5, 10), a VALUE starting with [ or {
    is a JSON/YAML list or mapping (the sweep's recipes), @FILE reads FILE as text."""
    import yaml

    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise EdgeoptError(f"--param {pair!r} is not KEY=VALUE", "write it as --param model_name=digits")
        if value.startswith("@"):
            path = Path(value[1:])
            if not path.is_file():
                raise EdgeoptError(f"--param {key}=@{path}: no such file", "pass the path of a readable file")
            params[key.strip()] = path.read_text()
            continue
        try:
            parsed = yaml.safe_load(value) if value else ""
        except yaml.YAMLError:
            parsed = value
        if value.lstrip().startswith(("[", "{")):  # a list or mapping (the sweep's recipes), in flow style
            if not isinstance(parsed, (list, dict)):
                raise EdgeoptError(f"--param {key.strip()}: {value[:40]!r} is not a JSON/YAML list or mapping",
                                   "quote it for the shell, e.g. --param 'recipes=[{\"distill\": 0.5}]'")
            params[key.strip()] = parsed
            continue
        params[key.strip()] = parsed if isinstance(parsed, (bool, int, float)) else value
    return params


def token_from_env() -> str | None:
    for name in TOKEN_ENVS:
        if os.environ.get(name):
            return os.environ[name]
    return None


def run_url(host: str, run_id: str) -> str:
    ui = os.environ.get(UI_ENV) or host
    ui = ui if ui.startswith(("http://", "https://")) else f"http://{ui}"
    return f"{ui.rstrip('/')}/#/runs/details/{run_id}"


def run(args: argparse.Namespace) -> dict[str, Any]:
    if not args.host:
        raise EdgeoptError("no Kubeflow Pipelines endpoint given",
                           f"pass --host http://HOST:PORT or set {HOST_ENV} (after `kubectl port-forward "
                           "-n kubeflow svc/ml-pipeline-ui 8080:80`, that is http://localhost:8080)")
    params = parse_params(args.param)
    with tempfile.TemporaryDirectory() as tmp:
        package = _package(args, Path(tmp))
        try:
            client = _client(args.host)
        except Exception as exc:  # kfp.Client checks /healthz: urllib3 MaxRetryError, ApiException
            raise EdgeoptError(f"cannot reach Kubeflow Pipelines at {args.host}: {_short(exc)}",
                               _api_hint(exc)) from exc
        try:
            result = client.create_run_from_pipeline_package(
                str(package), arguments=params, run_name=args.run_name, experiment_name=args.experiment,
                service_account=args.service_account, enable_caching=args.enable_caching)
        except Exception as exc:  # kfp_server_api.ApiException, urllib3 errors
            raise EdgeoptError(f"Kubeflow Pipelines at {args.host} refused the run: {_short(exc)}",
                               _api_hint(exc)) from exc
    run_id = result.run_id
    url = run_url(args.host, run_id)
    print(f"run {run_id}: {url}", flush=True)
    out: dict[str, Any] = {"run_id": run_id, "url": url, "pipeline": args.pipeline}
    if not args.wait:
        return out
    state = wait_for_run(client, run_id, args.timeout)
    code = 0 if state == "SUCCEEDED" else 1
    print(f"run {run_id} ended {state} (exit code {code})", flush=True)
    out.update(state=state, exit_code=code)
    if code:
        print(json.dumps(out, indent=2, sort_keys=True))
        raise RunNotSucceeded(f"run {run_id} ended {state}", f"open {url} for the failing task's log")
    return out


def wait_for_run(client, run_id: str, timeout: float, poll: float = POLL_S) -> str:
    """Poll the run until it reaches a final state; return that state (upper case)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            state = str(client.get_run(run_id).state or "PENDING").upper()
        except Exception as exc:
            raise EdgeoptError(f"cannot read run {run_id}: {_short(exc)}", _api_hint(exc)) from exc
        if state != last:
            print(f"    {time.strftime('%H:%M:%S')} {state}", file=sys.stderr, flush=True)
            last = state
        if state in FINAL_STATES:
            return state
        if time.monotonic() >= deadline:
            raise RunNotSucceeded(f"run {run_id} is still {state} after {timeout:.0f} s",
                                  "raise --timeout, or follow it in the UI")
        time.sleep(poll)


def _package(args: argparse.Namespace, tmp: Path) -> Path:
    from edgeopt.cluster.compile import PIPELINES, compile_package

    if args.pipeline in PIPELINES:
        return compile_package(args.pipeline, tmp / f"{args.pipeline}.yaml", prefix=args.prefix,
                               s3_secret=args.s3_secret, tag=args.tag or default_tag())
    path = Path(args.pipeline)
    if path.is_file():
        return path
    raise EdgeoptError(f"--pipeline {args.pipeline}: neither a pipeline name nor a file",
                       f"pass one of {', '.join(sorted(PIPELINES))} or a package written by `edgeopt compile`")


def _client(host: str):
    import warnings

    import kfp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return kfp.Client(host=host, existing_token=token_from_env())


def _short(exc: BaseException) -> str:
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None)
    if status:
        return f"HTTP {status} {reason or ''}".strip()
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _api_hint(exc: BaseException) -> str:
    if getattr(exc, "status", None) in (401, 403):
        return f"set a valid token in {TOKEN_ENVS[0]} (it is read from the environment only)"
    return "check --host (the KFP UI or API address, e.g. http://localhost:8080 after port-forwarding)"
