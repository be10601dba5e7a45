"""What a method's build function receives and returns."""

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeopt.common.datasets import Dataset
from edgeopt.common.float_source import FloatSource
from edgeopt.quantize.methods import QuantMethod


@dataclass
class Job:
    """One quantization: the float model, the data, the checked stage options (io_type resolved)."""

    method: QuantMethod
    source: FloatSource
    data: Dataset
    calib: np.ndarray | None
    x_test: np.ndarray
    reference: np.ndarray   # the float model's outputs on x_test
    labels: np.ndarray      # y_test, or the float model's top-1 without labels
    options: dict[str, Any]


@dataclass
class Built:
    """A method's result: the flatbuffer, the layers it kept float, and metrics of its own."""

    flatbuffer: bytes
    float_layers: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
