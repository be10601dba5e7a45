"""Each stage image: runs as a non-root user, holds edgeopt, kfp and exactly its stage's stack."""

import json

import pytest

from edgeopt.containers.images import STAGES

pytestmark = pytest.mark.container

# what each stage's core needs at run time, imported inside its own image
IMPORTS = {
    "ingest": ["edgeopt.ingest.core", "edgeopt.common.keras_io", "edgeopt.device_simulate.catalog", "tensorflow",
               "tf_keras", "boto3"],
    "distill": ["edgeopt.distill.core", "tensorflow", "tf_keras"],
    "prune": ["edgeopt.prune.core", "tensorflow_model_optimization"],
    "quantize": ["edgeopt.quantize.core", "ai_edge_litert.interpreter", "tensorflow"],
    "convert": ["edgeopt.convert.core", "tf2onnx", "onnx", "onnxruntime", "edgeopt.convert.openvino_ir", "ai_edge_litert.interpreter"],
    "device-simulate": ["edgeopt.device_simulate.core", "tflite_micro.python.tflite_micro.runtime"],
    "validate-targets": ["edgeopt.validate_targets.core", "edgeopt.device_simulate.catalog",
                         "edgeopt.common.reports.plots", "matplotlib.backends.backend_svg"],
    "promote": ["edgeopt.promote.core", "boto3"],
    "sweep": ["edgeopt.sweep.core", "edgeopt.sweep.recipes", "edgeopt.common.reports.plots",
              "matplotlib.backends.backend_agg"],
}
ABSENT = {  # heavy stacks that must stay out of the light images
    "device-simulate": ["tensorflow", "onnx", "boto3"],
    "validate-targets": ["tensorflow", "onnx", "boto3"],
    "sweep": ["tensorflow", "onnx", "boto3", "tflite_micro"],
    "promote": ["tensorflow", "onnx", "tflite_micro"],
    "distill": ["onnx", "tflite_micro"],
}
PROBE = """
import importlib, importlib.util, json, os, subprocess, sys
out = {"uid": os.getuid(), "python": sys.version.split()[0]}
for name in sys.argv[1].split(","):
    importlib.import_module(name)
out["absent"] = [n for n in sys.argv[2].split(",") if n and importlib.util.find_spec(n) is not None]
import kfp.dsl.executor_main, edgeopt
out["edgeopt"] = edgeopt.__version__
check = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
out["pip_check"] = [ln for ln in check.stdout.splitlines() if ln and not ln.startswith("kfp ")]
try:
    open("/opt/edgeopt/x", "w")
    out["venv_writable"] = True
except OSError:
    out["venv_writable"] = False
print(json.dumps(out))
"""


@pytest.mark.parametrize("stage", STAGES)
def test_stage_image(stage, engine, stage_images):
    from edgeopt import __version__

    raw = engine.containers.run(stage_images[stage], ["python3", "-c", PROBE, ",".join(IMPORTS[stage]),
                                                      ",".join(ABSENT.get(stage, []))],
                                environment={"_KFP_RUNTIME": "true"}, remove=False, detach=True)
    try:
        code = raw.wait()["StatusCode"]
        logs = raw.logs().decode()
    finally:
        raw.remove(force=True)
    assert code == 0, logs
    result = json.loads(logs.strip().splitlines()[-1])
    assert result["uid"] == 10001  # the image's own non-root user
    assert result["python"].startswith("3.11.")
    assert result["edgeopt"] == __version__
    assert result["absent"] == []
    assert result["pip_check"] == [], "the stack's pins miss a dependency"
    assert result["venv_writable"] is False


def test_no_credentials_in_images(engine, stage_images):
    for ref in stage_images.values():
        image = engine.images.get(ref)
        env = " ".join(image.attrs["Config"].get("Env") or [])
        assert not any(word in env for word in ("AWS_", "TOKEN", "SECRET", "PASSWORD")), ref
        history = json.dumps(engine.api.history(ref))
        assert "AWS_SECRET" not in history and "KF_PIPELINES_TOKEN" not in history, ref
        assert image.attrs["Config"]["User"] == "10001:10001", ref
