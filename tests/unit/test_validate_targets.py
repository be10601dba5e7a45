"""The targets file schema, every gate check, the Markdown report and the `validate` command."""

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from edgeopt.common.errors import EdgeoptError
from edgeopt.validate_targets import cli
from edgeopt.validate_targets.core import ModelRejected, render_markdown, run, validate
from edgeopt.common.targets import DEFAULT_RUNTIME, Targets, load_targets

SIMPLE = """\
target: cortex-m4f@80mhz   # a board name or CORE@CLOCK
latency_ms: 50             # maxima; each key optional
flash_kb: 256
ram_kb: 64
total_kb: 300              # flash + RAM
accuracy_drop: 0.02        # largest allowed drop against the baseline (fraction, absolute)
"""
TARGET = "cortex-m4f@80mhz"


def sim(**overrides) -> dict:
    """Simulation metrics as device-simulate reports them; `key=None` leaves a key out."""
    base = {"latency_ms": 40.0, "flash_bytes": 200 * 1024, "ram_bytes": 50 * 1024, "supported": True,
            "reasons": [], "target": TARGET, "runtime": DEFAULT_RUNTIME, "cycles": 3_200_000}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def check(verdict: dict, metric: str) -> dict:
    [row] = [c for c in verdict["checks"] if c["metric"] == metric]
    return row


# --- targets file -----------------------------------------------------------------------------

def test_simplest_form_loads_with_defaults():
    t = load_targets(SIMPLE)
    assert t == Targets(target=TARGET, latency_ms=50, flash_kb=256, ram_kb=64, total_kb=300, accuracy_drop=0.02)
    assert t.runtime == "tflm-cmsis-nn" and t.require_supported is True
    assert t.accuracy_drop_relative is None and t.min_accuracy is None


def test_every_key_loads():
    t = load_targets(SIMPLE + "accuracy_drop_relative: 0.05\nmin_accuracy: 0.9\nruntime: tflm-cmsis-nn\n"
                     "require_supported: false\n")
    assert (t.accuracy_drop_relative, t.min_accuracy, t.runtime, t.require_supported) == \
        (0.05, 0.9, "tflm-cmsis-nn", False)


def test_target_alone_is_enough():
    assert load_targets("target: cortex-m7@216mhz").latency_ms is None


def test_loads_from_a_path_or_a_path_string(tmp_path):
    path = tmp_path / "targets.yaml"
    path.write_text(SIMPLE)
    assert load_targets(path).source == str(path)
    assert load_targets(str(path)).latency_ms == 50


def test_missing_file_is_named(tmp_path):
    with pytest.raises(EdgeoptError, match="targets file .*nope.yaml does not exist"):
        load_targets(str(tmp_path / "nope.yaml"))


@pytest.mark.parametrize("text, line, message, hint", [
    ("target: x\nlatncy_ms: 50\n", 2, "unknown key 'latncy_ms'", "did you mean `latency_ms`"),
    ("target: x\n\nflash: 256\n", 3, "unknown key 'flash'", "did you mean `flash_kb`"),
    ("target: x\nbanana: 1\n", 2, "unknown key 'banana'", "known keys are target, latency_ms"),
    ("target: x\nlatency_ms: 50ms\n", 2, "must be a number, not the text '50ms'", "latency_ms: 50"),
    ("target: x\nram_kb: true\n", 2, "must be a number", "ram_kb: 64"),
    ("target: x\nflash_kb: -1\n", 2, "greater than 0", "flash_kb: 256"),
    ("target: x\ntotal_kb: 0\n", 2, "greater than 0", "total_kb: 300"),
    ("target: x\nlatency_ms: .inf\n", 2, "finite", "latency_ms: 50"),
    ("target: x\n# comment\naccuracy_drop: 2\n", 3, "outside [0, 1]", "for 2% write `accuracy_drop: 0.02`"),
    ("target: x\naccuracy_drop: -0.01\n", 2, "outside [0, 1]", "accuracy_drop: 0.02"),
    ("target: x\nmin_accuracy: 1.5\n", 2, "outside [0, 1]", "min_accuracy: 0.015"),
    ("target: x\naccuracy_drop_relative: 200\n", 2, "outside [0, 1]", "accuracy_drop_relative: 0.05"),
    ("target: x\naccuracy_drop_relative: 7\n", 2, "outside [0, 1]", "baseline accuracy (0.05 = 5% of it)"),
    ("target: x\nrequire_supported: \"yes please\"\n", 2, "true or false", "require_supported: true"),
    ("target: x\nruntime: 3\n", 2, "must be a name", "runtime: tflm-cmsis-nn"),
    ("target: [a, b]\n", 1, "must be a name", "target: cortex-m4f@80mhz"),
    ("target: x\nlatency_ms:\n", 2, "has no value", "delete the line"),
    ("target: x\nlatency_ms: 5\nlatency_ms: 6\n", 3, "given twice (first on line 2)", "keep one"),
])
def test_schema_errors_name_the_line_and_the_fix(tmp_path, text, line, message, hint):
    path = tmp_path / "targets.yaml"
    path.write_text(text)
    with pytest.raises(EdgeoptError) as err:
        load_targets(path)
    assert err.value.message.startswith(f"{path}, line {line}: ")
    assert message in err.value.message
    assert hint in err.value.hint


