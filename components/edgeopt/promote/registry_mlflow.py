"""A registry in MLflow's model registry (`MlflowRegistry`), reached with MLflow's own client.

Registry URIs: `mlflow+http://HOST:PORT[/PATH]`, `mlflow+https://...`, or MLflow's tracking URI form
`http(s)://HOST:PORT[/PATH]`. Credentials come only from the environment, where MLflow's client
reads them (MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN); a URI
holding them is refused, so that they never reach a log or an entry.

An entry `vN` is version N of the registered model `<name>` plus the run that holds its files,
in the experiment `edgeopt-registry`:

    run artifacts   model/ (the bundle), verdict.json, report.md, metadata.json
    run             tag edgeopt.name; metrics: the verdict's quality metrics by name and each
                    device's as `<device>/<metric>` (characters MLflow refuses in keys become `_`)
    model version   source: the run's artifacts; tags edgeopt.run, edgeopt.passed, edgeopt.forced,
                    edgeopt.target, edgeopt.created, edgeopt.content_sha256, edgeopt.verdict_sha256,
                    edgeopt.metric.<metric> (and .<device>.<metric>), and edgeopt.complete = true last

MLflow numbers the versions, one writer per number. An entry counts only once its version carries
`edgeopt.complete`. A failed promotion deletes its version and its run; what a crash leaves (a
version without edgeopt.complete, or a run no version names) is `abandoned()`, for gc.
"""

import contextlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from edgeopt.common.errors import EdgeoptError, first_line
from edgeopt.promote.registry import (METADATA_FILE, NAME_RE, RETRY_HINT, Abandoned, Contents, parse_metadata,
                                      write_file)

EXPERIMENT = "edgeopt-registry"
COMPLETE = "edgeopt.complete"
RUN_TAG = "edgeopt.run"
NAME_TAG = "edgeopt.name"
META_TAGS = ("passed", "forced", "target", "created", "content_sha256", "verdict_sha256", "edgeopt_version")
URI_RE = re.compile(r"(mlflow\+)?(https?)://(.*)", re.IGNORECASE)
KEY_UNSAFE = re.compile(r"[^\w\-./ :]")
# MLflow's client settings unless the environment sets them: fail in seconds, print nothing to stdout
CLIENT_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
              "MLFLOW_HTTP_REQUEST_TIMEOUT": "60", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
              "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
PREFLIGHT_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
CREDENTIALS_HINT = ("set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN, for a "
                    "server that asks for them")


def is_mlflow(registry: str) -> bool:
    """Whether `registry` names an MLflow tracking server."""
    return bool(URI_RE.match(registry.strip()))


