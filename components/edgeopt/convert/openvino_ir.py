"""OpenVINO IR of convert's ONNX export, with parity measured by OpenVINO's CPU runtime.

`openvino/` holds model.xml + model.bin from `openvino.convert_model` and `openvino.save_model`
with float32 weights (`compress_to_fp16=False`: the IR is the exported model, not a rounded copy).
Its parity against the ONNX model's outputs (run by ONNX Runtime) is measured by compiling the IR
for "CPU" with inference precision f32. Left to itself the CPU plugin computes in bf16 on processors
that have it (AVX512-BF16, AMX), which would measure the host rather than the conversion; when this
host's default is not f32, the parity entry also reports the outputs at that default precision
(`default_precision`), which is what a plain `compile_model(ir, "CPU")` here would give.

OpenVINO sends usage telemetry to Google Analytics by default, from `import openvino` and from each
conversion, unless a consent file under $HOME/intel says no. `import_openvino` imports it with its
telemetry module made unimportable, so OpenVINO uses its built-in no-op stub: nothing is sent and
nothing is written to $HOME.
"""

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from edgeopt.common.errors import first_line
from edgeopt.common.fsutil import dir_size
from edgeopt.convert.formats import entry, parity_against

FOLDER = "openvino"
DEVICE = "CPU"
MISSING = "the openvino package is not installed (it comes with `pip install edgeopt[convert]`)"


def import_openvino() -> ModuleType:
    """`openvino`, imported with its usage telemetry off (unless another module imported it first)."""
    if "openvino" not in sys.modules:
        sys.modules.setdefault("openvino_telemetry", None)  # None: `import openvino_telemetry` fails
    import openvino

    return openvino


def openvino_ir(onnx_model: Path, out_dir: Path, x: np.ndarray, reference: np.ndarray) -> dict[str, Any]:
    """The `formats` entry of the IR of `onnx_model` written to `out_dir/openvino`, with parity against
    `reference` (the ONNX model's outputs on `x`); skipped, with the reason, when OpenVINO is missing
    or fails (no folder is left then)."""
    if importlib.util.find_spec("openvino") is None:
        return entry("openvino", "skipped", MISSING)
    folder = out_dir / FOLDER
    try:
        ov = import_openvino()
        converted = ov.convert_model(str(onnx_model))
        folder.mkdir()
        ov.save_model(converted, str(folder / "model.xml"), compress_to_fp16=False)
        core = ov.Core()
        precision = ov.properties.hint.inference_precision
        outputs = _run(core, folder / "model.xml", x, {precision: ov.Type.f32})
        default = core.get_property(DEVICE, precision)
        default_outputs = None if default == ov.Type.f32 else _run(core, folder / "model.xml", x, {})
    except Exception as exc:  # noqa: BLE001 - an optional format: any failure is a reported skip
        shutil.rmtree(folder, ignore_errors=True)
        return entry("openvino", "skipped", f"OpenVINO could not convert or run the model: {first_line(exc)}")
    parity = {**parity_against(outputs, reference, "onnx"), "device": DEVICE, "inference_precision": "f32"}
    if default_outputs is not None:
        match = parity_against(default_outputs, reference, "onnx")
        parity["default_precision"] = {"inference_precision": default.get_type_name(),
                                       "max_abs_diff": match["max_abs_diff"],
                                       "top1_agreement": match["top1_agreement"]}
    return entry("openvino", path=f"{FOLDER}/model.xml", size=dir_size(folder), parity=parity)


def _run(core: Any, ir: Path, x: np.ndarray, config: dict[Any, Any]) -> np.ndarray:
    compiled = core.compile_model(str(ir), DEVICE, config)
    return np.asarray(compiled(x.astype(np.float32))[compiled.output(0)])
