"""device-simulate: TFLite reading, TFLM arena, target catalog, cost model, calibration, report."""

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from edgeopt.common.bundle import ModelInfo, write_bundle
from edgeopt.common.errors import EdgeoptError
from edgeopt.device_simulate import cli
from edgeopt.device_simulate.arena import live_activation_bytes, parse_report
from edgeopt.device_simulate.catalog import boards, load_calibration, resolve_target, runtime_profile
from edgeopt.device_simulate.core import render_markdown, simulate
from edgeopt.device_simulate.costmodel import analyse
from edgeopt.device_simulate.tflite_model import read_tflite

MLPERF_MODELS = {"ad": "ad/autoencoder_toycar_int8_reference.tflite",
                 "ic": "ic/resnet8_int8_reference.tflite",
                 "kws": "kws/dscnn_kws_int8_reference.tflite",
                 "vww": "vww/mobilenet_v1_025_vww96_int8_reference.tflite"}
REPORT_KEYS = ("latency_ms", "cycles", "ram_bytes", "flash_bytes", "arena_bytes", "supported", "reasons", "layers",
               "method", "target", "core", "clock_mhz", "runtime", "energy_uj", "board_ram_bytes",
               "board_flash_bytes", "macs", "bottlenecks", "calibrated")


def _convert_int8(model, input_shape: tuple[int, ...]) -> bytes:
    from edgeopt.common.tfenv import tf

    rng = np.random.default_rng(0)

    def representative():
        for _ in range(16):
            yield [rng.random((1, *input_shape), dtype=np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    return converter.convert()


@pytest.fixture(scope="module")
def tiny_int8(tmp_path_factory) -> Path:
    """Full-integer int8: conv 3x3 (32x32x1 -> 32x32x16), depthwise 3x3, average pool, dense 3."""
    from edgeopt.common.tfenv import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.layers.Input((32, 32, 1)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.DepthwiseConv2D(3, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3),
    ])
    path = tmp_path_factory.mktemp("tiny") / "tiny_int8.tflite"
    path.write_bytes(_convert_int8(model, (32, 32, 1)))
    return path


@pytest.fixture(scope="module")
def lrn_float(tmp_path_factory) -> Path:
    """A float model with LOCAL_RESPONSE_NORMALIZATION, an operator TFLite Micro has no kernel for."""
    from edgeopt.common.tfenv import tf

    @tf.function(input_signature=[tf.TensorSpec([1, 8, 8, 4], tf.float32)])
    def lrn(x):
        return tf.nn.local_response_normalization(x)

    converter = tf.lite.TFLiteConverter.from_concrete_functions([lrn.get_concrete_function()], lrn)
    path = tmp_path_factory.mktemp("lrn") / "lrn.tflite"
    path.write_bytes(converter.convert())
    return path


# --- reading and cost model ---------------------------------------------------------------------

def test_reader_counts_macs_and_classifies_kernels(tiny_int8):
    graph = read_tflite(tiny_int8.read_bytes())
    works = {w.opcode: w for w in analyse(graph)}
    assert works["CONV_2D"].macs == 32 * 32 * 16 * 3 * 3 * 1 and works["CONV_2D"].kernel == "conv"
    assert works["DEPTHWISE_CONV_2D"].macs == 32 * 32 * 16 * 3 * 3
    assert works["DEPTHWISE_CONV_2D"].kernel == "depthwise"
    assert works["FULLY_CONNECTED"].macs == 16 * 3 and works["FULLY_CONNECTED"].kernel == "fully_connected"
    assert works["CONV_2D"].act_bytes == 32 * 32 * 1 + 32 * 32 * 16  # int8 input read + output written
    assert works["CONV_2D"].scratch["dsp"] == 2 * 12 * 2  # two int16 im2col columns of 9 -> 12 elements
    assert works["DEPTHWISE_CONV_2D"].scratch["dsp"] == 0  # the 3x3 kernel needs none on DSP cores
    assert works["DEPTHWISE_CONV_2D"].scratch["mve"] > 0
    assert graph.tensors[graph.inputs[0]].dtype == "int8"


def test_live_activation_bytes_peak_at_the_depthwise(tiny_int8):
    graph = read_tflite(tiny_int8.read_bytes())
    live = live_activation_bytes(graph)
    dw = next(op.index for op in graph.operators if op.opcode == "DEPTHWISE_CONV_2D")
    assert max(live) == live[dw] == 2 * 32 * 32 * 16  # its input and output feature maps


def test_arena_report_is_shrunk_to_32_bit():
    text = ("[RecordingMicroAllocator] Arena allocation total 10000 bytes\n"
            "[RecordingMicroAllocator] Arena allocation head 6000 bytes\n"
            "[RecordingMicroAllocator] Arena allocation tail 4000 bytes\n"
            "[RecordingMicroAllocator] 'TfLiteEvalTensor data' used 240 bytes with alignment overhead "
            "(requested 240 bytes for 10 allocations)\n"
            "[RecordingMicroAllocator] 'NodeAndRegistration struct' used 640 bytes with alignment overhead "
            "(requested 640 bytes for 10 NodeAndRegistration structs)\n"
            "[RecordingMicroAllocator] 'Persistent buffer data' used 1000 bytes with alignment overhead "
            "(requested 990 bytes for 4 allocations)\n")
    report = parse_report(text, 0)
    assert report.ok and (report.total, report.head, report.tail) == (10000, 6000, 4000)
    assert report.arena_32bit() == 10000 - 120 - 320  # pointer structs halve, kernel buffers stay
    failed = parse_report("Didn't find op for builtin opcode 'LOCAL_RESPONSE_NORMALIZATION'\n", 1)
    assert not failed.ok and failed.missing_ops == ["LOCAL_RESPONSE_NORMALIZATION"]


# --- simulate -------------------------------------------------------------------------------------

def test_simulate_report_is_consistent(tiny_int8):
    report = simulate(tiny_int8, "cortex-m4f@80mhz")
    for key in REPORT_KEYS:
        assert key in report, key
    assert report["target"] == "cortex-m4f@80mhz" and report["core"] == "cortex-m4f"
    assert report["latency_ms"] == pytest.approx(report["cycles"] / 80e3)
    assert report["macs"] == sum(layer["macs"] for layer in report["layers"]) == 2 * 147456 + 48
    assert sum(layer["cycles"] for layer in report["layers"]) == report["cycles"]
    assert sum(layer["share"] for layer in report["layers"]) == pytest.approx(1.0)
    assert report["ram_bytes"] == report["arena_bytes"] + report["runtime_ram_bytes"]
    assert report["arena_bytes"] >= max(layer["arena_bytes"] for layer in report["layers"]) - report["scratch_bytes"]
    assert report["flash_bytes"] == report["model_bytes"] + report["runtime_code_bytes"] > tiny_int8.stat().st_size
    assert report["supported"] is True and report["reasons"] == []
    assert report["board_ram_bytes"] is None and report["board_flash_bytes"] is None and report["energy_uj"] is None
    assert report["calibrated"] is True and "leave-one-benchmark-out" in report["method"]
    assert report["error_band"]["leave_one_benchmark_out"]["median_abs_pct"] == report["latency_loo_median_pct"]
    assert [b["cycles"] for b in report["bottlenecks"]] == sorted(
        (layer["cycles"] for layer in report["layers"]), reverse=True)[:len(report["bottlenecks"])]
    json.dumps(report)


def test_latency_scales_with_clock(tiny_int8):
    slow = simulate(tiny_int8, "cortex-m4f@50mhz")
    fast = simulate(tiny_int8, "cortex-m4f@100mhz")
    assert slow["cycles"] == fast["cycles"]
    assert slow["latency_ms"] == pytest.approx(2 * fast["latency_ms"])


def test_cores_rank_by_architecture(tiny_int8):
    cycles = {core: simulate(tiny_int8, f"{core}@100mhz")["cycles"]
              for core in ("cortex-m0plus", "cortex-m3", "cortex-m4f", "cortex-m33", "cortex-m7", "cortex-m55")}
    assert cycles["cortex-m0plus"] > cycles["cortex-m3"] > cycles["cortex-m4f"] > cycles["cortex-m7"]
    assert cycles["cortex-m55"] < cycles["cortex-m4f"] / 3  # Helium: several times fewer cycles
    assert cycles["cortex-m33"] <= cycles["cortex-m4f"]
    assert simulate(tiny_int8, "cortex-m55@100mhz")["calibrated"] is False


def test_runtime_profiles(tiny_int8):
    current = simulate(tiny_int8, "m4f@100mhz", "tflm-cmsis-nn")
    legacy = simulate(tiny_int8, "m4f@100mhz", "tflm-v2.3.1-cmsis-nn")
    reference = simulate(tiny_int8, "m4f@100mhz", "TFLM-Reference")
    assert current["cycles"] < legacy["cycles"] < reference["cycles"]
    assert reference["runtime"] == "tflm-reference" and reference["calibrated"] is False
    assert "not calibrated" in reference["method"] and reference["scratch_bytes"] == 0
    assert reference["error_band"]["leave_one_benchmark_out"] is None
    assert all(layer["note"] == "" for layer in reference["layers"])


def test_board_memories_decide_fit(tiny_int8):
    small = simulate(tiny_int8, "NUCLEO-F103RB")  # 20 KB of RAM, the model needs more than 32 KB
    assert small["supported"] is False and small["board_ram_bytes"] == 20480
    assert len(small["reasons"]) == 1 and "RAM" in small["reasons"][0] and "NUCLEO-F103RB" in small["reasons"][0]
    assert simulate(tiny_int8, "NUCLEO-L4R5ZI")["supported"] is True


def test_operator_without_kernel_is_unsupported(lrn_float):
    report = simulate(lrn_float, "cortex-m4f@80mhz")
    assert report["supported"] is False
    assert any("LOCAL_RESPONSE_NORMALIZATION" in reason for reason in report["reasons"])
    assert "uncalibrated" in report["layers"][0]["note"]
    assert any("without calibration" in note for note in report["notes"])


def test_energy_only_for_boards_with_measured_energy(tiny_int8):
    energy = load_calibration()["energy"]
    assert set(energy) == {"NUCLEO-L4R5ZI", "NUCLEO-U575ZI-Q"}  # the boards MLPerf Tiny measured energy on
    for name in energy:
        board = simulate(tiny_int8, name)
        assert board["energy_uj"] == pytest.approx(energy[name]["power_mw"] * board["latency_ms"])
        assert "estimate" in board["method"] and energy[name]["error"]["rows"] >= 16
    for name in ("cortex-m4f@120mhz", "NRF5340-DK", "STM32F746-DISCOVERY"):
        report = simulate(tiny_int8, name)
        assert report["energy_uj"] is None and "no measured energy" in report["energy_note"]


# --- targets --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["cortex-m4f@80mhz", "CORTEX-M4F@80MHz", "m4f@80", " m4f@0.08GHz "])
def test_adhoc_targets_are_case_insensitive_with_aliases(name):
    target = resolve_target(name)
    assert (target.name, target.core.name, target.clock_mhz) == ("cortex-m4f@80mhz", "cortex-m4f", 80.0)
    assert target.ram_bytes is None and target.flash_bytes is None


@pytest.mark.parametrize("name,canonical,core,clock", [
    ("nucleo-l4r5zi", "NUCLEO-L4R5ZI", "cortex-m4f", 120),
    ("DISCO-F746NG", "STM32F746-DISCOVERY", "cortex-m7", 216), ("disco_f746ng", "STM32F746-DISCOVERY", "cortex-m7", 216),
    ("nRF5340 DK", "NRF5340-DK", "cortex-m33", 128), ("numaker-m467hj", "NUMAKER_M467HJ", "cortex-m4f", 200),
    ("b-u585i-iot02a", "B_U585I_IOT02A", "cortex-m33", 160), ("NUCLEO-L4R5ZI-P", "NUCLEO-L4R5ZI", "cortex-m4f", 120),
    ("cortex-m55+ethos-u55-128", "cortex-m55+ethos-u55-128@500mhz", "cortex-m55", 500),
    ("nrf5340-dk", "NRF5340-DK", "cortex-m33", 128), ("EK-RA6M4", "EK-RA6M4", "cortex-m33", 200),
    ("arduino-nano-33-ble", "ARDUINO-NANO-33-BLE", "cortex-m4f", 64),
    ("rp2040", "RASPBERRY-PI-PICO", "cortex-m0plus", 133), ("m0+@48mhz", "cortex-m0plus@48mhz", "cortex-m0plus", 48),
    ("cortex-m33@200mhz", "cortex-m33@200mhz", "cortex-m33", 200)])
def test_boards_and_cores_resolve(name, canonical, core, clock):
    target = resolve_target(name)
    assert (target.name, target.core.name, target.clock_mhz) == (canonical, core, clock)


def test_every_board_has_memories_and_a_known_core():
    for name in boards():
        target = resolve_target(name)
        assert target.ram_bytes > 0 and target.flash_bytes > 0 and target.board == name


@pytest.mark.parametrize("name", ["cortex-m99@80mhz", "m4f", "m4f@fast", "m4f@0mhz", "", "nucleo-l4"])
def test_unknown_target_raises_with_hint(name):
    with pytest.raises(EdgeoptError) as err:
        resolve_target(name)
    assert "CORE@CLOCK" in err.value.hint or "MHz" in err.value.hint
    if name == "nucleo-l4":
        assert "NUCLEO-L4R5ZI" in err.value.hint


def test_unknown_runtime_raises_with_a_close_match():
    with pytest.raises(EdgeoptError, match="unknown runtime") as err:
        runtime_profile("tvm")
    assert "tflm-cmsis-nn" in err.value.hint
    with pytest.raises(EdgeoptError) as err:
        runtime_profile("x-cube-ia")
    assert "did you mean x-cube-ai" in err.value.hint
    with pytest.raises(EdgeoptError) as err:
        resolve_target("NUCLEO-L4R5Z")
    assert "did you mean NUCLEO-L4R5ZI" in err.value.hint


# --- errors, bundles, CLI, Markdown ----------------------------------------------------------------

def test_bad_models_raise(tmp_path, tiny_int8):
    with pytest.raises(EdgeoptError, match="does not exist"):
        simulate(tmp_path / "missing.tflite", "m4f@80mhz")
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(EdgeoptError, match="not a TFLite flatbuffer"):
        simulate(garbage, "m4f@80mhz")
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(tiny_int8.read_bytes()[:200])
    with pytest.raises(EdgeoptError):
        simulate(truncated, "m4f@80mhz")
    keras_bundle = tmp_path / "keras_bundle"
    keras_bundle.mkdir()
    (keras_bundle / "model.keras").write_bytes(b"not used")
    write_bundle(keras_bundle, ModelInfo(format="keras", file="model.keras"))
    with pytest.raises(EdgeoptError, match="not a TFLite model"):
        simulate(keras_bundle, "m4f@80mhz")
    with pytest.raises(EdgeoptError, match="unknown runtime"):
        simulate(tiny_int8, "m4f@80mhz", runtime="tvm")
    with pytest.raises(EdgeoptError, match="unknown target"):
        simulate(tiny_int8, "cortex-m99@80mhz")


def test_simulates_a_tflite_bundle(tmp_path, tiny_int8):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "model.tflite").write_bytes(tiny_int8.read_bytes())
    write_bundle(bundle, ModelInfo(format="tflite", file="model.tflite", precision="int8"))
    assert simulate(bundle, "m4f@80mhz")["cycles"] == simulate(tiny_int8, "m4f@80mhz")["cycles"]


