"""convert: float TFLite, ONNX, a C array and OpenVINO IR, each checked against the model it comes from
with real runtimes."""

import argparse
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from edgeopt.common.bundle import read_bundle
from edgeopt.common.datasets import load_dataset
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.metrics import read_metrics
from edgeopt.common.runtimes import predict_onnx, predict_tflite, tflite_interpreter
from edgeopt.convert import cli
from edgeopt.convert.core import c_source, convert, parse_c_array
from edgeopt.ingest.core import ingest
from edgeopt.quantize.core import quantize

OFFICIAL_IC_INT8 = "ic/resnet8_int8_reference.tflite"


@pytest.fixture(scope="module")
def int8_bundle(baseline, tmp_path_factory):
    bundle, data, _ = baseline
    out = tmp_path_factory.mktemp("int8") / "q"
    quantize(bundle, data, out, method="int8", calibration_samples=100)
    return out


@pytest.fixture(scope="module")
def converted(baseline, int8_bundle, tmp_path_factory):
    """(out dir, metrics) of the digits CNN converted with its int8 model as the C array."""
    bundle, data, _ = baseline
    out = tmp_path_factory.mktemp("convert") / "c"
    return out, convert(bundle, data, out, quantized_dir=int8_bundle, samples=64)


def test_parity_of_every_format(baseline, converted):
    out, metrics = converted
    assert metrics["onnx_parity_max_abs_diff"] < 1e-3 and metrics["onnx_top1_agreement"] == 1.0
    assert metrics["tflite_parity_max_abs_diff"] < 1e-4 and metrics["tflite_top1_agreement"] == 1.0
    assert metrics["samples"] == 64 and metrics["onnx_opset"] >= 13
    # recompute ONNX parity independently of the stage
    from edgeopt.common.keras_io import load_keras

    _, model_path = read_bundle(baseline[0])
    x = load_dataset(baseline[1]).x_test[:64].astype(np.float32)
    reference = load_keras(model_path).predict(x, verbose=0)
    assert np.abs(predict_onnx(out / "onnx" / "model.onnx", x) - reference).max() < 1e-3
    assert np.abs(predict_tflite(out / "tflite" / "model.tflite", x) - reference).max() < 1e-4


def test_c_array_is_the_quantized_model(int8_bundle, converted):
    out, metrics = converted
    int8_bytes = (int8_bundle / "model.tflite").read_bytes()
    text = (out / "c_array" / "model_data.cc").read_text()
    assert "alignas(16) const unsigned char g_model_data[] = {" in text
    assert f"const unsigned int g_model_data_len = {len(int8_bytes)};" in text
    assert "extern const unsigned char g_model_data[];" in (out / "c_array" / "model_data.h").read_text()
    assert parse_c_array(text) == int8_bytes
    assert metrics["c_array_identical"] is True and metrics["c_array_bytes"] == len(int8_bytes)
    assert metrics["c_array_precision"] == "int8" and metrics["c_array_top1_agreement"] > 0.95
    assert tflite_interpreter(parse_c_array(text)).get_input_details()[0]["dtype"] == np.int8


def test_sub_bundles_and_metrics_file(converted):
    out, metrics = converted
    formats = {}
    for sub in ("tflite", "onnx", "optimized", "c_array"):
        info, path = read_bundle(out / sub)
        assert path.exists() and info.stage == "convert"
        formats[sub] = info
    assert [formats[s].format for s in ("tflite", "onnx", "optimized", "c_array")] == [
        "tflite", "onnx", "onnx", "c_array"]
    assert formats["c_array"].extra_files == {"header": "model_data.h"}
    assert formats["c_array"].parent["stage"] == "quantize"
    assert metrics["tflite_size_bytes"] == formats["tflite"].size_bytes
    assert metrics["onnx_size_bytes"] == formats["onnx"].size_bytes
    assert metrics["optimized_size_bytes"] == formats["optimized"].size_bytes
    assert read_metrics(out) == metrics
    expected = [".edgeopt-files", "c_array", "metrics.json", "onnx", "openvino", "optimized", "tflite"]
    expected += [f["format"] for f in metrics["formats"] if f["format"] == "tensorrt" and f["status"] == "ok"]
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    assert sorted(p.name for p in (out / "openvino").iterdir()) == ["model.bin", "model.xml"]


