"""device-simulate: runtime registry, boards, the calibration and its cross-validated errors, memory
layouts, Ethos-U through Vela. The cross-validations are recomputed here from the shared data."""

import importlib.util
import sys
from pathlib import Path

import pytest

from edgeopt.common.errors import EdgeoptError
from edgeopt.device_simulate.calibration import coefficients, load_calibration
from edgeopt.device_simulate.catalog import cores, families, registry, resolve_target, runtime_profile
from edgeopt.device_simulate.core import simulate
from edgeopt.device_simulate.costmodel import analyse
from edgeopt.device_simulate.latency import total_cycles, work_totals
from edgeopt.device_simulate.tflite_model import read_tflite

REPO = Path(__file__).resolve().parents[2]
REFDATA = REPO.parent / "shared" / "refdata"
MLPERF_MODELS = {"ad": "ad/autoencoder_toycar_int8_reference.tflite", "ic": "ic/resnet8_int8_reference.tflite",
                 "kws": "kws/dscnn_kws_int8_reference.tflite",
                 "vww": "vww/mobilenet_v1_025_vww96_int8_reference.tflite"}
ISSUE_RUNTIMES = ["tflm-v2.3.1-cmsis-nn", "tflm-cmsis-nn", "microtvm-cmsis-nn", "microtvm-native", "onnc-cmsis-nn",
                  "x-cube-ai@7.1", "x-cube-ai@7.3", "x-cube-ai@8.0", "x-cube-ai@8.1", "x-cube-ai@9.0",
                  "x-cube-ai@10.2", "hale@1.0", "hale@1.0.175", "plumerai@2023.05", "plumerai@mlperf-v0.7",
                  "plumerai@mlperf-v1.0"]
MLPERF_BOARDS = {"NUCLEO-L4R5ZI": "cortex-m4f", "NUCLEO-L4R5ZI-P": "cortex-m4f", "NUCLEO-H7A3ZI": "cortex-m7",
                 "NUCLEO-H7A3ZI-Q": "cortex-m7", "NUCLEO-U575ZI-Q": "cortex-m33", "NUCLEO-U385RG-Q": "cortex-m33",
                 "NUCLEO-G0B1RE": "cortex-m0plus", "DISCO-F746NG": "cortex-m7", "B_U585I_IOT02A": "cortex-m33",
                 "CY8CPROTO-062-4343W": "cortex-m4f", "NUMAKER_M467HJ": "cortex-m4f", "nRF5340 DK": "cortex-m33",
                 "EK-RA6M4": "cortex-m33", "EK-RA8D1": "cortex-m85"}


@pytest.fixture(scope="module")
def simulator_scripts():
    if not (REFDATA / "mlperf_tiny_calibration.csv").is_file():
        pytest.skip(f"calibration data not found at {REFDATA}")
    sys.path.insert(0, str(REPO / "scripts" / "simulator"))
    import crossval
    import data
    import fit
    return fit, crossval, data


@pytest.fixture(scope="module")
def recomputed(simulator_scripts, mlperf):
    fit, _crossval, _data = simulator_scripts
    calibration, _report = fit.calibrate(REFDATA, mlperf)
    return calibration


# --- the registry and the boards ---------------------------------------------------------------------

def test_every_deployment_stack_has_a_profile_and_families_mean_the_newest():
    assert set(ISSUE_RUNTIMES) <= set(registry())
    assert families()["x-cube-ai"] == "x-cube-ai@10.2" and families()["hale"] == "hale@1.0.175"
    assert families()["plumerai"] == "plumerai@2023.05"
    assert runtime_profile("X-CUBE-AI").name == "x-cube-ai@10.2"
    assert runtime_profile("Plumerai@MLPerf_v0.7").name == "plumerai@mlperf-v0.7"
    for name in ISSUE_RUNTIMES:
        rt = runtime_profile(name)
        assert rt.effects.memory_layout in ("tflm-arena", "liveness", "no-reuse") and rt.description
        assert load_calibration()["runtimes"][name]["calibrated_on"]  # says what it was calibrated on


def test_zero_filter_skipping_is_a_named_effect_that_changes_vww_only(mlperf):
    works = {b: analyse(read_tflite((mlperf / p).read_bytes())) for b, p in MLPERF_MODELS.items()}
    skip, keep = runtime_profile("x-cube-ai@8.1"), runtime_profile("x-cube-ai@8.0")
    assert skip.effects.skips_zero_filters and not keep.effects.skips_zero_filters
    for bench, ws in works.items():
        dropped = work_totals(ws, keep)[0]["matmul.mac"] - work_totals(ws, skip)[0]["matmul.mac"] \
            if "matmul.mac" in work_totals(ws, keep)[0] else 0
        assert dropped == (3131136 if bench == "vww" else 0)


@pytest.mark.parametrize("spelling,core", list(MLPERF_BOARDS.items()))
def test_mlperf_boards_resolve_as_their_systems_files_spell_them(spelling, core):
    target = resolve_target(spelling)
    assert target.core.name == core and target.ram_bytes > 0 and target.flash_bytes > 0
    memory = dict(target.memory)
    assert memory["flash_wait_states"] is not None and memory["flash_accelerator"]
    assert resolve_target(spelling.lower().replace("-", "_")).name == target.name


def test_layer_cycles_add_up_to_the_totals_the_fit_prices(mlperf):
    path = mlperf / MLPERF_MODELS["kws"]
    works = analyse(read_tflite(path.read_bytes()))
    for name in ("tflm-v2.3.1-cmsis-nn", "x-cube-ai@9.0", "hale@1.0"):
        rt, core = runtime_profile(name), cores()["cortex-m33"]
        report = simulate(path, "NUCLEO-U575ZI-Q", name)
        expected = total_cycles(work_totals(works, rt), coefficients(rt, core),
                                coefficients(runtime_profile("tflm-reference"), core))
        assert report["cycles"] == pytest.approx(expected, rel=1e-3)


