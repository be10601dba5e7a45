"""`baseline: registry` end to end on the local and the S3 registry: the metrics promote records, the
baseline document `edgeopt registry baseline` writes, and the gate comparing with it."""

import json

from s3server import S3Env
from test_promote import SIM, bundle, failed, make_bundle, make_verdict, passed  # noqa: F401 (fixtures)

from edgeopt.cli import main
from edgeopt.promote.baseline import latest_promoted
from edgeopt.promote.core import promote, show_entry
from edgeopt.validate_targets.core import run as validate

GATE = """\
target: cortex-m4f@80mhz
latency_ms: {max: 50, max_increase_relative: 0.0}
quality:
  accuracy: {max_drop: 0.02}
baseline: registry
"""


def test_promote_records_what_the_gate_measured(tmp_path, bundle, passed):
    promote(bundle, passed, tmp_path / "registry", "m")
    metrics = show_entry(tmp_path / "registry", "m", "v1")["metrics"]
    assert metrics == {"quality": {"accuracy": 0.94}, "targets": [{"target": "cortex-m4f@80mhz", "runtime": "tflm-cmsis-nn",
                                                                   "metrics": {"latency_ms": 20.0, "flash_kb": 90_000 / 1024,
                                                                               "ram_kb": 20_000 / 1024,
                                                                               "total_kb": 110_000 / 1024}}]}


def test_latest_promoted_skips_forced_entries_and_says_when_there_is_none(tmp_path, bundle, passed, failed):
    registry = str(tmp_path / "registry")
    first = latest_promoted(registry, "m")
    assert (first["version"], first["quality"], first["targets"]) == (None, {}, [])
    assert first["note"] == f"m has no promoted version in {registry} yet: this is its first promotion"
    promote(bundle, passed, registry, "m")
    promote(make_bundle(tmp_path / "other"), failed, registry, "m", force=True)
    doc = latest_promoted(registry, "m")
    assert doc["version"] == "v1" and doc["uri"] == str(tmp_path / "registry" / "m" / "v1") and doc["note"] == ""


def test_an_entry_without_metrics_says_so(tmp_path, bundle, passed):
    promote(bundle, passed, tmp_path / "registry", "m")
    meta_file = tmp_path / "registry" / "m" / "v1" / "metadata.json"
    meta = json.loads(meta_file.read_text())
    del meta["metrics"]  # as an older edgeopt wrote it
    meta_file.write_text(json.dumps(meta))
    doc = latest_promoted(tmp_path / "registry", "m")
    assert doc["version"] == "v1" and doc["note"] == "v1 records no metrics (it was promoted by an older edgeopt)"


def test_the_gate_compares_with_the_last_promotion(tmp_path, bundle):
    registry, out = str(tmp_path / "registry"), tmp_path / "gate"
    (tmp_path / "candidate.json").write_text(json.dumps({"accuracy": 0.94}))

    def gate(latency_ms: float) -> dict:
        (tmp_path / "sim.json").write_text(json.dumps({**SIM, "latency_ms": latency_ms}))
        assert main(["registry", "baseline", "--registry", registry, "m", "--output", str(out / "baseline")]) == 0
        return validate(GATE, None, tmp_path / "candidate.json", tmp_path / "sim.json", out / "verdict",
                        registry_baseline_path=out / "baseline")

    first = gate(20.0)
    assert first["passed"] and first["baseline"]["version"] is None
    assert "this is its first promotion" in (out / "verdict" / "report.md").read_text()
    assert promote(bundle, out / "verdict", registry, "m")["version"] == "v1"
    slower = gate(21.0)
    assert not slower["passed"]
    assert [c["reason"] for c in slower["checks"] if not c["passed"]] == [
        "latency rose by 5% of v1's 20 ms on cortex-m4f@80mhz, more than the allowed 0%"]
    assert gate(19.0)["passed"]


def test_latest_promoted_on_s3(s3: S3Env, tmp_path, bundle):
    registry = f"s3://{s3.bucket}/reg"
    assert latest_promoted(registry, "m")["version"] is None
    promote(bundle, make_verdict(tmp_path, 0.95), registry, "m")
    doc = latest_promoted(registry, "m")
    assert doc["version"] == "v1" and doc["quality"] == {"accuracy": 0.95}
