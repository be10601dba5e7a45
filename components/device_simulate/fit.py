"""Fit the cost model to the MLPerf Tiny measurements and state its leave-one-out error.

    python -m edgeopt.device_simulate.fit [--refdata DIR] [--models DIR] [--check]

Inputs: `mlperf_tiny_calibration_m4f_120mhz.csv` (latency and energy of the four MLPerf Tiny
benchmarks on the NUCLEO-L4R5ZI, Cortex-M4F @ 120 MHz, for several inference stacks) and the four
official int8 models. Outputs, next to this module: `calibration.yaml` (the constants the simulator
reads), `CALIBRATION.md` (the method and the leave-one-out tables) and the summary table in
`README.md`. `--check` refits, writes nothing, and fails if any of the three differs.

Model. Rows of one framework are one *stack* (several submissions of the same stack are merged by
their median). Predicted cycles of benchmark m on stack s, summed over its operators:

    cycles = overhead_s + a_s * sum_k c_k * work_k  (scaled terms)  + sum_k c_k * work_k  (unscaled terms)

with work = MACs per kernel class, activation bytes per kernel group, and the weight bytes the fully
connected kernel streams from flash. The constants `c` are shared by the CMSIS-NN-class stacks
(they run the same CMSIS-NN kernels) and each stack has one software scale `a_s`. Unscaled: the
flash streaming (hardware) and, on CMSIS-NN-class stacks, the fully connected MACs (one CMSIS-NN
kernel; its measured cost agrees across these stacks within about 15 %, while their convolutions
differ by 2x). Other stacks keep the shared constants and fit only `a_s`; their own fully connected
kernel is scaled by `a_s` / (mean CMSIS-NN-class scale). The constants are fitted in log space
(least squares on log latency) with a weak pull towards the instruction-count prior `PRIOR`.
Stacks whose compiler skips all-zero filters (`STACKS[...]["skips_zero_filters"]`) only pay for the
MACs of filters with a non-zero weight; the VWW model has 42 % of its MACs in all-zero filters, so
this decides their VWW latency.

Leave-one-out: each row (stack, benchmark) is predicted by a fit on all other rows. The bare model
(one cycles-per-MAC constant per stack, the geometric mean over the stack's other rows) goes
through the same protocol.
"""

import argparse
import csv
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from edgeopt.device_simulate.costmodel import KERNEL_CLASSES, MAC_CLASSES, OpWork, analyse
from edgeopt.device_simulate.tflite_model import read_tflite

HERE = Path(__file__).resolve().parent
README_FILE = HERE / "README.md"
README_START, README_END = "<!-- loo-summary:start -->", "<!-- loo-summary:end -->"
SENSITIVITY = (0.01, 0.03, 0.1, 0.3, 1.0)  # PRIOR_WEIGHT values whose leave-one-out CALIBRATION.md shows
REPO_SHARED = HERE.parents[1].parent / "shared"
CALIBRATION_FILE = HERE / "calibration.yaml"
REPORT_FILE = HERE / "CALIBRATION.md"
CLOCK_MHZ = 120.0
BENCHMARKS = {"ad": "ad/autoencoder_toycar_int8_reference.tflite",
              "ic": "ic/resnet8_int8_reference.tflite",
              "kws": "kws/dscnn_kws_int8_reference.tflite",
              "vww": "vww/mobilenet_v1_025_vww96_int8_reference.tflite"}

