"""Export a float Keras/SavedModel bundle to TFLite, ONNX and a TFLite Micro C array, with parity checks.

Output directory::

    <out_dir>/
        tflite/    model.tflite + model.json   float32 TFLite
        onnx/      model.onnx + model.json     ONNX (tf2onnx, opset ONNX_OPSET)
        optimized/ model.onnx + model.json     the ONNX model as ONNX Runtime optimizes it offline
                                               (level `formats.OPTIMIZATION_LEVEL`, standard ops only)
        c_array/   model_data.cc, model_data.h + model.json (format c_array): the quantized
                   bundle's model.tflite when one is given, else the float TFLite, as a C array
        openvino/  model.xml + model.bin (no model.json): OpenVINO IR, float32 weights, only when
                   openvino is installed (`openvino_ir`)
        tensorrt/  model.engine (no model.json): only with an NVIDIA GPU and TensorRT
        metrics.json

Parity is measured on the first `samples` test inputs: TFLite and ONNX against the float model
run by TensorFlow, the optimized ONNX, OpenVINO and TensorRT against the ONNX model they come
from (run by ONNX Runtime), the C array (parsed back from the source text, which must be
byte-identical to its .tflite) against that .tflite. `metrics["formats"]` lists every format with
its status (ok, or skipped with the reason: a missing optional runtime is never an error), path,
bytes and parity; the flat keys before it stay as they were, and the optional formats add
`<format>_parity_max_abs_diff`, `<format>_top1_agreement` and `<format>_size_bytes` (None when
skipped).
"""

import re
from pathlib import Path
from typing import Any

import numpy as np

from edgeopt.common.bundle import ModelInfo, parent_ref, read_bundle, write_bundle
from edgeopt.common.datasets import load_dataset
from edgeopt.common.errors import EdgeoptError
from edgeopt.common.evaluate import parity
from edgeopt.common.export import ONNX_OPSET, export_onnx, float_tflite
from edgeopt.common.float_source import FloatSource, open_float_source
from edgeopt.common.fsutil import atomic_dir
from edgeopt.common.metrics import write_metrics
from edgeopt.common.runtimes import predict_onnx, predict_tflite
from edgeopt.convert import formats as extra
from edgeopt.convert.openvino_ir import openvino_ir
from edgeopt.convert.spec import SPEC

ARRAY_NAME = "g_model_data"
SOURCE_FILE = "model_data.cc"
HEADER_FILE = "model_data.h"
BYTES_PER_LINE = 12
OPTIONAL = ("openvino", "tensorrt")  # formats written only where their runtime is installed


