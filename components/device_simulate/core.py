"""Simulate an int8 TFLite model on a microcontroller target: latency, RAM, flash, energy, fit.

`simulate(model, target, runtime)` returns a flat, JSON-serialisable report:
- `latency_ms`, `cycles`: sum of the per-operator cost model (see `costmodel`) at the target clock;
  `macs` the model's multiply-accumulates
- `arena_bytes`: the tensor arena of the real TFLite Micro memory planner, adjusted from the 64-bit
  host to a 32-bit core, plus the largest CMSIS-NN scratch buffer (an upper bound)
- `ram_bytes`: arena + the runtime's RAM outside it; `flash_bytes`: model + runtime code for the
  operators used (`runtime_code_bytes`, an estimate)
- `energy_uj`: estimate (measured board power x latency) where calibration data exists, else None
- `supported`, `reasons`: False with one reason per problem: operators the runtime lacks, a model
  TFLM cannot allocate, RAM or flash over the board's
- `layers`: per operator cycles, ms, share, MACs, bytes, arena in use; `bottlenecks`: the top 5
- `method`: the method, whether it is calibrated, and its measured error band
- `target`, `core`, `core_facts`, `clock_mhz`, `runtime`, `runtime_description`; `board_ram_bytes`,
  `board_flash_bytes` (None for CORE@CLOCK); `calibrated` (M4/M4F core with a calibrated runtime),
  `latency_loo_median_pct`, `latency_loo_max_pct` (the runtime's calibration error), `notes`
"""

from pathlib import Path
from typing import Any

from edgeopt.common.bundle import read_bundle
from edgeopt.common.errors import EdgeoptError
from edgeopt.device_simulate.arena import ArenaReport, live_activation_bytes, measure_arena
from edgeopt.device_simulate.catalog import Runtime, Target, load_calibration, resolve_target, runtime_profile
from edgeopt.device_simulate.costmodel import OpWork, analyse, op_cycles
from edgeopt.device_simulate.tflite_model import TfliteGraph, read_tflite

TOP_BOTTLENECKS = 5
CALIBRATED_CORES = ("cortex-m4f", "cortex-m4")
INT16_FACTOR = 2.0  # int16 activations: CMSIS-NN s16 kernels (64-bit accumulation), uncalibrated
SOFT_FLOAT_FACTOR = 8.0  # float32 without an FPU: software float, about 8x the FPU's cycles