# Stacks by the start of their `framework` column: key, CMSIS-NN class, whether the compiler skips
# all-zero filters, per-operator overhead (cycles; ahead-of-time compilers call kernels directly).
STACKS = [
    ("TFLite Micro v2.3.1 + CMSIS-NN", dict(key="tflm-2.3.1-cmsis-nn", cmsis_nn=True, skips_zero_filters=False,
                                            overhead=1000)),
    ("microTVM (CMSIS-NN", dict(key="microtvm-cmsis-nn", cmsis_nn=True, skips_zero_filters=False, overhead=200)),
    ("ONNC + CMSIS-NN (mbed-os)", dict(key="onnc-cmsis-nn-mbed", cmsis_nn=True, skips_zero_filters=True,
                                       overhead=200)),
    ("ONNC + CMSIS-NN (Zephyr)", dict(key="onnc-cmsis-nn-zephyr", cmsis_nn=True, skips_zero_filters=True,
                                      overhead=200)),
    ("microTVM (native", dict(key="microtvm-native", cmsis_nn=False, skips_zero_filters=False, overhead=200)),
    ("X-CUBE-AI v7", dict(key="x-cube-ai-7", cmsis_nn=False, skips_zero_filters=False, overhead=200)),
    ("X-CUBE-AI v8.0", dict(key="x-cube-ai-8.0", cmsis_nn=False, skips_zero_filters=False, overhead=200)),
    ("X-CUBE-AI v8.1", dict(key="x-cube-ai-8.1", cmsis_nn=False, skips_zero_filters=True, overhead=200)),
    ("X-CUBE-AI v9", dict(key="x-cube-ai-9", cmsis_nn=False, skips_zero_filters=True, overhead=200)),
    ("X-CUBE-AI v10", dict(key="x-cube-ai-10", cmsis_nn=False, skips_zero_filters=True, overhead=200)),
    ("Plumerai Inference Engine 2023", dict(key="plumerai-2023", cmsis_nn=False, skips_zero_filters=True,
                                            overhead=200)),
    ("Plumerai Inference Engine", dict(key="plumerai-2022", cmsis_nn=False, skips_zero_filters=False,
                                       overhead=200)),
    ("Bosch HALE 1.0.175 [int8_max_performance]", None),  # one benchmark only
    ("Bosch HALE 1.0.175 [int8]", dict(key="bosch-hale-1.0.175", cmsis_nn=False, skips_zero_filters=False,
                                       overhead=200)),
    ("Bosch HALE 1.0", dict(key="bosch-hale-1.0", cmsis_nn=False, skips_zero_filters=False, overhead=200)),
]

# Runtime profiles built from the fitted stacks (see README.md for why).
PROFILES = {
    "tflm-cmsis-nn": dict(sources=["onnc-cmsis-nn-mbed", "onnc-cmsis-nn-zephyr", "microtvm-cmsis-nn"],
                          overhead=1000,
                          description="TFLite Micro with current CMSIS-NN kernels: the CMSIS-NN-class stacks "
                                      "of 2022-2023 (ONNC, microTVM), without zero-filter skipping, plus the "
                                      "TFLM interpreter's per-operator overhead"),
    "tflm-v2.3.1-cmsis-nn": dict(sources=["tflm-2.3.1-cmsis-nn"], overhead=1000,
                                 description="TFLite Micro v2.3.1 with the CMSIS-NN of 2020: the MLPerf Tiny "
                                             "v0.5 reference implementation"),
}

# Instruction-count prior for the shared constants on a Cortex-M4 (CMSIS-NN 6.x inner loops at zero
# wait states): cycles per MAC and per activation byte (inputs read + outputs written), and cycles per
# weight byte the fully connected kernel streams from flash (5 wait states at 120 MHz, 64-bit reads).
PRIOR = {"conv.mac": 1.6, "conv_1x1.mac": 1.4, "depthwise.mac": 2.0, "fully_connected.mac": 1.6,
         "mac_ops.byte": 6.0, "elementwise.byte": 5.0, "pool.byte": 1.5, "softmax.byte": 40.0,
         "data_movement.byte": 0.5, "weight_stream.byte": 1.0}
HARDWARE = {"weight_stream.byte"}  # set by the board's memory, not scaled by a stack's software efficiency
SHARED_KERNEL = {"fully_connected.mac"}  # the same CMSIS-NN kernel in every CMSIS-NN-class stack
PRIOR_WEIGHT = 0.1  # per squared log-unit, against 1 per squared log residual of a row
PARAMS = list(PRIOR)


@dataclass(frozen=True)
class Row:
    """One measured (stack, benchmark) latency, merged over submissions."""

    stack: str
    benchmark: str
    latency_ms: float
    energy_uj: float | None
    submissions: int


def stack_of(framework: str) -> dict | None:
    """The STACKS entry of a `framework` value, or None for frameworks the fit leaves out."""
    for prefix, spec in STACKS:
        if framework.startswith(prefix):
            return spec
    return None


