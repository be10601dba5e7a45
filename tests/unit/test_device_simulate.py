"""device-simulate: TFLite reading, TFLM arena, target catalog and the simulate report."""

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from edgeopt.common.bundle import ModelInfo, write_bundle
from edgeopt.common.errors import EdgeoptError
from edgeopt.device_simulate import cli
from edgeopt.device_simulate.catalog import resolve_target
from edgeopt.device_simulate.core import render_markdown, simulate
from edgeopt.device_simulate.tflite_model import read_tflite

MLPERF_MODELS = {"ad": "ad/autoencoder_toycar_int8_reference.tflite",
                 "ic": "ic/resnet8_int8_reference.tflite",
                 "kws": "kws/dscnn_kws_int8_reference.tflite",
                 "vww": "vww/mobilenet_v1_025_vww96_int8_reference.tflite"}


@pytest.fixture(scope="module")
def tiny_int8(tmp_path_factory) -> Path:
    """A full-integer int8 model: conv 3x3 (12x12x1 -> 12x12x4), depthwise 3x3, average pool, dense 3."""
    from edgeopt.common.tfenv import keras, tf

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.layers.Input((12, 12, 1)),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.DepthwiseConv2D(3, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3),
    ])
    rng = np.random.default_rng(0)

    def representative():
        for _ in range(16):
            yield [rng.random((1, 12, 12, 1), dtype=np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    path = tmp_path_factory.mktemp("tiny") / "tiny_int8.tflite"
    path.write_bytes(converter.convert())
    return path


def test_reader_counts_macs_per_operator(tiny_int8):
    graph = read_tflite(tiny_int8.read_bytes())
    macs = {op.opcode: graph.macs(op) for op in graph.operators}
    assert macs["CONV_2D"] == 12 * 12 * 4 * 3 * 3 * 1
    assert macs["DEPTHWISE_CONV_2D"] == 12 * 12 * 4 * 3 * 3
    assert macs["FULLY_CONNECTED"] == 4 * 3
    conv = next(op for op in graph.operators if op.opcode == "CONV_2D")
    assert conv.options["stride"] == (1, 1) and conv.options["padding"] == "same"
    assert graph.tensors[graph.inputs[0]].dtype == "int8"


def test_simulate_report_is_consistent(tiny_int8):
    report = simulate(tiny_int8, "cortex-m4f@80mhz")
    for key in ("latency_ms", "cycles", "ram_bytes", "flash_bytes", "arena_bytes", "supported", "reasons",
                "layers", "method", "target", "core", "clock_mhz", "runtime", "energy_uj",
                "board_ram_bytes", "board_flash_bytes", "macs"):
        assert key in report, key
    assert report["target"] == "cortex-m4f@80mhz" and report["core"] == "cortex-m4f"
    assert report["latency_ms"] == pytest.approx(report["cycles"] / 80e3)
    assert report["macs"] == sum(layer["macs"] for layer in report["layers"]) == 2 * 5184 + 12
    assert sum(layer["cycles"] for layer in report["layers"]) == report["cycles"]
    assert 0 < report["arena_bytes"] < report["ram_bytes"]
    assert report["flash_bytes"] > tiny_int8.stat().st_size
    assert report["supported"] is True and report["reasons"] == []
    assert report["board_ram_bytes"] is None and report["board_flash_bytes"] is None
    json.dumps(report)


def test_latency_scales_with_clock(tiny_int8):
    slow = simulate(tiny_int8, "cortex-m4f@50mhz")
    fast = simulate(tiny_int8, "cortex-m4f@100mhz")
    assert slow["cycles"] == fast["cycles"]
    assert slow["latency_ms"] == pytest.approx(2 * fast["latency_ms"])


@pytest.mark.parametrize("name", ["cortex-m4f@80mhz", "CORTEX-M4F@80MHz", "m4f@80", " m4f@0.08GHz "])
def test_target_names_are_case_insensitive_with_aliases(name):
    target = resolve_target(name)
    assert (target.name, target.core.name, target.clock_mhz) == ("cortex-m4f@80mhz", "cortex-m4f", 80.0)


@pytest.mark.parametrize("name", ["cortex-m99@80mhz", "m4f", "m4f@fast", "m4f@0mhz", ""])
def test_unknown_target_raises_with_hint(name):
    with pytest.raises(EdgeoptError) as err:
        resolve_target(name)
    assert "CORE@CLOCK" in err.value.hint or "MHz" in err.value.hint


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
    full = cli.run(parser.parse_args(["--model", str(tiny_int8), "--target", "m4f@80mhz", "--json",
                                      "--output", str(out)]))
    assert full["layers"] and json.loads((out / "report.json").read_text()) == json.loads(json.dumps(full))
    assert (out / "report.md").read_text().startswith("# Device simulation: cortex-m4f@80mhz")
    summary = cli.run(parser.parse_args(["--model", str(tiny_int8), "--target", "m4f@80mhz"]))
    assert "layers" not in summary and summary["cycles"] == full["cycles"]


def test_markdown_lists_every_layer(tiny_int8):
    report = simulate(tiny_int8, "m4f@80mhz")
    text = render_markdown(report)
    assert "cortex-m4f@80mhz" in text and f"{report['cycles']:,}" in text
    for layer in report["layers"]:
        assert f"| {layer['index']} | {layer['op']} |" in text


@pytest.mark.parametrize("bench,readme_kb", [("kws", 24), ("ic", 56), ("vww", 104)])
def test_mlperf_arena_matches_the_tflm_planner(mlperf, bench, readme_kb):
    report = simulate(mlperf / MLPERF_MODELS[bench], "cortex-m4f@120mhz")
    assert report["arena_bytes"] == pytest.approx(readme_kb * 1000, rel=0.1)
