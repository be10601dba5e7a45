"""The edge-sweep pipeline with each task in its stage's container (kfp.local DockerRunner): the loop,
the Collected artifacts, the sweep image's pareto task and promotion of the chosen candidate."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.container

RECIPES = '{"recipes": [{"name": "full width"}, {"distill": 0.5}], "defaults": {"distill": {"epochs": 4}}}'
TARGETS = """\
targets:
  - target: cortex-m0plus@48mhz
    latency_ms: 80
  - target: cortex-m4f@80mhz
    latency_ms: 10
quality:
  accuracy: {max_drop: 0.2}
"""


def test_sweep_in_containers_promotes_the_passing_candidate(stage_images, digits_model_file, digits_npz, tmp_path):
    (tmp_path / "recipes.json").write_text(RECIPES)
    (tmp_path / "targets.yaml").write_text(TARGETS)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "edgeopt.cli", "sweep", "--model", str(digits_model_file),
                           "--data", str(digits_npz), "--targets", str(tmp_path / "targets.yaml"),
                           "--recipes", str(tmp_path / "recipes.json"), "--output", str(out), "--runner", "docker",
                           "--name", "digits"], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    doc = json.loads((out / "pareto.json").read_text())
    full, half = doc["candidates"]
    assert full["verdict"]["passed"] is False  # about 140 ms on the M0+
    assert half["verdict"]["passed"] is True and doc["chosen"] == half["id"]
    assert "<svg" in (out / "report.html").read_text()  # drawn by matplotlib inside the sweep image
    entry = Path(json.loads((out / "summary.json").read_text())["promoted"])
    assert (entry / "c_array" / "model_data.cc").is_file()
