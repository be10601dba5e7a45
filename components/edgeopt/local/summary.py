"""The human-readable summary of a pipeline run: one row per stage, the verdict, the promotion."""

from typing import Any

COLUMNS = ("stage", "size", "accuracy", "latency", "RAM", "flash", "note")


def stage_row(name: str, m: dict[str, Any] | None) -> list[str]:
    """One table row for a stage's metrics."""
    if m is None:
        return [name, "-", "-", "-", "-", "-", "did not run"]
    note = "skipped" if m.get("skipped") else _note(name, m)
    return [name, _kb(m.get("size_bytes")), _pct(m.get("accuracy")), _ms(m.get("latency_ms")),
            _kb(m.get("ram_bytes")), _kb(m.get("flash_bytes")), note]


def render_summary(summary: dict[str, Any]) -> str:
    """The stage table, the verdict with one line per check, and where the model went."""
    rows = [list(COLUMNS)] + [stage_row(s["name"], s["metrics"]) for s in summary["stages"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    verdict = summary["verdict"]
    lines += ["", f"verdict: {'PASSED' if verdict['passed'] else 'REJECTED'}"
              + (f" for {verdict['target']}" if verdict.get("target") else "")]
    for check in verdict["checks"]:
        lines.append(f"  [{'ok' if check['passed'] else 'FAIL'}] {check['reason']}")
    promoted = summary.get("promoted")
    lines.append("")
    lines.append(f"promoted to: {promoted}" if promoted else "not promoted: the model did not meet the targets")
    return "\n".join(lines)


def _note(name: str, m: dict[str, Any]) -> str:
    if name == "prune" and "sparsity" in m:
        return f"sparsity {m['sparsity']:.0%}, gzip {_kb(m.get('gzip_bytes'))}"
    if name == "quantize":
        return f"{m.get('method', '')}, agreement {_pct(m.get('agreement'))}"
    if name == "convert":
        return f"ONNX top-1 {_pct(m.get('onnx_top1_agreement'))}, C array {_kb(m.get('c_array_bytes'))}"
    if name == "device-simulate":
        return f"{m.get('target', '')} ({m.get('runtime', '')})"
    if name == "distill" and "student_params" in m:
        return f"{m['student_params']:,} params (teacher {m.get('teacher_params', 0):,})"
    if name == "ingest":
        return f"{m.get('params', 0):,} params, labels: {m.get('labels', '')}"
    return ""


def _kb(v: Any) -> str:
    return "-" if v is None else f"{v / 1024:.1f} KB"


def _pct(v: Any) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _ms(v: Any) -> str:
    return "-" if v is None else f"{v:.2f} ms"
