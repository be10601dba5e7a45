"""Which source layers each TFLite operator computes, and the fusions the converter made.

The converter names an operator's output tensor after every TensorFlow op it absorbed, joined by
';' (e.g. `model/activation/Relu;model/batch_normalization/FusedBatchNormV3;model/conv2d/Conv2D`).
The second path component of each is the Keras layer name; an operator that computes more than
one layer is a fusion (Conv2D + BatchNormalization + ReLU into one CONV_2D, Add + ReLU into ADD, ...).
"""

from dataclasses import dataclass, field
from typing import Any

from edgeopt.common.runtimes import tflite_interpreter
from edgeopt.quantize.tflite_methods import CAST_OPS


# TensorFlow ops the converter folds into one TFLite operator (compute, bias, normalization, activation)
FUSABLE_TF_OPS = ("Conv2D", "depthwise", "DepthwiseConv2dNative", "MatMul", "Conv2DBackpropInput", "BiasAdd",
                  "FusedBatchNormV3", "FusedBatchNorm", "batchnorm", "add", "AddV2", "Add", "mul", "Mul",
                  "Relu", "Relu6", "Elu", "Tanh", "Sigmoid", "LeakyRelu", "Maximum", "Minimum")


@dataclass
class Node:
    """One TFLite operator: its type, output tensor name (what the quantizer's denylist takes) and layers."""

    index: int
    op: str
    name: str
    layers: list[str] = field(default_factory=list)


def layer_names_of(tensor_name: str, known: list[str] | None = None) -> list[str]:
    """Layer names in a converter tensor name, in the order they appear, restricted to `known` when given."""
    found: list[str] = []
    for part in tensor_name.split(";"):
        bits = part.split("/")
        if len(bits) < 2:
            continue
        name = bits[1]
        if known is not None and name not in known:
            if not (name.startswith("quant_") and name[6:] in known):  # tfmot's QAT wrappers
                continue
            name = name[6:]
        if name not in found:
            found.append(name)
    return found


def model_nodes(flatbuffer: bytes, known_layers: list[str] | None = None) -> list[Node]:
    """The operators of a TFLite model (QUANTIZE/DEQUANTIZE left out), in execution order."""
    interp = tflite_interpreter(flatbuffer)
    names = {t["index"]: t["name"] for t in interp.get_tensor_details()}
    nodes = []
    for op in interp._get_ops_details():  # the only LiteRT API listing operators and their tensors
        if op["op_name"] in CAST_OPS or not len(op["outputs"]):
            continue
        name = names.get(int(op["outputs"][0]), "")
        nodes.append(Node(int(op["index"]), op["op_name"], name, layer_names_of(name, known_layers)))
    return nodes


def fusions(flatbuffer: bytes, keras_model: Any = None) -> list[dict[str, Any]]:
    """Operators into which the converter fused several TensorFlow ops, in model order.

    Each is {"op": TFLite operator, "fused": TF ops in data-flow order (e.g. ["Conv2D", "BiasAdd",
    "FusedBatchNormV3", "Relu"]), "layers": the source layers it computes, "pattern": their Keras
    classes joined by "+" when the Keras model is given (e.g. "Conv2D+BatchNormalization+Activation(relu)")}.
    An operator that only adds its own bias is not listed.
    """
    order, kinds = {}, {}
    if keras_model is not None:
        for i, layer in enumerate(keras_model.layers):
            order[layer.name] = i
            kinds[layer.name] = _kind(layer)
    found = []
    for node in model_nodes(flatbuffer, list(order) or None):
        fused = _tf_ops(node.name)
        if len([op for op in fused if op != "BiasAdd"]) < 2:
            continue
        layers = sorted(node.layers, key=order.get) if order else list(reversed(node.layers))
        entry = {"op": node.op, "fused": fused, "layers": layers}
        if order:
            entry["pattern"] = "+".join(kinds[name] for name in layers)
        found.append(entry)
    return found


def _tf_ops(tensor_name: str) -> list[str]:
    """The TensorFlow ops named in a converter tensor name, in data-flow order (the name lists them last first)."""
    ops: list[str] = []
    for part in reversed(tensor_name.split(";")):
        last = part.rsplit("/", 1)[-1]
        for candidate in (last, last[:-1]):  # the converter appends a digit to keep names unique
            if candidate in FUSABLE_TF_OPS:
                if candidate not in ops:
                    ops.append(candidate)
                break
    return ops


def _kind(layer) -> str:
    kind = type(layer).__name__
    activation = getattr(getattr(layer, "activation", None), "__name__", None)
    if kind == "Activation" and activation:
        return f"Activation({activation})"
    if activation and activation != "linear":
        return f"{kind}({activation})"
    return kind
