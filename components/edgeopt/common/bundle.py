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
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeopt.common.errors import EdgeoptError, first_line
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
    """Return the metadata of a bundle and the path of its model file or directory.

    EdgeoptError unless the bundle is a plain tree (no symbolic links or special files), its
    `model.json` is valid and names files inside the bundle. Whether loading the model is safe is
    decided by its content when a stage loads it (`edgeopt.common.modelfile.check_loadable`).
    """
    bundle_dir = Path(bundle_dir)
    meta = bundle_dir / METADATA_FILE
    if not meta.is_file():
        raise EdgeoptError(f"{bundle_dir} is not an edgeopt model bundle (no {METADATA_FILE})",
                           "pass a bundle written by an edgeopt stage, or a model file to `ingest`")
    check_plain_tree(bundle_dir)
    try:
        info = ModelInfo(**json.loads(meta.read_text()))
    except (ValueError, TypeError) as exc:
        raise EdgeoptError(f"{meta} is not valid bundle metadata: {first_line(exc)}",
                           "re-run the stage that wrote this bundle") from exc
    path = _inside(bundle_dir, info.file, meta)
    for name in info.extra_files.values():
        _inside(bundle_dir, name, meta)
    return info, path


def check_plain_tree(root: Path | str) -> None:
    """EdgeoptError if anything under `root` is a symbolic link or neither a file nor a folder."""
    root = Path(root)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            entry = Path(folder) / name
            if entry.is_symlink():
                raise EdgeoptError(f"{entry} is a symbolic link; bundles may hold only plain files",
                                   "replace the link by a copy of the file it points to")
            if name in files and not entry.is_file():
                raise EdgeoptError(f"{entry} is not a regular file", "remove it from the bundle")


def _inside(bundle_dir: Path, name: Any, meta: Path) -> Path:
    """`bundle_dir / name`, refused unless `name` is a relative path that stays inside the bundle."""
    if not isinstance(name, str) or not name or Path(name).is_absolute() or ".." in Path(name).parts:
        raise EdgeoptError(f"{meta} names {name!r}, which is not a path inside the bundle",
                           "a bundle's model.json may only name files inside the bundle folder")
    path = bundle_dir / name
    if not path.exists():
        raise EdgeoptError(f"bundle {bundle_dir} has no {name} (named in {METADATA_FILE})",
                           "re-run the stage that wrote this bundle")
    return path


def parent_ref(info: ModelInfo) -> dict[str, Any]:
    """A short reference to a parent model, stored in a child's `parent` field."""
    return {"stage": info.stage, "format": info.format, "precision": info.precision,
            "size_bytes": info.size_bytes}
