"""KFP component: check the candidate's metrics against the targets and write the verdict."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Artifact, Input, Markdown, Metrics, Output

from edgeopt.containers.images import image_for


@dsl.component(base_image=image_for("validate-targets"), install_kfp_package=False)
def validate_targets(baseline_metrics: Input[Metrics], candidate_metrics: Input[Metrics], simulation: Input[Metrics],
                     verdict: Output[Artifact], report: Output[Markdown], report_html: Output[HTML], targets: str,
                     fail_on_reject: bool = False,
                     registry_baseline: Input[Metrics] = None) -> NamedTuple("Outputs", [("passed", bool)]):
    """Gate the candidate model on the targets.

    baseline_metrics, candidate_metrics: the metrics JSON of ingest and quantize. simulation: one
    device-simulate report, or a folder with one report per targets entry and its index.json.
    registry_baseline: with `baseline: registry` in the targets, the metrics of the latest promoted
    version (the promote stage's registry_baseline output). targets: the targets YAML text.
    Outputs: `verdict`, a folder (like a TFX blessing) with verdict.json, report.md and a
    BLESSED or NOT_BLESSED marker, its summary in the artifact metadata; `report`, the Markdown
    report; `report_html`, the same with per-layer latency, budget bars and the confusion matrix;
    `passed`, for pipeline conditions. With `fail_on_reject`, a failed verdict fails
    the task after everything is written (for engines without conditions).
    """
    import shutil
    from collections import namedtuple
    from pathlib import Path

    from edgeopt.common.metrics import read_metrics
    from edgeopt.common.reports import render_verdict_report
    from edgeopt.common.verdict import REPORT_FILE
    from edgeopt.validate_targets.core import rejection, run, summary
    from edgeopt.validate_targets.inputs import read_simulations

    result = run(targets, baseline_metrics.path, candidate_metrics.path, simulation.path, verdict.path,
                 registry_baseline_path=registry_baseline.path if registry_baseline is not None else None)
    Path(report.path).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(verdict.path) / REPORT_FILE, report.path)
    rendered = render_verdict_report(result, read_simulations(simulation.path), read_metrics(candidate_metrics.path))
    Path(report_html.path).write_text(rendered.html)
    verdict.metadata.update(summary(result))
    if fail_on_reject and not result["passed"]:
        raise rejection(result)
    return namedtuple("Outputs", ["passed"])(result["passed"])


@dsl.component(base_image=image_for("validate-targets"), install_kfp_package=False)
def is_blessed(verdict: Input[Artifact]) -> bool:
    """Whether the `verdict` output of validate_targets holds the BLESSED marker.

    Its single unnamed output can drive `dsl.If(is_blessed(verdict=...).output == True)` under
    kfp.local as well as on a KFP backend: the local orchestrator of kfp 2.17.0 cannot resolve a
    condition on a named output such as `passed` (it then always skips the branch).
    """
    from pathlib import Path

    from edgeopt.common.verdict import BLESSED

    return (Path(verdict.path) / BLESSED).is_file()
