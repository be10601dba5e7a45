"""Metrics as JSON files and as KFP `Metrics` artifacts, without importing kfp."""

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.json"


def write_metrics(path: Path | str, metrics: dict[str, Any]) -> Path:
    """Write metrics as JSON to `path` (a file, or a directory that receives `metrics.json`)."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True, default=_jsonable))
    return path


def read_metrics(path: Path | str) -> dict[str, Any]:
    """Read metrics written by `write_metrics` (file, or directory holding `metrics.json`)."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    return json.loads(path.read_text())


def log_to_kfp(artifact: Any, metrics: dict[str, Any], keys: Iterable[str] | None = None) -> None:
    """Log numeric scalars of `metrics` on a KFP `Metrics` artifact and write all of them as JSON at its path.

    With `keys` (a stage's declared metrics: the figures people compare across runs), only those are
    logged; settings such as epochs stay in the JSON file only.
    """
    wanted = None if keys is None else set(keys)
    for key, value in sorted(metrics.items()):
        if wanted is not None and key not in wanted:
            continue
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, (int, float)) and math.isfinite(value):
            artifact.log_metric(key, float(value))
    write_metrics(artifact.path, metrics)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
