"""The targets file: the devices a model must run on and the goals it must meet, there and in quality.

The one-device form (v1), valid forever and meaning what it always meant::

    target: cortex-m4f@80mhz   # a board name or CORE@CLOCK (required)
    latency_ms: 50             # a number is a maximum; each key optional
    flash_kb: 256
    ram_kb: 64
    total_kb: 300              # flash + RAM
    accuracy_drop: 0.02        # largest allowed drop against the baseline (fraction, absolute)

with `accuracy_drop_relative` (a fraction of the baseline accuracy), `min_accuracy`, `runtime` (the
simulator's runtime profile, default `tflm-cmsis-nn`) and `require_supported` (default true).

The full form: several devices, goals on any metric of `edgeopt.common.gate_metrics`::

    targets:                        # every entry must pass (require: any -> one is enough)
      - target: cortex-m4f@80mhz
        latency_ms: 50
        total_kb: {max: 300}
      - target: NUCLEO-H7A3ZI-Q
        latency_ms: {max: 20, max_increase_relative: 0.0}
    quality:                        # goals on the model's own metrics
      accuracy: {min: 0.85, max_drop: 0.02}
      snr_db: {min: 30}
    baseline: registry              # or input (default): what drops and improvements compare with
    require: all                    # or any

A goal is a map of `min`, `max`, `max_drop`, `max_drop_relative`, `min_improvement` and
`min_improvement_relative`; drops and improvements count in the metric's better direction, so
for a lower-is-better metric `max_increase[_relative]` may be written for `max_drop[_relative]`
(and `max_decrease[_relative]` for a higher-is-better one). The one-device form takes the same
goals at its top level, and `quality`, `baseline` and `require` too.

Checking is strict: every mistake raises `EdgeoptError` naming the file, the line, the path of the
offending value (`targets[1].latency_ms.max`, entries counted from 0) and what to write instead.
"""

import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

from edgeopt.common.errors import EdgeoptError
from edgeopt.common.gate_metrics import METRICS, GateMetric, device_metrics, quality_metrics

DEFAULT_RUNTIME = "tflm-cmsis-nn"
INLINE_SOURCE = "targets (inline YAML)"
KINDS = ("min", "max", "max_drop", "max_drop_relative", "min_improvement", "min_improvement_relative")
CHANGE_KINDS = KINDS[2:]
RELATIVE_KINDS = ("max_drop_relative", "min_improvement_relative")
# direction-worded spellings of max_drop[_relative], by the metric's better direction
ALIASES = {"lower": {"max_increase": "max_drop", "max_increase_relative": "max_drop_relative"},
           "higher": {"max_decrease": "max_drop", "max_decrease_relative": "max_drop_relative"}}
BASELINES = ("input", "registry")
REQUIRES = ("all", "any")
V1_DEVICE = ("latency_ms", "flash_kb", "ram_kb", "total_kb")
V1_QUALITY = {"accuracy_drop": "max_drop", "accuracy_drop_relative": "max_drop_relative", "min_accuracy": "min"}
KIND_MEANINGS = {
    "min": "the lowest allowed value",
    "max": "the highest allowed value",
    "max_drop": "the largest allowed change for the worse against the baseline, in the metric's unit",
    "max_drop_relative": "the largest allowed change for the worse, as a fraction of the baseline",
    "min_improvement": "the smallest required change for the better against the baseline, in the metric's unit",
    "min_improvement_relative": "the smallest required change for the better, as a fraction of the baseline",
}


def canonical(kind: str) -> str:
    """The goal kind an alias stands for (`max_increase` -> `max_drop`); a kind itself unchanged."""
    for names in ALIASES.values():
        if kind in names:
            return names[kind]
    return kind


def goal_kinds(metric: GateMetric) -> tuple[str, ...]:
    """The goal kinds a goal on `metric` may use: the six, and the aliases of its direction."""
    return KINDS + tuple(ALIASES[metric.better])


@dataclass(frozen=True)
class Goal:
    """One bound on one metric: `kind` (one of KINDS or an alias) and its `threshold`. `key` is the v1
    key that set it (`accuracy_drop`, `accuracy_drop_relative`, `min_accuracy`), else empty."""

    metric: str
    kind: str
    threshold: float
    key: str = ""

    @property
    def name(self) -> str:
        """What the verdict calls it: the v1 key, else the metric."""
        return self.key or self.metric

    @property
    def rule(self) -> str:
        return canonical(self.kind)


