"""The targets file v2: several devices, goal maps on any declared metric, quality goals, the baseline
and `require`; v1 files mean what they meant; every refusal names the line and the path; the JSON
Schema agrees with the loader; `edgeopt targets schema|check`."""

import json

import jsonschema
import pytest
import yaml

from edgeopt.cli import main
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.gate_metrics import METRICS
from edgeopt.common.targets import Goal, TargetEntry, Targets, load_targets
from edgeopt.validate_targets.schema import targets_schema

ISSUE_EXAMPLE = """\
targets:                        # every entry must pass (require: any -> one is enough)
  - target: cortex-m4f@80mhz
    runtime: tflm-cmsis-nn      # optional, as today
    latency_ms: 50              # a number is a maximum, as in v1
    total_kb: {max: 300}
  - target: NUCLEO-H7A3ZI-Q
    latency_ms: {max: 20, max_increase_relative: 0.0}   # no slower than the baseline
quality:                        # goals on the model's own metrics
  accuracy: {min: 0.85, max_drop: 0.02}
  snr_db: {min: 30}
baseline: registry              # or: input (the run's input model)
"""


def test_the_issue_example_loads_into_entries_and_quality_goals():
    t = load_targets(ISSUE_EXAMPLE)
    assert t.entries == (
        TargetEntry("cortex-m4f@80mhz", "tflm-cmsis-nn", True,
                    (Goal("latency_ms", "max", 50), Goal("total_kb", "max", 300))),
        TargetEntry("NUCLEO-H7A3ZI-Q", "tflm-cmsis-nn", True,
                    (Goal("latency_ms", "max", 20), Goal("latency_ms", "max_increase_relative", 0.0))))
    assert t.quality == (Goal("accuracy", "min", 0.85), Goal("accuracy", "max_drop", 0.02), Goal("snr_db", "min", 30))
    assert (t.baseline, t.require) == ("registry", "all")
    assert (t.target, t.runtime, t.latency_ms) == ("cortex-m4f@80mhz", "tflm-cmsis-nn", None)  # the first device
    assert t.entries[1].goals[1].rule == "max_drop_relative"


def test_a_v1_file_is_one_entry_with_the_same_goals_as_its_fields():
    text = "target: cortex-m4f@80mhz\nlatency_ms: 50\ntotal_kb: 300\naccuracy_drop: 0.02\nmin_accuracy: 0.9\n"
    t = load_targets(text)
    assert t == Targets(target="cortex-m4f@80mhz", latency_ms=50, total_kb=300, accuracy_drop=0.02, min_accuracy=0.9)
    assert t.entries[0].goals == (Goal("latency_ms", "max", 50), Goal("total_kb", "max", 300))
    assert t.quality == (Goal("accuracy", "max_drop", 0.02, "accuracy_drop"), Goal("accuracy", "min", 0.9, "min_accuracy"))
    assert [g.name for g in t.quality] == ["accuracy_drop", "min_accuracy"]
    assert (t.baseline, t.require) == ("input", "all")


def test_the_one_device_form_takes_goal_maps_quality_and_settings():
    t = load_targets("target: NUCLEO-L4R5ZI\nlatency_ms: {max: 40, min_improvement_relative: 0.1}\n"
                     "energy_uj: 900\nquality: {snr_db: {min: 30}, mse: {max: 0.01}}\nbaseline: registry\n"
                     "require: any\n")
    assert t.entries[0].goals == (Goal("latency_ms", "max", 40), Goal("latency_ms", "min_improvement_relative", 0.1),
                                  Goal("energy_uj", "max", 900))
    assert t.latency_ms is None  # a goal map is not a v1 limit
    assert t.quality == (Goal("snr_db", "min", 30), Goal("mse", "max", 0.01))
    assert t.require == "any"


def test_every_goal_kind_and_alias_loads_on_a_metric_of_its_direction():
    t = load_targets("targets:\n  - target: cortex-m4f@80mhz\n    ram_kb: {min: 1, max: 64, max_drop: 4, "
                     "max_drop_relative: 0.1, min_improvement: 1, min_improvement_relative: 0.05}\n"
                     "  - target: NUCLEO-L4R5ZI\n    flash_kb: {max_increase: 8, max_increase_relative: 0.1}\n"
                     "quality:\n  cosine: {min: 0.99, max_decrease: 0.001, max_decrease_relative: 0.01}\n"
                     "baseline: registry\n")
    assert [g.kind for g in t.entries[0].goals] == ["min", "max", "max_drop", "max_drop_relative", "min_improvement",
                                                    "min_improvement_relative"]
    assert [g.rule for g in t.entries[1].goals] == ["max_drop", "max_drop_relative"]
    assert [g.rule for g in t.quality] == ["min", "max_drop", "max_drop_relative"]


