"""The pruning methods' registry: each method's name, the options it uses and what it needs.

A method module registers one `PruneMethod`; the stage looks it up by name (`N:M` patterns such as
2:4 resolve to the N:M entry) and `check` refuses, before any work, an option the method does not
use set away from its default, a missing required option, and fine-tuning options with nothing to
fine-tune. A method's `compress` names its function ("module:function", imported on use, so that
the registry and the declaration stay free of TensorFlow).
"""

import difflib
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgeopt.common.errors import EdgeoptError

# options that only some methods use; the others (exclude, epochs, the recovery options) apply to all
SELECTIVE = ("target_sparsity", "ratio", "layer_ratios", "min_channels", "importance", "schedule", "begin_step",
             "end_step", "frequency", "rounds", "rank_ratio", "energy")
# options that only matter when there is fine-tuning (epochs > 0)
TRAINING = ("learning_rate", "early_stopping", "validation_split", "distill_temperature", "distill_alpha",
            "batch_size", "schedule", "begin_step", "end_step", "frequency", "rounds")


@dataclass(frozen=True)
class PruneMethod:
    """One registered pruning method."""

    name: str
    description: str
    compress: str                                  # "module:function" taking a Job, returning Compressed
    uses: frozenset[str] = frozenset()             # of SELECTIVE, the options that apply
    needs_one_of: tuple[str, ...] = ()             # exactly one of these must be given
    pattern: str | None = None                     # a regular expression of the names this entry serves
    check: Callable[[str, dict[str, Any]], None] | None = None  # further checks of (name, options)
    structural: bool = False                       # changes shapes (fewer channels or layers split)

    def compressor(self) -> Callable[..., Any]:
        """The function that compresses a model with this method."""
        module, _, function = self.compress.partition(":")
        return getattr(importlib.import_module(module), function)


METHODS: dict[str, PruneMethod] = {}


def register(method: PruneMethod) -> PruneMethod:
    """Add `method` to the registry."""
    METHODS[method.name] = method
    return method


def names() -> list[str]:
    """Registered method names, in registration order."""
    return list(METHODS)


def lookup(name: str) -> PruneMethod:
    """The method called `name` (or whose pattern it matches); EdgeoptError listing the valid ones."""
    if name in METHODS and METHODS[name].pattern is None:
        return METHODS[name]
    for method in METHODS.values():
        if method.pattern and re.fullmatch(method.pattern, name):
            return method
    close = difflib.get_close_matches(name, names(), n=1)
    raise EdgeoptError(f"unknown pruning method {name!r}",
                       f"use one of {', '.join(names())} (N:M as numbers, e.g. 2:4)"
                       + (f"; did you mean {close[0]}?" if close else ""))


def check(method: PruneMethod, options: dict[str, Any], spec: Any) -> None:
    """EdgeoptError when `options` (the stage's, after defaults) do not suit `method` (see the module
    docstring); `spec` is the stage declaration (defaults and flags)."""
    defaults = spec.check({})  # not-set sentinels as None, like the checked `options`

    def _flag(option: str) -> str:
        return spec.param(option).cli_flag

    moved = [o for o in SELECTIVE if options.get(o) != defaults.get(o)]
    foreign = [o for o in moved if o not in method.uses]
    if foreign:
        users = [m.name for m in METHODS.values() if set(foreign) <= m.uses]
        raise EdgeoptError(f"{', '.join(_flag(o) for o in foreign)} {'does' if len(foreign) == 1 else 'do'} not apply "
                           f"to pruning method {options['method']}",
                           f"drop {'it' if len(foreign) == 1 else 'them'}"
                           + (f", or use --method {' or '.join(users)}" if users else ""))
    if method.needs_one_of:
        given = [o for o in method.needs_one_of if options.get(o) is not None]
        if len(given) != 1:
            flags = " or ".join(_flag(o) for o in method.needs_one_of)
            raise EdgeoptError(f"method {method.name} needs {'one of ' if not given else 'only one of '}{flags}",
                               f"pass exactly one, e.g. {_flag(method.needs_one_of[0])} 0.5")
    if options["epochs"] == 0:
        idle = [o for o in TRAINING if options.get(o) != defaults.get(o)]
        if idle:
            raise EdgeoptError(f"{', '.join(_flag(o) for o in idle)} {'applies' if len(idle) == 1 else 'apply'} "
                               "to fine-tuning, and --epochs 0 does none",
                               "drop them, or fine-tune with --epochs N")
    if options["early_stopping"] == 0 and options["validation_split"] != defaults["validation_split"]:
        raise EdgeoptError("--validation-split applies only with --early-stopping",
                           "add --early-stopping N (epochs without improvement), or drop --validation-split")
    if options["distill_temperature"] is None and options["distill_alpha"] != defaults["distill_alpha"]:
        raise EdgeoptError("--distill-alpha applies only when distilling",
                           "add --distill-temperature T (e.g. 4), or drop --distill-alpha")
    end, begin = options.get("end_step"), options.get("begin_step", 0)
    if end is not None and end <= begin:
        raise EdgeoptError(f"--end-step {end} is not after --begin-step {begin}",
                           "the masks are updated from begin_step to end_step; make end_step larger")
    layer_ratios(options["layer_ratios"])
    if method.check:
        method.check(options["method"], options)


def layer_ratios(entries: list[str]) -> dict[str, float]:
    """`NAME=F` entries as {name: fraction}; EdgeoptError for a malformed entry or a fraction outside [0, 1)."""
    ratios: dict[str, float] = {}
    for entry in entries:
        name, sep, value = entry.partition("=")
        try:
            fraction = float(value)
        except ValueError:
            fraction = -1.0
        if not sep or not name.strip() or not 0 <= fraction < 1:
            raise EdgeoptError(f"--layer-ratios entry {entry!r} is not NAME=F with F in [0, 1)",
                               "write e.g. --layer-ratios conv2d_1=0.25,dense=0.5")
        ratios[name.strip()] = fraction
    return ratios
