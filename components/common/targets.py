"""The targets file: the device a model must run on and the limits it must meet.

The simplest form, valid forever::

    target: cortex-m4f@80mhz   # a board name or CORE@CLOCK (required)
    latency_ms: 50             # maxima; each key optional
    flash_kb: 256
    ram_kb: 64
    total_kb: 300              # flash + RAM
    accuracy_drop: 0.02        # largest allowed drop against the baseline (fraction, absolute)

Further keys, named after Olive metric goals and TFX change thresholds:
`accuracy_drop_relative` (largest drop as a fraction of the baseline accuracy),
`min_accuracy` (absolute floor), `runtime` (the simulator's runtime profile, default
`tflm-cmsis-nn`) and `require_supported` (refuse models the runtime cannot run, default true).

Checking is strict: every mistake raises `EdgeoptError` naming the file, the line of the
offending key and what to write instead.
"""

import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from edgeopt.common.errors import EdgeoptError

DEFAULT_RUNTIME = "tflm-cmsis-nn"
INLINE_SOURCE = "targets (inline YAML)"


@dataclass(frozen=True)
class Targets:
    """A checked targets file. Limits left out of the file are None (no check)."""

    target: str
    latency_ms: float | None = None
    flash_kb: float | None = None
    ram_kb: float | None = None
    total_kb: float | None = None
    accuracy_drop: float | None = None
    accuracy_drop_relative: float | None = None
    min_accuracy: float | None = None
    runtime: str = DEFAULT_RUNTIME
    require_supported: bool = True
    source: str = INLINE_SOURCE


@dataclass(frozen=True)
class _Key:
    kind: str  # "name" (non-empty text), "limit" (number > 0), "fraction" (number in [0, 1]), "bool"
    meaning: str
    example: str


KEYS: dict[str, _Key] = {
    "target": _Key("name", "the device: a board name or CORE@CLOCK", "target: cortex-m4f@80mhz"),
    "latency_ms": _Key("limit", "the longest allowed latency of one inference, in milliseconds",
                       "latency_ms: 50"),
    "flash_kb": _Key("limit", "the most flash the model may use, in KB", "flash_kb: 256"),
    "ram_kb": _Key("limit", "the most RAM the model may use, in KB", "ram_kb: 64"),
    "total_kb": _Key("limit", "the most flash + RAM the model may use, in KB", "total_kb: 300"),
    "accuracy_drop": _Key("fraction", "the largest allowed accuracy drop against the baseline, "
                          "as a fraction (0.02 = 2 points)", "accuracy_drop: 0.02"),
    "accuracy_drop_relative": _Key("fraction", "the largest allowed accuracy drop as a fraction of the "
                                   "baseline accuracy (0.05 = 5% of it)", "accuracy_drop_relative: 0.05"),
    "min_accuracy": _Key("fraction", "the lowest allowed accuracy of the optimized model, as a fraction",
                         "min_accuracy: 0.9"),
    "runtime": _Key("name", "the simulator's runtime profile", f"runtime: {DEFAULT_RUNTIME}"),
    "require_supported": _Key("bool", "whether a model the runtime cannot run is refused",
                              "require_supported: true"),
}


def load_targets(source: str | Path) -> Targets:
    """Parse and check a targets file, given as a path or as the YAML text itself.

    A `Path` is always read as a file. A `str` is read as a file when it is one line that names
    an existing file or ends in `.yaml`/`.yml`; otherwise it is the YAML text. Raises
    EdgeoptError (file, line and a fix in the message) for anything but a valid targets file.
    """
    text, where = _read_source(source)
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise EdgeoptError(f"{where} is empty", f"write at least `{KEYS['target'].example}`")
        if not isinstance(root, yaml.MappingNode):
            raise EdgeoptError(f"{where}, line {_line(root)}: the targets must be `key: value` lines, "
                               f"not a {_node_kind(root)}", f"write e.g. `{KEYS['target'].example}`")
        values: dict[str, Any] = {}
        lines: dict[str, int] = {}
        for key_node, value_node in root.value:
            key = loader.construct_object(key_node, deep=True)
            line = _line(key_node)
            _check_key(key, line, lines, where)
            values[key] = _check_value(key, loader.construct_object(value_node, deep=True), line, where)
            lines[key] = line
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        position = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise EdgeoptError(f"{where}{position}: not valid YAML ({exc.problem or exc.context})",
                           "write one `key: value` per line, e.g. `latency_ms: 50`; "
                           "quote text that contains `: ` or starts with a special character") from exc
    finally:
        loader.dispose()
    if "target" not in values:
        raise EdgeoptError(f"{where}: the required key `target` is missing",
                           f"add a line `{KEYS['target'].example}` ({KEYS['target'].meaning})")
    _check_against_catalog(values, lines, where)
    return Targets(**values, source=where)


