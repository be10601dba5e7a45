"""Time `edgeopt.device_simulate.core.simulate` per model x target x runtime.

For each MLPerf Tiny int8 model, target and runtime, prints the first call (cold: reads the model,
runs the TFLite Micro planner in a forked child, or Vela for an NPU target) and the median of
repeated calls (warm: the arena is cached per model). The contract is at most 1 s per call.

    python bench/simulate.py [--mlperf DIR] [--repeats N] [--targets T1,T2,...] [--runtimes R1,R2,...]
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
TARGETS = "NUCLEO-L4R5ZI,NUCLEO-U575ZI-Q,DISCO-F746NG,NUCLEO-G0B1RE,EK-RA8D1,cortex-m55+ethos-u55-128"
RUNTIMES = "tflm-cmsis-nn,x-cube-ai,plumerai,hale"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mlperf", type=Path, default=REPO.parent / "shared" / "models" / "mlperf-tiny")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--targets", default=TARGETS)
    parser.add_argument("--runtimes", default=RUNTIMES)
    args = parser.parse_args()
    if not (args.mlperf / MODELS["ic"]).is_file():
        print(f"MLPerf Tiny models not found in {args.mlperf}", file=sys.stderr)
        return 2
    print(f"{'model':5} {'target':32} {'runtime':16} {'cold s':>7} {'warm s':>7} {'latency ms':>11}")
    worst = 0.0
    for name, rel in MODELS.items():
        arena._cache.clear()  # a fresh model: the first call pays for the planner
        for target in args.targets.split(","):
            for runtime in args.runtimes.split(","):
                start = time.perf_counter()
                report = simulate(args.mlperf / rel, target, runtime)
                cold = time.perf_counter() - start
                warm = []
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    simulate(args.mlperf / rel, target, runtime)
                    warm.append(time.perf_counter() - start)
                worst = max(worst, cold, *warm)
                print(f"{name:5} {target:32} {report['runtime']:16} {cold:7.3f} {statistics.median(warm):7.4f} "
                      f"{report['latency_ms']:11.3f}")
    print(f"slowest call: {worst:.3f} s (contract: at most 1 s)")
    return 0 if worst <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
