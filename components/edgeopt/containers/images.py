"""The one place that names container images and their tags.

Components name `PREFIX/edgeopt-<stage>:<version>` (the committed pipeline YAML); builds,
`edgeopt images list` and `edgeopt compile` default to `default_tag()`, which is the version for a
release and the git SHA for development builds.

`edgeopt-base` (Python, kfp, edgeopt, non-root) and `edgeopt-tf` (the base plus the TensorFlow
stack) are shared; each stage has `edgeopt-<stage>`, built FROM its stage's parent image
(`edgeopt.stages.Stage.parent_image`).
"""

import subprocess
from pathlib import Path

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


def default_tag(repo: Path | None = None) -> str:
    """The tag a build from this checkout gets: the package version for a release (HEAD is tagged
    v<version> and the tree is clean), else `<version>-g<short sha>` with `-dirty` for uncommitted
    changes, so that a cluster never runs a stale development image under a reused tag. Outside a
    git checkout: the package version."""
    repo = repo or Path(__file__).resolve().parents[3]

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    sha = git("rev-parse", "--short=12", "HEAD")
    if sha is None:
        return IMAGE_TAG
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    if not dirty and git("tag", "--points-at", "HEAD") and f"v{IMAGE_TAG}" in git("tag", "--points-at", "HEAD").split():
        return IMAGE_TAG
    return f"{IMAGE_TAG}-g{sha}" + ("-dirty" if dirty else "")