def test_require_supported_and_runtime_per_entry():
    t = load_targets("targets:\n  - target: cortex-m4f@80mhz\n    require_supported: false\n"
                     "  - target: cortex-m4f@80mhz\n    runtime: tflm-reference\n")
    assert [(e.runtime, e.require_supported) for e in t.entries] == [("tflm-cmsis-nn", False), ("tflm-reference", True)]


@pytest.mark.parametrize("text, line, message, hint", [
    ("targets:\n  - target: cortex-m4f@80mhz\n  - target: NUCLEO-H7A3ZI-Q\n    latency_ms: {max: 20ms}\n", 4,
     "`targets[1].latency_ms.max` must be a number, not the text '20ms'", "max: 50"),
    ("targets:\n  - target: cortex-m4f@80mhz\n    latency_ms: {max: -1}\n", 3,
     "`targets[0].latency_ms.max` is -1, but a limit must be greater than 0", "highest allowed value"),
    ("targets:\n  - target: cortex-m4f@80mhz\n    latncy_ms: 5\n", 3,
     "unknown key 'latncy_ms' in `targets[0]`", "did you mean `latency_ms`"),
    ("targets:\n  - target: cortex-m4f@80mhz\n    accuracy: {min: 0.9}\n", 3,
     "unknown key 'accuracy' in `targets[0]`", "put it under the top-level `quality:`"),
    ("targets:\n  - target: cortex-m4f@80mhz\nlatency_ms: 50\n", 3, "unknown key 'latency_ms'",
     "belongs to each device's entry"),
    ("target: cortex-m4f@80mhz\nsnr_db: {min: 30}\n", 2, "unknown key 'snr_db'", "put it under `quality:`"),
    ("targets:\n  - runtime: tflm-cmsis-nn\n", 2, "`targets[0]` has no `target`", "- target: cortex-m4f@80mhz"),
    ("targets: []\n", 1, "`targets` must be a list of devices, not an empty list", "- target: cortex-m4f@80mhz"),
    ("targets:\n  - cortex-m4f@80mhz\n", 2, "`targets[0]` must be a map", "target: cortex-m4f@80mhz"),
    ("target: cortex-m4f@80mhz\ntargets:\n  - target: x\n", 2, "`target` and `targets` are both given", "not both"),
    ("targets:\n  - target: cortex-m4f@80mhz\n  - target: CORTEX-M4F@80MHZ\n", 3,
     "`targets[1]` repeats `targets[0]`", "give each device and runtime once"),
    ("target: cortex-m4f@80mhz\nquality:\n  accuracy: {mni: 0.9}\n", 3, "`quality.accuracy` has no goal kind 'mni'",
     "did you mean `min`?"),
    ("target: cortex-m4f@80mhz\nquality:\n  accuracy: {max_increase: 0.01}\n", 3, "has no goal kind 'max_increase'",
     "a change for the worse is a decrease: write `max_drop` or `max_decrease`"),
    ("target: cortex-m4f@80mhz\nlatency_ms: {max_decrease: 1}\n", 2, "has no goal kind 'max_decrease'",
     "write `max_drop` or `max_increase`"),
    ("target: cortex-m4f@80mhz\nquality:\n  accuracy: {min: 85}\n", 3, "`quality.accuracy.min` is 85, outside [0, 1]",
     "for 85% write `min: 0.85`"),
    ("target: cortex-m4f@80mhz\nquality:\n  accuracy: {max_drop: 2}\n", 3, "`quality.accuracy.max_drop` is 2, "
     "outside [0, 1]", "for 2% write `max_drop: 0.02`"),
    ("target: cortex-m4f@80mhz\nbaseline: registry\nlatency_ms: {max_drop_relative: 5}\n", 3,
     "`latency_ms.max_drop_relative` is 5, outside [0, 1]", "for 5% write `max_drop_relative: 0.05`"),
    ("target: cortex-m4f@80mhz\nbaseline: registry\nlatency_ms: {min_improvement: -1}\n", 3,
     "a change cannot be negative", "lower is better"),
    ("target: cortex-m4f@80mhz\nquality:\n  cosine: {min: -2}\n", 3, "outside [-1, 1]", "min: 0.9"),
    ("target: cortex-m4f@80mhz\nquality:\n  mse: {max: -0.1}\n", 3, "`quality.mse.max` is -0.1, below 0", "max: 30"),
    ("target: cortex-m4f@80mhz\nquality:\n  snr_db: {min: .nan}\n", 3, "must be a finite number", "min: 30"),
    ("target: cortex-m4f@80mhz\nquality:\n  accuracy: {min: 0.9, max: 0.8}\n", 3,
     "`quality.accuracy`: min 0.9 is above max 0.8", "lower min or raise max"),
    ("target: cortex-m4f@80mhz\nquality:\n  accuracy: {}\n", 3, "`quality.accuracy` sets no goal", "min, max"),
    ("target: cortex-m4f@80mhz\nquality:\n  accuracy: 0.9\n", 3, "`quality.accuracy` must be a map of goals",
     "accuracy: {min: 0.9}"),
    ("target: cortex-m4f@80mhz\nquality:\n  acuracy: {min: 0.9}\n", 3, "unknown key 'acuracy' in `quality`",
     "did you mean `accuracy`?"),
    ("target: cortex-m4f@80mhz\nquality:\n  latency_ms: {max: 5}\n", 3, "latency_ms is measured on a device",
     "the target's entry"),
    ("target: cortex-m4f@80mhz\nquality: [accuracy]\n", 2, "`quality` must be a map", "quality: {accuracy"),
    ("target: cortex-m4f@80mhz\nlatency_ms: [50]\n", 2, "`latency_ms` must be a number or a map of goals, not a list",
     "latency_ms: 50"),
    ("target: cortex-m4f@80mhz\nlatency_ms: {max: 5, max: 6}\n", 2, "repeats `latency_ms.max`", "keep one"),
    ("target: cortex-m4f@80mhz\nbaseline: registry\nflash_kb: {max_drop: 4, max_increase: 8}\n", 3,
     "`flash_kb.max_increase` repeats `flash_kb.max_drop`: both set max_drop on flash_kb", "keep one"),
    ("target: cortex-m4f@80mhz\naccuracy_drop: 0.02\nquality:\n  accuracy: {max_drop: 0.01}\n", 4,
     "`quality.accuracy.max_drop` repeats `accuracy_drop`", "keep one"),
    ("target: cortex-m4f@80mhz\nbaseline: newest\n", 2, "`baseline` must be input or registry, not the text 'newest'",
     "latest promoted version"),
    ("target: cortex-m4f@80mhz\nrequire: every\n", 2, "`require` must be all or any", "one is enough"),
    ("targets:\n  - target: cortex-m4f@80mhz\n    baseline: registry\n", 3, "unknown key 'baseline' in `targets[0]`",
     "applies to the whole file"),
    ("targets:\n  - target: cortex-m4f@80mhz\n    runtime: 7\n", 3, "`targets[0].runtime` must be a name",
     "runtime: tflm-cmsis-nn"),
])
def test_refusals_name_the_line_the_path_and_the_fix(tmp_path, text, line, message, hint):
    path = tmp_path / "targets.yaml"
    path.write_text(text)
    with pytest.raises(EdgeoptError) as err:
        load_targets(path)
    assert err.value.message.startswith(f"{path}, line {line}: "), err.value.message
    assert message in err.value.message
    assert hint in err.value.hint


