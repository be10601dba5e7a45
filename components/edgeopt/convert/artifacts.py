"""The convert component's outputs: one KFP artifact per format, and the metrics people compare.

`convert_to_artifacts` runs `edgeopt.convert.core.convert` in a scratch folder and copies each
format's folder (core's layout: tflite/, onnx/, optimized/, c_array/, openvino/, tensorrt/) to the
path of that format's artifact. A format that was written gets its folder (a bundle with model.json,
except the OpenVINO IR and the TensorRT engine) and the metadata

    {"status": "ok", "format", "file", "precision", "size_bytes", "parity"[, "extra_files", "reason"]}

where `format`, `file` and `precision` come from model.json when there is one, `size_bytes` is the
model's bytes (for the C array, the array's) and `parity` is the entry of metrics.json's `formats`.
A format that was skipped (its runtime is not installed, or it failed) gets the metadata
``{"status": "skipped", "reason": ...}`` and no model: its path holds only SKIPPED_FILE with the
same two keys, because KFP uploads every declared output path and fails a task when one is missing.
So every installation has the same outputs and the same pipeline graph.

The `Metrics` artifact logs only the metrics the stage declares (`SPEC.metrics`: parity, agreement,
bytes) that have a value; its file is the whole metrics.json, settings and the `formats` list included.
"""

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from edgeopt.common.bundle import METADATA_FILE, read_bundle
from edgeopt.common.metrics import write_metrics
from edgeopt.convert.core import convert
from edgeopt.convert.spec import SPEC

SKIPPED_FILE = "skipped.json"


def convert_to_artifacts(model_dir: str, data_path: str, quantized_dir: str | None, outputs: dict[str, Any],
                         metrics: Any, **options: Any) -> dict[str, Any]:
    """Convert, fill `outputs` (format name -> KFP artifact, one for every format convert lists) and
    `metrics`; return convert's metrics. `options` are `SPEC`'s parameters. Artifacts only need
    `.path`, `.metadata` and, for `metrics`, `.log_metric`."""
    with tempfile.TemporaryDirectory(prefix="edgeopt-convert-") as tmp:
        result = convert(model_dir, data_path, Path(tmp) / "converted", quantized_dir=quantized_dir, **options)
        listed = {item["format"]: item for item in result["formats"]}
        if set(listed) != set(outputs):
            raise ValueError(f"convert lists the formats {sorted(listed)}, the component has {sorted(outputs)}")
        for name, item in listed.items():
            _publish(Path(tmp) / "converted", item, outputs[name])
    _log_compared(metrics, result)
    return result


def _log_compared(artifact: Any, result: dict[str, Any]) -> None:
    """Log on `artifact` each declared metric of `result` that has a value; write all of `result` at its path."""
    for declared in SPEC.metrics:
        value = result.get(declared.key)
        if value is not None:
            artifact.log_metric(declared.key, float(value))
    write_metrics(artifact.path, result)


def _publish(converted: Path, item: dict[str, Any], artifact: Any) -> None:
    dest = Path(artifact.path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if item["status"] != "ok":
        skipped = {"status": "skipped", "reason": item["reason"]}
        dest.mkdir(exist_ok=True)
        (dest / SKIPPED_FILE).write_text(json.dumps(skipped, indent=2) + "\n")
        artifact.metadata.update(skipped)
        return
    folder = converted / Path(item["path"]).parts[0]
    shutil.copytree(folder, dest, dirs_exist_ok=True)
    artifact.metadata.update(_metadata(folder, item))


def _metadata(folder: Path, item: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {"status": "ok", "format": item["format"], "file": Path(item["path"]).name,
                            "precision": "float32", "size_bytes": item["bytes"]}
    if (folder / METADATA_FILE).is_file():
        info, _ = read_bundle(folder)
        meta.update(format=info.format, file=info.file, precision=info.precision)
        if info.extra_files:
            meta["extra_files"] = info.extra_files
    if item["parity"] is not None:
        meta["parity"] = item["parity"]
    if item["reason"]:
        meta["reason"] = item["reason"]
    return meta
