"""The further formats `convert` writes from its ONNX export, and the `formats` list entries.

- `optimized/`: the ONNX model as ONNX Runtime optimizes it offline (`SessionOptions.optimized_model_filepath`)
  at OPTIMIZATION_LEVEL "basic": constant folding, redundant node removal and semantics-preserving
  fusions (Conv+Add, Conv+BatchNorm, MatMul+Add into Gemm, ...) that keep every node a standard
  ONNX operator. "extended" and "all" would write ORT-only contrib operators (FusedConv, FusedGemm,
  NCHWc layouts) tied to ORT's CPU provider, which other runtimes, execution providers and even
  other CPUs cannot be relied on to run; so the offline model stays portable and ORT still applies
  its higher levels when it loads it.
- `openvino/`: OpenVINO IR (model.xml + model.bin), written by `edgeopt.convert.openvino_ir`.
- `tensorrt/`: a serialized TensorRT engine (model.engine), only when an NVIDIA GPU and the
  `tensorrt` package are both present.

A format that cannot be produced here is reported with status "skipped" and the reason, never
raised. Each entry of `formats` is ``{"format", "status", "reason", "path", "bytes", "parity"}``;
`parity` is ``{"against", "max_abs_diff", "top1_agreement", "snr_db"}`` (plus keys of the format's
own: `identical` for the C array, the device and precision for OpenVINO) or None when nothing
could run the result.
"""

import importlib.util
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from edgeopt.common.errors import first_line
from edgeopt.common.evaluate import parity as compare

OPTIMIZATION_LEVEL = "basic"
TENSORRT_DIR = "tensorrt"


def entry(fmt: str, status: str = "ok", reason: str | None = None, path: str | None = None,
          size: int | None = None, parity: dict[str, Any] | None = None) -> dict[str, Any]:
    """One `formats` list entry."""
    return {"format": fmt, "status": status, "reason": reason, "path": path, "bytes": size, "parity": parity}


def parity_against(outputs: np.ndarray, reference: np.ndarray, against: str) -> dict[str, Any]:
    """Parity of `outputs` with `reference`, naming what the reference is."""
    match = compare(outputs, reference)
    return {"against": against, "max_abs_diff": match["max_abs_diff"], "top1_agreement": match["top1_agreement"],
            "snr_db": match["snr_db"]}


def optimize_onnx(source: Path, target: Path) -> dict[str, Any]:
    """Write `source` as ONNX Runtime optimizes it at OPTIMIZATION_LEVEL to `target`.

    Opset imports of domains no node uses (ORT lists all it knows) are dropped so that the file
    declares only what it needs. Returns the node counts before and after.
    """
    import onnx

    from edgeopt.common.runtimes import session_for

    session_for(source, optimized_model=target, level=OPTIMIZATION_LEVEL)
    model = onnx.load(str(target))
    used = {n.domain or "" for n in model.graph.node} | {""}
    kept = [o for o in model.opset_import if (o.domain or "") in used]
    del model.opset_import[:]
    model.opset_import.extend(kept)
    onnx.save(model, str(target))
    return {"optimization_level": OPTIMIZATION_LEVEL, "source_nodes": len(onnx.load(str(source)).graph.node),
            "nodes": len(model.graph.node), "domains": sorted(d or "ai.onnx" for d in used)}


def tensorrt(onnx_model: Path, out_dir: Path, x: np.ndarray, reference: np.ndarray) -> dict[str, Any]:
    """A TensorRT engine of `onnx_model` under `out_dir/tensorrt`; skipped without a GPU and TensorRT.

    Parity is measured by running the ONNX model with ONNX Runtime's TensorRT execution provider
    when this ONNX Runtime has it (the engine file itself needs CUDA bindings to run); else None.
    """
    missing = [why for why in (_no_gpu(), None if importlib.util.find_spec("tensorrt") else
                               "the tensorrt package is not installed") if why]
    if missing:
        return entry("tensorrt", "skipped", "; ".join(missing))
    folder = out_dir / TENSORRT_DIR
    try:
        engine = _build_engine(onnx_model, x.shape)
        folder.mkdir()
        (folder / "model.engine").write_bytes(engine)
    except Exception as exc:  # noqa: BLE001 - an optional extra: any failure is a reported skip
        shutil.rmtree(folder, ignore_errors=True)
        return entry("tensorrt", "skipped", f"TensorRT could not build an engine: {first_line(exc)}")
    match, reason = None, None
    try:
        match = parity_against(_run_tensorrt_ep(onnx_model, x), reference, "onnx")
    except Exception as exc:  # noqa: BLE001
        reason = f"engine built; parity not measured: {first_line(exc)}"
    return entry("tensorrt", reason=reason, path=f"{TENSORRT_DIR}/model.engine",
                 size=(folder / "model.engine").stat().st_size, parity=match)


def _no_gpu() -> str | None:
    """None when an NVIDIA GPU is visible, else why not."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return "no NVIDIA GPU (nvidia-smi not found)"
    try:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"no usable NVIDIA GPU (nvidia-smi failed: {first_line(exc)})"
    if listed.returncode != 0 or "GPU" not in listed.stdout:
        return "no NVIDIA GPU (nvidia-smi lists none)"
    return None


def _build_engine(onnx_model: Path, shape: tuple[int, ...]) -> bytes:
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0 if int(trt.__version__.split(".")[0]) >= 10 else 1 << int(
        trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_model.read_bytes()):
        raise RuntimeError("; ".join(str(parser.get_error(i)) for i in range(parser.num_errors)) or "parse failed")
    config = builder.create_builder_config()
    inp = network.get_input(0)
    if any(d < 0 for d in inp.shape):
        rest = tuple(shape[1:])
        profile = builder.create_optimization_profile()
        profile.set_shape(inp.name, (1, *rest), (shape[0], *rest), (shape[0], *rest))
        config.add_optimization_profile(profile)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise RuntimeError("the builder returned no engine")
    return bytes(engine)


def _run_tensorrt_ep(onnx_model: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    if "TensorrtExecutionProvider" not in ort.get_available_providers():
        raise RuntimeError("this ONNX Runtime has no TensorRT execution provider")
    session = ort.InferenceSession(str(onnx_model), providers=["TensorrtExecutionProvider"])
    return np.asarray(session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})[0])