@pytest.mark.parametrize("goal, line, why", [
    ("targets:\n  - target: NUCLEO-H7A3ZI-Q\n    latency_ms: {max: 20, max_increase_relative: 0.0}\n", 3,
     "the input model has no latency_ms (it is not simulated)"),
    ("target: cortex-m4f@80mhz\nquality:\n  snr_db: {max_drop: 3}\n", 3,
     "the input model has no snr_db (it is the reference this metric is measured against)"),
])
def test_a_change_goal_needs_a_baseline_that_has_the_metric(goal, line, why):
    with pytest.raises(EdgeoptError) as err:
        load_targets(goal)
    assert f"line {line}: " in err.value.message and why in err.value.message
    assert "baseline: registry" in err.value.hint
    assert load_targets(goal + "baseline: registry\n").baseline == "registry"
    load_targets("target: cortex-m4f@80mhz\nquality:\n  accuracy: {max_drop: 0.02}\n  size_kb: {min_improvement_relative: 0.5}\n")


def test_a_device_the_catalog_does_not_know_names_its_entry():
    pytest.importorskip("edgeopt.device_simulate.catalog")
    with pytest.raises(EdgeoptError, match=r"line 3: `targets\[1\]\.target`: unknown .*no-such-board") as err:
        load_targets("targets:\n  - target: cortex-m4f@80mhz\n  - target: no-such-board\n")
    assert "cortex-m4f@80mhz" in err.value.hint


