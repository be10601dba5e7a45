"""The fitted calibration (`calibration.yaml`, written by scripts/simulator/fit.py) and the cost
coefficients it gives a runtime on a core.

A runtime's coefficient for a work term (costmodel.TERMS) on a core is

    constant[term] * ratio[core, term] * exp(log_scale[runtime] + core_correction)

with `core_correction` the sum of the fitted corrections of the core, of the runtime's family on
that core and of the runtime itself on that core, each present only where MLPerf Tiny measured
it (absent: 0, the architecture ratios alone). `overhead` is the runtime's declared cycles per
operator times the core's scalar ratio. The same function prices the fit's rows, so the
simulator and the cross-validated error are one model.
"""

import math
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from edgeopt.device_simulate.costmodel import TERMS, ratio_name
from edgeopt.device_simulate.hardware import Core
from edgeopt.device_simulate.runtimes import Runtime, registry


@lru_cache(maxsize=1)
def load_calibration() -> dict[str, Any]:
    """The parsed `calibration.yaml`."""
    return yaml.safe_load(resources.files("edgeopt.device_simulate").joinpath("calibration.yaml").read_text())


def core_correction(params: dict[str, Any], rt: Runtime, core: str) -> float:
    """The fitted log correction of `rt` on `core` (0 where nothing was measured)."""
    corr = params["core_corrections"]
    return (corr["core"].get(core, 0.0) + corr["family"].get(rt.family, {}).get(core, 0.0)
            + corr["runtime"].get(rt.name, {}).get(core, 0.0))


def coefficients_from(params: dict[str, Any], rt: Runtime, core: Core) -> dict[str, float]:
    """Cycles per unit of each work term for `rt` on `core`, from calibration parameters `params`."""
    if rt.reference_ratios:
        return _reference(params, rt, core)
    scale = math.exp(params["runtimes"][rt.name]["log_scale"] + core_correction(params, rt, core.name))
    out = {term: params["constants"][term] * getattr(core.ratios, ratio_name(term)) * scale
           for term in TERMS if term != "overhead"}
    out["overhead"] = rt.effects.overhead_cycles * core.ratios.scalar
    return out


def _reference(params: dict[str, Any], rt: Runtime, core: Core) -> dict[str, float]:
    """Plain-C reference kernels: the base profile's M4F coefficients times the instruction-count
    ratios, every term scaled by the core's scalar ratio."""
    base = registry()[rt.derived_from[0]]
    scale = math.exp(params["runtimes"][base.name]["log_scale"])
    out = {}
    for term in TERMS:
        if term == "overhead":
            continue
        kind = term.split(".")[0] if term.endswith(".mac") else "bytes"
        out[term] = params["constants"][term] * scale * rt.reference_ratios[kind] * core.ratios.scalar
    out["overhead"] = rt.effects.overhead_cycles * core.ratios.scalar
    return out


def coefficients(rt: Runtime, core: Core) -> dict[str, float]:
    """Cycles per unit of work for `rt` on `core`, from the committed calibration."""
    return coefficients_from(load_calibration(), rt, core)


def calibrated_on(rt: Runtime) -> dict[str, Any]:
    """What the profile was calibrated on: boards and row count, or the profiles it derives from."""
    return load_calibration()["runtimes"][rt.name]["calibrated_on"]


def measured_cores(rt: Runtime) -> list[str]:
    """The cores on which MLPerf Tiny measured this runtime, its family, or any runtime."""
    corr = load_calibration()["core_corrections"]
    own = set(corr["runtime"].get(rt.name, {})) | set(corr["family"].get(rt.family, {}))
    return sorted(own | set(calibrated_on(rt).get("cores", [])))
