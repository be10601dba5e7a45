"""quantize on the real MLPerf Tiny models against the official int8 files (slow)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from edgeopt.common.datasets import Dataset, save_dataset
from edgeopt.common.evaluate import parity
from edgeopt.common.modelfile import trusting
from edgeopt.common.runtimes import predict_tflite
from edgeopt.quantize.core import quantize
from edgeopt.common.float_source import bundle_from_path, open_float_source

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _bench():
    spec = importlib.util.spec_from_file_location("bench_quantize", REPO / "bench" / "quantize.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_resnet8_int8_on_photo_crops_matches_the_official_file(mlperf, tmp_path):
    bench = _bench()
    official = mlperf / "ic" / "resnet8_int8_reference.tflite"
    lo, hi = bench.input_range(official)
    assert (lo, hi) == (0.0, 255.0)
    calib, x_eval = bench.photo_crops(200, 32, 1, lo, hi), bench.photo_crops(300, 32, 2, lo, hi)
    bundle = bundle_from_path(mlperf / "ic" / "resnet8_float.h5", tmp_path)
    data = save_dataset(tmp_path / "crops.npz", Dataset(x_train=calib, x_test=x_eval, x_calib=calib))
    metrics = quantize(bundle, data, tmp_path / "q", latency_runs=20)
    reference = open_float_source(bundle, "test").predict(x_eval)
    official_agreement = parity(predict_tflite(official, x_eval), reference)["top1_agreement"]
    assert metrics["size_bytes"] <= 1.02 * official.stat().st_size
    assert metrics["agreement"] >= official_agreement - 0.01  # one run's crops; the bench uses 500
    assert len([f for f in metrics["fusions"] if f["pattern"].startswith("Conv2D+BatchNormalization")]) >= 6
    assert metrics["speedup_vs_float"] > 0


def test_kws_savedmodel_quantizes_without_keras_names(mlperf, tmp_path):
    bench = _bench()
    official = mlperf / "kws" / "dscnn_kws_int8_reference.tflite"
    lo, hi = bench.input_range(official)
    x = bench.smooth_fields(150, (49, 10, 1), 3, lo, hi)
    data = save_dataset(tmp_path / "kws.npz", Dataset(x_train=x[:100], x_test=x[100:]))
    with trusting(True):  # the KWS reference model is a SavedModel
        bundle = bundle_from_path(mlperf / "kws" / "dscnn_kws_savedmodel", tmp_path)
        metrics = quantize(bundle, data, tmp_path / "q", latency_runs=0)
    assert metrics["size_bytes"] <= 1.02 * official.stat().st_size and metrics["float_operators"] == []
    assert any(f["op"] == "DEPTHWISE_CONV_2D" and "FusedBatchNormV3" in f["fused"] and "Relu" in f["fused"]
               for f in metrics["fusions"])
    assert np.isfinite(metrics["snr_db"])
