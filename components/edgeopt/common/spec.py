"""Stage declarations: each stage's parameters and the metrics it emits, declared once.

A `StageSpec` is the single source of a stage's options. From it come the `edgeopt <stage>` flags
(`add_cli_arguments`, `values_from_cli`), the checks run before any work (`check`), the KFP
component's parameter descriptions (`describe`, which writes the docstring's `Args:` section the
compiler turns into the UI's descriptions) and the docs tables (`markdown_table`). Component and
pipeline signatures must spell the parameters in Python for KFP; a test keeps them equal to the
declaration (names, types, defaults). Metrics carry their unit and better direction, which the
gate uses to tell a drop from an improvement.
"""

import argparse
import difflib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from edgeopt.common.errors import EdgeoptError

UNSET = object()  # marks "no CLI value given" so that defaults stay the declaration's


@dataclass(frozen=True)
class Param:
    """One stage parameter: type, default, allowed values or range, and a one-line description.

    `flag` is the CLI spelling when it differs from `--name-with-dashes`; `invert` makes a boolean
    flag that sets the parameter to False (e.g. `--per-tensor` for `per_channel`); `pipeline` is
    the pipeline parameter's name when it differs from `<stage>_<name>` (None: not a pipeline
    parameter) and `pipeline_default` its default there when it differs (distillation is off in
    the pipeline unless asked for); `cli=False` keeps it off the stage command. `unset` is the value
    meaning "not set" (checked to None) for an option KFP must carry as a plain value, since
    kfp.local cannot pass None: e.g. -1 for an accuracy budget, "" for a method's own io type.
    """

    name: str
    type: type
    default: Any
    description: str
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    optional: bool = False          # None is allowed and means "not set"
    unset: Any = UNSET              # the value that stands for "not set" where None cannot go (KFP parameters)
    flag: str | None = None
    invert: bool = False
    metavar: str | None = None
    pipeline: str | None = ""
    pipeline_default: Any = UNSET   # the pipeline's default, when it differs from the stage's
    cli: bool = True

    def check(self, value: Any, label: str | None = None) -> Any:
        """`value` converted to the declared type; EdgeoptError naming the parameter (as `label`,
        default its name) otherwise."""
        label = label or self.name
        if value is None and (self.optional or self.unset is not UNSET):
            return None
        if self.unset is not UNSET and value == self.unset:
            return None
        value = _coerce(self.type, value, label)
        if self.choices is not None and value not in self.choices:
            close = difflib.get_close_matches(str(value), [str(c) for c in self.choices], n=1)
            raise EdgeoptError(f"{label} must be one of {', '.join(map(str, self.choices))}, not {value!r}",
                               f"did you mean {close[0]}?" if close else f"pick one of {', '.join(map(str, self.choices))}")
        if self.type in (int, float) and not _in_range(self, value):
            raise EdgeoptError(f"{label} is {value}, outside {self.range_text()}", f"{self.description}")
        return value

    def range_text(self) -> str:
        """The allowed range as interval notation, e.g. [0, 1)."""
        low = "-inf" if self.minimum is None else _num(self.minimum)
        high = "inf" if self.maximum is None else _num(self.maximum)
        return f"{'(' if self.exclusive_minimum or self.minimum is None else '['}{low}, " \
               f"{high}{')' if self.exclusive_maximum or self.maximum is None else ']'}"

    def allowed_text(self) -> str:
        """Choices or range, for help texts and docs ("" when anything of the type goes)."""
        if self.choices is not None:
            return ", ".join(map(str, self.choices))
        if self.type in (int, float) and (self.minimum is not None or self.maximum is not None):
            return self.range_text()
        return ""

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")


TRUST_MODEL_HELP = "allow a SavedModel, whose graph runs as stored (Keras files are checked and never need it)"


def trust_model_param() -> "Param":
    """The `trust_model` parameter of every stage that loads a user's model (the CLI adds
    `--trust-model` to those commands itself, so it is not a stage flag)."""
    return Param("trust_model", bool, False, TRUST_MODEL_HELP, pipeline="trust_model", cli=False, flag="--trust-model")


