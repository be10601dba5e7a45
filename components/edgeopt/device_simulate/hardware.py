"""The hardware catalog (`hardware.yaml`): cores, boards, Ethos-U NPUs, and target names.

A target is a board (`NUCLEO-L4R5ZI`, `DISCO-F746NG`, `nRF5340 DK`, ...), the ad-hoc form
`CORE@CLOCK` (`cortex-m4f@80mhz`, `m33@200`, `m4f@0.08ghz`), or an Ethos-U system
`CORE+NPU[@CLOCK]` (`cortex-m55+ethos-u55-128`). Matching is case-insensitive with `_`, `-` and
space equivalent (`names.normalise`). Canonical names: the board's catalog name,
`cortex-m4f@80mhz`, `cortex-m55+ethos-u55-128@500mhz`.
"""

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from edgeopt.common.errors import EdgeoptError
from edgeopt.device_simulate.costmodel import CoreRatios
from edgeopt.device_simulate.names import normalise, suggestion

_ADHOC = re.compile(r"^(?P<core>[a-z0-9+\-]+?)(?:\+(?P<npu>ethos-u[0-9]+-[0-9]+))?"
                    r"(?:@(?P<clock>\d+(?:\.\d+)?)\s*(?P<unit>mhz|ghz)?)?$")


@dataclass(frozen=True)
class Core:
    """A CPU core: its architecture facts and its cycle ratios to the reference Cortex-M4F."""

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
class Npu:
    """An Ethos-U configuration as Vela names it."""

    name: str
    accelerator: str
    system_config: str
    memory_mode: str
    clock_mhz: float  # the Vela system configuration's core clock


@dataclass(frozen=True)
class Target:
    """A resolved target: a core at a clock, with the board's memories (None for CORE@CLOCK) and
    its memory-system facts (`memory`), or an NPU system (`npu`)."""

    name: str
    core: Core
    clock_mhz: float
    ram_bytes: int | None = None
    flash_bytes: int | None = None
    board: str | None = None
    npu: Npu | None = None
    memory: tuple[tuple[str, Any], ...] = ()


def _package_yaml(name: str) -> dict[str, Any]:
    return yaml.safe_load(resources.files("edgeopt.device_simulate").joinpath(name).read_text())


@lru_cache(maxsize=1)
def load_hardware() -> dict[str, Any]:
    """The parsed `hardware.yaml`."""
    return _package_yaml("hardware.yaml")


@lru_cache(maxsize=1)
def cores() -> dict[str, Core]:
    """All cores by canonical name."""
    found = {}
    for name, spec in load_hardware()["cores"].items():
        found[name] = Core(name=name, arch=spec["arch"], isa=spec["isa"], dsp=spec["dsp"], helium=spec["helium"],
                           dual_issue=spec["dual_issue"], fpu=spec["fpu"],
                           coremark_per_mhz=float(spec["coremark_per_mhz"]),
                           ratios=CoreRatios(**{k: float(v) for k, v in spec["ratios"].items()}),
                           facts=" ".join(str(spec["facts"]).split()))
    return found


def boards() -> dict[str, dict[str, Any]]:
    """All boards by catalog name."""
    return load_hardware()["boards"]


def npus() -> dict[str, Npu]:
    """All Ethos-U configurations by name."""
    return {name: Npu(name=name, **spec) for name, spec in load_hardware()["npus"].items()}


def find_core(name: str) -> Core:
    """A core by canonical name or alias; EdgeoptError (with a close match) if unknown."""
    key = normalise(name)
    for canonical, spec in load_hardware()["cores"].items():
        if key in [normalise(canonical)] + [normalise(str(a)) for a in spec.get("aliases", [])]:
            return cores()[canonical]
    raise EdgeoptError(f"unknown core {name!r}", f"{suggestion(name, list(cores()))}known cores: {', '.join(cores())}")


def find_board(name: str) -> str | None:
    """The catalog name of a board spelled `name` (or an alias of it), else None."""
    key = normalise(name)
    for board, spec in boards().items():
        if key in [normalise(board)] + [normalise(str(a)) for a in spec.get("aliases", [])]:
            return board
    return None


def resolve_target(name: str) -> Target:
    """Resolve a board, `CORE@CLOCK` or `CORE+NPU[@CLOCK]`; EdgeoptError with close matches and
    the accepted forms otherwise."""
    board = find_board(name)
    if board:
        spec = boards()[board]
        memory = tuple((k, spec.get(k)) for k in ("flash_wait_states", "flash_line_bytes", "flash_accelerator",
                                                  "icache_bytes", "dcache_bytes", "tcm_bytes", "assumed"))
        return Target(name=board, core=cores()[spec["core"]], clock_mhz=float(spec["clock_mhz"]),
                      ram_bytes=int(spec["ram_bytes"]), flash_bytes=int(spec["flash_bytes"]), board=board,
                      memory=memory)
    key = normalise(name).replace("-@", "@")
    match = _ADHOC.match(key)
    if not match or (match["clock"] is None and match["npu"] is None):
        raise EdgeoptError(f"unknown target {name!r}", _target_hint(name))
    try:
        core = find_core(match["core"])
    except EdgeoptError as exc:
        raise EdgeoptError(f"unknown target {name!r}: no core named {match['core']!r}", _target_hint(name)) from exc
    npu = None
    if match["npu"]:
        npu = npus().get(match["npu"])
        if npu is None:
            raise EdgeoptError(f"unknown NPU {match['npu']!r} in target {name!r}",
                               f"{suggestion(match['npu'], list(npus()))}known NPUs: {', '.join(npus())}")
    clock = _clock(match, npu, name)
    suffix = f"+{npu.name}" if npu else ""
    return Target(name=f"{core.name}{suffix}@{clock:g}mhz", core=core, clock_mhz=clock, npu=npu)


def _clock(match: re.Match, npu: Npu | None, name: str) -> float:
    if match["clock"] is None:  # an NPU system without a clock: Vela's system configuration's
        return float(npu.clock_mhz)
    clock = float(match["clock"]) * (1000.0 if match["unit"] == "ghz" else 1.0)
    if not 1.0 <= clock <= 2000.0:
        raise EdgeoptError(f"clock {clock:g} MHz in target {name!r} is outside 1..2000 MHz",
                           "give the core clock in MHz, e.g. cortex-m4f@80mhz")
    return clock


def _target_hint(name: str) -> str:
    return (f"{suggestion(name, list(boards()))}use a board ({', '.join(boards())}), CORE@CLOCK such as "
            f"cortex-m4f@80mhz (cores: {', '.join(cores())}) or CORE+NPU such as cortex-m55+ethos-u55-128 "
            f"(NPUs: {', '.join(npus())})")
