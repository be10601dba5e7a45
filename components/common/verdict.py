"""The verdict of the gate: its files and its Markdown report, shared by validate-targets (which writes
them) and promote (which publishes them).

`verdict.json`: {passed, target, checks: [{metric, value, threshold, passed, reason}]};
`report.md`: the verdict in words, then one table row per check; `BLESSED` or `NOT_BLESSED`: an
empty marker file a pipeline condition can read.
"""

from typing import Any

VERDICT_FILE = "verdict.json"
REPORT_FILE = "report.md"
BLESSED = "BLESSED"
NOT_BLESSED = "NOT_BLESSED"
COMPARISONS = {"min_accuracy": "≥", "supported": "=", "target": "=", "runtime": "="}


def render_markdown(verdict: dict[str, Any]) -> str:
    """A Markdown report: the verdict first, then a table with one row per check."""
    failed = [c for c in verdict["checks"] if not c["passed"]]
    if verdict["passed"]:
        head = f"# Verdict: PASSED\n\nThe model passes all {len(verdict['checks'])} checks on {verdict['target']}."
    else:
        head = (f"# Verdict: REJECTED\n\n{len(failed)} of {len(verdict['checks'])} checks failed on "
                f"{verdict['target']}: " + "; ".join(c["reason"] for c in failed) + ".")
    rows = ["| check | value | limit | result | reason |", "| --- | --- | --- | --- | --- |"]
    for c in verdict["checks"]:
        limit = f"{COMPARISONS.get(c['metric'], '≤')} {_cell(c['threshold'])}"
        rows.append(f"| {c['metric']} | {_cell(c['value'])} | {limit} | {'pass' if c['passed'] else '**FAIL**'} "
                    f"| {_escape(c['reason'])} |")
    return head + "\n\n" + "\n".join(rows) + "\n"


def fmt(x: float) -> str:
    """A number for a sentence: 61.2, 50, 0.0042."""
    if x != 0 and abs(x) < 1:
        return f"{x:.2g}"
    return f"{x:.2f}".rstrip("0").rstrip(".")


def pct(x: float) -> str:
    return f"{fmt(100 * x)}%"


def points(x: float) -> str:
    return f"{fmt(100 * x)} points"


def _cell(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return fmt(value)
    return _escape(str(value))


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