@dataclass(frozen=True)
class TargetEntry:
    """One device: its target, the simulator's runtime, whether unsupported models fail, its goals."""

    target: str
    runtime: str = DEFAULT_RUNTIME
    require_supported: bool = True
    goals: tuple[Goal, ...] = ()


@dataclass(frozen=True)
class Targets:
    """A checked targets file. `entries` are the devices, `quality` the goals on the model's metrics.

    The v1 fields (`target` ... `require_supported`) describe the first entry; the numeric ones hold
    what a v1 key set (None otherwise). Built in Python from v1 fields alone, `entries` and
    `quality` follow from them, as a v1 file would give.
    """

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
    entries: tuple[TargetEntry, ...] = ()
    quality: tuple[Goal, ...] = ()
    baseline: str = "input"
    require: str = "all"

    def __post_init__(self) -> None:
        if self.entries:
            return
        goals = tuple(Goal(k, "max", getattr(self, k)) for k in V1_DEVICE if getattr(self, k) is not None)
        object.__setattr__(self, "entries", (TargetEntry(self.target, self.runtime, self.require_supported, goals),))
        v1 = tuple(Goal("accuracy", kind, getattr(self, k), k) for k, kind in V1_QUALITY.items()
                   if getattr(self, k) is not None)
        object.__setattr__(self, "quality", v1 + self.quality)


@dataclass(frozen=True)
class _Key:
    kind: str  # name, limit (number > 0 or a goal map), fraction (number in [0, 1]), bool, choice, list, quality
    meaning: str
    example: str


KEYS: dict[str, _Key] = {
    "target": _Key("name", "the device: a board name or CORE@CLOCK", "target: cortex-m4f@80mhz"),
    "latency_ms": _Key("limit", "the longest allowed latency of one inference, in milliseconds",
                       "latency_ms: 50"),
    "flash_kb": _Key("limit", "the most flash the model may use, in KB", "flash_kb: 256"),
    "ram_kb": _Key("limit", "the most RAM the model may use, in KB", "ram_kb: 64"),
    "total_kb": _Key("limit", "the most flash + RAM the model may use, in KB", "total_kb: 300"),
    "energy_uj": _Key("limit", "the most energy one inference may use, in microjoules", "energy_uj: 500"),
    "accuracy_drop": _Key("fraction", "the largest allowed accuracy drop against the baseline, "
                          "as a fraction (0.02 = 2 points)", "accuracy_drop: 0.02"),
    "accuracy_drop_relative": _Key("fraction", "the largest allowed accuracy drop as a fraction of the "
                                   "baseline accuracy (0.05 = 5% of it)", "accuracy_drop_relative: 0.05"),
    "min_accuracy": _Key("fraction", "the lowest allowed accuracy of the optimized model, as a fraction",
                         "min_accuracy: 0.9"),
    "runtime": _Key("name", "the simulator's runtime profile", f"runtime: {DEFAULT_RUNTIME}"),
    "require_supported": _Key("bool", "whether a model the runtime cannot run is refused",
                              "require_supported: true"),
    "targets": _Key("list", "the devices, one entry each with its `target` and goals",
                    "targets: [{target: cortex-m4f@80mhz, latency_ms: 50}]"),
    "quality": _Key("quality", "goals on the model's own metrics (" + ", ".join(quality_metrics()) + ")",
                    "quality: {accuracy: {min: 0.9}}"),
    "baseline": _Key("choice", "what drops and improvements compare with: input (the run's input model) or "
                     "registry (the latest promoted version of the model)", "baseline: input"),
    "require": _Key("choice", "whether every target must pass (all) or one is enough (any)", "require: all"),
}
ENTRY_KEYS = ("target", "runtime", "require_supported", *device_metrics())
FILE_KEYS = ("quality", "baseline", "require", *V1_QUALITY)
ONE_DEVICE_KEYS = tuple(k for k in KEYS if k != "targets")
LIST_KEYS = ("targets", *FILE_KEYS)