def test_optimized_onnx_keeps_standard_ops_and_parity(baseline, converted):
    import onnx

    out, metrics = converted
    info, path = read_bundle(out / "optimized")
    model = onnx.load(str(path))
    assert {n.domain for n in model.graph.node} == {""}  # no ORT-only contrib operators
    assert [o.domain for o in model.opset_import] == [""]
    assert info.details["optimization_level"] == "basic" and info.parent == {
        "stage": "convert", "format": "onnx", "precision": "float32", "size_bytes": metrics["onnx_size_bytes"]}
    # ORT folded the Dense layers' MatMul + Add into Gemm: fewer nodes, same outputs
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Gemm") == 2 and "MatMul" not in ops
    source_nodes = len(onnx.load(str(out / "onnx" / "model.onnx")).graph.node)
    assert metrics["optimized_nodes"] < metrics["onnx_nodes"] == source_nodes
    x = load_dataset(baseline[1]).x_test[:64].astype(np.float32)
    assert np.abs(predict_onnx(path, x) - predict_onnx(out / "onnx" / "model.onnx", x)).max() < 1e-5
    assert metrics["optimized_parity_max_abs_diff"] < 1e-5 and metrics["optimized_top1_agreement"] == 1.0


def test_formats_list_reports_every_format(converted):
    out, metrics = converted
    listed = {f["format"]: f for f in metrics["formats"]}
    assert list(listed) == ["tflite", "onnx", "optimized", "c_array", "openvino", "tensorrt"]
    for name in ("tflite", "onnx", "optimized", "c_array"):
        entry = listed[name]
        assert entry["status"] == "ok" and entry["reason"] is None
        assert (out / entry["path"]).is_file() and entry["parity"]["top1_agreement"] == 1.0
    assert listed["tflite"]["bytes"] == metrics["tflite_size_bytes"]
    assert listed["tflite"]["parity"]["max_abs_diff"] == metrics["tflite_parity_max_abs_diff"]
    assert listed["onnx"]["parity"]["against"] == "float_model" and listed["optimized"]["parity"]["against"] == "onnx"
    assert listed["c_array"]["parity"] == {"against": "quantized_tflite", "max_abs_diff": 0.0, "top1_agreement": 1.0,
                                           "snr_db": None, "identical": True}
    assert listed["openvino"]["status"] == "ok" and listed["openvino"]["path"] == "openvino/model.xml"
    assert listed["openvino"]["bytes"] == metrics["openvino_size_bytes"] == sum(
        p.stat().st_size for p in (out / "openvino").iterdir())
    assert listed["openvino"]["parity"]["max_abs_diff"] == metrics["openvino_parity_max_abs_diff"]
    if shutil.which("nvidia-smi") is None:
        assert listed["tensorrt"]["status"] == "skipped" and "no NVIDIA GPU" in listed["tensorrt"]["reason"]
        assert listed["tensorrt"]["bytes"] is None and listed["tensorrt"]["parity"] is None
        assert metrics["tensorrt_size_bytes"] is None and metrics["tensorrt_parity_max_abs_diff"] is None


