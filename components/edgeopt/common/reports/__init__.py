"""Reports of the sweep and of the gate's verdict, each as a self-contained HTML page (plots as
inline SVG) and as Markdown for the KFP UI (plots as PNG data URIs, under MARKDOWN_LIMIT).

    render_sweep_report(doc, simulations, confusion) -> Report   the pareto.json document (sweep.py)
    render_verdict_report(verdict, simulations, metrics) -> Report   verdict.json (verdict.py)
    write_report(report, html_path, md_path)

Importing this package does not import matplotlib; rendering does (plots.py). The SVG elements a
reader or a test can find by id (T: a target's number in the sweep, from 0, or for layers the
simulation report's number among those plotted; C: a candidate's number among those its panel plots):

    eo-pareto-T-passed, eo-pareto-T-rejected   the candidates' markers (one each)
    eo-pareto-T-front                          the Pareto front's step line
    eo-pareto-T-chosen                         the chosen candidate's star
    eo-pareto-T-label-C                        a candidate's id label
    eo-pareto-T-budget, eo-pareto-T-budget-label, eo-pareto-T-floor, eo-pareto-T-floor-label
    eo-layers-T-bar-K, eo-layers-T-other       per-layer latency bars (K from 0, slowest first)
    eo-budget-K-ok, eo-budget-K-over           budget bars (K from 0); eo-budget-limit: the 100 % line
    eo-confusion                               the confusion heatmap

Each plot sits in <figure class="plot" id="plot-KEY"> (pareto, layers-T, budgets, confusion); the
candidate table is <table class="candidates"> with rows <tr class="candidate passed|rejected [chosen]">,
the verdict's tables <table class="checks"> with rows <tr class="check [failed]">.
"""

from edgeopt.common.reports.document import MARKDOWN_LIMIT, Report, write_report
from edgeopt.common.reports.sweep import render_sweep_report
from edgeopt.common.reports.verdict import render_verdict_report

__all__ = ["MARKDOWN_LIMIT", "Report", "render_sweep_report", "render_verdict_report", "write_report"]
