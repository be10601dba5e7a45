"""Compare the prune methods on the demo CNN, the MLPerf Tiny ResNet-8 and MobileNetV1 0.25.

For each model and method the prune stage (`edgeopt.prune.core.prune`) compresses and fine-tunes
the float model; the quantize stage then makes its full-int8 TFLite file and the device simulator
predicts its latency on the pipeline's target (cortex-m4f@80mhz, tflm-cmsis-nn). The table gives,
before (method `-`) and after: accuracy on the held-out digits, or, for the MLPerf models, top-1
agreement with the float model on held-out photo crops; parameters; MACs; the .keras file's bytes
(dense bytes) and its gzip bytes; the int8 TFLite bytes; the simulated latency; the prune stage's
wall time (compression plus fine-tuning; quantize and simulate are not counted).

Data: the digits with labels (fine-tuned on the labels, 3 epochs); for ResNet-8 (32x32, 0..255;
4000 crops, 20 epochs) and MobileNetV1 (96x96, 0..1; 2000 crops, 10 epochs), random square crops
of scikit-learn's two sample photographs without labels, so their recovery distils from the float
model's soft targets (temperature 4, learning rate 2e-3); 500 other crops measure the agreement.
The float MobileNetV1 calls nearly every crop "no person", so its agreement there says little about
what pruning costs it; ResNet-8 spreads the crops over its ten classes with small margins, which
makes its agreement a demanding measure.
Methods: structured 30 % and 50 %, 2:4, low rank (rank 1/4 of full, classifier head excluded),
and magnitude 50 % (the stage's default) for reference.

    python bench/compress.py [--mlperf DIR] [--models demo,ic,vww] [--methods structured-30,...]
                             [--crops N] [--epochs N] [--mlperf-epochs N] [--json PATH]
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from edgeopt.common.tfenv import tf  # noqa: E402  (TF must load with legacy Keras first)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MLPERF = Path(os.environ.get("EDGEOPT_MLPERF_DIR", REPO.parent / "shared" / "models" / "mlperf-tiny"))
TARGET = "cortex-m4f@80mhz"
# name: (file, input side, input scale, training crops, fine-tuning epochs); MobileNetV1 trains ~4x slower
MODELS = {"ic": ("ic/resnet8_float.h5", 32, 255.0, 4000, 20),
          "vww": ("vww/mobilenet_v1_025_vww96_float.h5", 96, 1.0, 2000, 10)}
METHODS = {
    "structured-30": {"method": "structured", "ratio": 0.3},
    "structured-50": {"method": "structured", "ratio": 0.5},
    "2:4": {"method": "2:4"},
    "lowrank": {"method": "lowrank", "rank_ratio": 0.25},
    "magnitude-50": {"method": "magnitude", "target_sparsity": 0.5},
}


def photo_crops(n: int, side: int, seed: int, scale: float) -> np.ndarray:
    """`n` random square crops (15-60 % of the short side) of scikit-learn's sample photographs,
    resized to side x side, in [0, scale]."""
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    rng = np.random.default_rng(seed)
    out = np.empty((n, side, side, 3), np.float32)
    for i in range(n):
        img = photos[rng.integers(len(photos))]
        size = int(rng.uniform(0.15, 0.6) * min(img.shape[:2]))
        top, left = rng.integers(0, img.shape[0] - size + 1), rng.integers(0, img.shape[1] - size + 1)
        crop = tf.image.resize(img[top:top + size, left:left + size].astype(np.float32), (side, side)).numpy()
        out[i] = crop / 255.0 * scale
    return out


def deployed(bundle: Path, data: Path, work: Path) -> dict:
    """int8 TFLite bytes (quantize stage) and simulated latency on TARGET of a Keras bundle."""
    from edgeopt.device_simulate.core import simulate
    from edgeopt.quantize.core import quantize

    q = quantize(bundle, data, work, method="int8", calibration_samples=100, latency_runs=0)
    sim = simulate(work, TARGET)
    return {"int8_bytes": q["size_bytes"], "latency_ms": sim["latency_ms"], "supported": sim["supported"]}


def method_row(name: str, bundle: Path, data: Path, work: Path, options: dict) -> tuple[dict, dict]:
    """(the method's row, the unpruned model's row) as the prune stage measured them."""
    from edgeopt.prune.core import prune

    folder = name.replace(":", "-")
    start = time.perf_counter()
    m = prune(bundle, data, work / folder, **options)
    seconds = time.perf_counter() - start
    row = {"method": name, "accuracy": m["accuracy"], "drop": m["accuracy_drop"], "params": m["params"],
           "macs": m["macs"], "nonzero_macs": m["nonzero_macs"], "dense_bytes": m["size_bytes"],
           "gzip_bytes": m["gzip_bytes"], "seconds": seconds, "nm_groups_ok": m.get("nm_groups_ok"),
           **deployed(work / folder, data, work / f"q-{folder}")}
    source = {"method": "-", "accuracy": m["source_accuracy"], "params": m["source_params"], "macs": m["source_macs"],
              "dense_bytes": m["source_size_bytes"], "gzip_bytes": m["source_gzip_bytes"], "seconds": None}
    return row, source


def bench_model(label: str, bundle: Path, data: Path, work: Path, methods: list[str], common: dict,
                head: str) -> list[dict]:
    rows: list[dict] = []
    source = None
    for name in methods:
        options = dict(METHODS[name], **common)
        if name == "lowrank":
            options["exclude"] = [head]
        try:
            row, source = method_row(name, bundle, data, work, options)
        except Exception as exc:  # a method that does not apply is a row with its reason
            row = {"method": name, "error": str(exc).splitlines()[0]}
        rows.append(row)
    if source is not None:
        rows.insert(0, dict(source, **deployed(bundle, data, work / "q-source")))
    for row in rows:
        row["model"] = label
    return rows


def print_table(rows: list[dict]) -> None:
    base = {r["model"]: r for r in rows if r["method"] == "-"}
    print("| model | method | accuracy / agreement | change (points) | params | MACs | dense bytes | gzip bytes "
          f"| int8 TFLite bytes | latency on {TARGET} | prune time |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        if "error" in r:
            print(f"| {r['model']} | {r['method']} | not applicable: {r['error']} | | | | | | | | |")
            continue
        b = base[r["model"]]

        def pct(key):
            return "" if r["method"] == "-" else f" ({100 * r[key] / b[key]:.0f} %)"

        drop = "" if r["method"] == "-" else f"{-100 * r['drop']:+.1f}"
        macs = f"{r['macs']:,}{pct('macs')}"
        if r.get("nonzero_macs") is not None and r["nonzero_macs"] < r["macs"]:
            macs += f", non-zero {100 * r['nonzero_macs'] / b['macs']:.0f} %"
        print(f"| {r['model']} | {r['method']} | {r['accuracy']:.3f} | {drop} | {r['params']:,}{pct('params')} "
              f"| {macs} | {r['dense_bytes']:,}{pct('dense_bytes')} | {r['gzip_bytes']:,}{pct('gzip_bytes')} "
              f"| {r['int8_bytes']:,}{pct('int8_bytes')} | {r['latency_ms']:.1f} ms{pct('latency_ms')} "
              f"| {'' if r['seconds'] is None else format(r['seconds'], '.0f') + ' s'} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlperf", type=Path, default=DEFAULT_MLPERF)
    parser.add_argument("--models", default="demo,ic,vww")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--crops", type=int, help="training crops per MLPerf model (default: ic 4000, vww 2000; "
                        "500 more are held out for the agreement)")
    parser.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs on the demo")
    parser.add_argument("--mlperf-epochs", type=int, help="fine-tuning epochs on the MLPerf models (ic 20, vww 10)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown methods {unknown}; pick from {', '.join(METHODS)}")

    from edgeopt.common.datasets import Dataset, save_dataset
    from edgeopt.common.float_source import bundle_from_path
    from edgeopt.demo.digits import digits_dataset, train_digits_cnn
    from edgeopt.ingest.core import ingest

    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for label in args.models.split(","):
            (work / label).mkdir()
            if label == "demo":
                save_dataset(work / "digits.npz", digits_dataset())
                train_digits_cnn(digits_dataset(), epochs=10).save(work / "digits.keras")
                ingest(work / "digits.keras", work / "digits.npz", work / "demo" / "base", work / "demo" / "data.npz")
                rows += bench_model("demo CNN", work / "demo" / "base", work / "demo" / "data.npz", work / "demo",
                                    methods, {"epochs": args.epochs}, "logits")
                continue
            path, side, scale, crops, epochs = MODELS[label]
            if not (args.mlperf / path).exists():
                print(f"{label}: {args.mlperf / path} not found, skipped", file=sys.stderr)
                continue
            data = work / label / "crops.npz"
            save_dataset(data, Dataset(x_train=photo_crops(args.crops or crops, side, 1, scale),
                                       x_test=photo_crops(500, side, 2, scale)))
            bundle = bundle_from_path(args.mlperf / path, work / label / "src")
            rows += bench_model({"ic": "ResNet-8", "vww": "MobileNetV1"}[label], bundle, data, work / label,
                                methods, {"epochs": args.mlperf_epochs or epochs, "distill_temperature": 4.0,
                                          "learning_rate": 2e-3}, "dense")
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
