"""The gate's metric vocabulary: the directions the issue names, and agreement with every stage
declaration that emits the same metric (or the stage metric a gate metric is made of)."""

from edgeopt.common.gate_metrics import DEVICE, METRICS, QUALITY, values
from edgeopt.stages import STAGES


def test_the_named_metrics_and_their_directions():
    assert {k: m.better for k, m in METRICS.items() if k in (
        "accuracy", "agreement", "snr_db", "cosine", "latency_ms", "energy_uj", "flash_kb", "ram_kb", "total_kb", "mse",
        "size_kb")} == {"accuracy": "higher", "agreement": "higher", "snr_db": "higher", "cosine": "higher",
                        "latency_ms": "lower", "energy_uj": "lower", "flash_kb": "lower", "ram_kb": "lower",
                        "total_kb": "lower", "mse": "lower", "size_kb": "lower"}


def test_directions_agree_with_the_stage_declarations():
    compared = set()
    for stage in STAGES:
        try:
            spec = stage.module("spec").SPEC
        except ModuleNotFoundError:
            continue
        for declared in spec.metrics:
            for gate in METRICS.values():
                if declared.key in (gate.key, *gate.keys) and declared.better is not None:
                    assert declared.better == gate.better, (stage.name, declared.key, gate.key)
                    compared.add(gate.key)
    assert {"accuracy", "agreement", "snr_db", "latency_ms", "flash_kb", "ram_kb", "total_kb", "energy_uj",
            "size_kb"} <= compared


def test_values_are_the_gate_metrics_a_stage_reports():
    report = {"latency_ms": 5.0, "flash_bytes": 2048, "ram_bytes": 1024, "energy_uj": None, "supported": True}
    assert values(report, DEVICE) == {"latency_ms": 5.0, "flash_kb": 2.0, "ram_kb": 1.0, "total_kb": 3.0}
    assert values({"accuracy": 0.9, "size_bytes": 512, "snr_db": float("nan")}, QUALITY) == {"accuracy": 0.9,
                                                                                            "size_kb": 0.5}
