"""Simulate an int8 TFLite model on a microcontroller target: latency, RAM, flash, energy, fit.

`simulate(model, target, runtime, artifacts_dir=None)` returns a flat, JSON-serialisable report:
- `latency_ms`, `cycles`: the per-operator cost model (costmodel, latency) with the runtime's
  calibrated coefficients on the target's core; `macs` the model's multiply-accumulates
- `ram_bytes`, `arena_bytes`, `flash_bytes`: as the runtime lays them out (memory); `memory_layout`
- `energy_uj`: the board's measured power while inferring x latency, where MLPerf Tiny measured
  energy on that board at that clock; else None, with `energy_note` saying why
- `supported`, `reasons`: False with one reason per problem: operators the runtime lacks, a model
  TFLM cannot allocate, RAM or flash over the board's
- `layers` (per operator cycles, ms, share, MACs, bytes, arena in use), `bottlenecks` (the top 5)
- `error_band`: the runtime's cross-validated latency error (leave-one-benchmark-out and
  leave-one-board-out: median, p90, max |error| %), for its rows and on this core where measured
- `method`, `calibrated`, `latency_loo_median_pct`, `latency_loo_max_pct` (leave-one-benchmark-out)
- `target`, `core`, `core_facts`, `board_memory`, `clock_mhz`, `runtime`, `runtime_family`,
  `runtime_version`, `runtime_description`, `runtime_effects`, `board_ram_bytes`,
  `board_flash_bytes` (None for CORE@CLOCK), `notes`
- for CORE+NPU targets, `npu`: Vela's estimate (NPU cycles, SRAM, flash, operators left to the
  CPU, the compiled model's file when `artifacts_dir` is given); its latency is the NPU's plus
  the CPU operators' (see vela.py: not validated against measurements)
"""

import shutil
import tempfile
from pathlib import Path
from typing import Any

from edgeopt.common.bundle import read_bundle
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.targets import DEFAULT_RUNTIME
from edgeopt.device_simulate.arena import ArenaReport, live_activation_bytes, measure_arena
from edgeopt.device_simulate.calibration import coefficients, load_calibration, measured_cores
from edgeopt.device_simulate.costmodel import OpWork, analyse
from edgeopt.device_simulate.hardware import Target, resolve_target
from edgeopt.device_simulate.latency import layer_cycles
from edgeopt.device_simulate.memory import Memory, layout, scratch_bytes
from edgeopt.device_simulate.runtimes import Runtime, registry, runtime_profile
from edgeopt.device_simulate.tflite_model import TfliteGraph, read_tflite

TOP_BOTTLENECKS = 5
NPU_DRIVER_RAM_BYTES = 2048  # Ethos-U driver state (estimate)