def load_targets(source: str | Path) -> Targets:
    """Parse and check a targets file, given as a path or as the YAML text itself.

    A `Path` is always read as a file. A `str` is read as a file when it is one line that names
    an existing file or ends in `.yaml`/`.yml`; otherwise it is the YAML text. Raises
    EdgeoptError (file, line, path and a fix in the message) for anything but a valid targets file.
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
        targets = _Parser(where, loader).file(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        position = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise EdgeoptError(f"{where}{position}: not valid YAML ({exc.problem or exc.context})",
                           "write one `key: value` per line, e.g. `latency_ms: 50`; "
                           "quote text that contains `: ` or starts with a special character") from exc
    finally:
        loader.dispose()
    return targets


class _Parser:
    """Walks the YAML nodes of one file, so that every error can name its line."""

    def __init__(self, where: str, loader: yaml.SafeLoader) -> None:
        self.where = where
        self.loader = loader
        self.rules: dict[tuple[str, str, str], str] = {}  # (scope, metric, rule) -> path, for repeated goals
        self.changes: list[tuple[Goal, str, int]] = []  # change goals, checked against the baseline at the end

    def fail(self, line: int, text: str, hint: str) -> NoReturn:
        raise EdgeoptError(f"{self.where}, line {line}: {text}", hint)

    def value(self, node: yaml.Node) -> Any:
        return self.loader.construct_object(node, deep=True)

    def items(self, node: yaml.Node, allowed: tuple[str, ...], parent: str, what: str
              ) -> list[tuple[str, int, yaml.Node]]:
        """(key, line, value node) of a mapping with known, unrepeated keys."""
        if not isinstance(node, yaml.MappingNode):
            self.fail(_line(node), f"`{parent}` must be a map of `key: value` lines, not "
                      f"{_describe(self.value(node))}", f"write e.g. `{what}`")
        seen: dict[str, int] = {}
        out = []
        for key_node, value_node in node.value:
            key, key_line = self.value(key_node), _line(key_node)
            if not isinstance(key, str) or key not in allowed:
                self.fail(key_line, f"unknown key {key!r}" + (f" in `{parent}`" if parent else ""),
                          _unknown_key_hint(key, allowed))
            if key in seen:
                self.fail(key_line, f"`{_join(parent, key)}` is given twice (first on line {seen[key]})",
                          "keep one of the two lines")
            seen[key] = key_line
            out.append((key, key_line, value_node))
        return out

    def file(self, root: yaml.MappingNode) -> Targets:
        keys = [self.value(k) for k, _ in root.value]
        listed = "targets" in keys
        if listed and "target" in keys:
            line = _line(root.value[max(keys.index("target"), keys.index("targets"))][0])
            self.fail(line, "`target` and `targets` are both given",
                      "a file names one device with `target:` or a list of them with `targets:`, not both")
        fields: dict[str, Any] = {}
        lines: dict[str, int] = {}
        goals: list[Goal] = []
        quality: list[Goal] = []
        entries: tuple[TargetEntry, ...] = ()
        for key, line, node in self.items(root, LIST_KEYS if listed else ONE_DEVICE_KEYS, "", "target: x"):
            lines[key] = line
            if key == "targets":
                entries = self.entries(node, line)
            elif key == "quality":
                quality += self.quality(node)
            elif key in V1_QUALITY:
                fields[key] = self.fraction(key, self.value(node), line)
                quality.append(self.add("", Goal("accuracy", V1_QUALITY[key], fields[key], key), key, line))
            elif key in ("baseline", "require"):
                fields[key] = self.choice(key, self.value(node), line, BASELINES if key == "baseline" else REQUIRES)
            elif key in device_metrics():
                goals += self.device_goals(node, key, key, line, "")
                if isinstance(self.value(node), (int, float)) and key in V1_DEVICE:
                    fields[key] = goals[-1].threshold
            else:
                fields[key] = self.setting(key, self.value(node), line)
        if not listed:
            if "target" not in fields:
                raise EdgeoptError(f"{self.where}: the required key `target` is missing",
                                   f"add a line `{KEYS['target'].example}` ({KEYS['target'].meaning}), "
                                   "or a list `targets:` of devices")
            self.check_catalog(fields, lines, "")
            entries = (TargetEntry(fields["target"], fields.get("runtime", DEFAULT_RUNTIME),
                                   fields.get("require_supported", True), tuple(goals)),)
        self.check_baseline(fields.get("baseline", "input"))
        first = entries[0]
        fields.update(target=first.target, runtime=first.runtime, require_supported=first.require_supported)
        return Targets(**fields, source=self.where, entries=entries, quality=tuple(quality))

    def entries(self, node: yaml.Node, line: int) -> tuple[TargetEntry, ...]:
        example = "targets:\n  - target: cortex-m4f@80mhz\n    latency_ms: 50"
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            what = "an empty list" if isinstance(node, yaml.SequenceNode) else _describe(self.value(node))
            self.fail(line, f"`targets` must be a list of devices, not {what}", f"write e.g.\n{example}")
        entries, seen = [], {}
        for index, item in enumerate(node.value):
            path = f"targets[{index}]"
            fields: dict[str, Any] = {}
            lines: dict[str, int] = {}
            goals: list[Goal] = []
            for key, key_line, value_node in self.items(item, ENTRY_KEYS, path, "target: cortex-m4f@80mhz"):
                lines[key] = key_line
                if key in device_metrics():
                    goals += self.device_goals(value_node, key, _join(path, key), key_line, path)
                else:
                    fields[key] = self.setting(key, self.value(value_node), key_line, _join(path, key))
            if "target" not in fields:
                self.fail(_line(item), f"`{path}` has no `target`",
                          f"start each entry with `- {KEYS['target'].example}` ({KEYS['target'].meaning})")
            self.check_catalog(fields, lines, path)
            entry = TargetEntry(fields["target"], fields.get("runtime", DEFAULT_RUNTIME),
                                fields.get("require_supported", True), tuple(goals))
            device = (entry.target.lower(), entry.runtime.lower())
            if device in seen:
                self.fail(_line(item), f"`{path}` repeats `targets[{seen[device]}]` ({entry.target} with "
                          f"{entry.runtime})", "give each device and runtime once, with all its goals")
            seen[device] = index
            entries.append(entry)
        return tuple(entries)

    def quality(self, node: yaml.Node) -> list[Goal]:
        goals = []
        for key, key_line, value_node in self.items(node, tuple(quality_metrics()) + tuple(device_metrics()),
                                                    "quality", "quality: {accuracy: {min: 0.9}}"):
            path = _join("quality", key)
            if key in device_metrics():
                self.fail(key_line, f"`{path}`: {key} is measured on a device, not a quality of the model",
                          "put it in the target's entry (or at the top level of a one-device file)")
            if not isinstance(value_node, yaml.MappingNode):
                self.fail(key_line, f"`{path}` must be a map of goals, not {_describe(self.value(value_node))}",
                          f"write e.g. `{key}: {{{_example(METRICS[key], 'min')}}}`")
            goals += self.goal_map(value_node, METRICS[key], path, key_line, "")
        return goals

    def device_goals(self, node: yaml.Node, key: str, path: str, line: int, scope: str) -> list[Goal]:
        """A device metric's goals: a number (a maximum, as in v1) or a map of goals."""
        if isinstance(node, yaml.MappingNode):
            return self.goal_map(node, METRICS[key], path, line, scope)
        value = self.value(node)
        spec = KEYS[key]
        fix = f"write e.g. `{spec.example}` ({spec.meaning}) or a map of goals such as `{key}: {{max: 50}}`"
        if isinstance(value, (list, dict)):
            self.fail(line, f"`{path}` must be a number or a map of goals, not {_describe(value)}", fix)
        limit = self.number(path, value, line, f"write e.g. `{spec.example}` ({spec.meaning})", limit=True)
        return [self.add(scope, Goal(key, "max", limit), path, line)]

    def goal_map(self, node: yaml.MappingNode, metric: GateMetric, path: str, line: int, scope: str) -> list[Goal]:
        kinds = goal_kinds(metric)
        if not node.value:
            self.fail(line, f"`{path}` sets no goal", f"give at least one of {', '.join(kinds)}")
        goals = []
        for kind_node, value_node in node.value:
            kind, kind_line = self.value(kind_node), _line(kind_node)
            if kind not in kinds:
                self.fail(kind_line, f"`{path}` has no goal kind {kind!r}", _kind_hint(kind, metric))
            goals.append(self.add(scope, Goal(metric.key, kind, self.threshold(metric, kind, self.value(value_node),
                                                                              _join(path, kind), kind_line)),
                                  _join(path, kind), kind_line))
        bounds = {g.kind: g.threshold for g in goals if g.kind in ("min", "max")}
        if bounds.keys() == {"min", "max"} and bounds["min"] > bounds["max"]:
            self.fail(line, f"`{path}`: min {bounds['min']:g} is above max {bounds['max']:g}",
                      "no value can meet both: lower min or raise max")
        return goals

    def add(self, scope: str, goal: Goal, path: str, line: int) -> Goal:
        """Register `goal` in its scope (an entry, or the file for quality goals); EdgeoptError when the
        same rule on the same metric was already given there."""
        rule = (scope, goal.metric, goal.rule)
        if rule in self.rules:
            self.fail(line, f"`{path}` repeats `{self.rules[rule]}`: both set {goal.rule} on {goal.metric}",
                      "keep one of the two")
        self.rules[rule] = path
        if goal.rule in CHANGE_KINDS:
            self.changes.append((goal, path, line))
        return goal

    def check_baseline(self, baseline: str) -> None:
        """With `baseline: input`, a change goal needs a metric the input model's metrics carry."""
        if baseline != "input":
            return
        for goal, path, line in self.changes:
            metric = METRICS[goal.metric]
            if not metric.input_baseline:
                why = "it is not simulated" if metric.source == "device" else \
                    "it is the reference this metric is measured against"
                self.fail(line, f"`{path}` compares with the baseline, but the input model has no "
                          f"{goal.metric} ({why})",
                          "set `baseline: registry` to compare with the latest promoted version, "
                          "or use min/max instead")

    def threshold(self, metric: GateMetric, kind: str, value: Any, path: str, line: int) -> float:
        rule = canonical(kind)
        short = path.rsplit(".", 1)[-1]
        fix = f"write e.g. `{_example(metric, kind)}` ({KIND_MEANINGS[rule]})"
        number = self.number(path, value, line, fix, limit=rule == "max" and metric.source == "device")
        at = f"`{path}` is {number:g}"
        if rule in RELATIVE_KINDS:
            if not 0 <= number <= 1:
                self.fail(line, f"{at}, outside [0, 1]", _percent_hint(number, short, "a fraction of the "
                                                                        "baseline, not a percentage", fix))
        elif rule in CHANGE_KINDS:
            if number < 0:
                self.fail(line, f"{at}, but a change cannot be negative",
                          f"{fix}; drops and improvements count in the metric's better direction "
                          f"({metric.key}: {metric.better} is better)")
            if metric.is_fraction and number > 1:
                self.fail(line, f"{at}, outside [0, 1]", _percent_hint(number, short, "a fraction, not "
                                                                        "percentage points", fix))
        elif (metric.low is not None and number < metric.low) or (metric.high is not None and number > metric.high):
            span = f"outside [{metric.low:g}, {metric.high:g}]" if metric.high is not None else f"below {metric.low:g}"
            self.fail(line, f"{at}, {span}",
                      _percent_hint(number, short, "a fraction, not a percentage", fix) if metric.is_fraction else fix)
        return number

    def number(self, path: str, value: Any, line: int, fix: str, limit: bool) -> float:
        """`value` as a finite number (greater than 0 when it is a `limit`)."""
        at = f"`{path}`"
        if value is None:
            self.fail(line, f"{at} has no value", fix + ", or delete the line to set no limit")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(line, f"{at} must be a number, not {_describe(value)}", fix + ", with no unit")
        if not math.isfinite(value):
            self.fail(line, f"{at} must be a finite number, not {value}", fix)
        if limit and value <= 0:
            self.fail(line, f"{at} is {value:g}, but a limit must be greater than 0", fix)
        return float(value)

    def fraction(self, key: str, value: Any, line: int) -> float:
        spec = KEYS[key]
        fix = f"write e.g. `{spec.example}` ({spec.meaning})"
        number = self.number(key, value, line, fix, limit=False)
        if not 0 <= number <= 1:
            self.fail(line, f"`{key}` is {number:g}, outside [0, 1]",
                      _percent_hint(number, key, f"a fraction, not a percentage ({spec.meaning})", fix))
        return number

    def setting(self, key: str, value: Any, line: int, path: str = "") -> Any:
        """A `target`/`runtime` name or the `require_supported` flag."""
        path = path or key
        spec = KEYS[key]
        fix = f"write e.g. `{spec.example}` ({spec.meaning})"
        if value is None:
            self.fail(line, f"`{path}` has no value", fix)
        if spec.kind == "bool":
            if not isinstance(value, bool):
                self.fail(line, f"`{path}` must be true or false, not {_describe(value)}", fix)
            return value
        if not isinstance(value, str) or not value.strip():
            self.fail(line, f"`{path}` must be a name, not {_describe(value)}", fix)
        return value.strip()

    def choice(self, key: str, value: Any, line: int, choices: tuple[str, ...]) -> str:
        if value not in choices:
            close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.5)
            self.fail(line, f"`{key}` must be {' or '.join(choices)}, not {_describe(value)}",
                      (f"did you mean `{key}: {close[0]}`? " if close else "") + f"({KEYS[key].meaning})")
        return value

    def check_catalog(self, fields: dict[str, Any], lines: dict[str, int], path: str) -> None:
        """Ask device-simulate's catalog, where that stage is installed, whether it knows the target
        and the runtime."""
        try:
            from edgeopt.device_simulate.catalog import resolve_target, runtime_profile
        except ModuleNotFoundError as exc:
            if exc.name in ("edgeopt.device_simulate", "edgeopt.device_simulate.catalog"):
                return
            raise
        for key, check in (("target", resolve_target), ("runtime", runtime_profile)):
            if key in fields:
                try:
                    check(fields[key])
                except EdgeoptError as exc:
                    self.fail(lines[key], (f"`{_join(path, key)}`: " if path else "") + exc.message, exc.hint)


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


