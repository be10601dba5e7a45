"""Per-operator work and its cycle cost on a Cortex-M core.

Every operator is put in a kernel class and measured by its work (`terms`): multiply-accumulates
per MAC kind (`matmul` for convolutions via im2col and 1x1 convolutions, `depthwise`,
`fully_connected`), the im2col elements a convolution builds, the activation bytes a MAC operator
reads and writes (input and output priced apart: the output is requantised), the bytes other
operators touch, and one operator invocation. Its cycles on a core with a runtime are

    cycles = sum over terms of work[term] * constant[term] * ratio[core, term] * scale[runtime, core]

except `overhead`, which is the runtime's cycles per invocation times the core's scalar ratio.
The constants are the reference core's (Cortex-M4F), shared by every runtime and fitted with the
runtimes' scales to MLPerf Tiny measurements (scripts/simulator/fit.py); the ratios are the
core's architecture-derived cycle ratios (hardware.yaml); the scale is the runtime's software
efficiency times the fitted per-core corrections (calibration.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the flatbuffer schema (tflite-micro) is needed only to cost a model
    from edgeopt.device_simulate.tflite_model import Operator, TfliteGraph


KERNEL_CLASSES = ("conv", "conv_1x1", "depthwise", "fully_connected", "elementwise", "pool", "softmax",
                  "data_movement", "other")
MAC_CLASSES = ("conv", "conv_1x1", "depthwise", "fully_connected")

_ELEMENTWISE = {"ADD", "SUB", "MUL", "DIV", "SQUARED_DIFFERENCE", "MAXIMUM", "MINIMUM", "LOGISTIC", "TANH",
                "RELU", "RELU6", "RELU_N1_TO_1", "LEAKY_RELU", "HARD_SWISH", "PRELU", "ELU", "QUANTIZE",
                "DEQUANTIZE", "ABS", "NEG", "EXP", "LOG", "SQRT", "RSQRT", "SQUARE", "SIN", "COS", "FLOOR",
                "CEIL", "ROUND", "CAST", "ADD_N", "SELECT_V2", "EQUAL", "NOT_EQUAL", "GREATER",
                "GREATER_EQUAL", "LESS", "LESS_EQUAL", "LOGICAL_AND", "LOGICAL_OR", "LOGICAL_NOT",
                "FLOOR_DIV", "FLOOR_MOD", "ZEROS_LIKE", "FILL", "L2_NORMALIZATION"}
_POOL = {"AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D", "MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN",
         "REDUCE_ALL", "ARG_MAX", "ARG_MIN"}
_SOFTMAX = {"SOFTMAX", "LOG_SOFTMAX"}
_DATA_MOVEMENT = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS", "CONCATENATION", "PAD", "PADV2", "MIRROR_PAD",
                  "TRANSPOSE", "STRIDED_SLICE", "SLICE", "SPLIT", "SPLIT_V", "PACK", "UNPACK", "GATHER",
                  "GATHER_ND", "RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR", "DEPTH_TO_SPACE",
                  "SPACE_TO_DEPTH", "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND", "BROADCAST_TO", "SHAPE",
                  "REVERSE_V2", "TILE"}


@dataclass(frozen=True)
class OpWork:
    """The work of one operator, independent of the target."""

    index: int
    opcode: str
    kernel: str  # one of KERNEL_CLASSES
    macs: int
    act_bytes: int  # non-constant input bytes read + output bytes written
    weight_bytes: int  # constant input bytes (weights, biases)
    dtype: str  # type of the first activation input: int8, int16, float32, ...
    output_shape: tuple[int, ...]
    out_bytes: int = 0  # output bytes written (part of act_bytes)
    im2col: int = 0  # elements of the im2col buffer a (non-1x1) convolution builds
    zero_filter_macs: int = 0  # MACs spent on output channels whose weights are all zero
    scratch: dict[str, int] = field(default_factory=dict)  # CMSIS-NN scratch bytes by ISA: dsp, mve, c


@dataclass(frozen=True)
class CoreRatios:
    """Cycle ratios of a core to the Cortex-M4F, per kind of work (see targets.yaml)."""

    simd_mac: float  # CMSIS-NN matrix-multiply MAC loops (conv, 1x1 conv)
    dw_mac: float  # CMSIS-NN depthwise MAC loops
    fc_mac: float  # CMSIS-NN vector x matrix loops streaming weights (fully connected)
    vector_byte: float  # CMSIS-NN per-element work: requantisation, elementwise, pooling
    scalar: float  # plain C: per-operator overhead and reference kernels (CoreMark/MHz ratio)


TERMS = ("overhead", "matmul.mac", "depthwise.mac", "fully_connected.mac", "im2col.byte", "mac_in.byte",
         "mac_out.byte", "elementwise.byte", "pool.byte", "softmax.byte", "data_movement.byte")
MAC_TERM = {"conv": "matmul.mac", "conv_1x1": "matmul.mac", "depthwise": "depthwise.mac",
            "fully_connected": "fully_connected.mac"}
RATIO_OF_TERM = {"overhead": "scalar", "matmul.mac": "simd_mac", "depthwise.mac": "dw_mac",
                 "fully_connected.mac": "fc_mac"}  # every byte term: vector_byte
ALIASING_OPS = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}  # an ahead-of-time compiler aliases their buffers


def ratio_name(term: str) -> str:
    """The core ratio (CoreRatios field) that scales `term`."""
    return RATIO_OF_TERM.get(term, "vector_byte")


def kernel_class(graph: TfliteGraph, op: Operator) -> str:
    """The kernel class that runs `op` (CMSIS-NN's choice for convolutions)."""
    if op.opcode == "CONV_2D":
        weights = graph.tensor(op.inputs[1])
        one_by_one = weights is not None and len(weights.shape) == 4 and weights.shape[1:3] == (1, 1)
        if one_by_one and op.options.get("stride", (1, 1)) == (1, 1) and op.options.get("dilation", (1, 1)) == (1, 1):
            return "conv_1x1"
        return "conv"
    if op.opcode == "TRANSPOSE_CONV":
        return "conv"
    if op.opcode == "DEPTHWISE_CONV_2D":
        return "depthwise"
    if op.opcode in ("FULLY_CONNECTED", "BATCH_MATMUL"):
        return "fully_connected"
    for name, group in (("elementwise", _ELEMENTWISE), ("pool", _POOL), ("softmax", _SOFTMAX),
                        ("data_movement", _DATA_MOVEMENT)):
        if op.opcode in group:
            return name
    return "other"


def analyse(graph: TfliteGraph) -> list[OpWork]:
    """The work of every operator of the primary subgraph, in execution order."""
    works = []
    for op in graph.operators:
        inputs = [graph.tensor(i) for i in op.inputs]
        activations = [t for t in inputs if t is not None and not t.constant]
        outputs = [graph.tensors[i] for i in op.outputs]
        kernel = kernel_class(graph, op)
        macs = graph.macs(op)
        works.append(OpWork(
            index=op.index, opcode=op.opcode, kernel=kernel, macs=macs,
            act_bytes=sum(t.nbytes for t in activations) + sum(t.nbytes for t in outputs),
            out_bytes=sum(t.nbytes for t in outputs), im2col=_im2col(graph, op, kernel),
            weight_bytes=sum(t.nbytes for t in inputs if t is not None and t.constant),
            dtype=activations[0].dtype if activations else (outputs[0].dtype if outputs else "int8"),
            output_shape=outputs[0].shape if outputs else (),
            zero_filter_macs=_zero_filter_macs(graph, op, kernel, macs),
            scratch=_scratch(graph, op, kernel)))
    return works


def terms(work: OpWork, skips_zero_filters: bool = False, fusion: bool = False) -> dict[str, float]:
    """The work of one operator per cost term (see TERMS), as a runtime with these effects runs it:
    `skips_zero_filters` leaves out the MACs of all-zero filters, `fusion` makes buffer-aliasing
    operators (reshapes) free."""
    if fusion and work.opcode in ALIASING_OPS:
        return {}
    out: dict[str, float] = {"overhead": 1.0}
    if work.kernel in MAC_TERM:
        out[MAC_TERM[work.kernel]] = float(work.macs - (work.zero_filter_macs if skips_zero_filters else 0))
        out["mac_in.byte"] = float(work.act_bytes - work.out_bytes)
        out["mac_out.byte"] = float(work.out_bytes)
        if work.im2col:
            out["im2col.byte"] = float(work.im2col)
    elif work.kernel == "other":
        out["elementwise.byte"] = 2.0 * work.act_bytes  # no cost class: twice an elementwise operator
    else:
        out[f"{work.kernel}.byte"] = float(work.act_bytes)
    return out


def cycles(work_terms: dict[str, float], coefficients: dict[str, float]) -> float:
    """Cycles of one operator: its work per term times the coefficient of each term."""
    return sum(amount * coefficients[term] for term, amount in work_terms.items())


def _zero_filter_macs(graph: TfliteGraph, op: Operator, kernel: str, macs: int) -> int:
    """MACs of the output channels (filters) whose int8 weights are all zero."""
    if kernel not in ("conv", "conv_1x1", "fully_connected") or op.opcode == "BATCH_MATMUL" or not macs:
        return 0
    weights = graph.constant_array(op.inputs[1])
    if weights is None or weights.ndim < 2:
        return 0
    rows = weights.reshape(weights.shape[0], -1)
    dead = int(np.count_nonzero(~rows.any(axis=1)))
    return macs * dead // rows.shape[0]


def _im2col(graph: TfliteGraph, op: Operator, kernel: str) -> int:
    """Elements of the im2col buffer: output pixels x kernel height x kernel width x input channels."""
    weights = graph.tensor(op.inputs[1]) if kernel == "conv" and op.opcode == "CONV_2D" else None
    if weights is None or len(weights.shape) != 4 or not op.outputs:
        return 0
    out = graph.tensors[op.outputs[0]]
    pixels = out.elements // max(1, out.shape[-1]) if out.shape else 0
    return pixels * weights.shape[1] * weights.shape[2] * weights.shape[3]


def _scratch(graph: TfliteGraph, op: Operator, kernel: str) -> dict[str, int]:
    """Scratch buffer bytes the CMSIS-NN kernel requests, per instruction set (CMSIS-NN 6.x rules).

    dsp: Armv7E-M / Armv8-M with the DSP extension; mve: Helium; c: no SIMD (Armv6-M, Armv7-M).
    """
    weights = graph.tensor(op.inputs[1]) if len(op.inputs) > 1 else None
    if weights is None or len(weights.shape) != 4 or kernel not in ("conv", "depthwise"):
        return {}
    data = graph.tensors[op.inputs[0]]
    cin = data.shape[-1] if data.shape else 1
    kh, kw = weights.shape[1], weights.shape[2]
    if kernel == "conv" and op.opcode == "CONV_2D":
        cols = kh * kw * cin
        im2col = 2 * (cols + (-cols) % 4) * 2  # two int16 columns, 4-aligned
        return {"dsp": im2col, "c": im2col, "mve": 4 * ((cols + 15) // 16) * 16}
    if kernel == "depthwise" and op.options.get("depth_multiplier", 1) == 1:
        # 3x3 filters (padding <= 1) run arm_depthwise_conv_3x3_s8 on DSP cores, without scratch
        dsp = 0 if (kh, kw) == (3, 3) else cin * kh * kw * 2
        return {"dsp": dsp, "c": 0, "mve": 4 * 124 * kh * kw}  # CH_IN_BLOCK_MVE = 124
    return {}