def test_missing_target_names_the_file(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("latency_ms: 50\n")
    with pytest.raises(EdgeoptError, match=r"t\.yaml: the required key `target` is missing") as err:
        load_targets(path)
    assert "target: cortex-m4f@80mhz" in err.value.hint


@pytest.mark.parametrize("text, where", [
    ("target: x\nlatency_ms: [50\n", "line 3, column 1"),
    ("target: x\n  latency_ms: 50\n", "line 2, column 13"),
    ("target: 'x\n", "line 2, column 1"),
])
def test_malformed_yaml_reports_line_and_column(text, where):
    with pytest.raises(EdgeoptError, match=f"targets \\(inline YAML\\), {where}: not valid YAML"):
        load_targets(text)


@pytest.mark.parametrize("text, message", [
    ("", "is empty"),
    ("# only a comment\n", "is empty"),
    ("- target: x\n", "line 1: the targets must be `key: value` lines, not a list"),
    ("cortex-m4f\n", "not a single value"),
])
def test_not_a_mapping(text, message):
    with pytest.raises(EdgeoptError, match=message):
        load_targets(text)


def needs_catalog() -> None:
    if importlib.util.find_spec("edgeopt.device_simulate") is None or \
            importlib.util.find_spec("edgeopt.device_simulate.catalog") is None:
        pytest.skip("edgeopt.device_simulate.catalog is not in this checkout; target names are not checked")


def test_unknown_target_or_runtime_is_refused_by_the_device_catalog():
    needs_catalog()
    with pytest.raises(EdgeoptError, match=r"targets \(inline YAML\), line 2: unknown .*no-such-board-9000") as err:
        load_targets("# the device\ntarget: no-such-board-9000\nlatency_ms: 5\n")
    assert "cortex-m4f@80mhz" in err.value.hint
    with pytest.raises(EdgeoptError, match=r"line 3: unknown runtime 'tflm-turbo'") as err:
        load_targets("target: cortex-m4f@80mhz\nlatency_ms: 5\nruntime: tflm-turbo\n")
    assert "tflm-cmsis-nn" in err.value.hint


# --- checks -----------------------------------------------------------------------------------

FULL = Targets(target=TARGET, latency_ms=50, flash_kb=256, ram_kb=64, total_kb=300, accuracy_drop=0.02,
               accuracy_drop_relative=0.05, min_accuracy=0.9)


def test_all_checks_pass_in_order():
    verdict = validate(FULL, {"accuracy": 0.95}, {"accuracy": 0.94}, sim())
    assert verdict["passed"] is True and verdict["target"] == TARGET
    assert [c["metric"] for c in verdict["checks"]] == [
        "target", "runtime", "latency_ms", "flash_kb", "ram_kb", "total_kb", "accuracy_drop",
        "accuracy_drop_relative", "min_accuracy", "supported"]
    assert all(set(c) == {"target", "metric", "goal", "value", "threshold", "baseline", "passed", "reason"}
               for c in verdict["checks"])
    assert check(verdict, "total_kb")["value"] == 250


def test_only_configured_limits_are_checked():
    verdict = validate(load_targets("target: cortex-m4f@80mhz\nlatency_ms: 50\nrequire_supported: false"),
                       {}, {}, sim())
    assert [c["metric"] for c in verdict["checks"]] == ["target", "runtime", "latency_ms"]


@pytest.mark.parametrize("metric, simulation, candidate, reason", [
    ("latency_ms", sim(latency_ms=61.2), 0.94, f"latency 61.2 ms exceeds the 50 ms limit on {TARGET}"),
    ("flash_kb", sim(flash_bytes=300 * 1024), 0.94, f"flash 300 KB exceeds the 256 KB limit on {TARGET}"),
    ("ram_kb", sim(ram_bytes=80 * 1024), 0.94, f"RAM 80 KB exceeds the 64 KB limit on {TARGET}"),
    ("total_kb", sim(flash_bytes=250 * 1024, ram_bytes=60 * 1024), 0.94,
     f"flash + RAM 310 KB exceeds the 300 KB limit on {TARGET}"),
    ("accuracy_drop", sim(), 0.92, "accuracy fell by 3 points (95% to 92%), more than the allowed 2 points"),
    ("accuracy_drop_relative", sim(), 0.9, "accuracy fell by 5.26% of the baseline's 95%, more than the allowed 5%"),
    ("min_accuracy", sim(), 0.89, "accuracy 89% is below the 90% floor"),
    ("supported", sim(supported=False, reasons=["op RFFT is not in tflm-cmsis-nn", "arena too small"]), 0.94,
     f"the model cannot run on {TARGET} with tflm-cmsis-nn: op RFFT is not in tflm-cmsis-nn; arena too small"),
    ("target", sim(target="cortex-m7@216mhz"), 0.94,
     f"the simulation was made for target cortex-m7@216mhz, but the targets ask for {TARGET}; "
     "its numbers do not apply"),
    ("runtime", sim(runtime="tflm-reference"), 0.94,
     "the simulation was made for runtime tflm-reference, but the targets ask for tflm-cmsis-nn; "
     "its numbers do not apply"),
])
def test_each_check_fails_with_a_sentence(metric, simulation, candidate, reason):
    limit = {metric: getattr(FULL, metric)} if metric not in ("supported", "target", "runtime") else {}
    verdict = validate(Targets(target=TARGET, **limit), {"accuracy": 0.95}, {"accuracy": candidate}, simulation)
    assert verdict["passed"] is False
    assert [c["metric"] for c in verdict["checks"] if not c["passed"]] == [metric]
    assert check(verdict, metric)["reason"] == reason
    assert validate(FULL, {"accuracy": 0.95}, {"accuracy": 0.94}, sim())["passed"]


def test_without_the_catalog_any_target_name_loads(monkeypatch):
    monkeypatch.setitem(sys.modules, "edgeopt.device_simulate.catalog", None)  # as if not installed
    assert load_targets("target: some-future-board").target == "some-future-board"
    verdict = validate(load_targets("target: m4f@80"), {}, {}, sim())
    assert not check(verdict, "target")["passed"]


def test_target_aliases_match_the_simulated_target():
    needs_catalog()
    verdict = validate(load_targets("target: M4F@80MHz"), {}, {}, sim(runtime="TFLM-CMSIS-NN"))
    assert verdict["passed"], verdict["checks"]


def test_values_equal_to_their_thresholds_pass():
    # 0.95 - 0.93 is 0.020000000000000018 in floating point: still "equal" to the 0.02 limit.
    exact = Targets(target=TARGET, latency_ms=50, flash_kb=256, ram_kb=64, total_kb=320, accuracy_drop=0.02,
                    accuracy_drop_relative=0.02 / 0.95, min_accuracy=0.93)
    verdict = validate(exact, {"accuracy": 0.95}, {"accuracy": 0.93},
                       sim(latency_ms=50.0, flash_bytes=256 * 1024, ram_bytes=64 * 1024))
    assert verdict["passed"], [c["reason"] for c in verdict["checks"] if not c["passed"]]
    assert check(verdict, "latency_ms")["reason"] == f"latency 50 ms is within the 50 ms limit on {TARGET}"


def test_accuracy_gain_passes_the_drop_checks():
    verdict = validate(FULL, {"accuracy": 0.9}, {"accuracy": 0.95}, sim())
    assert check(verdict, "accuracy_drop")["passed"]
    assert check(verdict, "accuracy_drop")["reason"].startswith("accuracy did not fall (90% to 95%)")
    assert check(verdict, "accuracy_drop_relative")["passed"]


@pytest.mark.parametrize("baseline, candidate, simulation, metric, stage", [
    ({"accuracy": 0.95}, {"accuracy": 0.94}, sim(latency_ms=None), "latency_ms", "device-simulate"),
    ({"accuracy": 0.95}, {"accuracy": 0.94}, sim(flash_bytes=None), "flash_kb", "device-simulate"),
    ({"accuracy": 0.95}, {"accuracy": 0.94}, sim(ram_bytes=None), "ram_kb", "device-simulate"),
    ({"accuracy": 0.95}, {"accuracy": 0.94}, sim(supported=None), "supported", "device-simulate"),
    ({"accuracy": 0.95}, {"accuracy": 0.94}, sim(target=None), "target", "device-simulate"),
    ({}, {"accuracy": 0.94}, sim(), "accuracy_drop", "ingest"),
    ({"accuracy": 0.95}, {"size_bytes": 10}, sim(), "min_accuracy", "quantize"),
    ({"accuracy": 0.95}, {"accuracy": "high"}, sim(), "accuracy_drop", "quantize"),
])
def test_missing_metric_fails_its_check_and_names_the_stage(baseline, candidate, simulation, metric, stage):
    verdict = validate(FULL, baseline, candidate, simulation)
    row = check(verdict, metric)
    assert verdict["passed"] is False and row["passed"] is False and row["value"] is None
    assert f"the {stage} stage should have produced" in row["reason"]


def test_everything_missing_gives_a_verdict_not_an_exception():
    verdict = validate(FULL, {}, {}, {})
    assert verdict["passed"] is False
    assert len(verdict["checks"]) == 10 and not any(c["passed"] for c in verdict["checks"])
    assert "total_kb" in check(verdict, "total_kb")["reason"]


def test_zero_baseline_accuracy_fails_the_relative_check():
    row = check(validate(FULL, {"accuracy": 0.0}, {"accuracy": 0.0}, sim()), "accuracy_drop_relative")
    assert not row["passed"] and "undefined" in row["reason"]


def test_markdown_puts_the_verdict_first_and_one_row_per_check():
    verdict = validate(FULL, {"accuracy": 0.95}, {"accuracy": 0.94},
                       sim(latency_ms=61.2, supported=False, reasons=["op A|B unsupported"]))
    text = render_markdown(verdict)
    assert text.startswith("# Verdict: REJECTED\n")
    assert "2 of 10 checks failed" in text.splitlines()[2]
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith(("| check", "| ---"))]
    assert len(rows) == 10
    assert "| latency_ms | 61.2 | ≤ 50 | **FAIL** |" in text
    assert "| min_accuracy | 0.94 | ≥ 0.9 | pass |" in text
    assert "op A\\|B unsupported" in text
    assert render_markdown(validate(FULL, {"accuracy": 0.95}, {"accuracy": 0.94}, sim())).startswith(
        "# Verdict: PASSED\n")


