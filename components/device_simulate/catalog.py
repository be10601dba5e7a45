"""The target catalog (`targets.yaml`): cores, and targets named as `CORE@CLOCK`.

Target names are case-insensitive. `CORE@CLOCK` takes a core name or alias (`cortex-m4f`,
`m4f`) and a clock in MHz with an optional `mhz` suffix (`80mhz`, `80MHz`, `80`) or in GHz with
a `ghz` suffix; the canonical form is `cortex-m4f@80mhz`.
"""

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from edgeopt.common.errors import EdgeoptError

_ADHOC = re.compile(r"^(?P<core>[a-z0-9+\-]+)@(?P<clock>\d+(?:\.\d+)?)\s*(?P<unit>mhz|ghz)?$")


@dataclass(frozen=True)
class Core:
    """A CPU core and the figures the cost model uses for it."""

    name: str
    cycles_per_mac: float


@dataclass(frozen=True)
class Target:
    """A resolved target: a core at a clock, with the board's memories when known."""

    name: str
    core: Core
    clock_mhz: float
    ram_bytes: int | None = None
    flash_bytes: int | None = None


@lru_cache(maxsize=1)
def load_catalog() -> dict[str, Any]:
    """The parsed `targets.yaml` packaged with this module."""
    text = resources.files("edgeopt.device_simulate").joinpath("targets.yaml").read_text()
    return yaml.safe_load(text)


@lru_cache(maxsize=1)
def cores() -> dict[str, Core]:
    """All cores by canonical name."""
    return {name: Core(name=name, cycles_per_mac=float(spec["cycles_per_mac"]))
            for name, spec in load_catalog()["cores"].items()}


def find_core(name: str) -> Core:
    """A core by canonical name or alias (case-insensitive); EdgeoptError if unknown."""
    key = name.strip().lower()
    for canonical, spec in load_catalog()["cores"].items():
        if key == canonical or key in [str(a).lower() for a in spec.get("aliases", [])]:
            return cores()[canonical]
    raise EdgeoptError(f"unknown core {name!r}", f"known cores: {', '.join(cores())}")


def runtime_profile(name: str) -> dict[str, Any]:
    """The figures of a runtime profile (case-insensitive name); EdgeoptError if unknown."""
    profiles = load_catalog()["runtimes"]
    key = name.strip().lower()
    if key not in profiles:
        raise EdgeoptError(f"unknown runtime {name!r}", f"known runtimes: {', '.join(profiles)}")
    return {"name": key, **profiles[key]}


def resolve_target(name: str) -> Target:
    """Resolve `CORE@CLOCK` (e.g. `cortex-m4f@80mhz`); EdgeoptError naming the accepted forms."""
    key = name.strip().lower()
    match = _ADHOC.match(key)
    if not match:
        raise EdgeoptError(f"unknown target {name!r}", _target_hint())
    try:
        core = find_core(match["core"])
    except EdgeoptError as exc:
        raise EdgeoptError(f"unknown core {match['core']!r} in target {name!r}", _target_hint()) from exc
    clock = float(match["clock"]) * (1000.0 if match["unit"] == "ghz" else 1.0)
    if not 1.0 <= clock <= 2000.0:
        raise EdgeoptError(f"clock {clock:g} MHz in target {name!r} is outside 1..2000 MHz",
                           "give the core clock in MHz, e.g. cortex-m4f@80mhz")
    return Target(name=f"{core.name}@{clock:g}mhz", core=core, clock_mhz=clock)


def _target_hint() -> str:
    return f"use CORE@CLOCK, e.g. cortex-m4f@80mhz; cores: {', '.join(cores())}"
