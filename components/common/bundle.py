"""Model bundles: a directory holding one model plus `model.json`, the metadata that travels with it.

Layout::

    <bundle>/
        model.keras | model.tflite | model.onnx | savedmodel/ | ...   (the model, named in `file`)
        model.json   {"format", "file", "precision", "input_shape", "output_shape",
                      "size_bytes", "sparsity", "stage", "parent", "extra_files", ...}

Every stage reads the format from `model.json`, never by guessing. A plain model file or
SavedModel directory given by a user is turned into a bundle by `ingest` (or `as_bundle`).
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeopt.common.errors import EdgeoptError
from edgeopt.common.fsutil import dir_size

METADATA_FILE = "model.json"
FORMATS = ("keras", "savedmodel", "tflite", "onnx", "c_array")


@dataclass
class ModelInfo:
    """Metadata of one model bundle."""

    format: str
    file: str
    precision: str = "float32"
    input_shape: list[int | None] = field(default_factory=list)
    output_shape: list[int | None] = field(default_factory=list)
    size_bytes: int = 0
    sparsity: float = 0.0
    stage: str = ""
    parent: dict[str, Any] = field(default_factory=dict)
    extra_files: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise EdgeoptError(f"unknown model format {self.format!r}",
                               f"use one of {', '.join(FORMATS)}")


def write_bundle(bundle_dir: Path | str, info: ModelInfo) -> ModelInfo:
    """Write `model.json` into `bundle_dir`, where the model file already lies; fills `size_bytes`."""
    bundle_dir = Path(bundle_dir)
    model_path = bundle_dir / info.file
    if not model_path.exists():
        raise FileNotFoundError(f"bundle {bundle_dir} has no {info.file}")
    info.size_bytes = dir_size(model_path)
    (bundle_dir / METADATA_FILE).write_text(json.dumps(asdict(info), indent=2, sort_keys=True))
    return info


def read_bundle(bundle_dir: Path | str) -> tuple[ModelInfo, Path]:
    """Return the metadata of a bundle and the path of its model file or directory."""
    bundle_dir = Path(bundle_dir)
    meta = bundle_dir / METADATA_FILE
    if not meta.is_file():
        raise EdgeoptError(f"{bundle_dir} is not an edgeopt model bundle (no {METADATA_FILE})",
                           "pass a bundle written by an edgeopt stage, or a model file to `ingest`")
    try:
        info = ModelInfo(**json.loads(meta.read_text()))
    except (ValueError, TypeError) as exc:
        raise EdgeoptError(f"{meta} is not valid bundle metadata: {exc}",
                           "re-run the stage that wrote this bundle") from exc
    return info, bundle_dir / info.file


def parent_ref(info: ModelInfo) -> dict[str, Any]:
    """A short reference to a parent model, stored in a child's `parent` field."""
    return {"stage": info.stage, "format": info.format, "precision": info.precision,
            "size_bytes": info.size_bytes}
