"""Host latency and peak memory of one model for single-sample inference, in a child process.

`measure_tflite` runs a TFLite model with the LiteRT interpreter, `measure_onnx` an ONNX model with
ONNX Runtime on the CPU. Both return ``{"latency_ms_median", "latency_ms_p90", "peak_memory_bytes"}``.

How it is measured: the model and the samples go to a fresh Python child process
(`python -m edgeopt.common.hostperf`), which imports numpy and the runtime only (never TensorFlow),
loads the samples, then takes its baseline. From there it loads the model, creates the
interpreter/session, runs `warmup` inferences and then `runs` timed ones, each on one sample
(batch 1, cycling through the given samples, already cast/quantized to the input's dtype so the
timing is the model's alone). Latency is the wall time of set-input + invoke + get-output
(`time.perf_counter_ns`), median and 90th percentile over the timed runs.

Peak memory is the growth of the child's peak resident set size (RSS, from /proc/self/status)
over its RSS at the baseline: right after the imports the kernel's high-water mark is reset
(`/proc/self/clear_refs` <- 5), so VmHWM afterwards is the peak since the baseline. It therefore
counts everything the runtime touches natively (model buffer or mapped file pages, the tensor
arena, kernels' scratch, thread stacks), which tracemalloc cannot see. Where the reset is not
allowed, the growth of `ru_maxrss` over the baseline's RSS is used (which under-counts when the
imports peaked above the baseline). Both figures are rounded by the kernel to pages/kB.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

RESULT_KEYS = ("latency_ms_median", "latency_ms_p90", "peak_memory_bytes")
TIMEOUT_S = 900


def measure_tflite(model: Path | str | bytes, x: np.ndarray, runs: int = 50, warmup: int = 5,
                   num_threads: int = 1) -> dict:
    """Latency (ms, median and p90 over `runs` after `warmup`) and peak memory (bytes) of a TFLite model.

    `model` is a .tflite path or flatbuffer bytes; `x` float samples (N, ...) of the first input,
    quantized with the model's own input parameters for integer inputs. One sample per inference,
    on `num_threads` LiteRT threads. Raises EdgeoptError if the child process fails.
    """
    with tempfile.TemporaryDirectory(prefix="edgeopt-hostperf-") as tmp:
        if isinstance(model, (bytes, bytearray)):
            path = Path(tmp) / "model.tflite"
            path.write_bytes(bytes(model))
        else:
            path = Path(model)
        return _run_child("tflite", path, x, Path(tmp), runs, warmup, num_threads)


def measure_onnx(model: Path | str, x: np.ndarray, runs: int = 50, warmup: int = 5,
                 num_threads: int = 1) -> dict:
    """Latency (ms, median and p90 over `runs` after `warmup`) and peak memory (bytes) of an ONNX model.

    ONNX Runtime CPU provider with `num_threads` intra-op and one inter-op thread (one thread by
    default, like `measure_tflite`); `x` float samples (N, ...) cast to the first input's dtype,
    one sample per inference. Raises EdgeoptError if the child process fails.
    """
    with tempfile.TemporaryDirectory(prefix="edgeopt-hostperf-") as tmp:
        return _run_child("onnx", Path(model), x, Path(tmp), runs, warmup, num_threads)


def _run_child(kind: str, model: Path, x: np.ndarray, tmp: Path, runs: int, warmup: int,
               num_threads: int) -> dict:
    from edgeopt.common.errors import EdgeoptError

    if runs < 1 or warmup < 0:
        raise EdgeoptError(f"runs must be at least 1 and warmup at least 0 (got {runs}, {warmup})",
                           "50 runs after 5 warm-up runs is typical")
    x = np.asarray(x)
    if x.ndim == 0 or len(x) == 0:
        raise EdgeoptError("no samples to measure latency with", "pass at least one input sample")
    samples = tmp / "x.npy"
    np.save(samples, x[:16])
    cmd = [sys.executable, "-m", "edgeopt.common.hostperf", kind, str(model), str(samples),
           str(runs), str(warmup), str(num_threads)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", OMP_NUM_THREADS=str(num_threads))
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, env=env, check=False)
    except subprocess.TimeoutExpired as exc:
        raise EdgeoptError(f"measuring {model.name} took more than {TIMEOUT_S} s",
                           "lower `runs`, or check that the model runs at all") from exc
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise EdgeoptError(f"cannot measure {model.name} with {kind}: {lines[-1] if lines else done.returncode}",
                           "check that the model runs on the host with its runtime")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {k: result[k] for k in RESULT_KEYS}


# ---- child side: runs in `python -m edgeopt.common.hostperf` ----

def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_kb(reset: bool) -> int:
    if reset:
        hwm = _status_kb("VmHWM")
        if hwm is not None:
            return hwm
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _cast(x: np.ndarray, detail_dtype, quantization) -> np.ndarray:
    dtype = np.dtype(detail_dtype)
    if np.issubdtype(dtype, np.integer) and quantization and quantization[0]:
        scale, zero = quantization
        info = np.iinfo(dtype)
        return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)
    return x.astype(dtype)


def _child_tflite(model: str, x: np.ndarray, num_threads: int):
    from ai_edge_litert.interpreter import Interpreter

    def load():
        interp = Interpreter(model_path=model, num_threads=num_threads)
        interp.allocate_tensors()
        inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
        rows = [_cast(x[i:i + 1], inp["dtype"], inp["quantization"]) for i in range(len(x))]

        def step(i: int) -> None:
            interp.set_tensor(inp["index"], rows[i % len(rows)])
            interp.invoke()
            interp.get_tensor(out["index"])
        return step
    return load


def _child_onnx(model: str, x: np.ndarray, num_threads: int):
    import onnxruntime as ort

    types = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
             "tensor(int8)": np.int8, "tensor(uint8)": np.uint8}

    def load():
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = num_threads
        opts.inter_op_num_threads = 1
        session = ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
        first = session.get_inputs()[0]
        rows = [x[i:i + 1].astype(types.get(first.type, np.float32)) for i in range(len(x))]
        name = first.name

        def step(i: int) -> None:
            session.run(None, {name: rows[i % len(rows)]})
        return step
    return load


def _child_main(argv: list[str]) -> None:
    import time

    kind, model, samples, runs, warmup, threads = argv
    runs, warmup, threads = int(runs), int(warmup), int(threads)
    x = np.load(samples).astype(np.float32)
    load = (_child_tflite if kind == "tflite" else _child_onnx)(model, x, threads)  # imports the runtime
    reset = _reset_peak()
    baseline_kb = _status_kb("VmRSS") or 0
    step = load()
    for i in range(warmup):
        step(i)
    times = []
    for i in range(runs):
        start = time.perf_counter_ns()
        step(i)
        times.append((time.perf_counter_ns() - start) / 1e6)
    peak_kb = _peak_kb(reset)
    print(json.dumps({"latency_ms_median": float(np.median(times)),
                      "latency_ms_p90": float(np.percentile(times, 90)),
                      "peak_memory_bytes": int(max(0, peak_kb - baseline_kb) * 1024),
                      "memory_method": "VmHWM reset" if reset else "ru_maxrss"}))


if __name__ == "__main__":
    _child_main(sys.argv[1:])
