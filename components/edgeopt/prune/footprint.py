"""What a Keras model costs: parameters, MACs, file bytes and gzip bytes, measured one way for the
source and the pruned model alike."""

import gzip
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgeopt.prune.macs import count_macs


def footprint(model, file: Path, sample_shape: Sequence[int | None]) -> dict[str, Any]:
    """`params`, `macs`, `nonzero_macs` (per sample of `sample_shape`), `size_bytes` and `gzip_bytes`
    of `model` saved as `file`."""
    macs, nonzero = count_macs(model, sample_shape)
    return {"params": int(model.count_params()), "macs": macs, "nonzero_macs": nonzero,
            "size_bytes": file.stat().st_size, "gzip_bytes": gzip_size(file)}


def gzip_size(path: Path) -> int:
    """Bytes of the gzip (level 9) of a file: how small a sparse model gets when compressed."""
    return len(gzip.compress(path.read_bytes(), compresslevel=9, mtime=0))
