"""The runtime registry (`runtimes.yaml`): every deployment stack the simulator models, declared once.

`runtime_profile(name)` accepts `family@version`, the family alone (its newest version), and the
catalog's spelling rule (`names.normalise`); an unknown name is an EdgeoptError with close matches.
`list_runtimes()` gives every profile with what it was calibrated on (from calibration.yaml).
"""

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from edgeopt.common.errors import EdgeoptError
from edgeopt.device_simulate.names import normalise, suggestion


@dataclass(frozen=True)
class Effects:
    """What a runtime does differently, as named effects (see runtimes.yaml)."""

    skips_zero_filters: bool
    fusion: bool
    overhead_cycles: float
    memory_layout: str  # tflm-arena, liveness or no-reuse
    weights: str  # flash


@dataclass(frozen=True)
class Runtime:
    """A runtime profile: identity, named effects, operator support and code/RAM sizes."""

    name: str
    family: str
    version: str
    released: str
    description: str
    effects: Effects
    mlperf: tuple[str, ...]  # MLPerf Tiny framework values that calibrate it ("prefix" or "prefix|round")
    derived_from: tuple[str, ...]
    reference_ratios: dict[str, float]
    ops: frozenset[str]
    optimized_ops: frozenset[str]
    code: dict[str, int]
    ram_bytes: int

    @property
    def measured(self) -> bool:
        """Whether MLPerf Tiny rows calibrate this profile directly."""
        return bool(self.mlperf)

    def code_bytes(self, opcodes: set[str]) -> int:
        """Runtime code for the distinct operators `opcodes` (estimate)."""
        return self.code["base"] + sum(self.code.get(op, self.code["default"]) for op in opcodes)


@lru_cache(maxsize=1)
def load_runtimes() -> dict[str, Any]:
    """The parsed `runtimes.yaml`."""
    return yaml.safe_load(resources.files("edgeopt.device_simulate").joinpath("runtimes.yaml").read_text())


@lru_cache(maxsize=1)
def registry() -> dict[str, Runtime]:
    """Every profile by canonical name, in declaration order."""
    out = {}
    for name, spec in load_runtimes()["runtimes"].items():
        out[name] = Runtime(
            name=name, family=spec["family"], version=str(spec["version"]), released=str(spec["released"]),
            description=" ".join(spec["description"].split()), effects=Effects(**spec["effects"]),
            mlperf=tuple(spec.get("mlperf", ())), derived_from=tuple(spec.get("derived_from", ())),
            reference_ratios={k: float(v) for k, v in spec.get("reference_ratios", {}).items()},
            ops=frozenset(spec["ops"]), optimized_ops=frozenset(spec["optimized_ops"]),
            code={k: int(v) for k, v in spec["code_bytes"].items()}, ram_bytes=int(spec["ram_bytes"]))
    return out


def families() -> dict[str, str]:
    """Family name -> its newest version's profile name (by release, then version number)."""
    newest: dict[str, Runtime] = {}
    for rt in registry().values():
        if rt.family not in newest or _order(rt) > _order(newest[rt.family]):
            newest[rt.family] = rt
    return {family: rt.name for family, rt in newest.items()}


def _order(rt: Runtime) -> tuple:
    numbers = tuple(int(p) for p in rt.version.replace("mlperf-v", "").split(".") if p.isdigit())
    return rt.released, numbers


def runtime_profile(name: str) -> Runtime:
    """A profile by `family@version` or family (its newest version); EdgeoptError if unknown."""
    key = normalise(name)
    by_key = {normalise(n): rt for n, rt in registry().items()}
    if key in by_key:
        return by_key[key]
    fam = {normalise(f): n for f, n in families().items()}
    if key in fam:
        return registry()[fam[key]]
    known = list(registry()) + [f for f in families() if f not in registry()]
    raise EdgeoptError(f"unknown runtime {name!r}",
                       f"{suggestion(name, known)}known runtimes: {', '.join(known)} "
                       "(`edgeopt simulate --list-runtimes` says what each was calibrated on)")
