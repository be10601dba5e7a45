"""`edgeopt report DIR`: render the HTML and Markdown report of a local sweep or run again from its files."""

import argparse
import json
from pathlib import Path
from typing import Any

from edgeopt.common.errors import EdgeoptError
from edgeopt.common.metrics import read_metrics
from edgeopt.common.simulations import read_reports


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", metavar="DIR", help="the --output folder of `edgeopt sweep`, `edgeopt run` or `edgeopt demo`")
    parser.add_argument("--html", help="where the HTML report goes (default DIR/report.html)")
    parser.add_argument("--markdown", help="where the Markdown report goes (default DIR/report.md)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from edgeopt.common.reports import write_report

    folder = Path(args.dir)
    report = render_folder(folder)
    html, markdown = Path(args.html or folder / "report.html"), Path(args.markdown or folder / "report.md")
    write_report(report, html, markdown)
    return {"html": str(html), "markdown": str(markdown)}


def render_folder(folder: Path):
    """The report of a sweep folder (pareto.json, chosen/) or of a run folder (summary.json and its run)."""
    from edgeopt.common.reports import render_sweep_report, render_verdict_report

    if (folder / "pareto.json").is_file():
        doc = json.loads((folder / "pareto.json").read_text())
        chosen = folder / "chosen"
        simulations = {r["target"]: r for r in read_reports(chosen / "simulations")} if chosen.is_dir() else {}
        matrix = read_metrics(chosen / "metrics.json").get("confusion_matrix") if chosen.is_dir() else None
        return render_sweep_report(doc, simulations, matrix)
    if (folder / "summary.json").is_file():
        summary = json.loads((folder / "summary.json").read_text())
        run_dir = Path(summary.get("run_dir", ""))
        reports = sorted(run_dir.rglob("device-simulate/reports"))
        metrics = sorted(run_dir.rglob("quantize/metrics"))
        if not summary.get("verdict") or not reports or not metrics:
            raise EdgeoptError(f"the run {run_dir} that {folder / 'summary.json'} names lacks its verdict, simulation "
                               "or quantize outputs", "run `edgeopt run` (or `edgeopt demo`) into this folder again")
        return render_verdict_report(summary["verdict"], read_reports(reports[0]), read_metrics(metrics[0]))
    raise EdgeoptError(f"{folder} holds neither pareto.json (edgeopt sweep) nor summary.json (edgeopt run or demo)",
                       "pass the --output folder of a sweep or a run")
