"""Simulate an int8 TFLite model on a microcontroller target: latency, RAM, flash, fit.

`simulate(model, target, runtime)` returns a flat, JSON-serialisable report:
- `latency_ms`, `cycles`: per-operator MACs times the core's cycles per MAC, at the target clock
- `arena_bytes`: the tensor arena the real TFLite Micro memory planner allocates (host build)
- `ram_bytes`: arena plus the runtime's RAM outside the arena
- `flash_bytes`: model bytes plus the runtime code estimate for the operators used
- `supported`, `reasons`: False with one reason per problem (e.g. TFLM cannot allocate the model)
- `layers`: per operator index, op, MACs, cycles and share of the total
- `method`: how the figures were obtained
"""

from pathlib import Path
from typing import Any

from edgeopt.common.bundle import read_bundle
from edgeopt.common.errors import EdgeoptError
from edgeopt.device_simulate.arena import measure_arena
from edgeopt.device_simulate.catalog import resolve_target, runtime_profile
from edgeopt.device_simulate.tflite_model import read_tflite


def simulate(model: Path | str, target: str, runtime: str = "tflm-cmsis-nn") -> dict[str, Any]:
    """Report of `model` (.tflite file or tflite bundle dir) on `target` with `runtime`."""
    tgt = resolve_target(target)
    profile = runtime_profile(runtime)
    path = model_file(model)
    graph = read_tflite(path.read_bytes(), str(path))
    arena = measure_arena(path)

    layers = []
    for op in graph.operators:
        macs = graph.macs(op)
        layers.append({"index": op.index, "op": op.opcode, "macs": macs,
                       "cycles": round(macs * tgt.core.cycles_per_mac)})
    cycles = sum(layer["cycles"] for layer in layers)
    for layer in layers:
        layer["share"] = layer["cycles"] / cycles if cycles else 0.0

    reasons = []
    if not arena.ok:
        reasons.append(arena.error)
    kernels = {op.opcode for op in graph.operators}
    flash = graph.model_bytes + profile["base_code_bytes"] + profile["kernel_code_bytes"] * len(kernels)
    return {
        "target": tgt.name, "core": tgt.core.name, "clock_mhz": tgt.clock_mhz, "runtime": profile["name"],
        "latency_ms": cycles / (tgt.clock_mhz * 1e3), "cycles": cycles,
        "macs": sum(layer["macs"] for layer in layers),
        "arena_bytes": arena.total, "ram_bytes": arena.total + profile["ram_bytes"],
        "flash_bytes": flash, "model_bytes": graph.model_bytes,
        "board_ram_bytes": tgt.ram_bytes, "board_flash_bytes": tgt.flash_bytes,
        "energy_uj": None, "supported": not reasons, "reasons": reasons, "layers": layers,
        "method": (f"latency = MACs x {tgt.core.cycles_per_mac:g} cycles/MAC ({tgt.core.name}, uncalibrated "
                   "per-core constant); arena from the TFLite Micro planner (host build)"),
    }


def model_file(model: Path | str) -> Path:
    """The .tflite file of `model`: the file itself, or the model of a tflite bundle directory."""
    path = Path(model)
    if path.is_dir():
        info, file = read_bundle(path)
        if info.format != "tflite":
            raise EdgeoptError(f"bundle {path} holds a {info.format} model, not a TFLite model",
                               "simulate the int8 .tflite bundle written by the quantize stage")
        path = file
    if not path.is_file():
        raise EdgeoptError(f"model {path} does not exist", "pass a .tflite file or a tflite model bundle")
    return path


def render_markdown(report: dict[str, Any]) -> str:
    """A Markdown summary of a `simulate` report."""
    fit = "yes" if report["supported"] else "**no**"
    lines = [f"# Device simulation: {report['target']} ({report['runtime']})", "",
             "| metric | value |", "| --- | --- |",
             f"| latency | {report['latency_ms']:.3f} ms ({report['cycles']:,} cycles at {report['clock_mhz']:g} MHz) |",
             f"| MACs | {report['macs']:,} |",
             f"| RAM | {report['ram_bytes']:,} B (arena {report['arena_bytes']:,} B) |",
             f"| flash | {report['flash_bytes']:,} B (model {report['model_bytes']:,} B) |",
             f"| supported | {fit} |", ""]
    lines += [f"- {reason}" for reason in report["reasons"]]
    lines += ["", "| # | op | MACs | cycles | share |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {lay['index']} | {lay['op']} | {lay['macs']:,} | {lay['cycles']:,} | {lay['share']:.1%} |"
              for lay in report["layers"]]
    lines += ["", f"Method: {report['method']}", ""]
    return "\n".join(lines)
