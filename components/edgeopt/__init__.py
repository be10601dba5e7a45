"""edgeopt: fit a trained model to an edge device, then decide whether it may ship."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("edgeopt")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