def load_rows(csv_path: Path) -> list[Row]:
    """Calibration rows merged per (stack, benchmark): median latency and energy."""
    groups: dict[tuple[str, str], list[dict]] = {}
    with open(csv_path, newline="") as fh:
        for rec in csv.DictReader(fh):
            spec = stack_of(rec["framework"])
            if spec and float(rec["clock_mhz"]) == CLOCK_MHZ and rec["core"] == "Cortex-M4F":
                groups.setdefault((spec["key"], rec["benchmark"]), []).append(rec)
    rows = []
    for (stack, bench), recs in sorted(groups.items()):
        energies = [float(r["energy_uj"]) for r in recs if r["energy_uj"]]
        rows.append(Row(stack, bench, statistics.median(float(r["latency_ms"]) for r in recs),
                        statistics.median(energies) if energies else None, len(recs)))
    counts = {}
    for row in rows:
        counts[row.stack] = counts.get(row.stack, 0) + 1
    return [row for row in rows if counts[row.stack] >= 3]  # fewer rows leave nothing to test


def stack_spec(key: str) -> dict:
    return next(spec for _, spec in STACKS if spec and spec["key"] == key)


class Features:
    """Per benchmark: work summed per (kernel class, term), with and without all-zero filters."""

    def __init__(self, works: dict[str, list[OpWork]]) -> None:
        self.works = works
        self.ops = {b: len(w) for b, w in works.items()}

    def terms(self, bench: str, skip_zero: bool) -> dict[str, float]:
        """Work per parameter name of PRIOR; `skip_zero` leaves out the MACs of all-zero filters."""
        out = {name: 0.0 for name in PARAMS}
        for w in self.works[bench]:
            if w.kernel in MAC_CLASSES:
                out[f"{w.kernel}.mac"] += w.macs - (w.zero_filter_macs if skip_zero else 0)
                out["mac_ops.byte"] += w.act_bytes
                if w.kernel == "fully_connected":
                    out["weight_stream.byte"] += w.weight_bytes
            elif f"{w.kernel}.byte" in PRIOR:
                out[f"{w.kernel}.byte"] += w.act_bytes
            else:
                out["elementwise.byte"] += 2 * w.act_bytes
        return out

    def total_macs(self, bench: str) -> int:
        return sum(w.macs for w in self.works[bench])


def load_features(models_dir: Path) -> Features:
    works = {}
    for bench, rel in BENCHMARKS.items():
        path = models_dir / rel
        works[bench] = analyse(read_tflite(path.read_bytes(), str(path)))
    return Features(works)