def convert(model_dir: Path | str, data_path: Path | str, out_dir: Path | str,
            quantized_dir: Path | str | None = None, **options: Any) -> dict[str, Any]:
    """Write the tflite/, onnx/, optimized/ and c_array/ bundles (openvino/ and tensorrt/ where their
    runtimes are present) under `out_dir` from the float bundle `model_dir`.

    `options` are the parameters of `edgeopt.convert.spec.SPEC` (checked there). The C array holds
    the TFLite model of the tflite bundle `quantized_dir` when given, else the float TFLite.
    Returns parity and size metrics (also written to `out_dir/metrics.json`). Raises EdgeoptError
    for a bad bundle or dataset, or a model a converter cannot handle.
    """
    samples = SPEC.check(options)["samples"]
    source = open_float_source(model_dir, "convert")
    quantized = _quantized_tflite(quantized_dir) if quantized_dir is not None else None
    x = source.check_samples(load_dataset(data_path).x_test[:samples], "x_test")
    reference = source.predict(x)
    float_model = float_tflite(source)

    with atomic_dir(out_dir) as scratch:
        tflite_info = _tflite_bundle(scratch / "tflite", float_model, source)
        onnx_info = _onnx_bundle(scratch / "onnx", source)
        onnx_model = scratch / "onnx" / onnx_info.file
        optimized_info = _optimized_bundle(scratch / "optimized", onnx_model, onnx_info)
        array_model, array_parent = (quantized if quantized else (float_model, tflite_info))
        array_info = _c_array_bundle(scratch / "c_array", array_model, array_parent, source)

        tflite_out = predict_tflite(scratch / "tflite" / tflite_info.file, x)
        onnx_out = predict_onnx(onnx_model, x)
        optimized_out = predict_onnx(scratch / "optimized" / optimized_info.file, x)
        parsed = parse_c_array((scratch / "c_array" / SOURCE_FILE).read_text())
        array_out = predict_tflite(parsed, x)
        model_out = predict_tflite(array_model, x)
        tflite_match, onnx_match = parity(tflite_out, reference), parity(onnx_out, reference)
        optimized_match = parity(optimized_out, onnx_out)
        identical = parsed == array_model and bool(np.array_equal(array_out, model_out))
        array_against = "quantized_tflite" if quantized else "tflite"
        array_parity = {**extra.parity_against(array_out, model_out, array_against), "identical": identical}
        listed = [
            extra.entry("tflite", path="tflite/model.tflite", size=tflite_info.size_bytes,
                        parity=extra.parity_against(tflite_out, reference, "float_model")),
            extra.entry("onnx", path="onnx/model.onnx", size=onnx_info.size_bytes,
                        parity=extra.parity_against(onnx_out, reference, "float_model")),
            extra.entry("optimized", path="optimized/model.onnx", size=optimized_info.size_bytes,
                        parity=extra.parity_against(optimized_out, onnx_out, "onnx")),
            extra.entry("c_array", path=f"c_array/{SOURCE_FILE}", size=len(parsed), parity=array_parity),
            openvino_ir(onnx_model, scratch, x, onnx_out),
            extra.tensorrt(onnx_model, scratch, x, onnx_out),
        ]
        metrics = {
            "tflite_parity_max_abs_diff": tflite_match["max_abs_diff"],
            "tflite_top1_agreement": tflite_match["top1_agreement"],
            "tflite_size_bytes": tflite_info.size_bytes,
            "onnx_parity_max_abs_diff": onnx_match["max_abs_diff"],
            "onnx_top1_agreement": onnx_match["top1_agreement"],
            "onnx_size_bytes": onnx_info.size_bytes,
            "onnx_opset": ONNX_OPSET,
            "c_array_bytes": len(parsed),
            "c_array_source_bytes": array_info.size_bytes,
            "c_array_identical": identical,
            "c_array_precision": array_info.precision,
            "c_array_top1_agreement": parity(array_out, reference)["top1_agreement"],
            "optimized_parity_max_abs_diff": optimized_match["max_abs_diff"],
            "optimized_top1_agreement": optimized_match["top1_agreement"],
            "optimized_size_bytes": optimized_info.size_bytes,
            "optimized_nodes": optimized_info.details["nodes"],
            "onnx_nodes": optimized_info.details["source_nodes"],
            "source_size_bytes": source.info.size_bytes,
            "samples": int(len(x)),
            **_optional_flat_keys(listed),
            "formats": listed,
        }
        write_metrics(scratch, metrics)
    return metrics


def c_source(model: bytes, header: str = HEADER_FILE) -> str:
    """C++ source defining `alignas(16) const unsigned char g_model_data[]` and `g_model_data_len`."""
    lines = ["// TFLite model as a C array for TensorFlow Lite Micro; written by edgeopt convert.",
             f'#include "{header}"', "",
             f"alignas(16) const unsigned char {ARRAY_NAME}[] = {{"]
    for start in range(0, len(model), BYTES_PER_LINE):
        chunk = model[start:start + BYTES_PER_LINE]
        lines.append("    " + ", ".join(f"0x{b:02x}" for b in chunk) + ",")
    lines += ["};", f"const unsigned int {ARRAY_NAME}_len = {len(model)};", ""]
    return "\n".join(lines)


def c_header() -> str:
    """The header declaring the model array and its length."""
    guard = "EDGEOPT_MODEL_DATA_H_"
    return "\n".join([f"#ifndef {guard}", f"#define {guard}", "",
                      f"extern const unsigned char {ARRAY_NAME}[];",
                      f"extern const unsigned int {ARRAY_NAME}_len;", "", f"#endif  // {guard}", ""])