class MlflowRegistry:
    """A registry in the model registry of the MLflow tracking server at `uri`."""

    def __init__(self, uri: str, preflight: bool = False) -> None:
        """EdgeoptError at once for a URI that is not an MLflow server's or that holds credentials;
        `preflight` makes every request fail within seconds, without retries."""
        match = URI_RE.match(uri.strip())
        if not match:
            raise EdgeoptError(f"registry {uri} is not an MLflow tracking server URI",
                               "pass mlflow+http://HOST:PORT or mlflow+https://HOST[:PORT][/PATH]")
        parts = urlsplit(f"{match.group(2).lower()}://{match.group(3)}")
        if parts.username or parts.password:
            raise EdgeoptError(f"registry {parts.scheme}://...@{parts.hostname}: the URI holds credentials",
                               f"remove them from the URI and {CREDENTIALS_HINT}")
        if not parts.hostname:
            raise EdgeoptError(f"registry {uri} names no host", "pass mlflow+http://HOST:PORT")
        self.uri = uri.strip()
        self.tracking_uri = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self.env = {**CLIENT_ENV, **(PREFLIGHT_ENV if preflight else {})}
        self.forced = set(PREFLIGHT_ENV) if preflight else set()

    def names(self) -> list[str]:
        """Registered model names, sorted."""
        with self._client() as client:
            models = _every(client.search_registered_models, max_results=1000)
        return sorted(m.name for m in models if NAME_RE.fullmatch(m.name))

    def versions(self, name: str) -> list[str]:
        """Complete versions of `name`, oldest first."""
        with self._client() as client:
            found = self._model_versions(client, name)
        return [f"v{v.version}" for v in sorted(found, key=lambda v: int(v.version)) if v.tags.get(COMPLETE) == "true"]

    def entry_uri(self, name: str, version: str) -> str:
        """The entry's page in the MLflow UI."""
        return f"{self.tracking_uri}/#/models/{name}/versions/{version.removeprefix('v')}"

    def metadata(self, name: str, version: str) -> dict[str, Any] | None:
        """The metadata of a complete entry, None if there is no such entry."""
        number = version.removeprefix("v")
        if not number.isdigit():
            return None
        with self._client() as client:
            model_version = self._model_version(client, name, number)
            if model_version is None or model_version.tags.get(COMPLETE) != "true":
                return None
            with tempfile.TemporaryDirectory() as tmp:
                path = client.download_artifacts(model_version.run_id, METADATA_FILE, tmp)
                data = Path(path).read_bytes()
        return parse_metadata(data, self.entry_uri(name, version))

    def publish(self, name: str, contents: Contents, metadata: Callable[[str], bytes]) -> tuple[str, str]:
        """Log the files as a run's artifacts, register them as the next version of `name` (tagged
        from the metadata, whose other fields do not depend on the version), then tag the version
        complete; return (UI URI, version). A failure deletes the version and the run."""
        meta = json.loads(metadata(""))
        with self._client() as client, tempfile.TemporaryDirectory() as tmp:
            for rel, src in contents.items():
                write_file(Path(tmp, "entry", rel), src)
            _ignore_existing(lambda: client.create_registered_model(name, description="promoted by edgeopt"))
            run = client.create_run(self._experiment(client), tags={NAME_TAG: name}, run_name=f"promote {name}")
            run_id, number = run.info.run_id, None
            try:
                client.log_artifacts(run_id, str(Path(tmp, "entry")))
                number = client.create_model_version(name, source=run.info.artifact_uri, run_id=run_id,
                                                     tags={RUN_TAG: run_id, **_version_tags(meta)}).version
                version = f"v{number}"
                Path(tmp, METADATA_FILE).write_bytes(metadata(version))
                client.log_artifact(run_id, str(Path(tmp, METADATA_FILE)))
                _log_metrics(client, run_id, meta.get("metrics") or {})
                client.update_run(run_id, status="FINISHED")
                client.set_model_version_tag(name, number, COMPLETE, "true")
            except BaseException:
                self._discard(client, name, number, run_id)
                raise
        return self.entry_uri(name, version), version

    def abandoned(self, name: str | None = None) -> list[Abandoned]:
        """Versions without edgeopt.complete, and edgeopt runs no version names, of `name` or of all."""
        found = []
        with self._client() as client:
            experiment = client.get_experiment_by_name(EXPERIMENT)
            for model in [name] if name else self.names():
                versions = self._model_versions(client, model)
                named = {v.tags.get(RUN_TAG) for v in versions}
                for v in versions:
                    if RUN_TAG in v.tags and v.tags.get(COMPLETE) != "true":
                        found.append(Abandoned(model, f"v{v.version}", self.entry_uri(model, f"v{v.version}"),
                                               _artifact_count(client, v.tags[RUN_TAG]),
                                               _when(v.last_updated_timestamp)))
                runs = [] if experiment is None else _every(
                    client.search_runs, experiment_ids=[experiment.experiment_id],
                    filter_string=f"tags.`{NAME_TAG}` = '{model}'", max_results=1000)
                for run in runs:
                    if run.info.run_id not in named:
                        found.append(Abandoned(model, f"run {run.info.run_id}", self._run_uri(run),
                                               _artifact_count(client, run.info.run_id),
                                               _when(run.info.end_time or run.info.start_time)))
        return found

    def remove(self, item: Abandoned) -> bool:
        """Delete an abandoned version and its run, or an abandoned run; False (nothing deleted) if the
        version was completed, or a version came to name the run, meanwhile."""
        with self._client() as client:
            if item.entry.startswith("run "):
                run_id = item.entry.removeprefix("run ")
                if any(v.tags.get(RUN_TAG) == run_id for v in self._model_versions(client, item.name)):
                    return False
                client.delete_run(run_id)
                return True
            model_version = self._model_version(client, item.name, item.entry.removeprefix("v"))
            if model_version is None:
                return True
            if model_version.tags.get(COMPLETE) == "true":
                return False
            client.delete_model_version(item.name, model_version.version)
            with contextlib.suppress(Exception):  # the run may be gone already
                client.delete_run(model_version.tags[RUN_TAG])
            return True

    def check(self, name: str) -> None:
        """EdgeoptError unless the server answers and lets these credentials read its registry."""
        with self._client() as client:
            client.search_registered_models(max_results=1)
            client.get_experiment_by_name(EXPERIMENT)

    @contextlib.contextmanager
    def _client(self) -> Iterator[Any]:
        """MLflow's client for the server, with this registry's settings in the environment (the
        user's own settings win, but not over a preflight's time limits); MLflow's errors become
        EdgeoptError."""
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient
        from requests import RequestException

        saved = {k: os.environ.get(k) for k in self.env}
        logger = logging.getLogger("mlflow")
        level = logger.level
        for key, value in self.env.items():
            if key in self.forced or saved[key] is None:
                os.environ[key] = value
        logger.setLevel(max(level, logging.WARNING))
        try:
            yield MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        except (MlflowException, RequestException) as exc:
            raise self._error(exc) from exc
        finally:
            logger.setLevel(level)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def _error(self, exc: Exception) -> EdgeoptError:
        code = str(getattr(exc, "error_code", "") or "")
        text = first_line(exc)
        if code in ("UNAUTHENTICATED", "PERMISSION_DENIED") or "401" in code or "403" in code:
            return EdgeoptError(f"MLflow at {self.tracking_uri} refused these credentials ({text})", CREDENTIALS_HINT)
        unreachable = any(s in text for s in ("Max retries", "onnection", "timeout"))
        if not code or (code == "INTERNAL_ERROR" and unreachable):
            return EdgeoptError(f"cannot reach the MLflow server at {self.tracking_uri}: {text}",
                                "start it (e.g. `mlflow server --host 127.0.0.1 --port 5000`) or pass the URI it "
                                "answers on; nothing was published")
        return EdgeoptError(f"MLflow at {self.tracking_uri} answered {code or 'an error'}: {text}",
                            "see the server's log; " + RETRY_HINT)

    def _experiment(self, client: Any) -> str:
        experiment = client.get_experiment_by_name(EXPERIMENT)
        if experiment is None:
            _ignore_existing(lambda: client.create_experiment(EXPERIMENT))
            experiment = client.get_experiment_by_name(EXPERIMENT)
        if experiment.lifecycle_stage != "active":
            raise EdgeoptError(f"the MLflow experiment {EXPERIMENT} at {self.tracking_uri} is deleted",
                               f"restore it (`mlflow experiments restore --experiment-id {experiment.experiment_id}`)"
                               " or remove it for good; edgeopt keeps its promotions' runs there")
        return experiment.experiment_id

    def _model_versions(self, client: Any, name: str) -> list[Any]:
        return _every(client.search_model_versions, filter_string=f"name = '{name}'", max_results=1000)

    def _model_version(self, client: Any, name: str, number: str) -> Any:
        try:
            return client.get_model_version(name, number)
        except Exception as exc:  # MlflowException: only a missing version is an answer here
            if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise

    def _discard(self, client: Any, name: str, number: str | None, run_id: str) -> None:
        """Delete what a failed promotion registered; `edgeopt registry gc` removes what this cannot."""
        with contextlib.suppress(Exception):
            if number is not None:
                client.delete_model_version(name, number)
            client.delete_run(run_id)

    def _run_uri(self, run: Any) -> str:
        return f"{self.tracking_uri}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"


