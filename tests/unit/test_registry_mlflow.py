"""The MLflow model registry as a promote backend, against a real `mlflow server` (SQLite store) on
127.0.0.1: versions with their files as artifacts and their metrics as tags, reuse, failures that
leave nothing, gc of what a crash left, list/show/baseline on the command line, preflight."""

import hashlib
import json
import time
import uuid

import pytest
from mlflowserver import mlflow_server, prestart  # noqa: F401 (fixture)
from test_promote import ENTRY_FILES, bundle, failed, make_bundle, passed  # noqa: F401 (fixtures)

from edgeopt.cli import main
from edgeopt.common.errors import EdgeoptError
from edgeopt.promote.baseline import latest_promoted
from edgeopt.promote.core import check_registry, collect_garbage, list_entries, list_versions, promote, show_entry
from edgeopt.promote.registry import open_registry
from edgeopt.promote.registry_mlflow import COMPLETE, EXPERIMENT, MlflowRegistry

prestart()  # the server boots while the tests collected before these run


@pytest.fixture
def registry(mlflow_server: str) -> str:
    return "mlflow+" + mlflow_server


@pytest.fixture
def name() -> str:
    """A model name no other test uses on the shared server."""
    return f"m-{uuid.uuid4().hex[:10]}"


def client(mlflow_server: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)


def edgeopt_runs(mlflow_server: str, name: str) -> list:
    c = client(mlflow_server)
    experiment = c.get_experiment_by_name(EXPERIMENT)
    return [] if experiment is None else list(c.search_runs([experiment.experiment_id],
                                                            f"tags.`edgeopt.name` = '{name}'"))