# --- JSON Schema ------------------------------------------------------------------------------

VALID = [
    ISSUE_EXAMPLE,
    "target: cortex-m4f@80mhz\nlatency_ms: 50\nflash_kb: 256\nram_kb: 64\ntotal_kb: 300\naccuracy_drop: 0.02\n"
    "accuracy_drop_relative: 0.05\nmin_accuracy: 0.9\nruntime: tflm-cmsis-nn\nrequire_supported: false\n",
    "target: cortex-m4f@80mhz\nquality: {snr_db: {min: 30}, cosine: {min: 0.99}, mse: {max: 0.5}}\nrequire: any\n",
    "targets:\n  - target: cortex-m4f@80mhz\n    energy_uj: {max: 500, min_improvement: 10}\nbaseline: registry\n",
]
INVALID = [
    "latency_ms: 50\n",
    "target: cortex-m4f@80mhz\nlatency_ms: 0\n",
    "target: cortex-m4f@80mhz\nlatency_ms: true\n",
    "target: cortex-m4f@80mhz\nlatency: 5\n",
    "target: cortex-m4f@80mhz\naccuracy_drop: 2\n",
    "target: cortex-m4f@80mhz\ntargets: [{target: x}]\n",
    "targets: []\n",
    "targets:\n  - {target: x, accuracy: {min: 0.9}}\n",
    "targets:\n  - {runtime: tflm-cmsis-nn}\n",
    "target: cortex-m4f@80mhz\nquality: {accuracy: {min: 1.5}}\n",
    "target: cortex-m4f@80mhz\nquality: {accuracy: {}}\n",
    "target: cortex-m4f@80mhz\nquality: {accuracy: 0.9}\n",
    "target: cortex-m4f@80mhz\nquality: {accuracy: {max_increase: 0.1}}\n",
    "target: cortex-m4f@80mhz\nbaseline: registry\nflash_kb: {max_drop: 1, max_increase: 2}\n",
    "target: cortex-m4f@80mhz\nquality: {snr_db: {max_drop_relative: 2}}\nbaseline: registry\n",
    "target: cortex-m4f@80mhz\nbaseline: newest\n",
    "target: ''\n",
]


@pytest.mark.parametrize("text", VALID)
def test_the_schema_accepts_what_the_loader_accepts(text):
    jsonschema.Draft202012Validator(targets_schema()).validate(yaml.safe_load(text))
    load_targets(text)


@pytest.mark.parametrize("text", INVALID)
def test_the_schema_refuses_what_the_loader_refuses(text):
    assert list(jsonschema.Draft202012Validator(targets_schema()).iter_errors(yaml.safe_load(text)))
    with pytest.raises(EdgeoptError):
        load_targets(text)


def test_the_schema_is_valid_and_declares_every_metric_with_its_direction():
    schema = targets_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    for key, metric in METRICS.items():
        assert f"{metric.better} is better" in schema["$defs"][f"goals_{key}"]["description"]


def test_targets_command_prints_the_schema_and_checks_a_file(tmp_path, capsys):
    assert main(["targets", "schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(targets_schema()))
    path = tmp_path / "t.yaml"
    path.write_text(ISSUE_EXAMPLE)
    assert main(["targets", "check", str(path)]) == 0
    checked = json.loads(capsys.readouterr().out)
    assert [e["target"] for e in checked["targets"]] == ["cortex-m4f@80mhz", "NUCLEO-H7A3ZI-Q"]
    assert checked["quality"][2] == {"metric": "snr_db", "kind": "min", "threshold": 30.0, "key": ""}
    path.write_text("targets:\n  - target: cortex-m4f@80mhz\n    latency_ms: {max: 20ms}\n")
    assert main(["targets", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}, line 3: `targets[0].latency_ms.max` must be a number" in err and "Traceback" not in err