# --- run and CLI ------------------------------------------------------------------------------

@pytest.fixture
def metrics_files(tmp_path) -> dict[str, Path]:
    paths = {}
    for name, data in (("baseline", {"accuracy": 0.95, "size_bytes": 100_000}),
                       ("candidate", {"accuracy": 0.94, "size_bytes": 30_000}), ("simulation", sim())):
        paths[name] = tmp_path / name / "metrics.json"
        paths[name].parent.mkdir()
        paths[name].write_text(json.dumps(data))
    targets = tmp_path / "targets.yaml"
    targets.write_text(SIMPLE)
    paths["targets"] = targets
    return paths


def test_run_writes_verdict_report_and_marker(tmp_path, metrics_files):
    m = metrics_files
    out = tmp_path / "out"
    verdict = run(m["targets"], m["baseline"], m["candidate"].parent, m["simulation"], out)
    assert verdict["passed"]
    assert sorted(p.name for p in out.iterdir()) == [".edgeopt-files", "BLESSED", "report.md", "verdict.json"]
    assert json.loads((out / "verdict.json").read_text()) == verdict
    assert (out / "report.md").read_text() == render_markdown(verdict)

    m["simulation"].write_text(json.dumps(sim(latency_ms=70.0)))
    assert not run(SIMPLE, m["baseline"], m["candidate"], m["simulation"], out)["passed"]
    assert sorted(p.name for p in out.iterdir()) == [".edgeopt-files", "NOT_BLESSED", "report.md", "verdict.json"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("content, message", [(None, "simulation metrics .* do not exist"),
                                              ("{not json", "simulation metrics .* are not readable JSON"),
                                              ("[1, 2]", "hold a JSON list")])
def test_unreadable_metrics_are_user_errors_and_write_nothing(tmp_path, metrics_files, content, message):
    m = metrics_files
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    with pytest.raises(EdgeoptError, match=message) as err:
        run(m["targets"], m["baseline"], m["candidate"], bad, tmp_path / "out")
    assert "device-simulate" in err.value.hint
    assert not (tmp_path / "out").exists()


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(argv)


def test_cli_returns_the_verdict_and_fails_on_reject_only_when_asked(tmp_path, metrics_files):
    m = metrics_files
    argv = ["--targets", str(m["targets"]), "--baseline", str(m["baseline"]), "--candidate", str(m["candidate"]),
            "--simulation", str(m["simulation"]), "--output", str(tmp_path / "out")]
    assert cli.run(parse(argv))["passed"] is True
    m["candidate"].write_text(json.dumps({"accuracy": 0.5}))
    assert cli.run(parse(argv))["passed"] is False
    with pytest.raises(ModelRejected, match="accuracy fell by 45 points") as err:
        cli.run(parse(argv + ["--fail-on-reject"]))
    assert err.value.exit_code == 1
    assert (tmp_path / "out" / "NOT_BLESSED").is_file()


def test_edgeopt_validate_command_exit_codes(tmp_path, metrics_files, capsys):
    from edgeopt.cli import main

    m = metrics_files
    argv = ["validate", "--targets", str(m["targets"]), "--baseline", str(m["baseline"]),
            "--candidate", str(m["candidate"]), "--simulation", str(m["simulation"]),
            "--output", str(tmp_path / "out")]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["passed"] is True
    m["targets"].write_text("target: x\nlatency: 5\n")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "line 2: unknown key 'latency'" in err and "hint: did you mean `latency_ms`?" in err