def test_promote_registers_versions_with_files_tags_and_metrics(mlflow_server, registry, name, bundle, passed, tmp_path):
    first = promote(bundle, passed, registry, name)
    assert first == {"uri": f"{mlflow_server}/#/models/{name}/versions/1", "version": "v1", "name": name,
                     "files": ENTRY_FILES, "reused": False}
    assert promote(bundle, passed, registry, name) == {**first, "reused": True, "duplicate_of": "v1"}
    assert promote(bundle, passed, registry, name, allow_duplicate=True)["version"] == "v2"
    assert list_versions(registry, name) == ["v1", "v2"]

    c = client(mlflow_server)
    version = c.get_model_version(name, "1")
    assert version.tags[COMPLETE] == "true" and version.tags["edgeopt.passed"] == "true"
    assert version.tags["edgeopt.target"] == "cortex-m4f@80mhz" and version.tags["edgeopt.forced"] == "false"
    assert version.tags["edgeopt.metric.cortex-m4f_80mhz.latency_ms"] == "20.0"
    assert version.tags["edgeopt.metric.accuracy"] == "0.94"
    run = c.get_run(version.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["edgeopt.name"] == name
    assert run.data.metrics["accuracy"] == 0.94 and run.data.metrics["cortex-m4f_80mhz/latency_ms"] == 20.0

    meta = show_entry(registry, name, "1")
    assert meta["version"] == "v1" and meta["passed"] is True and meta["metrics"]["quality"] == {"accuracy": 0.94}
    listed = sorted(a.path for a in c.list_artifacts(version.run_id)) + \
        sorted(a.path for a in c.list_artifacts(version.run_id, "model"))
    assert listed == ["metadata.json", "model", "report.md", "verdict.json", "model/metrics.json", "model/model.json",
                      "model/model.tflite"]
    downloaded = c.download_artifacts(version.run_id, "", str(tmp_path))
    for rel, digest in meta["sha256"].items():
        assert hashlib.sha256((tmp_path / rel).read_bytes()).hexdigest() == digest
    assert (tmp_path / "model" / "model.tflite").read_bytes() == (bundle / "model.tflite").read_bytes()
    assert downloaded


def test_a_failed_promotion_leaves_no_version_and_no_run(mlflow_server, registry, name, bundle, passed, monkeypatch):
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    real = MlflowClient.set_model_version_tag

    def refuse_completion(self, model, version, key, value):
        if key == COMPLETE:
            raise MlflowException("INTERNAL_ERROR: the database is locked")
        return real(self, model, version, key, value)

    monkeypatch.setattr(MlflowClient, "set_model_version_tag", refuse_completion)
    with pytest.raises(EdgeoptError, match="answered INTERNAL_ERROR: INTERNAL_ERROR: the database is locked") as err:
        promote(bundle, passed, registry, name)
    assert "promote again" in err.value.hint
    assert list_versions(registry, name) == []
    assert list(client(mlflow_server).search_model_versions(f"name = '{name}'")) == []
    assert edgeopt_runs(mlflow_server, name) == []


def test_gc_removes_what_a_crash_left_and_never_a_complete_entry(mlflow_server, registry, name, bundle, passed,
                                                                 monkeypatch):
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    promote(bundle, passed, registry, name)
    monkeypatch.setattr(MlflowRegistry, "_discard", lambda *args: None)  # as if the process died
    real_create = MlflowClient.create_model_version
    crash = {"at": "complete"}

    def crashing_create(self, *args, **kwargs):
        if crash["at"] == "register":
            raise MlflowException("INTERNAL_ERROR: killed")
        return real_create(self, *args, **kwargs)

    def crashing_tag(self, model, version, key, value):
        raise MlflowException("INTERNAL_ERROR: killed")

    monkeypatch.setattr(MlflowClient, "create_model_version", crashing_create)
    monkeypatch.setattr(MlflowClient, "set_model_version_tag", crashing_tag)
    with pytest.raises(EdgeoptError):
        promote(make_bundle(bundle.parent / "second"), passed, registry, name)  # v2 registered, never completed
    crash["at"] = "register"
    with pytest.raises(EdgeoptError):
        promote(make_bundle(bundle.parent / "third"), passed, registry, name)  # a run and no version
    monkeypatch.undo()

    assert [e["version"] for e in list_entries(registry, name)] == ["v1"]
    assert collect_garbage(registry, name=name)["removed"] == []  # within the grace period
    dry = collect_garbage(registry, older_than_hours=0, dry_run=True, name=name)
    # v2 holds every file but was never tagged complete; the run never got metadata.json
    assert {r["entry"].split()[0]: r["objects"] for r in dry["removed"]} == {"v2": len(ENTRY_FILES),
                                                                             "run": len(ENTRY_FILES) - 1}
    done = collect_garbage(registry, older_than_hours=0, name=name)
    assert len(done["removed"]) == 2 and done["kept"] == []
    assert [v.version for v in client(mlflow_server).search_model_versions(f"name = '{name}'")] == ["1"]
    assert len(edgeopt_runs(mlflow_server, name)) == 1
    assert list_versions(registry, name) == ["v1"]


def test_the_registry_baseline_is_the_latest_passed_version(registry, name, bundle, passed, failed):
    first = latest_promoted(registry, name)
    assert first["version"] is None and "this is its first promotion" in first["note"]
    promote(bundle, passed, registry, name)
    promote(make_bundle(bundle.parent / "forced"), failed, registry, name, force=True)
    doc = latest_promoted(registry, name)
    assert doc["version"] == "v1" and doc["note"] == ""
    assert doc["quality"] == {"accuracy": 0.94}
    assert doc["targets"][0]["target"] == "cortex-m4f@80mhz" and doc["targets"][0]["metrics"]["latency_ms"] == 20.0


def test_registry_commands_on_mlflow(registry, name, bundle, passed, tmp_path, capsys):
    assert main(["registry", "baseline", "--registry", registry, name, "--output", str(tmp_path / "rb")]) == 0
    assert json.loads(capsys.readouterr().out)["version"] is None
    assert json.loads((tmp_path / "rb" / "metrics.json").read_text())["source"] == "registry"
    assert main(["promote", "--model", str(bundle), "--verdict", str(passed), "--registry", registry,
                 "--name", name]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == "v1"
    assert main(["registry", "list", "--registry", registry, "--name", name]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["name", "version", "created", "passed", "target", "forced"]
    assert table[2].split()[:2] == [name, "v1"]
    for version in ("v1", "1", "latest"):
        assert main(["registry", "show", "--registry", registry, name, version]) == 0
        assert json.loads(capsys.readouterr().out)["version"] == "v1"
    assert main(["registry", "show", "--registry", registry, name, "v7"]) == 2
    assert f"has no complete entry {name}/v7" in capsys.readouterr().err
    assert main(["registry", "baseline", "--registry", registry, name]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == "v1"


def test_preflight_answers_in_seconds(registry, name):
    check_registry(registry, name)
    check_registry(registry.removeprefix("mlflow+"), name)  # MLflow's own tracking URI form
    started = time.monotonic()
    with pytest.raises(EdgeoptError, match="cannot reach the MLflow server at http://127.0.0.1:9") as err:
        check_registry("mlflow+http://127.0.0.1:9", name)
    assert time.monotonic() - started < 15 and "mlflow server" in err.value.hint


@pytest.mark.parametrize("uri, message", [
    ("mlflow+http://alice:secret@127.0.0.1:5000", "the URI holds credentials"),
    ("mlflow+http://", "names no host"),
])
def test_uris_mlflow_refuses(uri, message):
    with pytest.raises(EdgeoptError, match=message) as err:
        open_registry(uri)
    assert "secret" not in str(err.value)
    if "credentials" in message:
        assert "MLFLOW_TRACKING_USERNAME" in err.value.hint
