"""Time `edgeopt.device_simulate.core.simulate` per model and target.

For each MLPerf Tiny int8 model and each target, prints the first call (cold: reads the model and
runs the TFLite Micro planner in a forked child) and the median of repeated calls (warm: the arena
is cached per model). The contract is under 1 s per model and target.

    python bench/simulate.py [--mlperf DIR] [--repeats N] [--targets T1,T2,...]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

from edgeopt.device_simulate import arena
from edgeopt.device_simulate.core import simulate

REPO = Path(__file__).resolve().parents[1]
MODELS = {"ad": "ad/autoencoder_toycar_int8_reference.tflite", "ic": "ic/resnet8_int8_reference.tflite",
          "kws": "kws/dscnn_kws_int8_reference.tflite",
          "vww": "vww/mobilenet_v1_025_vww96_int8_reference.tflite"}
TARGETS = "NUCLEO-L4R5ZI,cortex-m4f@80mhz,cortex-m55@400mhz,STM32F746-DISCOVERY,NUCLEO-G071RB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mlperf", type=Path, default=REPO.parent / "shared" / "models" / "mlperf-tiny")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--targets", default=TARGETS)
    args = parser.parse_args()
    if not (args.mlperf / MODELS["ic"]).is_file():
        print(f"MLPerf Tiny models not found in {args.mlperf}", file=sys.stderr)
        return 2
    targets = args.targets.split(",")
    print(f"{'model':5} {'target':22} {'cold s':>8} {'warm median s':>14} {'latency ms':>11}")
    worst = 0.0
    for name, rel in MODELS.items():
        arena._cache.clear()  # a fresh model: the first target pays for the planner
        for target in targets:
            start = time.perf_counter()
            report = simulate(args.mlperf / rel, target)
            cold = time.perf_counter() - start
            warm = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                simulate(args.mlperf / rel, target)
                warm.append(time.perf_counter() - start)
            worst = max(worst, cold)
            print(f"{name:5} {target:22} {cold:8.3f} {statistics.median(warm):14.4f} {report['latency_ms']:11.2f}")
    print(f"slowest call: {worst:.3f} s (contract: < 1 s)")
    return 0 if worst < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