def test_cli_json_and_output_dir(tmp_path, tiny_int8):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("not ours")
    full = cli.run(parser.parse_args(["--model", str(tiny_int8), "--target", "nucleo-l4r5zi", "--json",
                                      "--output", str(out)]))
    assert full["layers"] and json.loads((out / "report.json").read_text()) == json.loads(json.dumps(full))
    assert (out / "report.md").read_text().startswith("# Device simulation: NUCLEO-L4R5ZI")
    assert (out / "keep.txt").read_text() == "not ours"
    summary = cli.run(parser.parse_args(["--model", str(tiny_int8), "--target", "m4f@80mhz"]))
    assert "layers" not in summary and summary["cycles"] > 0 and summary["runtime"] == "tflm-cmsis-nn"
    listed = cli.run(parser.parse_args(["--list-runtimes"]))
    assert "x-cube-ai@10.2" in listed["runtimes"] and listed["families"]["x-cube-ai"] == "x-cube-ai@10.2"
    assert "NUCLEO-U575ZI-Q" in listed["runtimes"]["x-cube-ai@9.0"]["calibrated_on"]
    with pytest.raises(EdgeoptError, match="needs --model"):
        cli.run(parser.parse_args(["--target", "m4f@80mhz"]))


def test_markdown_has_summary_bottlenecks_and_every_layer(tiny_int8):
    report = simulate(tiny_int8, "NUCLEO-F103RB")
    text = render_markdown(report)
    assert "NUCLEO-F103RB" in text and f"{report['cycles']:,}" in text and "**no**" in text
    assert report["reasons"][0] in text and "## Bottlenecks" in text and report["method"] in text
    for layer in report["layers"]:
        assert f"| {layer['index']} | {layer['op']} | {layer['kernel']} |" in text