def simulate(model: Path | str, target: str, runtime: str = "tflm-cmsis-nn") -> dict[str, Any]:
    """Report of `model` (.tflite file or tflite bundle dir) on `target` (board or CORE@CLOCK) with
    `runtime`; EdgeoptError for a missing or non-TFLite model, an unknown target or runtime."""
    tgt = resolve_target(target)
    prof = runtime_profile(runtime)
    path = model_file(model)
    graph = read_tflite(path.read_bytes(), str(path))
    works = analyse(graph)
    arena = measure_arena(path)
    live = live_activation_bytes(graph)
    notes: list[str] = []

    layers = []
    for work in works:
        cycles, note = _layer_cycles(work, tgt, prof)
        layers.append({"index": work.index, "op": work.opcode, "kernel": work.kernel, "dtype": work.dtype,
                       "output_shape": list(work.output_shape), "macs": work.macs, "cycles": round(cycles),
                       "act_bytes": work.act_bytes, "weight_bytes": work.weight_bytes,
                       "arena_bytes": live[work.index] + _scratch_bytes(work, tgt, prof),
                       "zero_filter_macs": work.zero_filter_macs, "note": note})
    cycles = sum(layer["cycles"] for layer in layers)
    for layer in layers:
        layer["ms"] = layer["cycles"] / (tgt.clock_mhz * 1e3)
        layer["share"] = layer["cycles"] / cycles if cycles else 0.0

    scratch = max((_scratch_bytes(w, tgt, prof) for w in works), default=0)
    arena_bytes = (arena.arena_32bit() if arena.ok else max(live, default=0)) + scratch
    ram = arena_bytes + prof.ram_bytes
    code = prof.code_bytes({op.opcode for op in graph.operators})
    flash = graph.model_bytes + code
    reasons = _reasons(graph, works, arena, prof, tgt, ram, flash)
    notes += _notes(graph, works, arena, layers)
    latency_ms = cycles / (tgt.clock_mhz * 1e3)
    energy = _energy_uj(tgt, latency_ms)
    return {
        "target": tgt.name, "core": tgt.core.name, "clock_mhz": tgt.clock_mhz, "runtime": prof.name,
        "latency_ms": latency_ms, "cycles": cycles, "macs": sum(w.macs for w in works),
        "ram_bytes": ram, "arena_bytes": arena_bytes, "arena_host_bytes": arena.total, "scratch_bytes": scratch,
        "runtime_ram_bytes": prof.ram_bytes, "flash_bytes": flash, "model_bytes": graph.model_bytes,
        "runtime_code_bytes": code, "board_ram_bytes": tgt.ram_bytes, "board_flash_bytes": tgt.flash_bytes,
        "energy_uj": energy, "supported": not reasons, "reasons": reasons,
        "calibrated": prof.calibrated and tgt.core.name in CALIBRATED_CORES,
        "latency_loo_median_pct": prof.loo.get("median_abs_pct"), "latency_loo_max_pct": prof.loo.get("max_abs_pct"),
        "method": _method(tgt, prof, energy is not None), "core_facts": _core_facts(tgt),
        "runtime_description": prof.description,
        "layers": layers, "bottlenecks": _bottlenecks(layers), "notes": notes,
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


def _layer_cycles(work: OpWork, tgt: Target, prof: Runtime) -> tuple[float, str]:
    """Cycles of one operator and a note when it is not costed by the runtime's own int8 kernels."""
    ratios = tgt.core.ratios
    if work.dtype == "float32":
        factor = 1.0 if tgt.core.fpu != "none" else SOFT_FLOAT_FACTOR
        return op_cycles(work, prof.reference, ratios, scalar_only=True) * factor, \
            "float32: reference kernel" + (", software float" if factor > 1 else "") + " (uncalibrated)"
    if work.opcode not in prof.optimized_ops:
        note = "reference kernel" if prof.optimized_ops else ""
        if work.kernel == "other":
            note = "no cost class for this operator: costed as 2x elementwise (uncalibrated)"
        return op_cycles(work, prof.reference, ratios, scalar_only=True), note
    cycles = op_cycles(work, prof.constants, ratios)
    if work.dtype == "int16":
        return cycles * INT16_FACTOR, "int16 activations: 2x the int8 cost (uncalibrated)"
    return cycles, ""


def _scratch_bytes(work: OpWork, tgt: Target, prof: Runtime) -> int:
    """CMSIS-NN scratch buffer of an operator on this core (0 for reference kernels)."""
    if work.opcode not in prof.optimized_ops:
        return 0
    return work.scratch.get(tgt.core.isa, 0)


def _reasons(graph: TfliteGraph, works: list[OpWork], arena: ArenaReport, prof: Runtime, tgt: Target, ram: int,
             flash: int) -> list[str]:
    reasons = []
    missing = sorted({w.opcode for w in works if w.opcode not in prof.ops})
    missing += [op for op in arena.missing_ops if op not in missing]
    for op in missing:
        reasons.append(f"operator {op} has no kernel in {prof.name}")
    if not arena.ok and not missing:
        reasons.append(arena.error)
    if tgt.ram_bytes is not None and ram > tgt.ram_bytes:
        reasons.append(f"needs {ram:,} B of RAM (arena {ram - prof.ram_bytes:,} B + runtime {prof.ram_bytes:,} B) "
                       f"but {tgt.name} has {tgt.ram_bytes:,} B")
    if tgt.flash_bytes is not None and flash > tgt.flash_bytes:
        reasons.append(f"needs {flash:,} B of flash (model {graph.model_bytes:,} B + runtime code) "
                       f"but {tgt.name} has {tgt.flash_bytes:,} B")
    return reasons


def _notes(graph: TfliteGraph, works: list[OpWork], arena: ArenaReport, layers: list[dict]) -> list[str]:
    notes = []
    if graph.subgraph_count > 1:
        notes.append(f"the model has {graph.subgraph_count} subgraphs; only the primary one is costed")
    if not arena.ok:
        notes.append("arena estimated from tensor lifetimes: the TFLM planner could not allocate the model")
    uncalibrated = sum(1 for layer in layers if "uncalibrated" in layer["note"])
    if uncalibrated:
        notes.append(f"{uncalibrated} operators are costed without calibration (see each layer's note)")
    dead = sum(w.zero_filter_macs for w in works)
    total = sum(w.macs for w in works)
    if total and dead / total >= 0.05:
        notes.append(f"{dead / total:.0%} of the MACs multiply all-zero filters: TFLM computes them, a compiler "
                     "that skips zero filters would not")
    return notes


def _energy_uj(tgt: Target, latency_ms: float) -> float | None:
    """Energy estimate where the calibration measured the board's power: power x latency."""
    energy = load_calibration()["energy"]
    if tgt.board != energy["board"] or tgt.clock_mhz != energy["clock_mhz"]:
        return None
    return energy["power_mw"] * latency_ms  # mW x ms = uJ


def _method(tgt: Target, prof: Runtime, has_energy: bool) -> str:
    text = ("per-operator cost model: cycles = overhead + MACs x cycles/MAC + activation bytes x cycles/byte "
            "(+ weight bytes streamed) per kernel class")
    if prof.calibrated:
        text += (f"; {prof.name} constants fitted to MLPerf Tiny latencies on Cortex-M4F @ 120 MHz (NUCLEO-L4R5ZI), "
                 f"leave-one-out error median {prof.loo['median_abs_pct']} %, max {prof.loo['max_abs_pct']} %")
    else:
        text += f"; {prof.name} constants derived from instruction counts, not calibrated (expect +-50 %)"
    if tgt.core.name not in CALIBRATED_CORES:
        text += f"; {tgt.core.name} cycles derived from architecture ratios to the Cortex-M4F (not calibrated)"
    text += ("; arena from the TFLite Micro memory planner, adjusted to 32-bit; flash = model + runtime code "
             "estimate")
    if has_energy:
        energy = load_calibration()["energy"]
        text += (f"; energy = {energy['power_mw']} mW measured board power x latency (estimate, leave-one-out "
                 f"median {energy['median_abs_pct']} %)")
    return text


def _core_facts(tgt: Target) -> str:
    core = tgt.core
    features = [core.arch, "Helium (MVE)" if core.helium else "DSP/SIMD" if core.dsp else "no SIMD",
                "dual issue" if core.dual_issue else "single issue", f"FPU {core.fpu}",
                f"{core.coremark_per_mhz:g} CoreMark/MHz"]
    return f"{', '.join(features)}. {core.facts}"


def _bottlenecks(layers: list[dict]) -> list[dict]:
    top = sorted(layers, key=lambda layer: layer["cycles"], reverse=True)[:TOP_BOTTLENECKS]
    out = []
    for layer in top:
        if layer["macs"]:
            why = f"{layer['macs']:,} MACs ({layer['cycles'] / layer['macs']:.2f} cycles/MAC)"
        else:
            why = f"{layer['act_bytes']:,} activation bytes moved"
        out.append({"index": layer["index"], "op": layer["op"], "kernel": layer["kernel"],
                    "cycles": layer["cycles"], "share": layer["share"], "why": why})
    return out


def render_markdown(report: dict[str, Any]) -> str:
    """A Markdown report of a `simulate` result: summary, fit, bottlenecks and per-layer breakdown."""
    def kb(value: int | None) -> str:
        return "unknown" if value is None else f"{value:,} B"

    fit = "yes" if report["supported"] else "**no**"
    energy = "n/a (no calibration data for this target)" if report["energy_uj"] is None \
        else f"{report['energy_uj']:,.1f} uJ (estimate)"
    lines = [f"# Device simulation: {report['target']} ({report['runtime']})", "",
             f"Core {report['core']} @ {report['clock_mhz']:g} MHz: {report['core_facts']}", "",
             "| metric | value |", "| --- | --- |",
             f"| latency | {report['latency_ms']:,.3f} ms ({report['cycles']:,} cycles) |",
             f"| MACs | {report['macs']:,} |",
             f"| RAM | {report['ram_bytes']:,} B (arena {report['arena_bytes']:,} B incl. scratch "
             f"{report['scratch_bytes']:,} B; runtime {report['runtime_ram_bytes']:,} B); "
             f"board {kb(report['board_ram_bytes'])} |",
             f"| flash | {report['flash_bytes']:,} B (model {report['model_bytes']:,} B, runtime code "
             f"{report['runtime_code_bytes']:,} B); board {kb(report['board_flash_bytes'])} |",
             f"| energy | {energy} |",
             f"| supported | {fit} |", ""]
    lines += [f"- {reason}" for reason in report["reasons"]]
    if report["reasons"]:
        lines.append("")
    lines += ["## Bottlenecks", "", "| # | op | kernel | share | cycles | why |",
              "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {b['index']} | {b['op']} | {b['kernel']} | {b['share']:.1%} | {b['cycles']:,} | {b['why']} |"
              for b in report["bottlenecks"]]
    lines += ["", "## Layers", "",
              "| # | op | kernel | output | MACs | cycles | ms | share | arena in use | note |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {lay['index']} | {lay['op']} | {lay['kernel']} | {'x'.join(map(str, lay['output_shape']))} | "
              f"{lay['macs']:,} | {lay['cycles']:,} | {lay['ms']:.3f} | {lay['share']:.1%} | {lay['arena_bytes']:,} | "
              f"{lay['note']} |" for lay in report["layers"]]
    lines += ["", "## Method", "", report["method"] + ".", "", f"Runtime {report['runtime']}: "
              f"{report['runtime_description']}", ""]
    lines += [f"- {note}" for note in report["notes"]]
    return "\n".join(lines) + "\n"
