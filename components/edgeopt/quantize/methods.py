"""Quantization methods, each registered once with what it produces and what it needs.

The stage looks a method up by (backend, name) and checks the options against its entry before any
work: which options apply (`uses`), which one of several must be given (`needs_one_of`), the
input/output types it can make, whether it needs calibration samples. A method's `build` names
the function that makes its model ("module:function", imported on use, so that this module stays
free of TensorFlow). Adding a method is one module with its build function, one `register` call
here, and its test.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edgeopt.common.errors import EdgeoptError

# options that only some methods use; the others (calibration_samples, latency_runs, ...) apply to all
SELECTIVE = ("io_type", "per_channel", "float_layers", "accuracy_budget", "qat_epochs", "calibration_method")


@dataclass(frozen=True)
class Backend:
    """A quantization toolchain: its calibration methods and method-name aliases."""

    name: str
    description: str
    calibration_methods: tuple[str, ...]
    aliases: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class QuantMethod:
    """One registered method of a backend."""

    name: str
    backend: str
    precision: str
    description: str
    build: str
    calibrated: bool = False
    io_types: tuple[str, ...] = ("float32",)  # the first is the default
    integer_only: bool = False                # a result with float operators is refused
    uses: frozenset[str] = frozenset()        # of SELECTIVE, the options that apply
    needs_one_of: tuple[str, ...] = ()        # at least one of these must be given

    def builder(self) -> Callable[..., Any]:
        """The function that makes this method's model."""
        module, _, function = self.build.partition(":")
        return getattr(importlib.import_module(module), function)


BACKENDS: dict[str, Backend] = {}
METHODS: dict[tuple[str, str], QuantMethod] = {}


def register_backend(backend: Backend) -> Backend:
    BACKENDS[backend.name] = backend
    return backend


def register(method: QuantMethod) -> QuantMethod:
    """Add `method` to the registry (its backend must be registered)."""
    if method.backend not in BACKENDS:
        raise ValueError(f"unknown backend {method.backend}")
    METHODS[(method.backend, method.name)] = method
    return method


def names(backend: str | None = None) -> list[str]:
    """Registered method names (of one backend, or of all, each once), in registration order."""
    return list(dict.fromkeys(m.name for (b, _), m in METHODS.items() if backend in (None, b)))


def lookup(name: str, backend: str) -> QuantMethod:
    """The method `name` of `backend` (aliases resolved); EdgeoptError listing the valid ones."""
    if backend not in BACKENDS:
        raise EdgeoptError(f"unknown backend {backend!r}", f"use one of {', '.join(BACKENDS)}")
    name = BACKENDS[backend].aliases.get(name, name)
    if (backend, name) in METHODS:
        return METHODS[(backend, name)]
    elsewhere = [b for b in BACKENDS if (b, name) in METHODS]
    hint = f"the {backend} methods are {', '.join(names(backend))}"
    hint += (f"; {name} is an {elsewhere[0]} method: add --backend {elsewhere[0]}" if elsewhere else
             "".join(f"; with --backend {b}: {', '.join(names(b))}" for b in BACKENDS if b != backend))
    raise EdgeoptError(f"unknown quantization method {name!r} for the {backend} backend", hint)


