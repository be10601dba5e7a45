"""Each stage's declaration and its surfaces stay in step: the CLI flags, the KFP component's inputs
(names, types, defaults, descriptions), the pipeline parameters and docs/STAGES.md."""

import inspect
import typing
from pathlib import Path

import pytest

from edgeopt.cli import build_parser
from edgeopt.common.spec import UNSET
from edgeopt.stages import STAGES, reference_markdown

REPO = Path(__file__).resolve().parents[2]
DECLARED = [s for s in STAGES if (REPO / "components" / "edgeopt" / s.package / "spec.py").is_file()]
PARAMETER_TYPES = {bool, int, float, str, list}


def _component_parameters(stage) -> dict[str, inspect.Parameter]:
    func = getattr(stage.module("component"), stage.package).python_func
    return {name: p for name, p in inspect.signature(func).parameters.items()
            if _plain(p.annotation) in PARAMETER_TYPES}


def _plain(annotation):
    origin = typing.get_origin(annotation)
    if origin is typing.Union:  # Optional[X]
        return next(a for a in typing.get_args(annotation) if a is not type(None))
    if origin is list:
        return list
    return annotation


@pytest.mark.parametrize("stage", DECLARED, ids=lambda s: s.name)
def test_component_inputs_are_the_declared_parameters(stage):
    spec = stage.module("spec").SPEC
    params = _component_parameters(stage)
    pipeline_inputs = ("model_uri", "data_uri", "targets") if stage.name == "ingest" else ()
    inputs = {k: v for k, v in params.items() if k not in pipeline_inputs}
    assert list(inputs) == [p.name for p in spec.params]
    for p in spec.params:
        assert _plain(inputs[p.name].annotation) is p.type, p.name
        assert inputs[p.name].default == p.default, p.name


@pytest.mark.parametrize("stage", DECLARED, ids=lambda s: s.name)
def test_component_descriptions_come_from_the_declaration(stage):
    spec = stage.module("spec").SPEC
    component = getattr(stage.module("component"), stage.package)
    for p in spec.params:
        assert component.component_spec.inputs[p.name].description.startswith(p.description), p.name


@pytest.mark.parametrize("stage", DECLARED, ids=lambda s: s.name)
def test_cli_flags_are_the_declared_parameters(stage):
    spec = stage.module("spec").SPEC
    parser = build_parser(stage.command)
    sub = parser._subparsers._group_actions[0].choices[stage.command]
    flags = {opt: action for action in sub._actions for opt in action.option_strings}
    for p in spec.params:
        if not p.cli:
            continue
        action = flags[p.cli_flag]
        assert action.dest == p.name
        assert action.default is (None if p.type is bool else UNSET)  # not given: the declaration's default
        assert p.description in action.help


def test_pipeline_parameters_follow_the_declarations():
    from edgeopt.pipelines.edge_optimize import edge_optimize

    signature = inspect.signature(edge_optimize.pipeline_func)
    declared, defaults = {}, {}
    for stage in DECLARED:
        spec = stage.module("spec").SPEC
        for name, pipeline in spec.pipeline_names().items():
            declared.setdefault(pipeline, spec.param(name))
        for pipeline, default in spec.pipeline_defaults().items():
            defaults.setdefault(pipeline, default)
    for name, parameter in signature.parameters.items():
        if name in declared:
            assert parameter.default == defaults[name], name
            assert _plain(parameter.annotation) is declared[name].type, name
    inputs = edge_optimize.component_spec.inputs
    described = [n for n in signature.parameters if n in declared]
    assert described and all(inputs[n].description for n in described)


def test_stage_reference_is_current():
    assert (REPO / "docs" / "STAGES.md").read_text() == reference_markdown(), \
        "regenerate with: .venv/bin/python -m edgeopt.stages > docs/STAGES.md"


def test_a_bad_value_is_refused_by_the_declaration_before_any_work(tmp_path):
    from edgeopt.common.errors import EdgeoptError
    from edgeopt.distill.spec import SPEC

    with pytest.raises(EdgeoptError, match=r"distill width is 1.5, outside \(0, 1\]"):
        SPEC.check({"width": 1.5})
    with pytest.raises(EdgeoptError, match="distill has no option widht"):
        SPEC.check({"widht": 0.5})
    with pytest.raises(EdgeoptError, match="must be a whole number"):
        SPEC.check({"epochs": 2.5})


@pytest.mark.parametrize("stage", DECLARED, ids=lambda s: s.name)
def test_checked_options_check_again_unchanged(stage):
    """A core may receive options its CLI already checked: checking twice changes nothing."""
    spec = stage.module("spec").SPEC
    once = spec.check({})
    assert spec.check(once) == once