def parse_c_array(text: str) -> bytes:
    """The bytes of `g_model_data` in C source written by `c_source`; ValueError if the length disagrees."""
    body = re.search(rf"{ARRAY_NAME}\[\]\s*=\s*\{{(.*?)\}};", text, re.S)
    length = re.search(rf"{ARRAY_NAME}_len\s*=\s*(\d+)\s*;", text)
    if body is None or length is None:
        raise ValueError(f"no {ARRAY_NAME} array or length in the C source")
    data = bytes(int(h, 16) for h in re.findall(r"0x([0-9a-fA-F]{2})", body.group(1)))
    if len(data) != int(length.group(1)):
        raise ValueError(f"{ARRAY_NAME} holds {len(data)} bytes but {ARRAY_NAME}_len says {length.group(1)}")
    return data


def _optional_flat_keys(listed: list[dict[str, Any]]) -> dict[str, Any]:
    """`<format>_parity_max_abs_diff`, `_top1_agreement` and `_size_bytes` of the optional formats
    (OPTIONAL), None where the format was skipped or its parity not measured."""
    keys = {}
    for item in listed:
        if item["format"] in OPTIONAL:
            parity = item["parity"] or {}
            keys[f"{item['format']}_parity_max_abs_diff"] = parity.get("max_abs_diff")
            keys[f"{item['format']}_top1_agreement"] = parity.get("top1_agreement")
            keys[f"{item['format']}_size_bytes"] = item["bytes"]
    return keys


def _quantized_tflite(bundle_dir: Path | str) -> tuple[bytes, ModelInfo]:
    info, path = read_bundle(bundle_dir)
    if info.format != "tflite":
        raise EdgeoptError(f"the quantized model {bundle_dir} is a {info.format} bundle, not tflite",
                           "pass the bundle written by `edgeopt quantize`")
    return path.read_bytes(), info


def _tflite_bundle(bundle: Path, flatbuffer: bytes, source: FloatSource) -> ModelInfo:
    bundle.mkdir()
    (bundle / "model.tflite").write_bytes(flatbuffer)
    return write_bundle(bundle, ModelInfo(
        format="tflite", file="model.tflite", input_shape=source.info.input_shape,
        output_shape=source.info.output_shape, sparsity=source.info.sparsity, stage="convert",
        parent=parent_ref(source.info)))


def _onnx_bundle(bundle: Path, source: FloatSource) -> ModelInfo:
    bundle.mkdir()
    export_onnx(source, bundle / "model.onnx")
    return write_bundle(bundle, ModelInfo(
        format="onnx", file="model.onnx", input_shape=source.info.input_shape,
        output_shape=source.info.output_shape, sparsity=source.info.sparsity, stage="convert",
        parent=parent_ref(source.info), details={"opset": ONNX_OPSET}))


def _optimized_bundle(bundle: Path, onnx_model: Path, onnx_info: ModelInfo) -> ModelInfo:
    bundle.mkdir()
    details = extra.optimize_onnx(onnx_model, bundle / "model.onnx")
    return write_bundle(bundle, ModelInfo(
        format="onnx", file="model.onnx", input_shape=onnx_info.input_shape, output_shape=onnx_info.output_shape,
        sparsity=onnx_info.sparsity, stage="convert", parent=parent_ref(onnx_info),
        details={"opset": ONNX_OPSET, **details}))


def _c_array_bundle(bundle: Path, model: bytes, parent: ModelInfo, source: FloatSource) -> ModelInfo:
    bundle.mkdir()
    (bundle / SOURCE_FILE).write_text(c_source(model))
    (bundle / HEADER_FILE).write_text(c_header())
    return write_bundle(bundle, ModelInfo(
        format="c_array", file=SOURCE_FILE, precision=parent.precision, input_shape=source.info.input_shape,
        output_shape=source.info.output_shape, sparsity=parent.sparsity, stage="convert",
        parent=parent_ref(parent), extra_files={"header": HEADER_FILE},
        details={"array": ARRAY_NAME, "array_bytes": len(model), "alignment": 16}))
