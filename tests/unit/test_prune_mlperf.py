"""prune on the MLPerf Tiny ResNet-8 with crops of real photographs (slow): the structured result
keeps its promises through quantize, convert and simulate, and distillation recovers agreement."""

import pytest

from edgeopt.common.datasets import Dataset, save_dataset
from edgeopt.common.float_source import bundle_from_path
from edgeopt.prune.core import prune
from photos import photo_crops

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def resnet8(mlperf, tmp_path_factory):
    """(bundle, unlabelled photo-crop dataset) of the MLPerf Tiny ResNet-8."""
    root = tmp_path_factory.mktemp("resnet8")
    save_dataset(root / "crops.npz", Dataset(x_train=photo_crops(2000, 1), x_test=photo_crops(400, 2)))
    return bundle_from_path(mlperf / "ic" / "resnet8_float.h5", root / "src"), root / "crops.npz"


def test_structured_half_resnet8_is_smaller_through_quantize_convert_and_simulate(resnet8, tmp_path):
    from edgeopt.convert.core import convert
    from edgeopt.device_simulate.core import simulate
    from edgeopt.quantize.core import quantize

    bundle, data = resnet8
    metrics = prune(bundle, data, tmp_path / "p", method="structured", ratio=0.5, epochs=1, distill_temperature=4.0)
    assert metrics["params"] <= 0.60 * metrics["source_params"]   # the targets
    assert metrics["macs"] <= 0.55 * metrics["source_macs"]
    sizes, latency = {}, {}
    for name, model in (("source", bundle), ("pruned", tmp_path / "p")):
        q = quantize(model, data, tmp_path / f"q-{name}", method="int8", calibration_samples=50, latency_runs=0)
        sizes[name] = q["size_bytes"]
        latency[name] = simulate(tmp_path / f"q-{name}", "cortex-m4f@80mhz")["latency_ms"]
    assert sizes["pruned"] <= 0.60 * sizes["source"]
    assert latency["pruned"] < latency["source"]
    converted = convert(tmp_path / "p", data, tmp_path / "c", quantized_dir=tmp_path / "q-pruned")
    assert {f["format"]: f["status"] for f in converted["formats"]}["tflite"] == "ok"


def test_distillation_recovers_agreement_on_photo_crops(resnet8, tmp_path):
    """Without labels, fine-tuning on the source's soft targets brings the half-width ResNet-8 back
    towards the float model (one-shot pruning alone agrees on few crops)."""
    bundle, data = resnet8
    untrained = prune(bundle, data, tmp_path / "p0", method="structured", ratio=0.5, epochs=0)
    recovered = prune(bundle, data, tmp_path / "p", method="structured", ratio=0.5, epochs=10,
                      distill_temperature=4.0, learning_rate=2e-3)
    assert recovered["labels"] == "none"
    assert recovered["agreement"] >= 0.45 and recovered["agreement"] >= untrained["agreement"] + 0.3
