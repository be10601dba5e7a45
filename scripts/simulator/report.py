"""calibration.yaml's content and CALIBRATION.md's text from a fit and its cross-validations."""

import math


from crossval import Prediction, grouped, summary
from data import Row
from edgeopt.device_simulate.costmodel import OpWork
from edgeopt.device_simulate.runtimes import registry
from model import PRIOR, PRIOR_WEIGHT, REFERENCE_CORE, Fit


def _round(tree):
    if isinstance(tree, dict):
        return {k: _round(v) for k, v in tree.items()}
    if isinstance(tree, float):  # numpy floats too
        return round(float(tree), 4)
    return tree


def _by_runtime_error(name: str, bench: list[Prediction], board: list[Prediction]) -> dict:
    rt = registry()[name]
    sources = [name] if rt.measured else [s for s in rt.derived_from if registry()[s].measured]
    b = [p.error for p in bench if p.row.runtime in sources]
    o = [p.error for p in board if p.row.runtime in sources]
    return {"basis": "own rows" if rt.measured else (f"rows of {', '.join(sources)}" if sources else "derived"),
            "leave_one_benchmark_out": summary(b) if b else None, "leave_one_board_out": summary(o) if o else None}


def calibration_yaml(full: Fit, rows: list[Row], bench: list[Prediction], board: list[Prediction], unscored: int,
                     energy: dict) -> dict:
    """The committed calibration: parameters, what each runtime was calibrated on, and the errors."""
    runtimes = {}
    for name, rt in registry().items():
        own = [r for r in rows if r.runtime == name]
        entry = {"log_scale": full.params["runtimes"].get(name, {}).get("log_scale")}
        if rt.measured:
            entry["calibrated_on"] = {"boards": sorted({r.board for r in own}), "cores": sorted({r.core for r in own}),
                                      "rows": len(own)}
        else:
            sources = [r for r in rows if r.runtime in rt.derived_from]
            entry["calibrated_on"] = {"derived_from": list(rt.derived_from), "cores": sorted({r.core for r in sources})}
        entry["error"] = _by_runtime_error(name, bench, board)
        runtimes[name] = entry
    floor = [Prediction(p.row, p.floor_ms) for p in board]
    return _round({
        "reference_core": REFERENCE_CORE, "rows": len(rows),
        "constants": full.params["constants"], "runtimes": runtimes,
        "core_corrections": full.params["core_corrections"],
        "error": {
            "leave_one_benchmark_out": {"all": summary([p.error for p in bench]),
                                        "by_runtime": grouped(bench, lambda r: r.runtime),
                                        "by_core": grouped(bench, lambda r: r.core),
                                        "by_benchmark": grouped(bench, lambda r: r.benchmark)},
            "leave_one_board_out": {"all": summary([p.error for p in board]),
                                    "by_runtime": grouped(board, lambda r: r.runtime),
                                    "by_core": grouped(board, lambda r: r.core),
                                    "by_board": grouped(board, lambda r: r.board),
                                    "unscored_rows": unscored},
            "floor_clock_scaled": {"all": summary([p.error for p in floor]),
                                   "by_runtime": grouped(floor, lambda r: r.runtime),
                                   "by_core": grouped(floor, lambda r: r.core)},
        },
        "energy": energy,
    })


def _s(entry: dict | None) -> str:
    if not entry:
        return "- | - | -"
    return f"{entry['median_abs_pct']} % | {entry['p90_abs_pct']} % | {entry['max_abs_pct']} %"