@dataclass(frozen=True)
class MetricSpec:
    """One emitted metric: its key, unit and which direction is better (None: neither)."""

    key: str
    unit: str
    better: str | None
    description: str

    def __post_init__(self) -> None:
        if self.better not in ("higher", "lower", None):
            raise ValueError(f"metric {self.key}: better must be higher, lower or None")


@dataclass(frozen=True)
class StageSpec:
    """A stage's declaration: name, one-line description, parameters and emitted metrics."""

    name: str
    description: str
    params: tuple[Param, ...]
    metrics: tuple[MetricSpec, ...] = field(default_factory=tuple)

    def param(self, name: str) -> Param:
        """The parameter called `name` (KeyError for an undeclared one)."""
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"stage {self.name} declares no parameter {name!r}")

    def defaults(self) -> dict[str, Any]:
        """Every parameter's default."""
        return {p.name: p.default for p in self.params}

    def check(self, values: dict[str, Any], cli: bool = False) -> dict[str, Any]:
        """Defaults overlaid with `values`, each converted and checked; EdgeoptError for an unknown
        name or a bad value (named by its CLI flag when `cli`)."""
        unknown = sorted(set(values) - {p.name for p in self.params})
        if unknown:
            raise EdgeoptError(f"{self.name} has no option {', '.join(unknown)}",
                               f"its options are {', '.join(p.name for p in self.params)}")
        return {p.name: p.check(values.get(p.name, p.default), p.cli_flag if cli else f"{self.name} {p.name}")
                for p in self.params}

    def metric(self, key: str) -> MetricSpec | None:
        """The declared metric `key`, or None."""
        return next((m for m in self.metrics if m.key == key), None)

    def pipeline_defaults(self) -> dict[str, Any]:
        """Pipeline parameter name -> its default in the pipeline."""
        return {pipe: (self.param(name).default if self.param(name).pipeline_default is UNSET
                       else self.param(name).pipeline_default) for name, pipe in self.pipeline_names().items()}

    def pipeline_names(self) -> dict[str, str]:
        """Parameter name -> pipeline parameter name, for the parameters the pipeline exposes."""
        return {p.name: (p.pipeline or f"{self.name.replace('-', '_')}_{p.name}") for p in self.params
                if p.pipeline is not None}

    def add_cli_arguments(self, parser: argparse.ArgumentParser, skip: Iterable[str] = ()) -> None:
        """Add one flag per CLI parameter (not in `skip`), with the declared help, choices and default."""
        for p in self.params:
            if not p.cli or p.name in skip:
                continue
            help_text = p.description + (f" ({p.allowed_text()})" if p.allowed_text() else "") + \
                ("" if p.type is bool else f"; default {_shown(p.default, p.unset)}")
            help_text = help_text.replace("%", "%%")
            if p.type is bool:  # default None: BooleanOptionalAction then adds no "(default: ...)" of its own
                action = "store_false" if p.invert else argparse.BooleanOptionalAction
                kwargs: dict[str, Any] = {"action": action, "dest": p.name, "default": None, "help": help_text}
                if p.invert:
                    kwargs["help"] = p.description.replace("%", "%%")
            else:
                kwargs = {"dest": p.name, "default": UNSET, "metavar": p.metavar or p.name.upper(), "help": help_text,
                          "type": _cli_type(p)}
            parser.add_argument(p.cli_flag, **kwargs)

    def values_from_cli(self, args: argparse.Namespace) -> dict[str, Any]:
        """The checked parameter values from parsed CLI arguments (flags not given take the default)."""
        given = {p.name: getattr(args, p.name) for p in self.params
                 if p.cli and getattr(args, p.name, UNSET) not in (UNSET, None)}
        return self.check(given, cli=True)

    def describe(self, intro: str, artifacts: dict[str, str] | None = None, outputs: str = "") -> Callable:
        """Decorator for a KFP component function: its docstring becomes `intro`, an `Args:` section
        with the `artifacts` (name -> description) and every declared parameter's description, then
        `outputs`. Apply it below @dsl.component, which reads the docstring for the UI."""
        def decorate(func: Callable) -> Callable:
            lines = [intro.strip(), "", "Args:"]
            lines += [f"    {name}: {text}" for name, text in (artifacts or {}).items()]
            for p in self.params:
                allowed = f" ({p.allowed_text()})" if p.allowed_text() else ""
                lines.append(f"    {p.name}: {p.description}{allowed}.")
            if outputs:
                lines += ["", outputs.strip()]
            func.__doc__ = "\n".join(lines)
            return func
        return decorate

    def markdown_table(self) -> str:
        """The parameters as a Markdown table (flag, pipeline parameter, type, default, allowed, description)."""
        names = self.pipeline_names()
        rows = ["| option | pipeline parameter | type | default | allowed | description |",
                "| --- | --- | --- | --- | --- | --- |"]
        for p in self.params:
            flag = f"`{p.cli_flag}`" if p.cli or p.flag else "-"
            pipe = f"`{names[p.name]}`" if p.name in names else "-"
            rows.append(f"| {flag} | {pipe} | {p.type.__name__} | {_shown(p.default, p.unset)} | {p.allowed_text() or '-'} "
                        f"| {p.description} |")
        return "\n".join(rows)


