"""`edgeopt compile` (image prefix, S3 secret platform spec) and `edgeopt submit` against a local
stand-in of the Kubeflow Pipelines v2beta1 API (no cluster needed)."""

import http.server
import json
import threading

import pytest
import yaml

from edgeopt.cli import main
from edgeopt.common.errors import EdgeoptError
from edgeopt.cluster.compile import compile_package, load_package
from edgeopt.containers.images import IMAGE_TAG, STAGES, default_tag, image_for, image_ref
from edgeopt.pipelines.cluster import S3_SECRET_KEYS
from edgeopt.cluster.submit import parse_params


def images_of(spec: dict) -> dict[str, str]:
    return {name: ex["container"]["image"] for name, ex in spec["deploymentSpec"]["executors"].items()}


@pytest.fixture(scope="module")
def default_package(tmp_path_factory):
    return compile_package("edge-optimize", tmp_path_factory.mktemp("c") / "edge_optimize.yaml", s3_secret=None,
                           tag=IMAGE_TAG)


def test_compile_names_every_stage_image(tmp_path, capsys):
    assert main(["compile", "--output", str(tmp_path), "--prefix", "registry.example.com/ml/"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["packages"]) == {"edge-optimize", "edge-sweep"}
    images = {}
    for package in result["packages"].values():
        spec, platform = load_package(package)
        images.update(images_of(spec))
        assert platform is not None
    assert {i.split("/edgeopt-")[1] for i in images.values()} == {f"{s}:{result['tag']}" for s in STAGES}
    assert all(i.startswith("registry.example.com/ml/edgeopt-") for i in images.values())
    # a second run into the same folder replaces the package
    assert main(["compile", "--output", str(tmp_path)]) == 0


def test_prefix_changes_nothing_but_the_images(tmp_path, default_package):
    other = compile_package("edge-optimize", tmp_path / "p.yaml", prefix="ghcr.io/acme", s3_secret=None,
                            tag=IMAGE_TAG)
    a, _ = load_package(default_package)
    b, _ = load_package(other)
    for spec in (a, b):
        for ex in spec["deploymentSpec"]["executors"].values():
            ex["container"]["image"] = ex["container"]["image"].split("/edgeopt-")[1]
    assert a == b


def test_default_prefix_matches_the_components(default_package):
    spec, platform = load_package(default_package)
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert not any("secretAsEnv" in ex for ex in executors.values())
    for stage in STAGES:
        if stage != "sweep":  # the sweep's own image is used by edge-sweep only
            assert images_of(spec)[f"exec-{stage}"] == image_for(stage)


def test_s3_secret_reaches_only_the_tasks_that_use_s3(tmp_path):
    path = compile_package("edge-optimize", tmp_path / "s.yaml", s3_secret="my-s3")
    text = path.read_text()
    assert "&id" not in text and "*id" not in text  # plain YAML, no anchors
    _, platform = load_package(path)
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    with_secret = {name: ex for name, ex in executors.items() if "secretAsEnv" in ex}
    assert set(with_secret) == {"exec-ingest", "exec-registry-baseline", "exec-promote"}  # the S3 readers and writers
    for ex in with_secret.values():
        (entry,) = ex["secretAsEnv"]
        assert entry["secretName"] == "my-s3"
        assert [k["envVar"] for k in entry["keyToEnv"]] == list(S3_SECRET_KEYS)


def test_tag_names_every_image(tmp_path):
    spec, _ = load_package(compile_package("edge-optimize", tmp_path / "t.yaml", s3_secret=None, tag="0.1.0-gabc"))
    assert all(image.endswith(":0.1.0-gabc") for image in images_of(spec).values())


def test_parse_params(tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("target: cortex-m4f@80mhz\n")
    params = parse_params(["distill_enabled=true", "target_sparsity=0.6", "prune_epochs=3",
                           "model_name=digits", "registry=s3://b/r", f"targets=@{f}", "model_uri=0123"])
    assert params == {"distill_enabled": True, "target_sparsity": 0.6, "prune_epochs": 3,
                      "model_name": "digits", "registry": "s3://b/r", "targets": "target: cortex-m4f@80mhz\n",
                      "model_uri": 83}  # YAML reads 0123 as octal: quote such values in YAML-typed params
    with pytest.raises(EdgeoptError, match="KEY=VALUE"):
        parse_params(["novalue"])
    with pytest.raises(EdgeoptError, match="no such file"):
        parse_params([f"targets=@{tmp_path / 'missing.yaml'}"])


def test_parse_params_takes_lists_and_mappings_for_a_sweep():
    params = parse_params(['recipes=[{"distill": 0.5}, {"prune": {"method": "structured", "ratio": 0.5}}]',
                           "recipe_defaults={prune: {epochs: 4}}", "targets=target: cortex-m4f@80mhz"])
    assert params == {"recipes": [{"distill": 0.5}, {"prune": {"method": "structured", "ratio": 0.5}}],
                      "recipe_defaults": {"prune": {"epochs": 4}}, "targets": "target: cortex-m4f@80mhz"}
    with pytest.raises(EdgeoptError, match="not a JSON/YAML list or mapping"):
        parse_params(['recipes=[{"distill": 0.5}'])


def test_compile_sets_the_sweep_parallelism(tmp_path, capsys):
    assert main(["compile", "--output", str(tmp_path), "--pipeline", "edge-sweep", "--parallelism", "16",
                 "--no-s3-secret"]) == 0
    spec, _ = load_package(json.loads(capsys.readouterr().out)["packages"]["edge-sweep"])
    loop = next(t for t in spec["root"]["dag"]["tasks"].values() if "parameterIterator" in t)
    assert loop["iteratorPolicy"]["parallelismLimit"] == 16
    assert main(["compile", "--output", str(tmp_path), "--parallelism", "-1"]) == 2


class FakeKfp:
    """Just enough of the KFP v2beta1 REST API for kfp.Client: healthz, experiments, runs."""

    def __init__(self, final_state: str = "SUCCEEDED") -> None:
        self.requests: list[tuple[str, str, str | None, dict | None]] = []
        self.final_state = final_state
        self.polls = 0
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _reply(self, obj: dict) -> None:
                body = json.dumps(obj).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                fake.requests.append(("GET", self.path, self.headers.get("Authorization"), None))
                if self.path.startswith("/apis/v2beta1/runs/"):
                    fake.polls += 1
                    self._reply({"run_id": "run-1", "state": "RUNNING" if fake.polls < 2 else fake.final_state})
                else:
                    self._reply({})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                fake.requests.append(("POST", self.path, self.headers.get("Authorization"), body))
                if self.path == "/apis/v2beta1/experiments":
                    self._reply({"experiment_id": "exp-1", "display_name": body.get("display_name")})
                else:
                    self._reply({"run_id": "run-1", "state": "PENDING"})

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def kfp_api(monkeypatch):
    monkeypatch.setattr("edgeopt.cluster.submit.POLL_S", 0.05)
    monkeypatch.delenv("KF_PIPELINES_UI_ENDPOINT", raising=False)
    servers = []

    def start(final_state="SUCCEEDED"):
        servers.append(FakeKfp(final_state))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def _submit(fake, *extra):
    return main(["submit", "--host", fake.url, "--pipeline", "edge-optimize", "--experiment", "ci",
                 "--param", "model_uri=s3://b/m.keras", "--param", "data_uri=s3://b/d.npz",
                 "--param", "targets=target: cortex-m4f@80mhz", "--param", "distill_enabled=true", *extra])


def test_submit_sends_the_token_and_prints_the_run_url(kfp_api, monkeypatch, capsys):
    monkeypatch.setenv("KF_PIPELINES_TOKEN", "secret-token-value")
    fake = kfp_api()
    assert _submit(fake, "--service-account", "edgeopt-runner") == 0
    out = capsys.readouterr()
    assert f"run run-1: {fake.url}/#/runs/details/run-1" in out.out
    assert "secret-token-value" not in out.out + out.err
    assert all(auth == "Bearer secret-token-value" for _, _, auth, _ in fake.requests)
    run = next(body for method, path, _, body in fake.requests if path == "/apis/v2beta1/runs")
    assert run["experiment_id"] == "exp-1"
    assert run["service_account"] == "edgeopt-runner"
    assert run["runtime_config"]["parameters"]["distill_enabled"] is True
    spec = run["pipeline_spec"]
    executors = spec["pipeline_spec"]["deploymentSpec"]["executors"]
    assert executors["exec-quantize"]["container"]["image"] == image_ref("quantize", tag=default_tag())
    platform = spec["platform_spec"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert platform["exec-promote"]["secretAsEnv"][0]["secretName"] == "edgeopt-s3"
    assert "enable_caching" not in run or run["enable_caching"] is None  # KFP's default unless --no-cache
    assert not any("/runs/run-1" in path for _, path, _, _ in fake.requests)  # no --wait: no polling


def test_submit_no_cache_turns_caching_off_for_the_run(kfp_api):
    fake = kfp_api()
    assert _submit(fake, "--no-cache") == 0
    run = next(body for _, path, _, body in fake.requests if path == "/apis/v2beta1/runs")
    tasks = run["pipeline_spec"]["pipeline_spec"]["root"]["dag"]["tasks"]
    assert all(not t.get("cachingOptions", {}).get("enableCache") for t in tasks.values())


def test_submit_wait_reports_success(kfp_api, capsys):
    fake = kfp_api("SUCCEEDED")
    assert _submit(fake, "--wait") == 0
    out = capsys.readouterr().out
    assert "run run-1 ended SUCCEEDED (exit code 0)" in out


def test_submit_wait_fails_when_the_run_fails(kfp_api, capsys):
    fake = kfp_api("FAILED")
    assert _submit(fake, "--wait") == 1
    captured = capsys.readouterr()
    assert "run run-1 ended FAILED (exit code 1)" in captured.out
    assert "edgeopt submit: error: run run-1 ended FAILED" in captured.err


def test_submit_a_compiled_package(kfp_api, tmp_path, default_package):
    fake = kfp_api()
    assert main(["submit", "--host", fake.url, "--pipeline", str(default_package),
                 "--param", "model_uri=/m", "--param", "data_uri=/d", "--param", "targets=x"]) == 0
    run = next(body for _, path, _, body in fake.requests if path == "/apis/v2beta1/runs")
    executors = run["pipeline_spec"]["platform_spec"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert not any("secretAsEnv" in ex for ex in executors.values())  # compiled without the secret


def test_submit_without_host_or_with_unknown_pipeline(monkeypatch, capsys):
    monkeypatch.delenv("KF_PIPELINES_ENDPOINT", raising=False)
    assert main(["submit", "--pipeline", "edge-optimize"]) == 2
    assert "--host" in capsys.readouterr().err
    assert main(["submit", "--host", "http://127.0.0.1:9", "--pipeline", "nope"]) == 2
    assert "neither a pipeline name nor a file" in capsys.readouterr().err


def test_submit_unreachable_host(capsys):
    assert main(["submit", "--host", "http://127.0.0.1:9", "--pipeline", "edge-optimize"]) == 2
    assert "cannot reach Kubeflow Pipelines at http://127.0.0.1:9" in capsys.readouterr().err


def test_images_list_and_unreachable_engine(monkeypatch, capsys):
    assert main(["images", "list", "--prefix", "ghcr.io/acme", "--tag", "1.2.3"]) == 0
    refs = capsys.readouterr().out.split()
    assert refs[:2] == ["ghcr.io/acme/edgeopt-base:1.2.3", "ghcr.io/acme/edgeopt-tf:1.2.3"]
    assert refs[2:] == [image_ref(s, "ghcr.io/acme", "1.2.3") for s in STAGES]
    assert main(["images", "list", "--plan"]) == 0
    plan = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert plan[0][0] == "base" and plan[0][3] == "-" and plan[1][0] == "tf" and plan[1][3] == plan[0][1]
    quantize = next(row for row in plan if row[0] == "quantize")
    assert quantize[2] == "images/quantize/Dockerfile" and quantize[3] == plan[1][1]  # FROM edgeopt-tf
    assert main(["images", "list", "--stages"]) == 0
    assert len(capsys.readouterr().out.split()) == len(STAGES)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/engine.sock")
    assert main(["images", "build"]) == 2
    err = capsys.readouterr().err
    assert "no container engine is reachable at unix:///nonexistent/engine.sock" in err
    assert "podman system service" in err
    assert main(["images", "build", "--push"]) == 2
    assert "--prefix REGISTRY/ORG" in capsys.readouterr().err


def test_yaml_output_is_loadable_by_kfp(tmp_path):
    from kfp import components

    path = compile_package("edge-optimize", tmp_path / "k.yaml", prefix="ghcr.io/acme")
    loaded = components.load_component_from_file(str(path))
    assert loaded.name == "edge-optimize"
    assert yaml.safe_load_all(path.read_text())


def test_example_ci_workflow_compiles_and_submits():
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / ".github/workflows/edgeopt-pipeline.yaml"
    flow = yaml.safe_load(path.read_text())
    (job,) = flow["jobs"].values()
    runs = " ".join(step.get("run", "") for step in job["steps"])
    assert "edgeopt images build --push --prefix" in runs
    assert "edgeopt compile --prefix" in runs
    assert "edgeopt submit --pipeline build/pipelines/edge_optimize.yaml" in runs and "--wait" in runs
    submit = next(s for s in job["steps"] if "edgeopt submit" in s.get("run", ""))
    assert "KF_PIPELINES_TOKEN" in submit["env"]  # the token from the environment, not the command line
    assert "TOKEN" not in submit["run"]