def simulate(model: Path | str, target: str, runtime: str = DEFAULT_RUNTIME,
             artifacts_dir: Path | str | None = None) -> dict[str, Any]:
    """Report of `model` (.tflite file or tflite bundle dir) on `target` (board, CORE@CLOCK or
    CORE+NPU) with `runtime`; the Vela-compiled model of an NPU target goes to `artifacts_dir`.
    EdgeoptError for a missing or non-TFLite model, an unknown target or runtime."""
    tgt = resolve_target(target)
    prof = runtime_profile(runtime)
    path = model_file(model)
    graph = read_tflite(path.read_bytes(), str(path))
    works = analyse(graph)
    arena = measure_arena(path)
    layers = _layers(works, graph, tgt, prof)
    mem = layout(graph, works, arena, prof, tgt.core.isa)
    npu = _npu(path, tgt, prof, artifacts_dir) if tgt.npu else None
    cycles = npu["cycles"] if npu else sum(layer["cycles"] for layer in layers)
    ram = npu["ram_bytes"] if npu else mem.ram
    flash = npu["flash_bytes"] if npu else mem.flash
    latency_ms = cycles / (tgt.clock_mhz * 1e3)
    energy, energy_note = _energy_uj(tgt, latency_ms)
    reasons = _reasons(graph, works, arena, prof, tgt, ram, flash, mem)
    band = error_band(prof, tgt.core.name)
    return {
        "target": tgt.name, "core": tgt.core.name, "clock_mhz": tgt.clock_mhz, "runtime": prof.name,
        "runtime_family": prof.family, "runtime_version": prof.version,
        "latency_ms": latency_ms, "cycles": cycles, "macs": sum(w.macs for w in works),
        "ram_bytes": ram, "arena_bytes": mem.activations, "arena_host_bytes": arena.total,
        "scratch_bytes": mem.scratch, "runtime_ram_bytes": prof.ram_bytes, "memory_layout": prof.effects.memory_layout,
        "flash_bytes": flash, "model_bytes": graph.model_bytes, "weights_flash_bytes": mem.weights,
        "runtime_code_bytes": mem.code, "board_ram_bytes": tgt.ram_bytes, "board_flash_bytes": tgt.flash_bytes,
        "energy_uj": energy, "energy_note": energy_note, "supported": not reasons, "reasons": reasons,
        "calibrated": band["calibrated"], "error_band": band,
        "latency_loo_median_pct": (band["leave_one_benchmark_out"] or {}).get("median_abs_pct"),
        "latency_loo_max_pct": (band["leave_one_benchmark_out"] or {}).get("max_abs_pct"),
        "method": _method(tgt, prof, band, energy is not None, npu), "core_facts": _core_facts(tgt),
        "board_memory": dict(tgt.memory), "runtime_description": prof.description,
        "runtime_effects": vars(prof.effects).copy(), "npu": npu,
        "layers": layers, "bottlenecks": _bottlenecks(layers), "notes": _notes(graph, works, arena, layers, prof),
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


def _layers(works: list[OpWork], graph: TfliteGraph, tgt: Target, prof: Runtime) -> list[dict]:
    coeffs = coefficients(prof, tgt.core)
    reference = coefficients(registry()["tflm-reference"], tgt.core)
    live = live_activation_bytes(graph)
    layers = []
    for work in works:
        cycles, note = layer_cycles(work, prof, tgt.core.fpu != "none", coeffs, reference)
        layers.append({"index": work.index, "op": work.opcode, "kernel": work.kernel, "dtype": work.dtype,
                       "output_shape": list(work.output_shape), "macs": work.macs, "cycles": round(cycles),
                       "act_bytes": work.act_bytes, "weight_bytes": work.weight_bytes,
                       "arena_bytes": live[work.index] + scratch_bytes(work, prof, tgt.core.isa),
                       "zero_filter_macs": work.zero_filter_macs, "note": note})
    total = sum(layer["cycles"] for layer in layers)
    for layer in layers:
        layer["ms"] = layer["cycles"] / (tgt.clock_mhz * 1e3)
        layer["share"] = layer["cycles"] / total if total else 0.0
    return layers


def _npu(path: Path, tgt: Target, prof: Runtime, artifacts_dir: Path | str | None) -> dict[str, Any]:
    """Vela's estimate for the NPU part, the CPU model for the operators it leaves to the CPU."""
    from edgeopt.device_simulate.vela import compile_npu

    with tempfile.TemporaryDirectory(prefix="edgeopt-npu-") as scratch:
        result = compile_npu(path, tgt.npu, tgt.clock_mhz, Path(scratch))
        compiled = read_tflite(result.compiled.read_bytes(), result.compiled.name)
        cpu_works = [w for w in analyse(compiled) if not w.opcode.startswith("CUSTOM:")]
        cpu_cycles = sum(c for c, _ in (layer_cycles(w, prof, tgt.core.fpu != "none", coefficients(prof, tgt.core),
                                                     coefficients(registry()["tflm-reference"], tgt.core))
                                        for w in cpu_works))
        kept = None
        if artifacts_dir is not None:
            Path(artifacts_dir).mkdir(parents=True, exist_ok=True)
            kept = Path(artifacts_dir) / "model_vela.tflite"
            shutil.copyfile(result.compiled, kept)
    code = prof.code_bytes({w.opcode for w in cpu_works}) + prof.code["default"]  # + the Ethos-U driver
    return {"accelerator": tgt.npu.accelerator, "system_config": tgt.npu.system_config,
            "memory_mode": tgt.npu.memory_mode, "vela_version": result.version, "npu_cycles": result.npu_cycles,
            "cpu_cycles": round(cpu_cycles), "cycles": result.npu_cycles + round(cpu_cycles),
            "sram_bytes": result.sram_bytes, "ram_bytes": result.sram_bytes + prof.ram_bytes + NPU_DRIVER_RAM_BYTES,
            "flash_bytes": result.flash_bytes + code, "npu_operators": result.npu_operators,
            "cpu_operators": sorted({w.opcode for w in cpu_works}),
            "compiled_model": kept.name if kept else None, "validated": False}


def error_band(prof: Runtime, core: str) -> dict[str, Any]:
    """The runtime's cross-validated latency error: over its rows, and on `core` where measured."""
    cal = load_calibration()
    own = cal["runtimes"][prof.name]["error"]
    lobo = cal["error"]["leave_one_board_out"]["by_core"].get(core)
    measured = core in measured_cores(prof)
    return {"basis": own["basis"], "leave_one_benchmark_out": own["leave_one_benchmark_out"],
            "leave_one_board_out": own["leave_one_board_out"],
            "core_leave_one_board_out": lobo if measured else None, "core_measured": measured,
            "calibrated": own["leave_one_benchmark_out"] is not None and measured}


def _reasons(graph: TfliteGraph, works: list[OpWork], arena: ArenaReport, prof: Runtime, tgt: Target, ram: int,
             flash: int, mem: Memory) -> list[str]:
    reasons = []
    missing = sorted({w.opcode for w in works if w.opcode not in prof.ops})
    missing += [op for op in arena.missing_ops if op not in missing]
    for op in missing:
        reasons.append(f"operator {op} has no kernel in {prof.name}")
    if not arena.ok and not missing:
        reasons.append(arena.error)
    if tgt.ram_bytes is not None and ram > tgt.ram_bytes:
        reasons.append(f"needs {ram:,} B of RAM (activations {mem.activations:,} B + runtime {prof.ram_bytes:,} B) "
                       f"but {tgt.name} has {tgt.ram_bytes:,} B")
    if tgt.flash_bytes is not None and flash > tgt.flash_bytes:
        reasons.append(f"needs {flash:,} B of flash (model data {mem.weights:,} B + runtime code {mem.code:,} B) "
                       f"but {tgt.name} has {tgt.flash_bytes:,} B")
    return reasons


def _notes(graph: TfliteGraph, works: list[OpWork], arena: ArenaReport, layers: list[dict], prof: Runtime) -> list[str]:
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
        notes.append(f"{dead / total:.0%} of the MACs multiply all-zero filters: "
                     + (f"{prof.name} skips them" if prof.effects.skips_zero_filters
                        else f"{prof.name} computes them, a compiler that skips zero filters would not"))
    return notes


def _energy_uj(tgt: Target, latency_ms: float) -> tuple[float | None, str]:
    """Energy estimate where MLPerf Tiny measured the board's energy: its power x latency."""
    boards = load_calibration()["energy"]
    if tgt.board not in boards:
        return None, f"no measured energy for {tgt.name}: no estimate"
    from edgeopt.device_simulate.hardware import boards as catalog

    if tgt.clock_mhz != float(catalog()[tgt.board]["clock_mhz"]):
        return None, f"energy was measured at {catalog()[tgt.board]['clock_mhz']} MHz only: no estimate"
    power = boards[tgt.board]["power_mw"]
    return power * latency_ms, f"{power} mW measured on {tgt.board} x latency (estimate)"  # mW x ms = uJ


def _method(tgt: Target, prof: Runtime, band: dict, has_energy: bool, npu: dict | None) -> str:
    text = ("per-operator cost model: cycles = work per term (MACs per kind, im2col, activation bytes, "
            "invocations) x the reference core's constants x the core's architecture ratios x the runtime's scale "
            "and fitted core corrections, calibrated on MLPerf Tiny (4 boards)")
    bench, board = band["leave_one_benchmark_out"], band["leave_one_board_out"]
    if bench:
        text += (f"; {prof.name} ({band['basis']}) error: leave-one-benchmark-out median {bench['median_abs_pct']} %, "
                 f"p90 {bench['p90_abs_pct']} %, max {bench['max_abs_pct']} %")
        if board:
            text += (f"; leave-one-board-out median {board['median_abs_pct']} %, p90 {board['p90_abs_pct']} %, "
                     f"max {board['max_abs_pct']} %")
    else:
        text += f"; {prof.name} is derived, not calibrated (expect +-50 %)"
    if not band["core_measured"]:
        text += f"; {tgt.core.name} cycles derived from architecture ratios (no measurement on this core)"
    text += f"; memory laid out as {prof.effects.memory_layout}"
    if has_energy:
        text += "; energy = the board's measured power x latency (estimate)"
    if npu:
        text += (f"; NPU part by Arm Vela {npu['vela_version']} ({npu['accelerator']}, {npu['system_config']}): "
                 "its performance estimate, not validated (MLPerf Tiny has no Ethos-U measurement)")
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
    energy = f"n/a ({report['energy_note']})" if report["energy_uj"] is None \
        else f"{report['energy_uj']:,.1f} uJ (estimate)"
    band = report["error_band"]["leave_one_benchmark_out"]
    error = "not calibrated" if band is None else (f"median {band['median_abs_pct']} %, p90 {band['p90_abs_pct']} %, "
                                                    f"max {band['max_abs_pct']} % (leave-one-benchmark-out)")
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
             f"| latency error band | {error} |",
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