def _read_source(source: str | Path) -> tuple[str, str]:
    """(YAML text, name of its origin for messages)."""
    if isinstance(source, str) and ("\n" in source or not (
            Path(source).is_file() or source.endswith((".yaml", ".yml")))):
        return source, INLINE_SOURCE
    path = Path(source)
    if not path.is_file():
        raise EdgeoptError(f"targets file {path} does not exist",
                           f"write a YAML file with at least `{KEYS['target'].example}`")
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise EdgeoptError(f"cannot read targets file {path}: {exc}", "pass a readable UTF-8 text file") from exc


def _check_key(key: Any, line: int, seen: dict[str, int], where: str) -> None:
    if not isinstance(key, str) or key not in KEYS:
        close = difflib.get_close_matches(str(key), KEYS, n=1, cutoff=0.6)
        hint = (f"did you mean `{close[0]}`? ({KEYS[close[0]].meaning}, e.g. `{KEYS[close[0]].example}`)"
                if close else f"the known keys are {', '.join(KEYS)}")
        raise EdgeoptError(f"{where}, line {line}: unknown key {key!r}", hint)
    if key in seen:
        raise EdgeoptError(f"{where}, line {line}: `{key}` is given twice (first on line {seen[key]})",
                           "keep one of the two lines")


def _check_value(key: str, value: Any, line: int, where: str) -> Any:
    spec = KEYS[key]
    at = f"{where}, line {line}"
    fix = f"write e.g. `{spec.example}` ({spec.meaning})"
    if value is None:
        raise EdgeoptError(f"{at}: `{key}` has no value",
                           fix + ("" if key == "target" else ", or delete the line to set no limit"))
    if spec.kind == "name":
        if not isinstance(value, str) or not value.strip():
            raise EdgeoptError(f"{at}: `{key}` must be a name, not {_describe(value)}", fix)
        return value.strip()
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise EdgeoptError(f"{at}: `{key}` must be true or false, not {_describe(value)}", fix)
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EdgeoptError(f"{at}: `{key}` must be a number, not {_describe(value)}", fix + ", with no unit")
    if not math.isfinite(value):
        raise EdgeoptError(f"{at}: `{key}` must be a finite number, not {value}", fix)
    if spec.kind == "limit" and value <= 0:
        raise EdgeoptError(f"{at}: `{key}` is {value:g}, but a limit must be greater than 0", fix)
    if spec.kind == "fraction" and not 0 <= value <= 1:
        if 1 < value <= 100:
            fix = f"it is a fraction, not a percentage ({spec.meaning}): for {value:g}% write `{key}: {value / 100:g}`"
        raise EdgeoptError(f"{at}: `{key}` is {value:g}, outside [0, 1]", fix)
    return float(value)


def _check_against_catalog(values: dict[str, Any], lines: dict[str, int], where: str) -> None:
    """Ask device-simulate's catalog, where that stage is installed, whether it knows the target
    and the runtime."""
    try:
        from edgeopt.device_simulate.catalog import resolve_target, runtime_profile
    except ModuleNotFoundError as exc:
        if exc.name in ("edgeopt.device_simulate", "edgeopt.device_simulate.catalog"):
            return
        raise
    for key, check in (("target", resolve_target), ("runtime", runtime_profile)):
        if key in values:
            try:
                check(values[key])
            except EdgeoptError as exc:
                raise EdgeoptError(f"{where}, line {lines[key]}: {exc.message}", exc.hint) from exc


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _node_kind(node: yaml.Node) -> str:
    return "list" if isinstance(node, yaml.SequenceNode) else "single value"


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, (list, dict)):
        return "a list" if isinstance(value, list) else "a nested mapping"
    return f"{type(value).__name__} {value!r}"
