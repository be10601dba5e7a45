"""RAM and flash as each runtime lays them out (`effects.memory_layout`).

- tflm-arena: the tensor arena of the real TFLite Micro planner (arena.py, adjusted to 32-bit)
  plus the largest CMSIS-NN scratch buffer; flash holds the whole .tflite flatbuffer.
- liveness: an ahead-of-time compiler's one static pool, as large as the peak of tensors alive at
  once (16-byte aligned) plus the largest scratch buffer; flash holds the weights only (without
  the dead filters a zero-skipping compiler drops).
- no-reuse: every intermediate tensor has its own buffer (microTVM's native schedules).
RAM adds the runtime's own objects (`ram_bytes`), flash the runtime code (`code_bytes`).
"""

from dataclasses import dataclass

from edgeopt.device_simulate.arena import ArenaReport, live_activation_bytes
from edgeopt.device_simulate.costmodel import OpWork
from edgeopt.device_simulate.runtimes import Runtime
from edgeopt.device_simulate.tflite_model import TfliteGraph

ALIGN = 16


@dataclass(frozen=True)
class Memory:
    """A runtime's RAM and flash for one model on one core."""

    activations: int  # arena or pool, scratch included
    scratch: int
    ram: int
    weights: int  # bytes of model data in flash (flatbuffer or weights)
    code: int
    flash: int


def scratch_bytes(work: OpWork, rt: Runtime, isa: str) -> int:
    """The CMSIS-NN scratch buffer of an operator on this instruction set (0 for reference kernels)."""
    return work.scratch.get(isa, 0) if work.opcode in rt.optimized_ops else 0


def layout(graph: TfliteGraph, works: list[OpWork], arena: ArenaReport, rt: Runtime, isa: str) -> Memory:
    """RAM and flash of the model as `rt` lays them out."""
    scratch = max((scratch_bytes(w, rt, isa) for w in works), default=0)
    live = live_activation_bytes(graph)
    kind = rt.effects.memory_layout
    if kind == "tflm-arena":
        activations = (arena.arena_32bit() if arena.ok else max(live, default=0)) + scratch
        weights = graph.model_bytes
    else:
        activations = (max(live, default=0) if kind == "liveness" else _all_intermediates(graph)) + scratch
        weights = _weight_bytes(graph, works, rt.effects.skips_zero_filters)
    code = rt.code_bytes({op.opcode for op in graph.operators})
    return Memory(activations=activations, scratch=scratch, ram=activations + rt.ram_bytes, weights=weights,
                  code=code, flash=weights + code)


def _all_intermediates(graph: TfliteGraph) -> int:
    produced = {i for op in graph.operators for i in op.outputs}
    return sum(-(-graph.tensors[i].nbytes // ALIGN) * ALIGN for i in produced | set(graph.inputs))


def _weight_bytes(graph: TfliteGraph, works: list[OpWork], drop_dead: bool) -> int:
    total = sum(t.nbytes for t in graph.tensors if t.constant)
    if drop_dead:  # a dead filter's weights go with it
        total -= sum(w.weight_bytes * w.zero_filter_macs // w.macs for w in works if w.macs)
    return total