def _unknown_key_hint(key: Any, allowed: tuple[str, ...]) -> str:
    name = str(key)
    if name in quality_metrics() and "quality" not in allowed:
        return f"{name} is a quality of the model, the same on every device: put it under the top-level `quality:`"
    if name in quality_metrics():
        return f"{name} is a quality goal: put it under `quality:`, e.g. `quality: {{{name}: {{min: 30}}}}`"
    if name in device_metrics() or name in ("runtime", "require_supported"):
        return f"in a file with `targets:`, `{name}` belongs to each device's entry"
    if name in FILE_KEYS:
        return f"`{name}` applies to the whole file: write it at the top level, not in an entry"
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    if close:
        spec = KEYS.get(close[0])
        return f"did you mean `{close[0]}`?" + (f" ({spec.meaning}, e.g. `{spec.example}`)" if spec else "")
    return f"the known keys are {', '.join(allowed)}"


def _kind_hint(kind: Any, metric: GateMetric) -> str:
    other = "higher" if metric.better == "lower" else "lower"
    if kind in ALIASES[other]:
        word = "increase" if metric.better == "lower" else "decrease"
        return (f"{metric.key} is better {metric.better}, so a change for the worse is a {word}: write "
                f"`{ALIASES[other][kind]}` or `{kind.replace('increase', word).replace('decrease', word)}`")
    close = difflib.get_close_matches(str(kind), goal_kinds(metric), n=1, cutoff=0.6)
    return (f"did you mean `{close[0]}`? " if close else "") + f"a goal is a map of {', '.join(goal_kinds(metric))}"


def _example(metric: GateMetric, kind: str) -> str:
    rule = canonical(kind)
    if rule in RELATIVE_KINDS:
        value = "0.05"
    elif rule in CHANGE_KINDS:
        value = "0.02" if metric.is_fraction else "1"
    elif metric.is_fraction or metric.high == 1:
        value = "0.9"
    else:
        value = "50" if metric.source == "device" else "30"
    return f"{kind}: {value}"


def _percent_hint(number: float, key: str, what: str, fix: str) -> str:
    if 1 < number <= 100:
        return f"it is {what}: for {number:g}% write `{key}: {number / 100:g}`"
    return fix


def _join(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _node_kind(node: yaml.Node) -> str:
    return "list" if isinstance(node, yaml.SequenceNode) else "single value"


def _describe(value: Any) -> str:
    if value is None:
        return "no value"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, (list, dict)):
        return "a list" if isinstance(value, list) else "a nested mapping"
    return f"{type(value).__name__} {value!r}"