def _coerce(kind: type, value: Any, label: str) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise EdgeoptError(f"{label} must be true or false, not {value!r}", "pass true or false")
    if kind is int:
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise EdgeoptError(f"{label} must be a whole number, not {value!r}", "pass e.g. 2")
        return int(value)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise EdgeoptError(f"{label} must be a finite number, not {value!r}", "pass e.g. 0.5")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise EdgeoptError(f"{label} must be text, not {value!r}", "pass a string")
        return value
    if kind is list:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return list(value)
        raise EdgeoptError(f"{label} must be a list of names, not {value!r}", "pass NAME[,NAME...]")
    raise TypeError(f"unsupported parameter type {kind}")


def _in_range(p: Param, value: float) -> bool:
    if p.minimum is not None and (value < p.minimum or (p.exclusive_minimum and value == p.minimum)):
        return False
    if p.maximum is not None and (value > p.maximum or (p.exclusive_maximum and value == p.maximum)):
        return False
    return True


def _cli_type(p: Param) -> Callable[[str], Any]:
    if p.type is list:
        return str
    return p.type


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _shown(value: Any, unset: Any = UNSET) -> str:
    if value is None or (unset is not UNSET and value == unset):
        return "none" if value in (None, "") else f"{value} (not set)"
    if isinstance(value, list):
        return ",".join(value) or "none"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def pipeline_docstring(intro: str, specs: Iterable["StageSpec"], others: dict[str, str]) -> str:
    """A pipeline's docstring: `intro`, then an `Args:` section describing `others` (pipeline-only
    parameters, name -> description) and every stage parameter the pipeline exposes, in the
    declarations' words, so that the KFP UI's run form describes each one."""
    lines = [intro.strip(), "", "Args:"] + [f"    {name}: {text}" for name, text in others.items()]
    seen = set(others)
    for spec in specs:
        for name, pipeline in spec.pipeline_names().items():
            if pipeline in seen:
                continue
            seen.add(pipeline)
            p = spec.param(name)
            allowed = f" ({p.allowed_text()})" if p.allowed_text() else ""
            lines.append(f"    {pipeline}: {spec.name}: {p.description}{allowed}.")
    return "\n".join(lines)


def stage_arguments(spec: "StageSpec", values: dict[str, Any]) -> dict[str, Any]:
    """The arguments of stage `spec`'s component from the pipeline's parameters `values` (by pipeline name)."""
    return {name: values[pipeline] for name, pipeline in spec.pipeline_names().items()}


def stage_options(spec: "StageSpec", params: dict[str, Any]) -> dict[str, Any]:
    """The options of stage `spec` among the pipeline parameters `params` (those given), by the stage's own names."""
    return {name: params[pipeline] for name, pipeline in spec.pipeline_names().items() if pipeline in params}
