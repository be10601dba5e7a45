"""Latency of a model on a core with a runtime: per-layer cycles and their totals.

An operator the runtime has an optimized kernel for is priced with the runtime's coefficients on
the core (calibration.coefficients); any other runs the portable reference kernel and is priced
with the `tflm-reference` coefficients. float32 operators run reference kernels (8x in software
float without an FPU), int16 activations cost 2x the int8 kernel: both uncalibrated and said so in
the layer's note. `work_totals` sums the work per term the same way, which is how the fit prices
its rows (`total_cycles(work_totals(...)) == sum of layer_cycles` for int8 models).
"""

from edgeopt.device_simulate.costmodel import OpWork, cycles, terms
from edgeopt.device_simulate.runtimes import Runtime

INT16_FACTOR = 2.0  # int16 activations: CMSIS-NN s16 kernels (64-bit accumulation), uncalibrated
SOFT_FLOAT_FACTOR = 8.0  # float32 without an FPU: software float, about 8x the FPU's cycles


def layer_cycles(work: OpWork, rt: Runtime, has_fpu: bool, coeffs: dict[str, float],
                 reference: dict[str, float]) -> tuple[float, str]:
    """Cycles of one operator and a note when it is not costed by the runtime's own int8 kernels."""
    effects = rt.effects
    own = terms(work, effects.skips_zero_filters, effects.fusion)
    plain = terms(work)
    if work.dtype == "float32":
        factor = 1.0 if has_fpu else SOFT_FLOAT_FACTOR
        return cycles(plain, reference) * factor, \
            "float32: reference kernel" + (", software float" if factor > 1 else "") + " (uncalibrated)"
    if work.opcode not in rt.optimized_ops:
        note = "reference kernel" if rt.optimized_ops else ""
        if work.kernel == "other":
            note = "no cost class for this operator: costed as 2x elementwise (uncalibrated)"
        return cycles(plain, reference), note
    if work.dtype == "int16":
        return cycles(own, coeffs) * INT16_FACTOR, "int16 activations: 2x the int8 cost (uncalibrated)"
    note = "skips its all-zero filters" if effects.skips_zero_filters and work.zero_filter_macs else ""
    return cycles(own, coeffs), note


def work_totals(works: list[OpWork], rt: Runtime) -> tuple[dict[str, float], dict[str, float]]:
    """The int8 work of a model per term: (run by the runtime's kernels, run by reference kernels)."""
    own: dict[str, float] = {}
    fallback: dict[str, float] = {}
    for work in works:
        optimized = work.opcode in rt.optimized_ops
        parts = terms(work, rt.effects.skips_zero_filters, rt.effects.fusion) if optimized else terms(work)
        into = own if optimized else fallback
        for term, amount in parts.items():
            into[term] = into.get(term, 0.0) + amount
    return own, fallback


def total_cycles(totals: tuple[dict[str, float], dict[str, float]], coeffs: dict[str, float],
                 reference: dict[str, float]) -> float:
    """Cycles of a model from its `work_totals`."""
    return cycles(totals[0], coeffs) + cycles(totals[1], reference)
