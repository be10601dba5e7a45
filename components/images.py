"""The one place that names container images; tags follow the package version."""

from edgeopt import __version__

STAGES = ("ingest", "distill", "prune", "quantize", "convert", "device-simulate",
          "validate-targets", "promote")
DEFAULT_PREFIX = "localhost"
IMAGE_TAG = __version__


def image_for(stage: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Return the image reference `PREFIX/edgeopt-STAGE:VERSION` of one stage."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    return f"{prefix.rstrip('/')}/edgeopt-{stage}:{IMAGE_TAG}"
