"""A short report a person reads: what `edgeopt simulate` prints without --json."""

from typing import Any


def summary_text(report: dict[str, Any], bottlenecks: int = 3) -> str:
    """Latency (with its measured error band), RAM, flash, whether the model fits and runs, the top
    `bottlenecks` operators."""
    lines = [f"{report['target']} ({report['core']} @ {report['clock_mhz']:g} MHz) with {report['runtime']}",
             f"  latency  {report['latency_ms']:.2f} ms{_band(report.get('error_band'))}",
             f"  RAM      {_kb(report['ram_bytes'])}" + _of(report.get("board_ram_bytes")),
             f"  flash    {_kb(report['flash_bytes'])}" + _of(report.get("board_flash_bytes"))]
    if report.get("energy_uj") is not None:
        lines.append(f"  energy   {report['energy_uj']:.0f} uJ per inference")
    if report["supported"]:
        lines.append("  fits: yes, every operator runs on this target")
    else:
        lines.append("  fits: NO")
        lines += [f"    - {reason}" for reason in report["reasons"]]
    top = report.get("bottlenecks", [])[:bottlenecks]
    if top:
        lines.append("  slowest operators:")
        lines += [f"    #{b['index']} {b['op']}: {b['share']:.0%} of the cycles ({b['why']})" for b in top]
    return "\n".join(lines)


def _band(band: dict[str, Any] | None) -> str:
    """' (typical error ±X %)' from the cross-validated error the report carries."""
    if not band:
        return ""
    for key in ("leave_one_board_out", "core_leave_one_board_out", "leave_one_benchmark_out"):
        figures = band.get(key)
        if figures:
            return f" (median error {figures['median_abs_pct']:g} %, p90 {figures['p90_abs_pct']:g} %, {key.replace('_', '-')})"
    return ""


def _kb(n: float) -> str:
    return f"{n / 1024:.1f} KB"


def _of(total: float | None) -> str:
    return f" of {_kb(total)}" if total else ""
