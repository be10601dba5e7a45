"""The device-simulate stage's declaration: its parameters and the metrics it emits. Targets and
runtime profiles are registered in `hardware.yaml` and `runtimes.yaml`."""

from edgeopt.common.spec import MetricSpec, Param, StageSpec
from edgeopt.common.targets import DEFAULT_RUNTIME

SPEC = StageSpec(
    name="device-simulate",
    description="predict latency, RAM, flash and energy of an int8 TFLite model on a device and runtime",
    params=(
        Param("target", str, "cortex-m4f@80mhz", "board name, CORE@CLOCK (e.g. cortex-m4f@80mhz) or CORE+NPU "
              "(e.g. cortex-m55+ethos-u55-128)", metavar="TARGET", pipeline=None),
        Param("runtime", str, DEFAULT_RUNTIME, "runtime profile, family@version or family (its newest version); "
              "`edgeopt simulate --list-runtimes` lists them", metavar="RUNTIME", pipeline=None),
        Param("targets", str, "", "targets YAML text: simulate every entry with its runtime, one report each "
              "(`edgeopt simulate --targets FILE`)", pipeline=None, cli=False),
    ),
    metrics=(
        MetricSpec("latency_ms", "ms", "lower", "predicted time per inference"),
        MetricSpec("cycles", "cycles", "lower", "predicted core (or NPU) cycles per inference"),
        MetricSpec("ram_bytes", "bytes", "lower", "RAM: tensor arena (or the runtime's pool) plus runtime state"),
        MetricSpec("flash_bytes", "bytes", "lower", "flash: model plus runtime code"),
        MetricSpec("energy_uj", "uJ", "lower", "energy per inference, on boards with measured power"),
        MetricSpec("supported", "bool", "higher", "every operator runs on the target with the runtime"),
        MetricSpec("macs", "count", "lower", "multiply-accumulates per inference"),
    ),
)
