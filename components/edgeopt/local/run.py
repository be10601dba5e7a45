"""Run the `edge-optimize` pipeline on this machine through `kfp.local` and gather its results."""

import contextlib
import json
import shutil
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeopt.common.errors import EdgeoptError
from edgeopt.stages import STAGES

# (stage name shown to users, KFP task name, output holding its metrics JSON)
STAGE_OUTPUTS = tuple((s.name, s.name, s.summary_output) for s in STAGES if s.summary_output)


class PipelineFailed(EdgeoptError):
    """A pipeline task failed; its own log, printed above, says why."""

    exit_code = 1


def run_pipeline(model: Path, data: Path, targets_text: str, out_dir: Path, params: dict[str, Any],
                 runner: str = "subprocess", verbose: bool = False) -> dict[str, Any]:
    """Run `edge-optimize` locally with artifacts under `out_dir/pipeline-root`; return the summary.

    The summary has `stages` (list of {name, metrics}), `verdict` ({passed, checks, ...}) and
    `promoted` (registry URI of the new entry, or None), and is also written to `out_dir/summary.json`.
    The full kfp.local log goes to `out_dir/pipeline.log`; stderr gets one line per task start and end.
    """
    from edgeopt.pipelines.edge_optimize import pipeline

    run_dir = run_local(pipeline, {"model_uri": str(Path(model).resolve()), "data_uri": str(Path(data).resolve()),
                                   "targets": targets_text, **params}, out_dir, runner, verbose)
    summary = collect_summary(run_dir)
    html = find_output(run_dir, "validate-targets", "report_html")
    if html is not None:  # the verdict's HTML report, beside the summary
        shutil.copyfile(html, out_dir / "report.html")
        summary["report_html"] = str(out_dir / "report.html")
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True, default=str))
    return summary


def run_local(factory: Callable[[Any], Any], arguments: dict[str, Any], out_dir: Path, runner: str = "subprocess",
              verbose: bool = False) -> Path:
    """Run the pipeline `factory(ClusterOptions)` builds with `arguments` through kfp.local, artifacts
    under `out_dir/pipeline-root`, the full log in `out_dir/pipeline.log` and a line per task on
    stderr; return the run's folder. PipelineFailed when a task fails."""
    from kfp import local

    from edgeopt.containers.images import default_tag
    from edgeopt.pipelines.cluster import ClusterOptions
    from edgeopt.local.progress import ProgressLog

    root = (out_dir / "pipeline-root").resolve()
    root.mkdir(parents=True, exist_ok=True)
    before = set(root.iterdir())
    local.init(runner=_runner(runner), pipeline_root=str(root), raise_on_error=True)
    progress = ProgressLog(out_dir / "pipeline.log", verbose=verbose)
    try:
        with contextlib.redirect_stdout(progress), warnings.catch_warnings():
            # the subprocess runner warns that stage images are not plain Python images: intended here
            warnings.filterwarnings("ignore", message=".*non-Python base image.*")
            # and that resources and display names mean nothing locally
            warnings.filterwarnings("ignore", message=".*have no effect in the current local runner.*")
            # the images `edgeopt images build` tagged from this checkout (the subprocess runner ignores them)
            factory(ClusterOptions(tag=default_tag()))(**arguments)
    except RuntimeError as exc:
        print(progress.failure_excerpt(), file=sys.stderr)
        raise PipelineFailed(f"the pipeline stopped: {exc}",
                             f"the task's log is above and in full in {out_dir / 'pipeline.log'}; "
                             "rerun that stage alone with `edgeopt <stage>` to debug it") from exc
    finally:
        progress.close()
    runs = sorted(set(root.iterdir()) - before, key=lambda p: p.stat().st_mtime)
    if not runs:
        raise PipelineFailed(f"the pipeline wrote no run folder under {root}", "")
    return runs[-1]


def collect_summary(run_dir: Path) -> dict[str, Any]:
    """Read every stage's metrics, the verdict and the promotion entry from one local run folder."""
    stages = []
    for name, task, output in STAGE_OUTPUTS:
        path = find_output(run_dir, task, output)
        stages.append({"name": name, "metrics": json.loads(path.read_text()) if path else None})
    verdict_path = find_output(run_dir, "validate-targets", "verdict")
    verdict = json.loads((verdict_path / "verdict.json" if verdict_path.is_dir() else verdict_path).read_text())
    entry = find_output(run_dir, "promote", "entry")
    promoted = json.loads(entry.read_text()).get("uri") if entry else None
    report = find_output(run_dir, "validate-targets", "report")
    return {"run_dir": str(run_dir), "stages": stages, "verdict": verdict, "promoted": promoted,
            "report": str(report) if report else None}


def find_output(run_dir: Path, task: str, output: str) -> Path | None:
    """The output `output` of task `task` in a local run folder (tasks may sit in nested DAG folders)."""
    for path in sorted(run_dir.rglob(output)):
        if path.parent.name == task:
            return path
    return None


def _runner(name: str):
    from kfp import local

    if name == "subprocess":
        return local.SubprocessRunner(use_venv=False)
    if name == "docker":  # each stage in its own image, on Docker or podman (DOCKER_HOST)
        from edgeopt.containers.docker_runner import docker_runner

        return docker_runner()
    raise EdgeoptError(f"unknown runner {name!r}", "use --runner subprocess or --runner docker")
