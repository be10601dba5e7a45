"""The one place that names container images; tags follow the package version.

`edgeopt-base` (Python, kfp, edgeopt, non-root) and `edgeopt-tf` (the base plus the TensorFlow
stack) are shared; each stage has `edgeopt-<stage>`, built FROM its stage's parent image
(`edgeopt.stages.Stage.parent_image`).
"""

from edgeopt import __version__
from edgeopt.stages import NAMES as STAGES
from edgeopt.stages import stage

SHARED = ("base", "tf")  # built first, in this order
DEFAULT_PREFIX = "localhost"
IMAGE_TAG = __version__


def image_ref(name: str, prefix: str = DEFAULT_PREFIX, tag: str = IMAGE_TAG) -> str:
    """`PREFIX/edgeopt-NAME:TAG` of a shared image (base, tf) or a stage."""
    if name not in SHARED and name not in STAGES:
        raise ValueError(f"unknown image {name!r}; images are {', '.join((*SHARED, *STAGES))}")
    return f"{prefix.rstrip('/')}/edgeopt-{name}:{tag}"


def image_for(stage_name: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The image reference `PREFIX/edgeopt-STAGE:VERSION` of one stage."""
    if stage_name not in STAGES:
        raise ValueError(f"unknown stage {stage_name!r}; stages are {', '.join(STAGES)}")
    return image_ref(stage_name, prefix)


def parent_of(name: str) -> str | None:
    """The image `name` starts FROM: None for the base (a Python image given at build time)."""
    if name == "base":
        return None
    if name == "tf":
        return "base"
    return stage(name).parent_image


def build_order(stages: list[str] | tuple[str, ...] = STAGES) -> list[str]:
    """The images to build for `stages`, parents first."""
    wanted = list(dict.fromkeys(stages))
    shared = [s for s in SHARED if s == "base" or any(parent_of(n) == s for n in wanted)]
    return shared + wanted
