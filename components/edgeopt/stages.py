"""The stages, listed once: name, package, command, image stacks and the output the run summary reads.

The CLI's stage commands, the image list and build order, the local run's summary table and the
tests follow this table; a stage's parameters live in its own `spec.py` (`StageSpec`). Adding a
stage is its folder (core, spec, cli, component), one row here (its Dockerfile is written from it by
`edgeopt images dockerfiles`) and its tests.
"""

import importlib
from dataclasses import dataclass

TF_STACK = "tf"  # the TensorFlow stack, built once as the image edgeopt-tf that TensorFlow stages start FROM
TF_POD = {"cpu": "1", "memory": "2Gi", "cpu_limit": "2", "memory_limit": "6Gi"}  # what training and conversion need


@dataclass(frozen=True)
class Stage:
    """One stage of the pipeline."""

    name: str                   # component and task name; image edgeopt-<name>
    package: str                # edgeopt.<package> holds core.py, cli.py, component.py (and spec.py)
    command: str                # `edgeopt <command>`
    help: str
    stacks: tuple[str, ...]     # requirement stacks its image holds (images/requirements/<stack>.txt)
    loads_models: bool = False  # reads a user's model file: takes --trust-model
    summary_output: str | None = None  # the output holding its metrics JSON, for the run summary
    cacheable: bool = True      # False when its inputs are URIs whose content may change, or its effect is outside KFP
    cpu: str = "500m"           # Kubernetes requests and limits of its pod
    memory: str = "512Mi"
    cpu_limit: str = "1"
    memory_limit: str = "1Gi"

    @property
    def parent_image(self) -> str:
        """The image this stage's image starts FROM: edgeopt-tf for TensorFlow stages, else edgeopt-base."""
        return TF_STACK if TF_STACK in self.stacks else "base"

    def module(self, part: str):
        """The stage's module `part` (core, cli, component, spec), imported."""
        return importlib.import_module(f"edgeopt.{self.package}.{part}")


STAGES: tuple[Stage, ...] = (
    Stage("ingest", "ingest", "ingest", "check a model and dataset and measure the baseline",
          (TF_STACK, "s3"), loads_models=True, summary_output="metrics", cacheable=False, **TF_POD),
    Stage("distill", "distill", "distill", "distill a teacher into a smaller student",
          (TF_STACK,), loads_models=True, summary_output="metrics", **TF_POD),
    Stage("prune", "prune", "prune", "prune a Keras model (magnitude, N:M, structured channels, low-rank)",
          (TF_STACK,), loads_models=True, summary_output="metrics", **TF_POD),
    Stage("quantize", "quantize", "quantize",
          "quantize: TFLite int8, int16x8, dynamic, float16, mixed, QAT; ONNX Runtime QDQ, dynamic, int4, float16",
          (TF_STACK, "convert"), loads_models=True, summary_output="metrics", **TF_POD),
    Stage("convert", "convert", "convert", "convert to TFLite, ONNX, a C array and OpenVINO IR, with parity checks",
          (TF_STACK, "convert"), loads_models=True, summary_output="metrics", **TF_POD),
    Stage("device-simulate", "device_simulate", "simulate", "predict latency, RAM, flash and energy on a device",
          ("simulate",), summary_output="report", memory="1Gi", memory_limit="2Gi"),
    Stage("validate-targets", "validate_targets", "validate", "check metrics against a targets file", ("report",),
          cacheable=False),  # it may read the baseline from the registry
    Stage("promote", "promote", "promote", "push a passing model to the registry (folder, s3:// or MLflow)",
          ("s3", "mlflow"), cacheable=False),
    Stage("sweep", "sweep", "report", "render the HTML and Markdown report of a local run or sweep (edgeopt report DIR)",
          ("report",)),  # in a sweep: plan the recipes, gather the candidates into the Pareto front
)
NAMES = tuple(s.name for s in STAGES)


def stage(name: str) -> Stage:
    """The stage called `name` (its task name or its command); KeyError for an unknown one."""
    for s in STAGES:
        if name in (s.name, s.command):
            return s
    raise KeyError(f"unknown stage {name!r}; stages are {', '.join(NAMES)}")


def option_specs() -> tuple:
    """The declarations of the stages whose options the pipeline and `edgeopt run` take, in order."""
    return tuple(stage(name).module("spec").SPEC for name in ("distill", "prune", "quantize", "convert"))


def reference_markdown() -> str:
    """docs/STAGES.md: every declared stage's options and metrics, as the declarations state them."""
    parts = ["# Stage options and metrics",
             "",
             "Generated from each stage's declaration (`components/edgeopt/<stage>/spec.py`) by",
             "`python -m edgeopt.stages > docs/STAGES.md`; a test keeps this file in step. The CLI flags, the",
             "KFP component inputs and the pipeline parameters follow the same declarations.",
             ""]
    for s in STAGES:
        try:
            spec = s.module("spec").SPEC
        except ModuleNotFoundError:
            continue
        parts += [f"## {s.name} (`edgeopt {s.command}`)", "", spec.description[0].upper() + spec.description[1:] + ".",
                  "", spec.markdown_table(), ""]
        if spec.metrics:
            parts += ["| metric | unit | better | description |", "| --- | --- | --- | --- |"]
            parts += [f"| `{m.key}` | {m.unit} | {m.better or '-'} | {m.description} |" for m in spec.metrics]
            parts.append("")
    return "\n".join(parts)


if __name__ == "__main__":
    print(reference_markdown(), end="")
