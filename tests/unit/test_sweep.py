"""The sweep's plain-Python parts: recipes, the grid from the budget, the Pareto front and the choice."""

import json
import math

import pytest

from edgeopt.common.errors import EdgeoptError
from edgeopt.common.targets import load_targets
from edgeopt.sweep import grid, pareto
from edgeopt.sweep.recipes import SWEEP_DEFAULTS, load_recipes, plan, recipe_keys

TWO_TARGETS = """\
targets:
  - target: cortex-m0plus@48mhz
    latency_ms: 30
    total_kb: 96
  - target: cortex-m4f@80mhz
    latency_ms: {max: 4}
quality:
  accuracy: {max_drop: 0.03, min: 0.5}
"""


# --- recipes -------------------------------------------------------------------------------------

def test_plan_gives_every_key_and_the_recipe_s_options():
    planned = plan([{"distill": 0.5},
                    {"name": "channels", "prune": {"method": "structured", "ratio": 0.25}, "quantize": "int16x8"},
                    {"distill": {"width": 0.25, "epochs": 3}, "prune": "2:4"}],
                   {"prune": {"epochs": 4}, "distill": {"epochs": 7}})
    assert [list(p) for p in planned] == [recipe_keys()] * 3
    first, second, third = planned
    assert (first["candidate"], first["distill_enabled"], first["distill_width"], first["prune_enabled"]) == \
        ("c0", True, 0.5, False)
    assert first["distill_epochs"] == 7 and first["quantize_method"] == "int8"
    assert second["label"] == "channels" and second["prune_ratio"] == 0.25 and second["prune_epochs"] == 4
    assert second["quantize_method"] == "int16x8" and not second["distill_enabled"]
    assert third["distill_epochs"] == 3 and third["prune_method"] == "2:4"
    assert third["label"] == "width 0.25 · 2:4 · int8"
    # what one run suits less than many candidates
    assert all(p["distill_compare_without_teacher"] is SWEEP_DEFAULTS["distill_compare_without_teacher"]
               for p in planned)
    json.dumps(planned)  # KFP parameters: plain JSON, no None


def test_defaults_written_into_the_recipes_plan_the_same():
    from edgeopt.sweep.recipes import with_defaults

    recipes = [{"distill": 0.5, "prune": "none"}, {"prune": "structured"}, {"name": "x", "quantize": "int16x8"}]
    defaults = {"distill": {"epochs": 20}, "prune": {"epochs": 4}, "quantize": {"calibration_samples": 100}}
    alone = with_defaults(recipes, defaults)
    assert alone[0] == {"distill": {"width": 0.5, "epochs": 20}, "prune": "none",
                        "quantize": {"calibration_samples": 100}}
    assert plan(alone) == plan(recipes, defaults)
    assert recipes[0] == {"distill": 0.5, "prune": "none"}  # the caller's list is left as it was


@pytest.mark.parametrize("recipes, message", [
    ([], "no recipes"),
    ([{"distill": 2.0}], "recipe 0: distill width is 2.0"),
    ([{"prune": {"method": "structured", "rank_ratio": 0.5}}], "recipe 0: --rank-ratio does not apply"),
    ([{"prune": {"method": "lowrank"}}], "recipe 0: method lowrank needs"),
    ([{"quantize": {"method": "static", "backend": "onnxruntime"}}], "cannot read"),
    ([{"quantize": "none"}], "quantize cannot be none"),
    ([{"quantize": "int3"}], "recipe 0"),
    ([{"distill": 0.5}, {"distill": {"width": 0.5}}], "recipes 0 and 1 are the same"),
    ([{"pruning": "structured"}], "unknown key pruning"),
    ([{"prune": {"enabled": True}}], "prune has no recipe option 'enabled'"),
    ([{"prune": {"trust_model": True}}], "prune has no recipe option 'trust_model'"),
    (["int8"], "recipe 0 is 'int8', not a mapping"),
    ([{"name": 3, "distill": 0.5}], "name must be text"),
])
def test_bad_recipes_are_named(recipes, message):
    with pytest.raises(EdgeoptError) as err:
        plan(recipes)
    assert message in err.value.message
    assert err.value.hint


def test_recipes_file_forms(tmp_path):
    listed = tmp_path / "list.yaml"
    listed.write_text("- {distill: 0.5, prune: null}\n- {prune: {method: structured, ratio: 0.5}}\n")
    assert load_recipes(listed) == ([{"distill": 0.5, "prune": "none"},
                                     {"prune": {"method": "structured", "ratio": 0.5}}], {})
    mapped = tmp_path / "map.json"
    mapped.write_text(json.dumps({"recipes": [{"distill": 0.25}], "defaults": {"distill": {"epochs": 2}}}))
    assert load_recipes(mapped) == ([{"distill": 0.25}], {"distill": {"epochs": 2}})
    for text in ("just text", "recipes: [\n", "{other: 1}"):
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(EdgeoptError):
            load_recipes(bad)
    with pytest.raises(EdgeoptError, match="does not exist"):
        load_recipes(tmp_path / "missing.yaml")


# --- the grid -------------------------------------------------------------------------------------