class Fit:
    """Shared constants (log) and per-stack software scales (log) fitted to rows.

    With `theta` given, the shared constants are held fixed and only the stacks' scales are fitted
    (used for stacks outside the CMSIS-NN class, whose own fully connected kernel is taken to be as
    much faster than CMSIS-NN's as the rest of their kernels: its cost is scaled by a_s / `cmsis_scale`,
    the mean scale of the CMSIS-NN-class stacks).
    """

    def __init__(self, features: Features, rows: list[Row], theta: np.ndarray | None = None,
                 cmsis_scale: float = 1.0, prior_weight: float = PRIOR_WEIGHT) -> None:
        self.features = features
        self.rows = rows
        self.stacks = sorted({r.stack for r in rows})
        self.fixed = theta is not None
        self.prior = np.log(np.array([PRIOR[p] for p in PARAMS]))
        self.theta = self.prior.copy() if theta is None else theta
        self.log_a = np.zeros(len(self.stacks))
        self.cmsis_scale = cmsis_scale
        self.prior_weight = prior_weight
        self._terms, self._over, self._scaled = self._design(rows)
        self._row_stack = np.array([self.stacks.index(r.stack) for r in rows], dtype=int)
        self._target = np.log([r.latency_ms * CLOCK_MHZ * 1e3 for r in rows])
        self._solve()

    def constants(self) -> dict[str, float]:
        return {p: float(v) for p, v in zip(PARAMS, np.exp(self.theta))}

    def scale(self, stack: str) -> float:
        return float(np.exp(self.log_a[self.stacks.index(stack)]))

    def cycles(self, stack: str, bench: str) -> float:
        """Predicted cycles of `bench` on a fitted `stack`."""
        terms, over, scaled = self._design([Row(stack, bench, 0.0, None, 0)])
        c = np.exp(self.theta) * terms[0]
        return float(over[0] + self.scale(stack) * c @ scaled[0] + c @ (scaled[0] == 0))

    def _design(self, rows: list[Row]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Work per row and parameter, overhead cycles per row, and the factor of the stack's scale on
        each term (0: the term is not scaled)."""
        terms, over, scaled = [], [], []
        for row in rows:
            spec = stack_spec(row.stack)
            t = self.features.terms(row.benchmark, spec["skips_zero_filters"])
            terms.append([t[p] for p in PARAMS])
            over.append(spec["overhead"] * self.features.ops[row.benchmark])
            scaled.append([0.0 if p in HARDWARE or (p in SHARED_KERNEL and spec["cmsis_nn"])
                           else 1.0 / self.cmsis_scale if p in SHARED_KERNEL else 1.0 for p in PARAMS])
        return np.array(terms, float), np.array(over, float), np.array(scaled, float)

    def _residuals_and_jacobian(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n, s = (0 if self.fixed else len(PARAMS)), len(self.stacks)
        theta = self.theta if self.fixed else x[:n]
        a = np.exp(x[n:])[self._row_stack]
        c = np.exp(theta)
        weights = np.where(self._scaled > 0, a[:, None] * self._scaled, 1.0)  # per row and parameter
        parts = self._terms * c[None, :] * weights
        pred = self._over + parts.sum(axis=1)
        jac_a = np.zeros((len(self.rows), s))
        jac_a[np.arange(len(self.rows)), self._row_stack] = (parts * (self._scaled > 0)).sum(axis=1) / pred
        res = np.log(pred) - self._target
        if self.fixed:
            return res, jac_a
        jac = np.hstack([parts / pred[:, None], jac_a])
        penalty = math.sqrt(self.prior_weight)
        res = np.concatenate([res, penalty * (theta - self.prior)])
        jac = np.vstack([jac, np.hstack([penalty * np.eye(n), np.zeros((n, s))])])
        return res, jac

    def _solve(self) -> None:
        """Levenberg-Marquardt on the log residuals."""
        x = np.concatenate(([] if self.fixed else [self.theta]) + [self.log_a])
        r, jac = self._residuals_and_jacobian(x)
        cost, lam = float(r @ r), 1e-3
        for _ in range(500):
            g, h = jac.T @ r, jac.T @ jac
            dx = np.linalg.solve(h + lam * np.diag(np.diag(h) + 1e-12), -g)
            r_new, jac_new = self._residuals_and_jacobian(x + dx)
            if float(r_new @ r_new) < cost:
                x, r, jac, cost, lam = x + dx, r_new, jac_new, float(r_new @ r_new), max(lam / 3, 1e-12)
                if np.max(np.abs(dx)) < 1e-10:
                    break
            else:
                lam *= 4
                if lam > 1e10:
                    break
        n = 0 if self.fixed else len(PARAMS)
        if not self.fixed:
            self.theta = x[:n]
        self.log_a = x[n:]


@dataclass(frozen=True)
class Prediction:
    """A leave-one-out prediction of one row, by the cost model and by the bare MACs model."""

    row: Row
    predicted_ms: float
    bare_ms: float

    @property
    def error(self) -> float:
        return self.predicted_ms / self.row.latency_ms - 1

    @property
    def bare_error(self) -> float:
        return self.bare_ms / self.row.latency_ms - 1


def cmsis_rows(rows: list[Row]) -> list[Row]:
    return [r for r in rows if stack_spec(r.stack)["cmsis_nn"]]


def leave_one_out(features: Features, rows: list[Row], prior_weight: float = PRIOR_WEIGHT) -> list[Prediction]:
    """Predict every row from a fit without it: CMSIS-NN-class rows refit everything, other
    stacks keep the shared constants of the full CMSIS-NN-class fit and refit their own scales."""
    cms = cmsis_rows(rows)
    full = Fit(features, cms, prior_weight=prior_weight)
    mean_scale = math.exp(statistics.fmean(full.log_a))
    out = []
    for row in rows:
        others = [r for r in rows if r != row]
        if row in cms:
            fit = Fit(features, [r for r in cms if r != row], prior_weight=prior_weight)
        else:
            fit = Fit(features, [r for r in others if r.stack == row.stack], theta=full.theta,
                      cmsis_scale=mean_scale)
        predicted = fit.cycles(row.stack, row.benchmark) / (CLOCK_MHZ * 1e3)
        out.append(Prediction(row, predicted, bare_prediction(features, others, row)))
    return out


def bare_prediction(features: Features, train: list[Row], row: Row) -> float:
    """The bare model: MACs x the geometric mean cycles/MAC of the stack's training rows (ms)."""
    per_mac = [math.log(r.latency_ms * CLOCK_MHZ * 1e3 / features.total_macs(r.benchmark))
               for r in train if r.stack == row.stack]
    return math.exp(statistics.fmean(per_mac)) * features.total_macs(row.benchmark) / (CLOCK_MHZ * 1e3)


def summary(errors: list[float]) -> dict[str, float]:
    """Median and max absolute error in percent, and the row count."""
    absolute = [abs(e) * 100 for e in errors]
    return {"median_abs_pct": round(statistics.median(absolute), 1), "max_abs_pct": round(max(absolute), 1),
            "rows": len(absolute)}


def profile_constants(fit: Fit, sources: list[str], overhead: float) -> dict:
    """A runtime profile's kernel constants: shared constants times the sources' mean software scale."""
    a = math.exp(statistics.fmean(math.log(fit.scale(s)) for s in sources))
    c = fit.constants()
    kernels = {k: {"mac": round(c[f"{k}.mac"] * a, 4), "byte": round(c["mac_ops.byte"] * a, 4), "weight": 0.0}
               for k in MAC_CLASSES}
    kernels["fully_connected"]["mac"] = round(c["fully_connected.mac"], 4)  # the shared CMSIS-NN FC kernel
    kernels["fully_connected"]["weight"] = round(c["weight_stream.byte"], 4)
    for k in ("elementwise", "pool", "softmax", "data_movement"):
        kernels[k] = {"mac": 0.0, "byte": round(c[f"{k}.byte"] * a, 4), "weight": 0.0}
    kernels["other"] = {"mac": 0.0, "byte": round(2 * c["elementwise.byte"] * a, 4), "weight": 0.0}
    assert set(kernels) == set(KERNEL_CLASSES)
    return {"overhead": overhead, "kernels": kernels, "software_scale": round(a, 4)}


def energy_model(rows: list[Row], predictions: list[Prediction]) -> dict:
    """Average power of the board while inferring (E / T of the CMSIS-NN-class rows with energy),
    and the leave-one-out error of energy = power (other rows) x leave-one-out latency."""
    measured = [r for r in cmsis_rows(rows) if r.energy_uj]
    power = {r: r.energy_uj / r.latency_ms for r in measured}  # uJ/ms = mW
    by_row = {p.row: p for p in predictions}
    errors = []
    for row in measured:
        others = statistics.median(v for r, v in power.items() if r != row)
        errors.append(others * by_row[row].predicted_ms / row.energy_uj - 1)
    values = sorted(power.values())
    return {"board": "NUCLEO-L4R5ZI", "clock_mhz": CLOCK_MHZ, "power_mw": round(statistics.median(values), 2),
            "power_range_mw": [round(values[0], 2), round(values[-1], 2)], **summary(errors)}


def calibrate(refdata: Path, models: Path) -> tuple[dict, str]:
    """Fit, run the leave-one-out, and return (calibration.yaml content, CALIBRATION.md text)."""
    rows = load_rows(refdata / "mlperf_tiny_calibration_m4f_120mhz.csv")
    features = load_features(models)
    full = Fit(features, cmsis_rows(rows))
    predictions = leave_one_out(features, rows)
    cms = [p for p in predictions if stack_spec(p.row.stack)["cmsis_nn"]]
    other = [p for p in predictions if not stack_spec(p.row.stack)["cmsis_nn"]]
    profiles = {}
    for name, spec in PROFILES.items():
        source_preds = [p for p in cms if p.row.stack in spec["sources"]]
        profiles[name] = {"description": spec["description"], "sources": spec["sources"],
                          **profile_constants(full, spec["sources"], spec["overhead"]),
                          "loo": summary([p.error for p in source_preds])}
    calibration = {
        "reference": {"core": "cortex-m4f", "clock_mhz": CLOCK_MHZ, "board": "NUCLEO-L4R5ZI",
                      "data": "mlperf_tiny_calibration_m4f_120mhz.csv"},
        "profiles": profiles,
        "energy": energy_model(rows, predictions),
        "loo": {"cmsis_nn_class": summary([p.error for p in cms]),
                "cmsis_nn_class_bare": summary([p.bare_error for p in cms]),
                "other_stacks": summary([p.error for p in other]),
                "other_stacks_bare": summary([p.bare_error for p in other])},
    }
    sensitivity = {}
    for weight in SENSITIVITY:
        preds = leave_one_out(features, rows, weight) if weight != PRIOR_WEIGHT else predictions
        sensitivity[weight] = summary([p.error for p in preds if stack_spec(p.row.stack)["cmsis_nn"]])
    return calibration, render_report(calibration, full, predictions, features, sensitivity)


def render_loo_summary(calibration: dict) -> str:
    """The leave-one-out summary table quoted in README.md."""
    loo = calibration["loo"]

    def row(name: str, key: str) -> str:
        mine, bare = loo[key], loo[f"{key}_bare"]
        return (f"| {name} ({mine['rows']} rows) | {mine['median_abs_pct']} % | {mine['max_abs_pct']} % | "
                f"{bare['median_abs_pct']} % | {bare['max_abs_pct']} % |")

    return "\n".join(["| leave-one-out latency error | cost model: median abs | max abs | bare MACs model: median "
                      "abs | max abs |", "| --- | --- | --- | --- | --- |",
                      row("CMSIS-NN-class stacks", "cmsis_nn_class"), row("other stacks", "other_stacks")])


def render_report(calibration: dict, full: Fit, predictions: list[Prediction], features: Features,
                  sensitivity: dict[float, dict]) -> str:
    """CALIBRATION.md: what was fitted and the leave-one-out tables."""
    lines = ["# Device-simulate calibration", "",
             "Written by `python -m edgeopt.device_simulate.fit` from `refdata/"
             "mlperf_tiny_calibration_m4f_120mhz.csv` of the shared data folder (MLPerf Tiny, NUCLEO-L4R5ZI, Cortex-M4F @ 120 MHz) and "
             "the four official int8 MLPerf Tiny models. Do not edit by hand; re-run the script.", "",
             "## Leave-one-out latency error", "",
             "Each row (stack, benchmark) is predicted by a fit that did not see it. *Bare* is one cycles-per-MAC "
             "constant per stack (geometric mean of the stack's other rows).", "",
             render_loo_summary(calibration), "",
             "| stack | benchmark | CMSIS-NN class | measured ms | predicted ms | error | bare ms | bare error |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for p in sorted(predictions, key=lambda p: (not stack_spec(p.row.stack)["cmsis_nn"], p.row.stack,
                                                  p.row.benchmark)):
        lines.append(f"| {p.row.stack} | {p.row.benchmark} | {'yes' if stack_spec(p.row.stack)['cmsis_nn'] else 'no'} "
                     f"| {p.row.latency_ms:.3f} | {p.predicted_ms:.3f} | {p.error:+.1%} | {p.bare_ms:.3f} | "
                     f"{p.bare_error:+.1%} |")
    lines += ["", f"Sensitivity to the prior's weight (used: {PRIOR_WEIGHT:g}), CMSIS-NN-class rows:", "",
              "| prior weight | median abs error | max abs error |", "| --- | --- | --- |"]
    lines += [f"| {w:g} | {v['median_abs_pct']} % | {v['max_abs_pct']} % |" for w, v in sensitivity.items()]
    lines += ["", "## Fitted constants (all CMSIS-NN-class rows)", "",
              "Shared constants on the Cortex-M4F, before the stack's software scale (cycles per MAC, per "
              "activation byte, or per weight byte streamed; `mac_ops.byte` is the per-byte cost of convolution, "
              "depthwise and fully connected). The stack's scale multiplies all but `weight_stream.byte` (flash, "
              "hardware) and, on CMSIS-NN-class stacks, `fully_connected.mac` (the same CMSIS-NN kernel in all of "
              "them). Constants still at their prior are ones the four benchmarks barely exercise (elementwise, "
              "pooling, softmax, data movement take under 3 % of any benchmark's time): the data does not "
              "determine them.", "",
              "| constant | prior | fitted |", "| --- | --- | --- |"]
    lines += [f"| {name} | {PRIOR[name]:g} | {value:.3f} |" for name, value in full.constants().items()]
    lines += ["", "| stack | software scale | skips all-zero filters | overhead cycles/op |",
              "| --- | --- | --- | --- |"]
    for stack in full.stacks:
        spec = stack_spec(stack)
        lines.append(f"| {stack} | {full.scale(stack):.3f} | {'yes' if spec['skips_zero_filters'] else 'no'} | "
                     f"{spec['overhead']} |")
    lines += ["", "## Runtime profiles", ""]
    for name, prof in calibration["profiles"].items():
        lines += [f"### {name}", "", prof["description"] + ".", "",
                  f"Sources: {', '.join(prof['sources'])}; leave-one-out on their rows: median "
                  f"{prof['loo']['median_abs_pct']} %, max {prof['loo']['max_abs_pct']} %.", "",
                  "| kernel class | cycles/MAC | cycles/activation byte | cycles/weight byte |",
                  "| --- | --- | --- | --- |"]
        lines += [f"| {k} | {v['mac']:g} | {v['byte']:g} | {v['weight']:g} |" for k, v in prof["kernels"].items()]
        lines += [f"| overhead per operator | {prof['overhead']} cycles | |", ""]
    energy = calibration["energy"]
    lines += ["## Energy", "",
              f"Average board power while inferring, E / T over the {energy['rows']} CMSIS-NN-class rows with an "
              f"energy measurement: median {energy['power_mw']} mW (range {energy['power_range_mw'][0]} to "
              f"{energy['power_range_mw'][1]} mW). Energy estimate = power x predicted latency; leave-one-out "
              f"error (power of the other rows x leave-one-out latency): median {energy['median_abs_pct']} %, max "
              f"{energy['max_abs_pct']} %. Only for the {energy['board']} at {energy['clock_mhz']:g} MHz.", "",
              "## MAC counts", "", "| benchmark | MACs | MACs in all-zero filters |", "| --- | --- | --- |"]
    for bench in BENCHMARKS:
        works = features.works[bench]
        lines.append(f"| {bench} | {sum(w.macs for w in works):,} | {sum(w.zero_filter_macs for w in works):,} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgeopt.device_simulate.fit", description=__doc__.split("\n")[0])
    parser.add_argument("--refdata", type=Path, default=REPO_SHARED / "refdata", help="folder of the calibration CSV")
    parser.add_argument("--models", type=Path, default=REPO_SHARED / "models" / "mlperf-tiny",
                        help="folder of the MLPerf Tiny models")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; fail if calibration.yaml, CALIBRATION.md or README.md's summary differ")
    args = parser.parse_args(argv)
    calibration, report = calibrate(args.refdata, args.models)
    text = "# Written by `python -m edgeopt.device_simulate.fit`; do not edit by hand.\n" + \
        yaml.safe_dump(calibration, sort_keys=False)
    readme = _with_summary(README_FILE.read_text(), render_loo_summary(calibration))
    if args.check:
        stale = [f.name for f, new in ((CALIBRATION_FILE, text), (REPORT_FILE, report), (README_FILE, readme))
                 if not f.is_file() or f.read_text() != new]
        print(f"out of date: {', '.join(stale)}" if stale else "calibration is up to date")
        return 1 if stale else 0
    CALIBRATION_FILE.write_text(text)
    REPORT_FILE.write_text(report)
    README_FILE.write_text(readme)
    mine, bare = calibration["loo"]["cmsis_nn_class"], calibration["loo"]["cmsis_nn_class_bare"]
    print(f"wrote {CALIBRATION_FILE.name}, {REPORT_FILE.name}, {README_FILE.name}; leave-one-out "
          f"(CMSIS-NN class): median {mine['median_abs_pct']} %, max {mine['max_abs_pct']} % "
          f"(bare MACs model: {bare['median_abs_pct']} %, {bare['max_abs_pct']} %)")
    return 0


def _with_summary(readme: str, table: str) -> str:
    """README text with the block between the summary markers replaced by `table`."""
    start, end = readme.index(README_START) + len(README_START), readme.index(README_END)
    return readme[:start] + "\n" + table + "\n" + readme[end:]


if __name__ == "__main__":
    sys.exit(main())