# --- the calibration and its errors ------------------------------------------------------------------

def test_the_committed_calibration_is_a_fresh_fit(recomputed):
    committed = load_calibration()
    for term, value in committed["constants"].items():
        assert recomputed["constants"][term] == pytest.approx(value, rel=1e-3), term
    for name, entry in committed["runtimes"].items():
        if entry["log_scale"] is not None:
            assert recomputed["runtimes"][name]["log_scale"] == pytest.approx(entry["log_scale"], abs=1e-3), name


def test_cross_validated_errors_match_the_committed_figures(recomputed):
    committed = load_calibration()["error"]
    for kind in ("leave_one_benchmark_out", "leave_one_board_out", "floor_clock_scaled"):
        for group in ("all", "by_runtime", "by_core"):
            flat_new, flat_old = _flat(recomputed["error"][kind][group]), _flat(committed[kind][group])
            assert flat_new.keys() == flat_old.keys()
            for key, value in flat_old.items():
                assert flat_new[key] == pytest.approx(value, abs=0.15), (kind, key)


def test_errors_meet_the_targets_and_beat_the_clock_scaled_floor():
    err = load_calibration()["error"]
    lobo, bench, floor = err["leave_one_board_out"]["all"], err["leave_one_benchmark_out"]["all"], \
        err["floor_clock_scaled"]["all"]
    assert lobo["median_abs_pct"] <= 10 and lobo["p90_abs_pct"] <= 25 and bench["median_abs_pct"] <= 12
    assert lobo["median_abs_pct"] < floor["median_abs_pct"] / 2 and lobo["p90_abs_pct"] < floor["p90_abs_pct"] / 2
    assert lobo["rows"] == 100 and bench["rows"] == 120 and err["leave_one_board_out"]["unscored_rows"] == 20


def test_the_report_carries_its_runtime_error_band(mlperf):
    report = simulate(mlperf / MLPERF_MODELS["ic"], "NUCLEO-U575ZI-Q", "x-cube-ai@9.0")
    own = load_calibration()["runtimes"]["x-cube-ai@9.0"]["error"]
    assert report["error_band"]["leave_one_benchmark_out"] == own["leave_one_benchmark_out"]
    assert report["error_band"]["leave_one_board_out"] == own["leave_one_board_out"]
    assert report["error_band"]["core_measured"] and report["calibrated"]
    unseen = simulate(mlperf / MLPERF_MODELS["ic"], "EK-RA8D1", "x-cube-ai@9.0")
    assert not unseen["calibrated"] and "no measurement on this core" in unseen["method"]


def test_derived_profile_without_its_sources_leaves_its_scale_to_the_others(simulator_scripts, mlperf):
    fit, _crossval, data = simulator_scripts
    import model

    rows = [r for r in data.load_rows(REFDATA) if r.board != "NUCLEO-L4R5ZI"]  # no CMSIS-NN stack left
    params = model.fit(rows, data.load_works(mlperf)).params
    fitted = [v["log_scale"] for k, v in params["runtimes"].items() if registry()[k].measured]
    assert params["runtimes"]["tflm-cmsis-nn"]["log_scale"] == pytest.approx(sum(fitted) / len(fitted))


# --- memory per runtime ----------------------------------------------------------------------------

def test_memory_layouts_differ_as_declared(mlperf):
    path = mlperf / MLPERF_MODELS["vww"]
    tflm = simulate(path, "NUCLEO-L4R5ZI", "tflm-cmsis-nn")
    aot = simulate(path, "NUCLEO-L4R5ZI", "x-cube-ai@8.0")
    skipper = simulate(path, "NUCLEO-L4R5ZI", "x-cube-ai@8.1")
    native = simulate(path, "NUCLEO-L4R5ZI", "microtvm-native")
    assert tflm["memory_layout"] == "tflm-arena" and aot["memory_layout"] == "liveness"
    assert aot["arena_bytes"] < tflm["arena_bytes"] < native["arena_bytes"]
    assert aot["weights_flash_bytes"] < tflm["model_bytes"] == tflm["weights_flash_bytes"]
    assert skipper["weights_flash_bytes"] < aot["weights_flash_bytes"]  # dead filters leave flash too
    assert aot["flash_bytes"] == aot["weights_flash_bytes"] + aot["runtime_code_bytes"]


# --- Ethos-U through Vela --------------------------------------------------------------------------

@pytest.mark.skipif(importlib.util.find_spec("ethosu") is None, reason="ethos-u-vela is not installed")
def test_ethos_u_target_is_compiled_by_vela(mlperf, tmp_path):
    path = mlperf / MLPERF_MODELS["kws"]
    small = simulate(path, "cortex-m55+ethos-u55-128", artifacts_dir=tmp_path)
    large = simulate(path, "cortex-m55+ethos-u55-256")
    npu = small["npu"]
    assert npu["accelerator"] == "ethos-u55-128" and npu["validated"] is False and npu["npu_cycles"] > 0
    assert small["cycles"] == npu["npu_cycles"] + npu["cpu_cycles"]
    assert large["npu"]["npu_cycles"] < npu["npu_cycles"]  # twice the MACs per cycle
    assert (tmp_path / npu["compiled_model"]).read_bytes()[4:8] == b"TFL3"
    assert small["latency_ms"] < simulate(path, "cortex-m55@500mhz")["latency_ms"] / 5
    assert "not validated" in small["method"]
    with pytest.raises(EdgeoptError, match="unknown NPU"):
        resolve_target("cortex-m55+ethos-u55-100")


def _flat(tree, prefix=""):
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out
