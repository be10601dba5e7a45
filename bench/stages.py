"""Time every stage on the digits demo and on the MLPerf Tiny image-classification model.

Prints seconds per stage and, measured in the same run, the ratio of the quantize stage's time
to a bare `TFLiteConverter` int8 call on the same model and calibration data (the stage also
converts a float reference, checks inputs, measures accuracy with LiteRT and host latency).
Compare ratios between runs, not seconds: these machines are noisy.

    python bench/stages.py [--mlperf DIR] [--repeats N]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from edgeopt.common.tfenv import keras, tf  # noqa: E402  (TF must load with legacy Keras)

REPO = Path(__file__).resolve().parents[1]
TARGETS = "target: cortex-m4f@80mhz\nlatency_ms: 50\ntotal_kb: 300\naccuracy_drop: 0.02\n"


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def bare_converter_seconds(keras_path: Path, calibration: np.ndarray, repeats: int) -> float:
    """Median time of TFLiteConverter int8 on a loaded model, the floor the quantize stage builds on."""
    model = keras.models.load_model(keras_path, compile=False)
    times = []
    for _ in range(repeats):
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([x[None].astype(np.float32)] for x in calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        times.append(timed(converter.convert)[0])
    return statistics.median(times)


def bench_model(label: str, model_file: Path, data: Path, work: Path, repeats: int, full: bool) -> None:
    from edgeopt.common.bundle import read_bundle
    from edgeopt.common.datasets import load_dataset
    from edgeopt.common.metrics import write_metrics
    from edgeopt.convert.core import convert
    from edgeopt.device_simulate.core import simulate
    from edgeopt.distill.core import distill
    from edgeopt.ingest.core import ingest
    from edgeopt.promote.core import promote
    from edgeopt.prune.core import prune
    from edgeopt.quantize.core import quantize
    from edgeopt.validate_targets.core import run as validate

    rows: list[tuple[str, float]] = []
    t, base_metrics = timed(ingest, model_file, data, work / "base", work / "data.npz")
    rows.append(("ingest", t))
    source = work / "base"
    if full:
        rows.append(("distill", timed(distill, source, work / "data.npz", work / "student", epochs=5)[0]))
        rows.append(("prune", timed(prune, work / "student", work / "data.npz", work / "pruned", epochs=2)[0]))
        source = work / "pruned"
    q_times = []
    for _ in range(repeats):
        t, q_metrics = timed(quantize, source, work / "data.npz", work / "q", method="int8", calibration_samples=100)
        q_times.append(t)
    rows.append(("quantize int8", statistics.median(q_times)))
    rows.append(("convert", timed(convert, source, work / "data.npz", work / "c", quantized_dir=work / "q")[0]))
    t, sim = timed(simulate, work / "q", "cortex-m4f@80mhz")
    rows.append(("device-simulate", t))
    if full:
        write_metrics(work / "base.json", base_metrics)
        write_metrics(work / "sim.json", sim)
        rows.append(("validate-targets", timed(validate, TARGETS, work / "base.json", work / "q" / "metrics.json",
                                               work / "sim.json", work / "verdict")[0]))
        rows.append(("promote", timed(promote, work / "q", work / "verdict" / "verdict.json", str(work / "reg"),
                                      "bench", force=True)[0]))
    info, model_path = read_bundle(source)
    calib = load_dataset(work / "data.npz").calibration(100)
    if info.format != "keras":
        print(f"{label}: bare-converter comparison needs a Keras model", file=sys.stderr)
        bare = float("nan")
    else:
        bare = bare_converter_seconds(model_path, calib, repeats)
    print(f"\n== {label} ({model_file.name}) ==")
    for name, seconds in rows:
        print(f"  {name:18s} {seconds:8.2f} s")
    print(f"  {'bare TFLiteConverter':18s} {bare:8.2f} s")
    print(f"  quantize stage / bare converter: {statistics.median(q_times) / bare:.2f}x "
          f"(median of {repeats}; the stage also converts a float reference for the speed-up, checks the data, "
          "measures accuracy with LiteRT and host latency in child processes;"
          f" int8 accuracy {q_metrics['accuracy']:.3f})")


def mlperf_ic_data(path: Path, n: int = 300) -> Path:
    """Random 32x32 crops of scikit-learn's two sample photographs, in the ic model's 0..255 input range."""
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(0)
    images = load_sample_images().images
    crops = []
    for i in range(n):
        img = images[i % len(images)]
        size = int(rng.integers(32, 160))
        y, x = rng.integers(0, img.shape[0] - size), rng.integers(0, img.shape[1] - size)
        crop = tf.image.resize(img[y:y + size, x:x + size].astype(np.float32), (32, 32)).numpy()
        crops.append(crop)
    x = np.stack(crops).astype(np.float32)
    np.savez(path, x_train=x[: n // 2], x_test=x[n // 2:])
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlperf", type=Path, default=REPO.parent / "shared" / "models" / "mlperf-tiny")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from edgeopt.demo.digits import digits_dataset, train_digits_cnn
    from edgeopt.common.datasets import save_dataset

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = digits_dataset()
        save_dataset(work / "digits.npz", data)
        train_digits_cnn(data, epochs=10).save(work / "digits.keras")
        (work / "demo").mkdir()
        bench_model("digits demo", work / "digits.keras", work / "digits.npz", work / "demo", args.repeats, True)
        ic = args.mlperf / "ic" / "resnet8_float.h5"
        if ic.is_file():
            (work / "ic").mkdir()
            bench_model("MLPerf Tiny ic", ic, mlperf_ic_data(work / "ic.npz"), work / "ic", args.repeats, False)
        else:
            print(f"\nMLPerf Tiny ic model not found at {ic}: skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