def test_shrink_is_the_worst_ratio_to_a_limit():
    predicted = {"a": {"latency_ms": 120.0, "flash_bytes": 90 * 1024, "ram_bytes": 10 * 1024, "total_bytes": 100 * 1024},
                 "b": {"latency_ms": 10.0, "flash_bytes": 0, "ram_bytes": 0, "total_bytes": 0}}
    budgets = {"a": {"latency_ms": 40.0, "total_kb": 50.0, "flash_kb": None, "ram_kb": None},
               "b": {"latency_ms": 4.0, "total_kb": None, "flash_kb": None, "ram_kb": None}}
    assert grid.shrink_needed(predicted, budgets) == pytest.approx(3.0)
    budgets["a"]["total_kb"] = 20.0
    assert grid.shrink_needed(predicted, budgets) == pytest.approx(5.0)


@pytest.mark.parametrize("shrink", [0.5, 2.0, 5.0, 30.0])
def test_grid_brackets_the_needed_cost(shrink):
    recipes = grid.grid(shrink, 8)
    assert len(recipes) == 8 and recipes[0] == grid.recipe(1.0, 0.0)
    assert len(plan(recipes)) == 8  # every grid recipe is valid and distinct
    json.dumps(recipes, allow_nan=False)
    assert "None" not in repr(recipes)  # KFP cannot carry None
    costs = [grid.estimated_cost(r["distill"]["width"] if r["distill"] != "none" else 1.0,
                                 r["prune"]["ratio"] if r["prune"] != "none" else 0.0) for r in recipes[1:]]
    goal = 1 / max(shrink * grid.MARGIN, 1.0)
    if shrink > 1.5:  # the budget is not met by the baseline: candidates on both sides of the goal
        assert min(costs) <= goal <= max(costs)
    # the nearest candidates are nearer than anything left out
    left_out = [grid.estimated_cost(w, r) for w in grid.WIDTHS for r in grid.RATIOS
                if (w, r) != (1.0, 0.0) and grid.estimated_cost(w, r) not in costs]
    assert min(abs(math.log(c / goal)) for c in costs) <= min(abs(math.log(c / goal)) for c in left_out)


# --- the front and the choice ----------------------------------------------------------------------

def _row(ident, quality, lat_a, total_a, lat_b=1.0, total_b=1.0, passed=True):
    return {"id": ident, "quality": quality, "verdict": {"passed": passed},
            "simulation": {"a": {"latency_ms": lat_a, "total_bytes": total_a},
                           "b": {"latency_ms": lat_b, "total_bytes": total_b}}}


def test_front_keeps_the_non_dominated():
    rows = [_row("fast", 0.90, 10, 100), _row("accurate", 0.97, 50, 100), _row("worse", 0.89, 11, 100),
            _row("tie-fast", 0.90, 10, 100), _row("small", 0.85, 60, 10), _row("broken", None, 1, 1)]
    vectors = {r["id"]: pareto.objectives(r, ["a", "b"], "higher") for r in rows}
    assert vectors["broken"] is None
    assert pareto.front(vectors) == ["fast", "accurate", "tie-fast", "small"]
    # lower-is-better quality (e.g. mse) flips the first objective
    assert pareto.objectives(rows[0], ["a"], "lower")[0] == 0.90


def test_choice_is_highest_quality_then_lowest_latency_among_passing():
    rows = [_row("best-but-failed", 0.99, 5, 10, passed=False), _row("slow", 0.95, 30, 10),
            _row("fast", 0.95, 20, 10), _row("faster-worse", 0.93, 5, 10)]
    assert pareto.choose(rows, ["a", "b"], "higher")["id"] == "fast"
    assert pareto.choose([r for r in rows if not r["verdict"]["passed"]], ["a"], "higher") is None
    assert pareto.choose(rows, ["a", "b"], "lower")["id"] == "faster-worse"


# --- budgets and the quality floor from a targets file ----------------------------------------------

def test_budgets_and_quality_floor():
    from edgeopt.sweep.core import budgets, quality_floor

    spec = load_targets(TWO_TARGETS)
    assert budgets(spec.entries[0]) == {"latency_ms": 30.0, "flash_kb": None, "ram_kb": None, "total_kb": 96.0}
    assert budgets(spec.entries[1])["latency_ms"] == 4.0
    assert quality_floor(spec, "accuracy", "higher", {"accuracy": 0.97}) == pytest.approx(0.94)
    assert quality_floor(spec, "accuracy", "higher", {}) == 0.5  # the drop needs a baseline
    assert quality_floor(spec, "mse", "lower", {"mse": 0.1}) is None


def test_chosen_reports_are_read_only_from_folders_their_index_names_inside(tmp_path):
    from edgeopt.common.simulations import read_reports

    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "report.json").write_text(json.dumps({"target": "x"}))
    sims = tmp_path / "sims"
    (sims / "0-x").mkdir(parents=True)
    (sims / "0-x" / "report.json").write_text(json.dumps({"target": "x", "latency_ms": 1.0}))
    (sims / "index.json").write_text(json.dumps({"reports": [{"dir": "0-x"}]}))
    assert read_reports(sims) == [{"target": "x", "latency_ms": 1.0}]
    (sims / "index.json").write_text(json.dumps({"reports": [{"dir": "../outside"}]}))
    with pytest.raises(EdgeoptError, match="does not list its reports"):
        read_reports(sims)