def check(method: QuantMethod, options: dict[str, Any], defaults: dict[str, Any]) -> None:
    """EdgeoptError when `options` (the stage's, after defaults) do not suit `method`: an option it
    does not use set away from its default, none of `needs_one_of` given, an io type it cannot
    make, a calibration method its backend lacks, or no calibration samples for a calibrated method."""
    given = [o for o in SELECTIVE if o not in method.uses and options.get(o) != defaults.get(o)]
    if given:
        spelled = ", ".join("per_channel=False" if o == "per_channel" else o for o in given)
        users = [m.name for m in METHODS.values() if set(given) <= m.uses]
        raise EdgeoptError(f"{spelled} {'does' if len(given) == 1 else 'do'} not apply to {method.backend} method "
                           f"{method.name}", f"drop {'it' if len(given) == 1 else 'them'}"
                           + (f", or use method {' or '.join(dict.fromkeys(users))}" if users else ""))
    if method.needs_one_of and not any(options.get(o) not in (None, [], defaults.get(o)) for o in method.needs_one_of):
        flags = " or ".join("--" + o.replace("_", "-") for o in method.needs_one_of)
        raise EdgeoptError(f"method {method.name} needs {' or '.join(method.needs_one_of)}",
                           f"add {flags} (e.g. --float-layers conv1 or --accuracy-budget 0.01)")
    io_type = options.get("io_type")
    if io_type is not None and io_type not in method.io_types:
        raise EdgeoptError(f"io_type {io_type!r} is not available for method {method.name}",
                           f"use one of {', '.join(method.io_types)} for {method.name}")
    backend = BACKENDS[method.backend]
    if options.get("calibration_method") not in backend.calibration_methods:
        raise EdgeoptError(f"the {backend.name} backend calibrates with {', '.join(backend.calibration_methods)}, "
                           f"not {options.get('calibration_method')!r}",
                           "use calibration_method minmax, or --backend onnxruntime for entropy or percentile")
    if method.calibrated and options.get("calibration_samples", 1) < 1:
        raise EdgeoptError(f"calibration_samples must be at least 1, not {options['calibration_samples']}",
                           f"{method.name} quantization needs representative samples; 100-500 is typical")


def io_type_for(method: QuantMethod, io_type: str | None) -> str:
    """The input/output dtype to make: `io_type`, or the method's default when None."""
    return io_type or method.io_types[0]


TFLITE = "edgeopt.quantize.tflite_methods:build_post_training"
register_backend(Backend("tflite", "the TFLite converter, run by LiteRT / TFLite Micro", ("minmax",)))
register_backend(Backend("onnxruntime", "ONNX Runtime's quantization tools (QDQ)", ("minmax", "entropy", "percentile"),
                         aliases={"int8": "static"}))
register(QuantMethod("int8", "tflite", "int8", "full integer: int8 weights (per channel) and activations, calibrated",
                     TFLITE, calibrated=True, io_types=("int8", "uint8", "float32"), integer_only=True,
                     uses=frozenset({"io_type", "per_channel", "calibration_method"})))
register(QuantMethod("dynamic", "tflite", "dynamic_int8", "dynamic range: int8 weights, float activations",
                     TFLITE, uses=frozenset({"per_channel"})))
register(QuantMethod("float16", "tflite", "float16", "float16 weights, float compute", TFLITE))
register(QuantMethod("int16x8", "tflite", "int16x8", "int16 activations, int8 weights, calibrated", TFLITE,
                     calibrated=True, io_types=("int16", "float32"), integer_only=True,
                     uses=frozenset({"io_type", "per_channel", "calibration_method"})))
register(QuantMethod("mixed", "tflite", "mixed_int8_float",
                     "int8 with named layers, or the most sensitive ones within an accuracy budget, kept float",
                     "edgeopt.quantize.mixed:build", calibrated=True, io_types=("int8", "uint8", "float32"),
                     uses=frozenset({"io_type", "per_channel", "float_layers", "accuracy_budget", "calibration_method"}),
                     needs_one_of=("float_layers", "accuracy_budget")))
register(QuantMethod("qat", "tflite", "int8", "quantization-aware training (tfmot), then int8",
                     "edgeopt.quantize.qat:build", calibrated=True, io_types=("int8", "uint8", "float32"),
                     integer_only=True, uses=frozenset({"io_type", "qat_epochs", "calibration_method"})))
ONNX = "edgeopt.quantize.onnx_path:quantize_onnx"
register(QuantMethod("static", "onnxruntime", "int8", "QDQ int8 weights and activations, calibrated", ONNX,
                     calibrated=True, uses=frozenset({"calibration_method"})))
register(QuantMethod("dynamic", "onnxruntime", "dynamic_int8", "int8 weights, activations quantized at run time",
                     ONNX))
register(QuantMethod("int4", "onnxruntime", "int4_weight_only", "int4 block-wise weights of MatMul/Gather (MatMulNBits)",
                     ONNX))
register(QuantMethod("float16", "onnxruntime", "float16", "float16 weights and compute", ONNX))
