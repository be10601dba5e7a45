"""KFP component of the device-simulate stage."""

from kfp import dsl
from kfp.dsl import Input, Markdown, Metrics, Model, Output

from edgeopt.images import image_for


@dsl.component(base_image=image_for("device-simulate"), install_kfp_package=False)
def device_simulate(model: Input[Model], report: Output[Metrics], report_md: Output[Markdown],
                    target: str = "cortex-m4f@80mhz", runtime: str = "tflm-cmsis-nn"):
    """Predict how an int8 TFLite model runs on a microcontroller target.

    Inputs: `model`, a tflite model bundle (or .tflite file); `target`, a board name from the
    catalog (e.g. `NUCLEO-L4R5ZI`) or `CORE@CLOCK` (e.g. `cortex-m4f@80mhz`); `runtime`, a runtime
    profile: `tflm-cmsis-nn` (TFLite Micro with current CMSIS-NN kernels), `tflm-v2.3.1-cmsis-nn`
    (the MLPerf Tiny v0.5 reference) or `tflm-reference` (portable reference kernels).
    Outputs: `report`, the numeric metrics (`latency_ms`, `cycles`, `macs`, `ram_bytes`,
    `arena_bytes`, `flash_bytes`, `supported` as 1/0, `energy_uj` where calibrated) logged on the
    artifact, and the whole report as JSON at its path (`reasons`, `layers`, `bottlenecks`,
    `method`, `target`, `core`, `runtime`, ...); `report_md`, the report in Markdown.
    Raises EdgeoptError for a missing or non-TFLite model, an unknown target or runtime.
    """
    from edgeopt.common.metrics import log_to_kfp
    from edgeopt.device_simulate.core import render_markdown, simulate

    result = simulate(model.path, target, runtime)
    log_to_kfp(report, result)
    with open(report_md.path, "w") as fh:
        fh.write(render_markdown(result))
