"""manifests/: every overlay renders with `kubectl kustomize` and validates, offline and strictly,
against the Kubernetes OpenAPI schemas that kubernetes-validate ships; the secret stays a template."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
TARGETS = ("base", "overlays/kind", "overlays/minikube")
# the oldest Kubernetes still supported by kind and minikube releases of 2026, and the newest schema shipped
K8S_VERSIONS = ("1.30.0", "1.37.0")


def _kubectl() -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (it renders the kustomizations)")
    return kubectl


def render(target: str) -> list[dict]:
    proc = subprocess.run([_kubectl(), "kustomize", str(MANIFESTS / target)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def validate(doc: dict, version: str) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
    kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_renders_and_validates(target, version):
    docs = render(target)
    assert docs
    for doc in docs:
        validate(doc, version)


def test_validation_catches_a_wrong_field():
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    bad = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "x"}, "automountToken": True}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("cluster", ["kind", "minikube"])
def test_overlay_contents(cluster):
    docs = render(f"overlays/{cluster}")
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert kinds == {("Namespace", "kubeflow"), ("ServiceAccount", "edgeopt-runner"),
                     ("RoleBinding", "edgeopt-runner"), ("ConfigMap", "edgeopt-targets"),
                     ("ConfigMap", "edgeopt-settings")}
    for doc in docs:
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "edgeopt"
        assert labels["edgeopt.dev/cluster"] == cluster
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "kubeflow"  # where KFP standalone runs the tasks
    settings = next(d for d in docs if d["metadata"]["name"] == "edgeopt-settings")["data"]
    assert settings["cluster"] == cluster and settings["image_prefix"] == "localhost"
    assert not any(d["kind"] == "Secret" for d in docs), "credentials must not be applied from the repository"


def test_target_configmap_holds_valid_targets_files():
    from edgeopt.common.targets import load_targets

    docs = render("base")
    data = next(d for d in docs if d["metadata"]["name"] == "edgeopt-targets")["data"]
    assert "cortex-m4f-80mhz.yaml" in data
    for name, text in data.items():
        spec = load_targets(text)
        assert spec.target.replace("@", "-") == name.removesuffix(".yaml")


def test_demo_targets_in_the_cluster_are_the_local_demo_targets():
    from edgeopt.local.commands import DEMO_TARGETS

    ours = yaml.safe_load((MANIFESTS / "base/targets/cortex-m4f-80mhz.yaml").read_text())
    assert ours == yaml.safe_load(DEMO_TARGETS)


def test_secret_is_a_template_and_renders_to_a_valid_secret():
    text = (MANIFESTS / "base/s3-secret.template.yaml").read_text()
    doc = yaml.safe_load(text)
    values = doc["stringData"]
    assert all(re.fullmatch(r"\$\{\w+\}", v) for v in values.values()), "only placeholders in the repository"
    from edgeopt.cluster.compile import S3_SECRET, S3_SECRET_KEYS

    assert doc["metadata"]["name"] == S3_SECRET
    assert set(values) == set(S3_SECRET_KEYS)  # exactly the keys the compiled pipeline maps to env
    filled = {**doc, "stringData": {k: "dummy" for k in values}}
    for version in K8S_VERSIONS:
        validate(filled, version)


def test_scripts_parse_and_pin_the_kfp_release():
    scripts = sorted((MANIFESTS / "scripts").glob("*.sh")) + sorted((REPO / "scripts").glob("*.sh"))
    assert scripts
    for script in scripts:
        proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{script}: {proc.stderr}"
    cluster = (MANIFESTS / "scripts/cluster.sh").read_text()
    assert re.search(r"KFP_VERSION=\$\{KFP_VERSION:-\d+\.\d+\.\d+\}", cluster)
    assert "kind load docker-image" in cluster and "minikube -p \"$NAME\" image build" in cluster
