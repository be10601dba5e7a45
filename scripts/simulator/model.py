"""The calibration fit: shared constants, runtime scales and core corrections, in log space.

Parameters (calibration.py says how they price a model):
- `constants`: cycles per unit of each work term on the reference core, pulled towards the
  instruction-count `PRIOR` with weight `PRIOR_WEIGHT` per squared log unit;
- `runtimes[name].log_scale`: each measured runtime's software efficiency (free);
- `core_corrections`: per core measured besides the Cortex-M4F, per (family, core) and per
  (runtime, core) where that family or runtime was measured on the core, each pulled towards 0
  (weights `CORRECTION_WEIGHTS`): the architecture ratios stand where the data say nothing.
Least squares on log latency (scipy's trust-region reflective solver).
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from data import Row
from edgeopt.device_simulate.calibration import coefficients_from
from edgeopt.device_simulate.costmodel import TERMS, OpWork
from edgeopt.device_simulate.hardware import cores
from edgeopt.device_simulate.latency import total_cycles, work_totals
from edgeopt.device_simulate.runtimes import registry

REFERENCE_CORE = "cortex-m4f"
# Instruction-count prior on the Cortex-M4 at zero wait states (CMSIS-NN 6.x inner loops).
PRIOR = {
    "matmul.mac": 1.1,          # s8 x s16 matrix kernel: 8 SMLAD + 4 loads + 4 SXTB16 per 16 MACs
    "depthwise.mac": 4.0,       # per output 9 taps of plain-C load/load/MLA + requantisation: ~36 cycles
    "fully_connected.mac": 1.6,  # vector x matrix: 2 MACs per SMLAD, weights re-read from flash
    "im2col.byte": 2.0,         # q7 -> q15 expansion and copy per im2col element
    "mac_in.byte": 2.0,         # reading the input feature map (per byte)
    "mac_out.byte": 20.0,       # requantisation per output: 64-bit multiply, rounding shift, clamp, store
    "elementwise.byte": 5.0,
    "pool.byte": 1.5,
    "softmax.byte": 40.0,
    "data_movement.byte": 0.5,
}
PRIOR_WEIGHT = 1.0
CORRECTION_WEIGHTS = {"core": 0.3, "family": 1.0, "runtime": 3.0}
SCALE_WEIGHT = 1e-3  # anchors the runtime scales, which the data determine


@dataclass
class Fit:
    """A fitted calibration: `params` in calibration.yaml's form, and the rows it was fitted on."""

    params: dict
    rows: list[Row]

    def predict_ms(self, works: dict[str, list[OpWork]], runtime: str, board_core: str, clock_mhz: float,
                   benchmark: str) -> float:
        """Predicted latency of `benchmark` with `runtime` on a core at a clock."""
        return _cycles(self.params, works[benchmark], runtime, board_core) / (clock_mhz * 1e3)


def _cycles(params: dict, works: list[OpWork], runtime: str, core: str) -> float:
    rt, reference = registry()[runtime], registry()["tflm-reference"]
    c = cores()[core]
    return total_cycles(work_totals(works, rt), coefficients_from(params, rt, c), coefficients_from(params, reference, c))


class _Layout:
    """Where each parameter sits in the solver's vector."""

    def __init__(self, rows: list[Row]) -> None:
        self.runtimes = sorted({r.runtime for r in rows})
        others = sorted({(r.runtime, r.core) for r in rows if r.core != REFERENCE_CORE})
        self.cores = sorted({c for _, c in others})
        self.families = sorted({(registry()[rt].family, c) for rt, c in others})
        self.pairs = others
        self.constants = [t for t in TERMS if t != "overhead"]
        self.size = len(self.constants) + len(self.runtimes) + len(self.cores) + len(self.families) + len(self.pairs)

    def params(self, x: np.ndarray) -> dict:
        i = iter(x)
        params = {"constants": {t: math.exp(next(i)) for t in self.constants},
                  "runtimes": {rt: {"log_scale": next(i)} for rt in self.runtimes},
                  "core_corrections": {"core": {c: next(i) for c in self.cores}, "family": {}, "runtime": {}}}
        for fam, core in self.families:
            params["core_corrections"]["family"].setdefault(fam, {})[core] = next(i)
        for rt, core in self.pairs:
            params["core_corrections"]["runtime"].setdefault(rt, {})[core] = next(i)
        add_derived(params)
        return params

    def start(self) -> np.ndarray:
        return np.concatenate([np.log([PRIOR[t] for t in self.constants]), np.zeros(self.size - len(self.constants))])

    def penalties(self, x: np.ndarray) -> np.ndarray:
        n = len(self.constants)
        weights = ([PRIOR_WEIGHT] * n + [SCALE_WEIGHT] * len(self.runtimes)
                   + [CORRECTION_WEIGHTS["core"]] * len(self.cores) + [CORRECTION_WEIGHTS["family"]] * len(self.families)
                   + [CORRECTION_WEIGHTS["runtime"]] * len(self.pairs))
        return np.sqrt(weights) * (x - np.concatenate([np.log([PRIOR[t] for t in self.constants]),
                                                       np.zeros(self.size - n)]))


def add_derived(params: dict) -> None:
    """Scales of the profiles without measurements of their own (`derived_from`): the mean log scale
    of their sources, or of every fitted runtime when none of the sources is among the rows (the
    reference-kernel profile reuses its base's)."""
    fitted = dict(params["runtimes"])
    for rt in registry().values():
        if rt.measured or rt.reference_ratios:
            continue
        sources = [s for s in rt.derived_from if s in fitted] or list(fitted)
        params["runtimes"][rt.name] = {"log_scale": float(np.mean([fitted[s]["log_scale"] for s in sources]))}


def fit(rows: list[Row], works: dict[str, list[OpWork]]) -> Fit:
    """Fit the calibration parameters to `rows`."""
    layout = _Layout(rows)
    target = np.log([r.latency_ms * r.clock_mhz * 1e3 for r in rows])

    def residuals(x: np.ndarray) -> np.ndarray:
        params = layout.params(x)
        pred = np.log([_cycles(params, works[r.benchmark], r.runtime, r.core) for r in rows])
        return np.concatenate([pred - target, layout.penalties(x)])

    solution = least_squares(residuals, layout.start(), method="trf", x_scale=1.0, xtol=1e-10, ftol=1e-12)
    return Fit(layout.params(solution.x), rows)
