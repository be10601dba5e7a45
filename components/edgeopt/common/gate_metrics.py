"""The gate's metric vocabulary: every metric a targets file may set a goal on, declared once with its
unit, its better direction and where its value comes from.

Device metrics are read from a target's simulation report, quality metrics from the candidate
model's metrics (the quantize stage's metrics.json). A gate metric is a stage metric (or the sum of
several) times a scale: `flash_kb` is `flash_bytes` / 1024. Drops and improvements are taken in the
`better` direction (`MetricSpec.better`); where a stage declaration has the same metric, a test keeps
the two directions equal. `input_baseline` says whether the input model's metrics (ingest) carry
it, which a change goal against `baseline: input` needs.
"""

import math
from dataclasses import dataclass
from typing import Any

from edgeopt.common.spec import MetricSpec
from edgeopt.common.verdict import fmt, pct

DEVICE = "device"
QUALITY = "quality"


@dataclass(frozen=True)
class GateMetric:
    """One metric the gate can judge: its declaration, source (DEVICE or QUALITY), the stage metrics
    it sums, their scale, the word used in sentences, the range a `min`/`max` may lie in, whether
    the input model's metrics carry it, and the report key that explains a missing value."""

    spec: MetricSpec
    source: str
    keys: tuple[str, ...]
    label: str
    scale: float = 1.0
    low: float | None = None
    high: float | None = None
    input_baseline: bool = False
    note_key: str | None = None

    def __post_init__(self) -> None:
        if self.spec.better is None:
            raise ValueError(f"gate metric {self.spec.key}: declare which direction is better")

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def better(self) -> str:
        return str(self.spec.better)

    @property
    def is_fraction(self) -> bool:
        return self.spec.unit == "fraction"

    def read(self, metrics: dict[str, Any]) -> tuple[float | None, str]:
        """(value, "") from a stage's metrics, or (None, the first stage key that is missing or unusable)."""
        parts = []
        for key in self.keys:
            value = metrics.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                return None, key
            parts.append(float(value))
        return sum(parts) * self.scale, ""

    def show(self, value: float) -> str:
        """A value in a sentence: 95%, 61.2 ms, 35 dB, 0.004."""
        if self.is_fraction:
            return pct(value)
        return fmt(value) + (f" {self.spec.unit}" if self.spec.unit in _SHOWN_UNITS else "")

    def show_change(self, value: float) -> str:
        """An absolute change in a sentence: 3 points (fractions), 2 ms."""
        if not self.is_fraction:
            return self.show(value)
        amount = fmt(100 * value)
        return f"{amount} point{'' if amount == '1' else 's'}"


_SHOWN_UNITS = ("ms", "KB", "µJ", "dB")


def _device(key: str, unit: str, description: str, label: str, keys: tuple[str, ...], scale: float = 1.0,
            note_key: str | None = None) -> GateMetric:
    return GateMetric(MetricSpec(key, unit, "lower", description), DEVICE, keys, label, scale, low=0,
                      note_key=note_key)


def _quality(key: str, unit: str, better: str, description: str, label: str, keys: tuple[str, ...] | None = None,
             scale: float = 1.0, low: float | None = None, high: float | None = None,
             input_baseline: bool = False) -> GateMetric:
    return GateMetric(MetricSpec(key, unit, better, description), QUALITY, keys or (key,), label, scale, low, high,
                      input_baseline)


KB = 1 / 1024
METRICS: dict[str, GateMetric] = {m.key: m for m in (
    _device("latency_ms", "ms", "latency of one inference on the target", "latency", ("latency_ms",)),
    _device("flash_kb", "KB", "flash the model and its runtime use", "flash", ("flash_bytes",), KB),
    _device("ram_kb", "KB", "RAM the model and its runtime use", "RAM", ("ram_bytes",), KB),
    _device("total_kb", "KB", "flash + RAM", "flash + RAM", ("flash_bytes", "ram_bytes"), KB),
    _device("energy_uj", "µJ", "energy of one inference (boards with measured power only)", "energy",
            ("energy_uj",), note_key="energy_note"),
    _quality("accuracy", "fraction", "higher", "top-1 accuracy on x_test (agreement with the baseline's "
             "predictions when the dataset has no labels)", "accuracy", low=0, high=1, input_baseline=True),
    _quality("agreement", "fraction", "higher", "top-1 agreement with the float model", "agreement", low=0, high=1),
    _quality("snr_db", "dB", "higher", "signal-to-noise ratio of the outputs against the float model", "SNR"),
    _quality("cosine", "ratio", "higher", "mean cosine similarity of the outputs with the float model's",
             "cosine similarity", low=-1, high=1),
    _quality("mse", "output units²", "lower", "mean squared difference from the float model's outputs", "MSE",
             low=0),
    _quality("relative_error", "fraction", "lower", "relative L2 error of the outputs against the float model",
             "relative error", low=0),
    _quality("max_abs_diff", "output units", "lower", "largest absolute output difference from the float model",
             "largest output difference", low=0),
    _quality("size_kb", "KB", "lower", "model file size", "size", ("size_bytes",), KB, low=0, input_baseline=True),
)}


def device_metrics() -> list[str]:
    """The device metrics' names, in declaration order."""
    return [k for k, m in METRICS.items() if m.source == DEVICE]


def quality_metrics() -> list[str]:
    """The quality metrics' names, in declaration order."""
    return [k for k, m in METRICS.items() if m.source == QUALITY]


def values(metrics: dict[str, Any], source: str) -> dict[str, float]:
    """Every gate metric of `source` that `metrics` (a stage's metrics) carries, by name."""
    out = {}
    for key, metric in METRICS.items():
        if metric.source == source:
            value, _ = metric.read(metrics)
            if value is not None:
                out[key] = value
    return out
