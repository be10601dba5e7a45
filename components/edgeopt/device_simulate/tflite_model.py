"""Read a .tflite flatbuffer into the per-operator facts the cost model needs.

Uses the flatbuffer schema bindings shipped with `tflite-micro`
(`tflite_micro.tensorflow.lite.micro.python.schema_py_generated`), read lazily: weights are
never copied, so reading a model takes milliseconds. Only the primary subgraph (0) is read, the
one TFLite Micro invokes; models with more subgraphs (control flow) are flagged by
`TfliteGraph.subgraph_count`.

MAC counts (multiply-accumulates per inference, batch 1):
- CONV_2D: output elements x kernel height x kernel width x input channels per group
- DEPTHWISE_CONV_2D: output elements x kernel height x kernel width
- FULLY_CONNECTED: weight elements x rows of the input (batch)
- TRANSPOSE_CONV: input elements x kernel height x kernel width x output channels
- BATCH_MATMUL: output elements x the contracted dimension
Every other operator has 0 MACs; its cost comes from the elements it touches.
"""

import struct
from dataclasses import dataclass, field
from functools import reduce
from operator import mul
from typing import Any

import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

from edgeopt.common.errors import EdgeoptError

_OPCODE_NAMES = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
_TYPE_NAMES = {v: k.lower() for k, v in vars(fb.TensorType).items() if not k.startswith("_")}
_TYPE_BITS = {"float32": 32, "float16": 16, "int32": 32, "uint8": 8, "int64": 64, "bool": 8,
              "int16": 16, "int8": 8, "float64": 64, "uint64": 64, "uint32": 32, "uint16": 16,
              "int4": 4, "bfloat16": 16, "int2": 2, "uint4": 4}
_ACTIVATIONS = {v: k for k, v in vars(fb.ActivationFunctionType).items() if not k.startswith("_")}