def _every(search: Callable[..., Any], **kwargs: Any) -> list[Any]:
    """Every result of a paged MLflow search."""
    out, token = [], None
    while True:
        page = search(**kwargs, page_token=token)
        out += list(page)
        token = page.token
        if not token:
            return out


def _ignore_existing(create: Callable[[], Any]) -> None:
    """Run `create`; another process having created the same thing first is fine."""
    try:
        create()
    except Exception as exc:  # MlflowException
        if getattr(exc, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
            raise


def _version_tags(meta: dict[str, Any]) -> dict[str, str]:
    tags = {f"edgeopt.{k}": str(meta[k]).lower() if isinstance(meta[k], bool) else str(meta[k])
            for k in META_TAGS if meta.get(k) is not None}
    for key, value in _flat_metrics(meta.get("metrics") or {}).items():
        tags[f"edgeopt.metric.{key.replace('/', '.')}"] = repr(value)
    return tags


def _log_metrics(client: Any, run_id: str, metrics: dict[str, Any]) -> None:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    flat = _flat_metrics(metrics)
    if flat:
        client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in flat.items()])


def _flat_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The verdict's measured metrics as MLflow keys: `accuracy`, `<device>/latency_ms`."""
    flat = {k: float(v) for k, v in (metrics.get("quality") or {}).items() if isinstance(v, (int, float))}
    for item in metrics.get("targets") or []:
        device = KEY_UNSAFE.sub("_", str(item.get("target")))
        flat.update({f"{device}/{k}": float(v) for k, v in (item.get("metrics") or {}).items()
                     if isinstance(v, (int, float))})
    return {KEY_UNSAFE.sub("_", k): v for k, v in flat.items()}


def _artifact_count(client: Any, run_id: str, path: str | None = None) -> int:
    try:
        items = client.list_artifacts(run_id, path)
    except Exception:  # the run or its artifacts are gone already
        return 0
    return sum(_artifact_count(client, run_id, i.path) if i.is_dir else 1 for i in items)


def _when(millis: int | None) -> datetime:
    return datetime.fromtimestamp((millis or 0) / 1000, timezone.utc)