# --- MLPerf Tiny models and the calibration --------------------------------------------------------

@pytest.mark.parametrize("bench,readme_kb", [("kws", 24), ("ic", 56), ("vww", 104)])
def test_mlperf_arena_matches_the_tflm_planner(mlperf, bench, readme_kb):
    report = simulate(mlperf / MLPERF_MODELS[bench], "cortex-m4f@120mhz")
    assert report["arena_host_bytes"] == pytest.approx(readme_kb * 1000, rel=0.05)
    assert report["arena_bytes"] == pytest.approx(readme_kb * 1000, rel=0.1)


@pytest.mark.parametrize("bench", list(MLPERF_MODELS))
def test_mlperf_m55_is_several_times_faster_than_m4f(mlperf, bench):
    m4f = simulate(mlperf / MLPERF_MODELS[bench], "cortex-m4f@200mhz")
    m55 = simulate(mlperf / MLPERF_MODELS[bench], "cortex-m55@200mhz")
    assert m55["latency_ms"] < m4f["latency_ms"] / 3


def test_mlperf_vww_over_a_small_board(mlperf):
    report = simulate(mlperf / MLPERF_MODELS["vww"], "NUCLEO-G071RB")
    assert report["supported"] is False
    assert len(report["reasons"]) == 2 and "RAM" in report["reasons"][0]
    assert "flash" in report["reasons"][1]
    assert any("all-zero filters" in note for note in report["notes"])
    assert sum(layer["zero_filter_macs"] for layer in report["layers"]) == 3131136


def test_without_json_a_person_reads_a_short_summary(tiny_int8, capsys):
    from edgeopt.cli import main

    assert main(["simulate", "--model", str(tiny_int8), "--target", "NUCLEO-L4R5ZI"]) == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) < 15 and not out.lstrip().startswith("{")
    assert "latency" in out and " ms (median error" in out and "RAM" in out and "flash" in out
    assert "fits: yes" in out and "slowest operators:" in out
    assert main(["simulate", "--model", str(tiny_int8), "--target", "NUCLEO-L4R5ZI", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["target"] == "NUCLEO-L4R5ZI"