@dataclass(frozen=True)
class Tensor:
    """One tensor of the primary subgraph."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    nbytes: int
    constant: bool  # holds data in the flatbuffer (weights, biases, shape operands)
    buffer: int = 0  # index of the flatbuffer buffer holding the data

    @property
    def elements(self) -> int:
        return _prod(self.shape)


@dataclass(frozen=True)
class Operator:
    """One operator with its inputs, outputs and the options the cost model reads."""

    index: int
    opcode: str  # builtin name, e.g. "CONV_2D", or "CUSTOM:<name>"
    inputs: tuple[int, ...]  # tensor indices, -1 for an omitted optional input
    outputs: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class TfliteGraph:
    """The primary subgraph of a .tflite model."""

    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]
    model_bytes: int
    subgraph_count: int
    data: bytes = b""

    def tensor(self, index: int) -> Tensor | None:
        return self.tensors[index] if index >= 0 else None

    def macs(self, op: Operator) -> int:
        """Multiply-accumulates of one operator (see the module docstring)."""
        out = self.tensors[op.outputs[0]] if op.outputs else None
        if out is None:
            return 0
        weights = self.tensor(op.inputs[1]) if len(op.inputs) > 1 else None
        if op.opcode == "CONV_2D" and weights is not None and len(weights.shape) == 4:
            _, kh, kw, cin = weights.shape
            return out.elements * kh * kw * cin
        if op.opcode == "DEPTHWISE_CONV_2D" and weights is not None and len(weights.shape) == 4:
            return out.elements * weights.shape[1] * weights.shape[2]
        if op.opcode == "FULLY_CONNECTED" and weights is not None and len(weights.shape) == 2:
            data = self.tensors[op.inputs[0]]
            rows = max(1, data.elements // max(1, weights.shape[1]))
            return weights.elements * rows
        if op.opcode == "TRANSPOSE_CONV" and len(op.inputs) > 2:
            weights, data = self.tensor(op.inputs[1]), self.tensor(op.inputs[2])
            if weights is not None and data is not None and len(weights.shape) == 4:
                cout, kh, kw, _ = weights.shape
                return data.elements * kh * kw * cout
        if op.opcode == "BATCH_MATMUL" and len(op.inputs) > 1:
            lhs = self.tensors[op.inputs[0]]
            if lhs.shape:
                k = lhs.shape[-2] if op.options.get("adj_x") and len(lhs.shape) > 1 else lhs.shape[-1]
                return out.elements * k
        return 0

    def constant_array(self, index: int) -> np.ndarray | None:
        """The data of a constant int8 tensor as an array of its shape (a view, not a copy), else None."""
        tensor = self.tensor(index)
        if tensor is None or not tensor.constant or tensor.dtype != "int8":
            return None
        buf = fb.Model.GetRootAs(self.data, 0).Buffers(tensor.buffer)
        if buf.DataLength() != tensor.nbytes:
            return None
        return buf.DataAsNumpy().view(np.int8).reshape(tensor.shape)


def read_tflite(data: bytes, source: str = "model") -> TfliteGraph:
    """Parse .tflite flatbuffer bytes; EdgeoptError if they are not a TFLite model."""
    if len(data) < 8 or not fb.Model.ModelBufferHasIdentifier(data, 0):
        raise EdgeoptError(f"{source} is not a TFLite flatbuffer (no 'TFL3' identifier)",
                           "pass a .tflite file written by the TFLite converter")
    try:
        return _read(data)
    except (struct.error, IndexError, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise EdgeoptError(f"{source} is a corrupt TFLite flatbuffer ({type(exc).__name__}: {exc})",
                           "re-export the model; the file may be truncated") from exc


def _read(data: bytes) -> TfliteGraph:
    model = fb.Model.GetRootAs(data, 0)
    if model.SubgraphsLength() < 1:
        raise ValueError("the model has no subgraph")
    sg = model.Subgraphs(0)
    buffers_with_data = set()
    for b in range(model.BuffersLength()):
        buf = model.Buffers(b)
        if buf.DataLength() > 0 or buf.Size() > 0:
            buffers_with_data.add(b)
    tensors = []
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        dtype = _TYPE_NAMES.get(t.Type(), f"type{t.Type()}")
        nbytes = (_prod(shape) * _TYPE_BITS.get(dtype, 8) + 7) // 8
        tensors.append(Tensor(index=i, name=(t.Name() or b"").decode(errors="replace"), shape=shape,
                              dtype=dtype, nbytes=nbytes, constant=t.Buffer() in buffers_with_data,
                              buffer=t.Buffer()))
    operators = []
    for k in range(sg.OperatorsLength()):
        op = sg.Operators(k)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = _OPCODE_NAMES.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            name = "CUSTOM:" + (code.CustomCode() or b"").decode(errors="replace")
        inputs = tuple(int(i) for i in op.InputsAsNumpy()) if op.InputsLength() else ()
        outputs = tuple(int(i) for i in op.OutputsAsNumpy()) if op.OutputsLength() else ()
        for idx in inputs + outputs:
            if idx >= len(tensors):
                raise ValueError(f"operator {k} refers to tensor {idx} of {len(tensors)}")
        operators.append(Operator(index=k, opcode=name, inputs=inputs, outputs=outputs,
                                  options=_options(op)))
    return TfliteGraph(tensors=tensors, operators=operators,
                       inputs=[int(i) for i in sg.InputsAsNumpy()] if sg.InputsLength() else [],
                       outputs=[int(i) for i in sg.OutputsAsNumpy()] if sg.OutputsLength() else [],
                       model_bytes=len(data), subgraph_count=model.SubgraphsLength(), data=data)


def _options(op) -> dict[str, Any]:
    """The builtin options that change which kernel runs or how much work it does."""
    kind, table = op.BuiltinOptionsType(), op.BuiltinOptions()
    if table is None:
        return {}
    types = fb.BuiltinOptions
    if kind in (types.Conv2DOptions, types.DepthwiseConv2DOptions):
        opt = fb.Conv2DOptions() if kind == types.Conv2DOptions else fb.DepthwiseConv2DOptions()
        opt.Init(table.Bytes, table.Pos)
        found = {"padding": "same" if opt.Padding() == fb.Padding.SAME else "valid",
                 "stride": (opt.StrideH(), opt.StrideW()),
                 "dilation": (opt.DilationHFactor(), opt.DilationWFactor()),
                 "activation": _ACTIVATIONS.get(opt.FusedActivationFunction(), "?")}
        if kind == types.DepthwiseConv2DOptions:
            found["depth_multiplier"] = opt.DepthMultiplier()
        return found
    if kind == types.Pool2DOptions:
        opt = fb.Pool2DOptions()
        opt.Init(table.Bytes, table.Pos)
        return {"padding": "same" if opt.Padding() == fb.Padding.SAME else "valid",
                "stride": (opt.StrideH(), opt.StrideW()),
                "filter": (opt.FilterHeight(), opt.FilterWidth()),
                "activation": _ACTIVATIONS.get(opt.FusedActivationFunction(), "?")}
    if kind == types.BatchMatMulOptions:
        opt = fb.BatchMatMulOptions()
        opt.Init(table.Bytes, table.Pos)
        return {"adj_x": bool(opt.AdjX()), "adj_y": bool(opt.AdjY())}
    return {}


def _prod(shape: tuple[int, ...]) -> int:
    return reduce(mul, (max(0, d) for d in shape), 1)