def test_optional_formats_that_fail_are_skipped_not_raised(converted, monkeypatch, tmp_path):
    """A broken OpenVINO or TensorRT install becomes a skipped entry with the reason, and no folder."""
    import sys
    import types

    from edgeopt.convert import formats, openvino_ir

    def broken(*args, **kwargs):
        raise RuntimeError("unsupported operator Foo\nmore detail")

    monkeypatch.setitem(sys.modules, "openvino", types.SimpleNamespace(convert_model=broken, __spec__=object()))
    monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace(Logger=broken, __spec__=object()))
    monkeypatch.setattr(formats.importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(formats, "_no_gpu", lambda: None)
    out, _ = converted
    x = np.zeros((2, 8, 8, 1), np.float32)
    ov = openvino_ir.openvino_ir(out / "onnx" / "model.onnx", tmp_path, x, x)
    trt = formats.tensorrt(out / "onnx" / "model.onnx", tmp_path, x, x)
    assert ov == formats.entry("openvino", "skipped",
                               "OpenVINO could not convert or run the model: unsupported operator Foo")
    assert trt["status"] == "skipped" and trt["reason"].startswith("TensorRT could not build an engine: ")
    assert list(tmp_path.iterdir()) == []


def test_openvino_ir_runs_on_the_cpu_plugin_with_the_onnx_outputs(baseline, converted):
    """The IR keeps float32 weights, and OpenVINO's CPU runtime gives the ONNX model's outputs (f32)."""
    import openvino as ov

    out, metrics = converted
    parity = {f["format"]: f for f in metrics["formats"]}["openvino"]["parity"]
    assert parity["against"] == "onnx" and parity["device"] == "CPU" and parity["inference_precision"] == "f32"
    assert metrics["openvino_parity_max_abs_diff"] < 1e-5 and metrics["openvino_top1_agreement"] == 1.0
    xml = (out / "openvino" / "model.xml").read_text()
    assert 'element_type="f32"' in xml and 'element_type="f16"' not in xml
    assert (out / "openvino" / "model.bin").stat().st_size > 0.9 * metrics["onnx_size_bytes"]  # not halved
    # recomputed here: OpenVINO's CPU plugin at f32 against ONNX Runtime and against Keras
    x = load_dataset(baseline[1]).x_test[:64].astype(np.float32)
    core = ov.Core()
    compiled = core.compile_model(str(out / "openvino" / "model.xml"), "CPU",
                                  {ov.properties.hint.inference_precision: ov.Type.f32})
    outputs = compiled(x)[compiled.output(0)]
    assert np.abs(outputs - predict_onnx(out / "onnx" / "model.onnx", x)).max() < 1e-5
    assert (outputs.argmax(-1) == predict_tflite(out / "tflite" / "model.tflite", x).argmax(-1)).all()
    default = core.get_property("CPU", ov.properties.hint.inference_precision)
    assert ("default_precision" in parity) == (default != ov.Type.f32)  # bf16 where the CPU has it
    if default != ov.Type.f32:
        assert parity["default_precision"]["inference_precision"] == default.get_type_name()
        assert parity["default_precision"]["max_abs_diff"] > parity["max_abs_diff"]


def test_without_openvino_its_format_is_skipped_with_the_reason(converted, monkeypatch, tmp_path):
    from edgeopt.convert import openvino_ir

    real = importlib.util.find_spec
    monkeypatch.setattr(openvino_ir.importlib.util, "find_spec", lambda name: None if name == "openvino" else real(name))
    out, _ = converted
    x = np.zeros((2, 8, 8, 1), np.float32)
    skipped = openvino_ir.openvino_ir(out / "onnx" / "model.onnx", tmp_path, x, x)
    assert skipped["status"] == "skipped" and skipped["reason"].startswith("the openvino package is not installed")
    assert skipped["path"] is None and skipped["parity"] is None and list(tmp_path.iterdir()) == []


def test_openvino_sends_no_telemetry(converted, tmp_path):
    """OpenVINO reports usage to Google Analytics by default from `import openvino`; the stage imports it
    with its telemetry module unimportable, so OpenVINO's no-op stub runs and $HOME stays untouched."""
    out, _ = converted
    assert importlib.metadata.version("openvino-telemetry")  # installed with openvino: the guard has work to do
    script = (
        "import sys\n"
        "import numpy as np\n"
        "from pathlib import Path\n"
        "from edgeopt.convert.openvino_ir import openvino_ir\n"
        "x = np.zeros((2, 8, 8, 1), np.float32)\n"
        f"entry = openvino_ir(Path({str(out / 'onnx' / 'model.onnx')!r}), Path(sys.argv[1]), x, np.zeros((2, 10)))\n"
        "import openvino.tools.ovc.telemetry_utils as t\n"
        "assert entry['status'] == 'ok', entry\n"
        "assert sys.modules['openvino_telemetry'] is None and t.tm.__name__.endswith('telemetry_stub')\n")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "TF_BUILD", "JENKINS_URL")}
    (tmp_path / "home").mkdir()
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, timeout=120,
                   env={**env, "HOME": str(tmp_path / "home")})
    assert (tmp_path / "openvino" / "model.xml").is_file()
    assert list((tmp_path / "home").iterdir()) == []  # no $HOME/intel consent folder or client id


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs a C++ compiler")
def test_c_array_compiles_and_links_to_the_same_bytes(converted, int8_bundle, tmp_path):
    out, _ = converted
    main = tmp_path / "main.cc"
    main.write_text('#include <cstdio>\n#include <cstdint>\n#include "model_data.h"\n'
                    "int main(int, char** argv) {\n"
                    "  if (reinterpret_cast<std::uintptr_t>(g_model_data) % 16 != 0) return 3;\n"
                    '  FILE* f = std::fopen(argv[1], "wb");\n'
                    "  std::fwrite(g_model_data, 1, g_model_data_len, f);\n"
                    "  return std::fclose(f);\n}\n")
    exe = tmp_path / "dump"
    subprocess.run(["g++", "-std=c++11", "-O0", f"-I{out / 'c_array'}", str(main),
                    str(out / "c_array" / "model_data.cc"), "-o", str(exe)], check=True, timeout=120)
    subprocess.run([str(exe), str(tmp_path / "dumped.tflite")], check=True, timeout=30)
    assert (tmp_path / "dumped.tflite").read_bytes() == (int8_bundle / "model.tflite").read_bytes()


