"""Mixed precision int8 TFLite: chosen layers stay float, or the most sensitive ones until a budget is met.

Everything starts from one calibrated model (`tflite_methods.calibrate`) and quantizes it again
with a denylist of TFLite nodes (operator output tensor names) that stay float, as the
converter's QuantizationDebugger does. Float operators sit between DEQUANTIZE and QUANTIZE.

- Named (`select_nodes`): each requested entry is a Keras layer name (every operator computing
  that layer, fused ones included), a TFLite operator type such as `SOFTMAX` (every operator of
  that type) or an exact TFLite tensor name.
- Automatic (`auto_float_nodes`): the sensitivity of each operator is the relative error of the
  model's output (||q - f|| / ||f|| against the float model, on the sensitivity samples) when
  only that operator is quantized and all others stay float. Operators are then put back in
  float, most sensitive first, until the accuracy drop (float accuracy minus the quantized
  model's, or 1 - top-1 agreement without labels, on the evaluation samples) is within the budget.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeopt.common.errors import EdgeoptError
from edgeopt.common.evaluate import accuracy, parity
from edgeopt.common.runtimes import predict_tflite
from edgeopt.quantize.fusions import Node, model_nodes
from edgeopt.quantize.job import Built, Job
from edgeopt.quantize.tflite_methods import calibrate, float_ops_with_nodes, quantize_calibrated


TOLERANCE = 1e-9  # accuracy drops are differences of fractions: 0.05 may come out as 0.050000000000000044


@dataclass
class MixedResult:
    """The mixed-precision flatbuffer, the nodes kept float with the reason for each, and the search."""

    flatbuffer: bytes
    float_layers: list[dict[str, Any]]
    budget_met: bool | None = None
    budget_reason: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)
    sensitivity: list[dict[str, Any]] = field(default_factory=list)

SENSITIVITY_SAMPLES = 64  # calibration samples that rank the operators' sensitivity


def quantizable_nodes(calibrated: bytes, known_layers: list[str] | None) -> list[Node]:
    """The operators of the calibrated model, each a candidate to keep in float.

    Their names are those the quantizer's denylist matches: the quantized model may rename an
    output tensor (the model's output gets a "1" appended), so they are read before quantizing.
    """
    return model_nodes(calibrated, known_layers)


def stayed_float(flatbuffer: bytes, nodes: list[Node]) -> list[bool]:
    """Whether each of `nodes` computes in float in the quantized `flatbuffer`."""
    floats = {name for _, name in float_ops_with_nodes(flatbuffer)}
    return [n.name in floats or n.name + "1" in floats for n in nodes]


def select_nodes(nodes: list[Node], requested: list[str]) -> dict[str, list[Node]]:
    """The nodes each requested layer name / operator type / tensor name selects; EdgeoptError for a miss."""
    chosen: dict[str, list[Node]] = {}
    for entry in requested:
        hits = [n for n in nodes if entry == n.name or entry == n.op or entry in n.layers]
        if not hits:
            layers = list(dict.fromkeys(name for n in nodes for name in n.layers))
            ops = list(dict.fromkeys(n.op for n in nodes))
            raise EdgeoptError(f"float layer {entry!r} matches no quantizable operator of the model",
                               f"name a Keras layer ({', '.join(layers[:30]) or 'none recorded'}) or an "
                               f"operator type ({', '.join(ops)})")
        chosen[entry] = hits
    return chosen


def named_mixed(calibrated: bytes, nodes: list[Node], requested: list[str], io_type: str,
                per_channel: bool) -> MixedResult:
    """Keep the requested layers in float; every other operator int8."""
    chosen = select_nodes(nodes, requested)
    float_nodes = list(dict.fromkeys(n.name for hits in chosen.values() for n in hits))
    flatbuffer = quantize_calibrated(calibrated, io_type, per_channel, float_nodes)
    return MixedResult(flatbuffer, _requested_report(flatbuffer, chosen))


def _requested_report(flatbuffer: bytes, chosen: dict[str, list[Node]]) -> list[dict[str, Any]]:
    """One entry per requested layer; `stayed_float` False (and the reason says so) when the quantizer
    quantized an operator anyway (e.g. one that must share its input's scale)."""
    report = []
    for entry, hits in chosen.items():
        kept = stayed_float(flatbuffer, hits)
        reason = "requested" if all(kept) else (
            "requested, but the quantizer kept " + ", ".join(f"{n.op}:{_short(n)}" for n, k in zip(hits, kept) if not k)
            + " integer")
        report.append({"layer": entry, "operators": [f"{n.op}:{_short(n)}" for n in hits],
                       "stayed_float": all(kept), "reason": reason})
    return report


def sensitivities(calibrated: bytes, nodes: list[Node], x: np.ndarray, reference: np.ndarray,
                  per_channel: bool) -> list[dict[str, Any]]:
    """Per node: relative output error and SNR (dB) when only that node is quantized; most sensitive first."""
    names = [n.name for n in nodes]
    result = []
    for node in nodes:
        others = [name for name in names if name != node.name]
        out = predict_tflite(quantize_calibrated(calibrated, "float32", per_channel, others), x)
        match = parity(out, reference)
        result.append({"node": node, "relative_error": match["relative_error"], "snr_db": match["snr_db"]})
    return sorted(result, key=lambda r: -r["relative_error"])


def auto_float_nodes(calibrated: bytes, nodes: list[Node], budget: float, io_type: str, per_channel: bool,
                     sens_x: np.ndarray, sens_reference: np.ndarray, drop_of: Callable[[bytes], float],
                     requested: list[str] | None = None) -> MixedResult:
    """Keep the most sensitive operators float, one at a time, until `drop_of(model) <= budget`.

    `drop_of` measures the accuracy drop of a candidate flatbuffer against the float model; the
    `requested` layers stay float from the start. Returns the first model within the budget, or
    the one with all operators float and `budget_met=False` with the reason when even that is not.
    """
    chosen = select_nodes(nodes, requested) if requested else {}
    forced = list(dict.fromkeys(n.name for hits in chosen.values() for n in hits))
    candidates = [n for n in nodes if n.name not in forced]
    ranked = sensitivities(calibrated, candidates, sens_x, sens_reference, per_channel)
    kept: list[str] = list(forced)
    flatbuffer = quantize_calibrated(calibrated, io_type, per_channel, kept)
    drop = drop_of(flatbuffer)
    steps = [{"float_operators": len(kept), "accuracy_drop": drop}]
    report: list[dict[str, Any]] = []
    for rank, item in enumerate(ranked, 1):
        if drop <= budget + TOLERANCE:
            break
        node, before = item["node"], drop
        kept.append(node.name)
        flatbuffer = quantize_calibrated(calibrated, io_type, per_channel, kept)
        drop = drop_of(flatbuffer)
        steps.append({"float_operators": len(kept), "accuracy_drop": drop, "added": f"{node.op}:{_short(node)}"})
        snr = "n/a" if item["snr_db"] is None else f"{item['snr_db']:.1f} dB"
        report.append({
            "layer": ",".join(node.layers) or node.name, "operators": [f"{node.op}:{_short(node)}"],
            "sensitivity_rank": rank, "relative_error": item["relative_error"], "snr_db": item["snr_db"],
            "accuracy_drop_before": before, "accuracy_drop_after": drop,
            "reason": (f"sensitivity rank {rank} of {len(ranked)}: quantizing only this operator gives "
                       f"{item['relative_error']:.3g} relative output error (SNR {snr}); kept float to bring the "
                       f"accuracy drop from {before:.4f} towards the budget {budget:.4f} (now {drop:.4f})")})
    met = drop <= budget + TOLERANCE
    reason = (f"accuracy drop {drop:.4f} <= budget {budget:.4f} with {len(kept)} of {len(nodes)} operators in float"
              if met else
              f"accuracy drop {drop:.4f} still exceeds the budget {budget:.4f} with all {len(nodes)} operators in "
              "float: what is left is the quantization of the model's input and output, or a budget finer than "
              "the evaluation set resolves; raise the budget or use --io-type float32")
    table = [{"operator": f"{r['node'].op}:{_short(r['node'])}", "layers": r["node"].layers,
              "relative_error": r["relative_error"], "snr_db": r["snr_db"]} for r in ranked]
    return MixedResult(flatbuffer, _requested_report(flatbuffer, chosen) + report, met, reason, steps, table)


def _short(node: Node) -> str:
    """The node's layers when known, else its tensor name cut to 80 characters."""
    return "+".join(node.layers) if node.layers else node.name[:80]


def build(job: Job) -> Built:
    """Mixed precision: int8 with `float_layers` kept float and/or, with `accuracy_budget`, the most
    sensitive operators kept float until the accuracy drop is within the budget."""
    o, source = job.options, job.source
    calibrated = calibrate(source, job.calib)
    known = [layer.name for layer in source.keras_model.layers] if source.keras_model is not None else None
    nodes = quantizable_nodes(calibrated, known)
    requested = list(o["float_layers"] or [])
    budget = o["accuracy_budget"]
    if budget is None:
        result = named_mixed(calibrated, nodes, requested, o["io_type"], o["per_channel"])
        return Built(result.flatbuffer, result.float_layers)
    float_accuracy = accuracy(job.reference, job.labels)
    has_labels = job.data.y_test is not None

    def drop_of(flatbuffer: bytes) -> float:
        out = predict_tflite(flatbuffer, job.x_test)
        if has_labels:
            return float_accuracy - accuracy(out, job.labels)
        return 1.0 - parity(out, job.reference)["top1_agreement"]

    sens_x = job.calib[:SENSITIVITY_SAMPLES]
    result = auto_float_nodes(calibrated, nodes, budget, o["io_type"], o["per_channel"], sens_x,
                              source.predict(sens_x), drop_of, requested)
    return Built(result.flatbuffer, result.float_layers,
                 {"accuracy_budget": budget, "budget_met": result.budget_met, "budget_reason": result.budget_reason,
                  "search": result.steps, "sensitivity": result.sensitivity})
