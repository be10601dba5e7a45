"""The stage images' Dockerfiles, written from the stage table: `images/<stage>/Dockerfile` starts FROM
its stage's parent image (edgeopt-tf for the TensorFlow stages, else edgeopt-base) and installs only
the stacks the parent lacks. `edgeopt images dockerfiles` writes them (`--check`: exit 2 when one is
stale); a test keeps the committed files equal to what this module writes. The shared images, base
and tf, keep their own hand-written Dockerfiles.
"""

from pathlib import Path

from edgeopt.containers.images import image_ref
from edgeopt.stages import STAGES, TF_STACK, stage

UID = 10001  # the base image's user (images/base/Dockerfile, EDGEOPT_UID)
# why each stack a stage image may add is there, in its Dockerfile's words
STACK_NOTES = {
    "s3": "boto3: s3:// inputs and registries",
    "mlflow": "mlflow-skinny, MLflow's client: an MLflow model registry",
    "convert": "tf2onnx, onnx, onnxruntime, onnx-ir and OpenVINO: the ONNX and OpenVINO exports, their parity "
               "checks and ONNX Runtime quantization",
    "simulate": "tflite-micro (its interpreter plans the tensor arena) and ethos-u-vela (Arm's Ethos-U compiler)",
    "report": "matplotlib: the reports' plots",
}


def stage_dockerfile(name: str) -> str:
    """The Dockerfile of stage `name`'s image."""
    entry = stage(name)
    parent = entry.parent_image
    extra = [s for s in entry.stacks if s != TF_STACK]
    lines = [f"# edgeopt-{entry.name}: {entry.help}",
             "# Written from the stage table (components/edgeopt/stages.py) by `edgeopt images dockerfiles`: edit",
             "# the table, not this file. Built FROM edgeopt-" + parent + " from the repository root: "
             "`edgeopt images build`.",
             f"ARG BASE_IMAGE={image_ref(parent)}",
             "FROM ${BASE_IMAGE}",
             ""]
    if extra:
        lines += ["USER 0"] + [f"# {STACK_NOTES[s]}" for s in extra]
        lines += [f"COPY images/requirements/{s}.txt /tmp/requirements/{s}.txt" for s in extra]
        installs = [f"pip install --no-cache-dir --requirement /tmp/requirements/{s}.txt" for s in extra]
        lines += ["RUN " + " \\\n && ".join(installs + ["rm -rf /tmp/requirements"]), ""]
    lines += [f"USER {UID}:{UID}",
              f'LABEL org.opencontainers.image.title="edgeopt-{entry.name}" \\',
              f'      org.opencontainers.image.description="edgeopt {entry.name} stage"']
    return "\n".join(lines) + "\n"


def write_dockerfiles(root: Path, check: bool = False) -> list[str]:
    """Write every stage's Dockerfile under `root`/images (with `check`, write nothing); return the
    paths that were, or with `check` would be, changed."""
    changed = []
    for entry in STAGES:
        path = root / "images" / entry.name / "Dockerfile"
        text = stage_dockerfile(entry.name)
        if not path.is_file() or path.read_text() != text:
            changed.append(str(path.relative_to(root)))
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    return changed
