"""The target catalog (`targets.yaml`) and the calibrated constants (`calibration.yaml`).

A target is a board name from the catalog (e.g. `NUCLEO-L4R5ZI`, `nrf5340-dk`) or the ad-hoc form
`CORE@CLOCK`: a core name or alias (`cortex-m4f`, `m4f`, `cortex-m0+`) and a clock in MHz with an
optional `mhz` suffix (`80mhz`, `80MHz`, `80`) or in GHz with a `ghz` suffix. Names are
case-insensitive. Canonical names: the board's catalog name, or `cortex-m4f@80mhz`.
"""

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from edgeopt.common.errors import EdgeoptError
from edgeopt.device_simulate.costmodel import CoreRatios, CostConstants, constants_from

_ADHOC = re.compile(r"^(?P<core>[a-z0-9+\-]+)@(?P<clock>\d+(?:\.\d+)?)\s*(?P<unit>mhz|ghz)?$")


@dataclass(frozen=True)
class Core:
    """A CPU core: its architecture facts and its cycle ratios to the calibrated Cortex-M4F."""

    name: str
    arch: str
    isa: str  # CMSIS-NN code path: dsp, mve or c
    dsp: bool
    helium: bool
    dual_issue: bool
    fpu: str  # none, sp or dp
    coremark_per_mhz: float
    ratios: CoreRatios
    facts: str


@dataclass(frozen=True)
class Target:
    """A resolved target: a core at a clock, with the board's memories (None for CORE@CLOCK)."""

    name: str
    core: Core
    clock_mhz: float
    ram_bytes: int | None = None
    flash_bytes: int | None = None
    board: str | None = None


@dataclass(frozen=True)
class Runtime:
    """A runtime profile: its cost constants on the Cortex-M4F and what it supports."""

    name: str
    description: str
    constants: CostConstants
    reference: CostConstants  # constants of the portable reference kernels (fallback operators)
    calibrated: bool
    loo: dict[str, float]  # leave-one-out latency error of the calibration ({} when derived)
    ops: frozenset[str]
    optimized_ops: frozenset[str]
    base_code_bytes: int
    kernel_code_bytes: dict[str, int]
    ram_bytes: int

    def code_bytes(self, opcodes: set[str]) -> int:
        """Runtime code for the distinct operators `opcodes` (estimate)."""
        return self.base_code_bytes + sum(self.kernel_code_bytes.get(op, self.kernel_code_bytes["default"])
                                          for op in opcodes)


def _package_yaml(name: str) -> dict[str, Any]:
    return yaml.safe_load(resources.files("edgeopt.device_simulate").joinpath(name).read_text())


@lru_cache(maxsize=1)
def load_catalog() -> dict[str, Any]:
    """The parsed `targets.yaml`."""
    return _package_yaml("targets.yaml")


@lru_cache(maxsize=1)
def load_calibration() -> dict[str, Any]:
    """The parsed `calibration.yaml` written by `python -m edgeopt.device_simulate.fit`."""
    return _package_yaml("calibration.yaml")


@lru_cache(maxsize=1)
def cores() -> dict[str, Core]:
    """All cores by canonical name."""
    found = {}
    for name, spec in load_catalog()["cores"].items():
        found[name] = Core(name=name, arch=spec["arch"], isa=spec["isa"], dsp=spec["dsp"], helium=spec["helium"],
                           dual_issue=spec["dual_issue"], fpu=spec["fpu"],
                           coremark_per_mhz=float(spec["coremark_per_mhz"]),
                           ratios=CoreRatios(**{k: float(v) for k, v in spec["ratios"].items()}),
                           facts=" ".join(str(spec["facts"]).split()))
    return found


def boards() -> dict[str, dict[str, Any]]:
    """All boards by catalog name."""
    return load_catalog()["boards"]


def find_core(name: str) -> Core:
    """A core by canonical name or alias (case-insensitive); EdgeoptError if unknown."""
    key = name.strip().lower()
    for canonical, spec in load_catalog()["cores"].items():
        if key == canonical or key in [str(a).lower() for a in spec.get("aliases", [])]:
            return cores()[canonical]
    raise EdgeoptError(f"unknown core {name!r}", f"known cores: {', '.join(cores())}")


def resolve_target(name: str) -> Target:
    """Resolve a board name or `CORE@CLOCK`; EdgeoptError listing the boards and the CORE@CLOCK form."""
    key = name.strip().lower()
    for board, spec in boards().items():
        if key == board.lower() or key in [str(a).lower() for a in spec.get("aliases", [])]:
            return Target(name=board, core=cores()[spec["core"]], clock_mhz=float(spec["clock_mhz"]),
                          ram_bytes=int(spec["ram_bytes"]), flash_bytes=int(spec["flash_bytes"]), board=board)
    match = _ADHOC.match(key)
    if not match:
        raise EdgeoptError(f"unknown target {name!r}", _target_hint())
    try:
        core = find_core(match["core"])
    except EdgeoptError as exc:
        raise EdgeoptError(f"unknown target {name!r}: no core named {match['core']!r}", _target_hint()) from exc
    clock = float(match["clock"]) * (1000.0 if match["unit"] == "ghz" else 1.0)
    if not 1.0 <= clock <= 2000.0:
        raise EdgeoptError(f"clock {clock:g} MHz in target {name!r} is outside 1..2000 MHz",
                           "give the core clock in MHz, e.g. cortex-m4f@80mhz")
    return Target(name=f"{core.name}@{clock:g}mhz", core=core, clock_mhz=clock)


def _target_hint() -> str:
    return (f"use a board ({', '.join(boards())}) or CORE@CLOCK such as cortex-m4f@80mhz "
            f"(cores: {', '.join(cores())})")


@lru_cache(maxsize=None)
def runtime_profile(name: str) -> Runtime:
    """A runtime profile by name (case-insensitive); EdgeoptError if unknown."""
    profiles = load_catalog()["runtimes"]
    key = name.strip().lower()
    if key not in profiles:
        raise EdgeoptError(f"unknown runtime {name!r}", f"known runtimes: {', '.join(profiles)}")
    spec = profiles[key]
    reference = _reference_constants()
    if "calibration" in spec:
        fitted = load_calibration()["profiles"][spec["calibration"]]
        constants, calibrated, loo = constants_from(fitted), True, dict(fitted["loo"])
    else:
        constants, calibrated, loo = reference, False, {}
    return Runtime(name=key, description=" ".join(spec["description"].split()), constants=constants,
                   reference=reference, calibrated=calibrated, loo=loo, ops=frozenset(spec["ops"]),
                   optimized_ops=frozenset(spec["optimized_ops"]), base_code_bytes=int(spec["base_code_bytes"]),
                   kernel_code_bytes={k: int(v) for k, v in spec["kernel_code_bytes"].items()},
                   ram_bytes=int(spec["ram_bytes"]))


def _reference_constants() -> CostConstants:
    """The reference kernels' constants: the profile they derive from times `reference_ratios`."""
    runtimes = load_catalog()["runtimes"]
    spec = runtimes["tflm-reference"]
    base = load_calibration()["profiles"][runtimes[spec["derived_from"]]["calibration"]]
    return constants_from(base).scaled({k: float(v) for k, v in spec["reference_ratios"].items()})