def test_parse_c_array_checks_the_length():
    assert parse_c_array(c_source(bytes(range(40)))) == bytes(range(40))
    broken = c_source(b"\x01\x02\x03").replace("_len = 3;", "_len = 4;")
    with pytest.raises(ValueError, match="3 bytes"):
        parse_c_array(broken)


def test_without_quantized_model_the_c_array_is_the_float_tflite(baseline, tmp_path):
    bundle, data, _ = baseline
    metrics = convert(bundle, data, tmp_path / "c", samples=8)
    float_bytes = (tmp_path / "c" / "tflite" / "model.tflite").read_bytes()
    assert parse_c_array((tmp_path / "c" / "c_array" / "model_data.cc").read_text()) == float_bytes
    assert metrics["c_array_precision"] == "float32" and metrics["c_array_identical"] is True
    assert metrics["samples"] == 8


def test_non_tflite_quantized_bundle_is_refused(baseline, tmp_path):
    bundle, data, _ = baseline
    with pytest.raises(EdgeoptError, match="keras bundle, not tflite"):
        convert(bundle, data, tmp_path / "c", quantized_dir=bundle)
    assert not (tmp_path / "c").exists()


def test_savedmodel_bundle(digits_model_file, digits_npz, tmp_path):
    from edgeopt.common.keras_io import load_keras

    from edgeopt.common.modelfile import trusting

    load_keras(digits_model_file).save(tmp_path / "digits_savedmodel", save_format="tf")
    with pytest.raises(EdgeoptError, match="--trust-model"):
        ingest(tmp_path / "digits_savedmodel", digits_npz, tmp_path / "model", tmp_path / "data.npz")
    with trusting(True):
        ingest(tmp_path / "digits_savedmodel", digits_npz, tmp_path / "model", tmp_path / "data.npz")
    assert read_bundle(tmp_path / "model")[0].format == "savedmodel"
    with pytest.raises(EdgeoptError, match="--trust-model"):  # every stage asks again
        quantize(tmp_path / "model", tmp_path / "data.npz", tmp_path / "q", method="int8")
    with trusting(True):
        q = quantize(tmp_path / "model", tmp_path / "data.npz", tmp_path / "q", method="int8",
                     calibration_samples=50)
        metrics = convert(tmp_path / "model", tmp_path / "data.npz", tmp_path / "c", quantized_dir=tmp_path / "q",
                          samples=32)
    assert q["agreement"] > 0.95
    assert metrics["onnx_parity_max_abs_diff"] < 1e-3 and metrics["tflite_parity_max_abs_diff"] < 1e-4
    assert metrics["c_array_identical"] is True


