"""Time the edge-sweep pipeline on the demo: wall time, time per candidate, the share of shared work,
how the time grows with the number of candidates, and what a cluster with N workers would take.

Runs, in one process tree and one session (compare ratios, not seconds: these machines are noisy):
  1. `edgeopt run` (edge-optimize) on the demo model with the demo's settings: the reference run;
  2. `edgeopt sweep` with the first 2, 4 and 8 recipes of the demo's grid (the same recipes and
     settings `edgeopt sweep --demo` uses), all through kfp.local's subprocess runner.
Task times come from the kfp.local log (`pipeline.log`): a task's time is from "Executing task" to
"finished". kfp.local runs at most two loop iterations at once, so a candidate's own task times
include sharing the 2 cores with the other running candidate.

    python bench/sweep.py [--counts 1,2,4,8] [--keep DIR]
"""

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAMP = re.compile(r"^(\d\d):(\d\d):(\d\d\.\d+) - INFO - (?:Executing task '([^']+)'|Task '([^']+)' finished)")
CANDIDATE_TASKS = ("distill", "prune", "quantize", "device-simulate", "validate-targets")
RUN_TARGETS = "target: cortex-m4f@80mhz\nlatency_ms: 50\ntotal_kb: 300\naccuracy_drop: 0.02\n"


def edgeopt(*args: object) -> float:
    """Run `edgeopt ARGS`; its wall time in seconds (exits on failure)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "edgeopt.cli", *map(str, args)], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"edgeopt {args[0]} failed:\n{proc.stderr[-3000:]}")
    return seconds


def task_seconds(log: Path) -> dict[str, float]:
    """Task name -> summed seconds over its runs, from a kfp.local log."""
    started: dict[str, list[float]] = defaultdict(list)
    total: dict[str, float] = defaultdict(float)
    for line in log.read_text().splitlines():
        m = STAMP.match(line)
        if not m:
            continue
        t = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
        if m.group(4):
            started[m.group(4)].append(t)
        else:
            total[m.group(5)] += t - started[m.group(5)].pop(0)
    return dict(total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,2,4,8", help="candidate counts to sweep (default 1,2,4,8)")
    parser.add_argument("--keep", type=Path, help="keep the runs in this folder")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    root = args.keep or Path(tempfile.mkdtemp(prefix="edgeopt-bench-sweep-"))
    root.mkdir(parents=True, exist_ok=True)

    from edgeopt.common.datasets import save_dataset
    from edgeopt.demo.digits import digits_dataset, train_digits_cnn
    from edgeopt.local.sweep import DEMO_DEFAULTS, DEMO_TARGETS

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    data = digits_dataset()
    save_dataset(root / "digits.npz", data)
    train_digits_cnn(data).save(root / "digits_cnn.keras")
    (root / "sweep-targets.yaml").write_text(DEMO_TARGETS)
    (root / "run-targets.yaml").write_text(RUN_TARGETS)
    model, npz = root / "digits_cnn.keras", root / "digits.npz"

    # 1. the reference: one whole edge-optimize run with the demo's settings
    optimize = edgeopt("run", "--model", model, "--data", npz, "--targets", root / "run-targets.yaml",
                       "--output", root / "optimize", "--distill", "--distill-epochs", 20, "--prune-epochs", 4)
    print(f"edge-optimize, one run: {optimize:.1f} s wall")

    # the demo's grid, as `edgeopt sweep --demo` plans it
    proc = subprocess.run([sys.executable, "-m", "edgeopt.cli", "sweep", "--model", str(model), "--data", str(npz),
                           "--targets", str(root / "sweep-targets.yaml"), "--plan-only", "--candidates",
                           str(max(counts)), "--output", str(root / "plan")], capture_output=True, text=True, check=True)
    grid = json.loads(proc.stdout)

    walls, shared_share, per_candidate = {}, {}, {}
    for n in counts:
        recipes = root / f"recipes-{n}.json"
        recipes.write_text(json.dumps({"recipes": grid[:n], "defaults": DEMO_DEFAULTS}))
        walls[n] = edgeopt("sweep", "--model", model, "--data", npz, "--targets", root / "sweep-targets.yaml",
                           "--recipes", recipes, "--output", root / f"sweep-{n}")
        tasks = task_seconds(root / f"sweep-{n}" / "pipeline.log")
        own = sum(tasks.get(t, 0.0) for t in CANDIDATE_TASKS)
        shared = sum(v for t, v in tasks.items() if t not in CANDIDATE_TASKS)
        per_candidate[n] = own / n
        shared_share[n] = shared / (shared + own)
        print(f"sweep of {n}: {walls[n]:.1f} s wall, {walls[n] / n:.1f} s per candidate; a candidate's tasks "
              f"{own / n:.1f} s on average; shared tasks {shared:.1f} s = {shared_share[n]:.0%} of all task time")

    low, high = min(counts), max(counts)
    marginal = (walls[high] - walls[low]) / (high - low)
    print(f"\none more candidate: {marginal:.1f} s wall = {marginal / optimize:.2f}x a whole edge-optimize run "
          f"(target <= 0.6x)")
    print(f"{high}-candidate demo sweep: {walls[high]:.0f} s = {walls[high] / 60:.1f} min (target <= 8 min on 2 cores)")
    growth = ", ".join(f"{n}: {walls[n] / walls[low]:.2f}" for n in counts)
    print(f"wall time relative to {low} candidates: {growth}")

    # a cluster: the shared work in sequence, then ceil(n / N) rounds of one candidate chain each (every
    # candidate on its own pod, alone on its cores; pod start-up and image pulls not counted)
    tasks = task_seconds(root / f"sweep-{high}" / "pipeline.log")
    shared = sum(v for t, v in tasks.items() if t not in CANDIDATE_TASKS)
    chain = per_candidate[low]  # one candidate alone (with --counts starting at 1): no other candidate running
    for workers in (1, 2, 4, 8):
        print(f"cluster estimate, {high} candidates on {workers} worker(s): "
              f"{shared + math.ceil(high / workers) * chain:.0f} s")
    print(f"\nruns kept in {root}" if args.keep else "")


if __name__ == "__main__":
    main()