def markdown(cal: dict, full: Fit, rows: list[Row], works: dict[str, list[OpWork]], bench: list[Prediction],
             board: list[Prediction]) -> str:
    """CALIBRATION.md: method, cross-validated errors per runtime and core, every held-out row."""
    err = cal["error"]
    b, o, f = err["leave_one_benchmark_out"], err["leave_one_board_out"], err["floor_clock_scaled"]
    lines = ["# Device-simulate calibration", "",
             "Written by `scripts/simulator/fit.py` from `refdata/mlperf_tiny_calibration.csv` of the shared data "
             f"folder ({cal['rows']} rows: one per runtime, board and benchmark, the median of its submissions) and "
             "the four official int8 MLPerf Tiny models. Do not edit by hand; re-run the script.", "",
             "## Error", "",
             "- **Leave-one-benchmark-out** (a new model): each MLPerf model is predicted, on every board and runtime, "
             "by a fit that never saw that model on any board or runtime.",
             "- **Leave-one-board-out** (a new board): each calibration board is predicted by a fit without any of its "
             f"rows; rows of runtimes measured on that board only cannot be predicted ({o['unscored_rows']} rows, "
             "not scored).",
             "- **Floor**: the same runtime's latency of the same model on the other boards, scaled by clock "
             "(geometric mean), on the leave-one-board-out rows.", "",
             "| |abs error: median | p90 | max | rows |", "| --- | --- | --- | --- | --- |",
             f"| leave-one-board-out | {_s(o['all'])} | {o['all']['rows']} |",
             f"| floor (clock-scaled, same rows) | {_s(f['all'])} | {f['all']['rows']} |",
             f"| leave-one-benchmark-out | {_s(b['all'])} | {b['all']['rows']} |", "",
             "Per runtime (median / p90 / max |error|):", "",
             "| runtime | leave-one-board-out | floor | leave-one-benchmark-out |", "| --- | --- | --- | --- |"]
    for name in registry():
        lb, lo, fl = b["by_runtime"].get(name), o["by_runtime"].get(name), f["by_runtime"].get(name)
        if lb or lo:
            lines.append(f"| {name} | {_slash(lo)} | {_slash(fl)} | {_slash(lb)} |")
    lines += ["", "Per core (median / p90 / max |error|):", "",
              "| core | leave-one-board-out | floor | leave-one-benchmark-out |", "| --- | --- | --- | --- |"]
    for core in sorted(set(b["by_core"]) | set(o["by_core"])):
        lines.append(f"| {core} | {_slash(o['by_core'].get(core))} | {_slash(f['by_core'].get(core))} | "
                     f"{_slash(b['by_core'].get(core))} |")
    lines += ["", "Per held-out benchmark: " + ", ".join(f"{k} {_slash(v)}" for k, v in b["by_benchmark"].items()) + ".",
              "", "Per held-out board: " + ", ".join(f"{k} {_slash(v)}" for k, v in o["by_board"].items()) + ".", "",
              "## Method", "",
              "Per operator, work per term (MACs per kind, im2col elements, activation bytes in and out, bytes of "
              "other operators, one invocation) times a coefficient: the reference core's constant (shared by every "
              "runtime) x the target core's architecture ratio (hardware.yaml) x the runtime's scale x the fitted "
              "corrections of the core, of the runtime's family on that core and of the runtime on that core, where "
              "MLPerf Tiny measured them. Runtime effects (runtimes.yaml) change the work: zero-filter skipping "
              "drops the MACs of all-zero filters, fusion makes reshapes free and sets the per-operator overhead. "
              f"Least squares on log latency; constants pulled towards their instruction-count prior (weight "
              f"{PRIOR_WEIGHT:g} per squared log unit), corrections towards 0.", "",
              "| constant (reference core, cycles per unit) | prior | fitted |", "| --- | --- | --- |"]
    lines += [f"| {t} | {PRIOR[t]:g} | {v:.3f} |" for t, v in cal["constants"].items()]
    lines += ["", "| runtime | scale | calibrated on | skips zero filters | fusion | overhead cycles/op |",
              "| --- | --- | --- | --- | --- | --- |"]
    for name, rt in registry().items():
        entry = cal["runtimes"][name]
        on = entry["calibrated_on"]
        where = (f"{', '.join(on['boards'])} ({on['rows']} rows)" if "boards" in on
                 else f"derived from {', '.join(on['derived_from'])}")
        scale = "-" if entry["log_scale"] is None else f"{math.exp(entry['log_scale']):.3f}"
        lines.append(f"| {name} | {scale} | {where} | {'yes' if rt.effects.skips_zero_filters else 'no'} | "
                     f"{'yes' if rt.effects.fusion else 'no'} | {rt.effects.overhead_cycles:g} |")
    corr = cal["core_corrections"]
    lines += ["", "Core corrections (x, on top of the architecture ratios): "
              + ", ".join(f"{c} {math.exp(v):.3f}" for c, v in corr["core"].items()) + "; per family: "
              + "; ".join(f"{fam} " + ", ".join(f"{c} {math.exp(v):.3f}" for c, v in cs.items())
                          for fam, cs in corr["family"].items()) + ".", ""]
    lines += ["## Energy", "", "| board | power while inferring | range | energy error: median | p90 | max | rows |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, e in cal["energy"].items():
        lines.append(f"| {name} | {e['power_mw']} mW | {e['power_range_mw'][0]}-{e['power_range_mw'][1]} mW | "
                     f"{_s(e['error'])} | {e['error']['rows']} |")
    lines += ["", "Energy = the board's power x the predicted latency; its error is leave-one-benchmark-out (power "
              "from the board's other benchmarks, latency from a fit without the benchmark). Boards without "
              "measured energy report none.", "", "## Held-out rows", "",
              "| runtime | board | benchmark | measured ms | leave-one-board-out | floor | leave-one-benchmark-out |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    by_board = {(p.row.runtime, p.row.board, p.row.benchmark): p for p in board}
    for p in sorted(bench, key=lambda p: (p.row.runtime, p.row.board, p.row.benchmark)):
        q = by_board.get((p.row.runtime, p.row.board, p.row.benchmark))
        lo = f"{q.error:+.1%}" if q else "-"
        fl = f"{q.floor_error:+.1%}" if q and q.floor_error is not None else "-"
        lines.append(f"| {p.row.runtime} | {p.row.board} | {p.row.benchmark} | {p.row.latency_ms:.3f} | {lo} | {fl} | "
                     f"{p.error:+.1%} |")
    lines += ["", "## MAC counts", "", "| benchmark | MACs | MACs in all-zero filters |", "| --- | --- | --- |"]
    for bench_name, ws in works.items():
        lines.append(f"| {bench_name} | {sum(w.macs for w in ws):,} | {sum(w.zero_filter_macs for w in ws):,} |")
    return "\n".join(lines) + "\n"


def _slash(entry: dict | None) -> str:
    return "-" if not entry else f"{entry['median_abs_pct']} / {entry['p90_abs_pct']} / {entry['max_abs_pct']} %"