def test_cli_with_raw_model_and_quantized_bundle(digits_model_file, digits_npz, int8_bundle, tmp_path):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--model", str(digits_model_file), "--data", str(digits_npz), "--quantized",
                              str(int8_bundle), "--samples", "16", "--output", str(tmp_path / "c")])
    metrics = cli.run(args)
    assert metrics["c_array_bytes"] == (int8_bundle / "model.tflite").stat().st_size
    assert read_bundle(tmp_path / "c" / "tflite")[0].parent["stage"] == "user"
    assert [p.name for p in tmp_path.iterdir()] == ["c"]


def _blocky_images(n: int, seed: int) -> np.ndarray:
    """Random 32x32x3 images in [0, 255]: 4x4 blocks of random colour plus noise (the official int8
    model's input scale 1.0 and zero point -128 mean raw pixel values 0..255)."""
    rng = np.random.default_rng(seed)
    blocks = rng.uniform(0, 255, (n, 4, 4, 3))
    x = np.repeat(np.repeat(blocks, 8, axis=1), 8, axis=2) + rng.normal(0, 20, (n, 32, 32, 3))
    return np.clip(x, 0, 255).astype(np.float32)


@pytest.mark.slow  # 35-45 s on the 2-core machine: ResNet-8 int8 calibration plus every conversion, OpenVINO's included
def test_mlperf_resnet8_int8_and_convert(mlperf, tmp_path):
    official = tflite_interpreter(mlperf / OFFICIAL_IC_INT8).get_input_details()[0]
    scale, zero = official["quantization"]
    assert (scale, zero) == (1.0, -128)  # inputs are raw pixels in [0, 255]
    x = _blocky_images(300, seed=0)
    np.savez(tmp_path / "random.npz", x_train=x[:200], x_test=x[200:])
    ingest(mlperf / "ic" / "resnet8_float.h5", tmp_path / "random.npz", tmp_path / "model", tmp_path / "data.npz")
    q = quantize(tmp_path / "model", tmp_path / "data.npz", tmp_path / "q", method="int8", calibration_samples=200)
    official_size = (mlperf / OFFICIAL_IC_INT8).stat().st_size
    assert q["size_bytes"] <= 1.05 * official_size
    assert q["agreement"] > 0.7
    metrics = convert(tmp_path / "model", tmp_path / "data.npz", tmp_path / "c", quantized_dir=tmp_path / "q",
                      samples=32)
    assert metrics["onnx_parity_max_abs_diff"] < 1e-3 and metrics["onnx_top1_agreement"] == 1.0
    assert metrics["optimized_parity_max_abs_diff"] < 1e-4 and metrics["optimized_nodes"] < metrics["onnx_nodes"]
    assert metrics["c_array_identical"] is True and metrics["c_array_bytes"] == q["size_bytes"]
    assert metrics["openvino_parity_max_abs_diff"] < 1e-4 and metrics["openvino_top1_agreement"] == 1.0
    assert metrics["openvino_size_bytes"] > 0.9 * metrics["onnx_size_bytes"]  # float32 weights kept
