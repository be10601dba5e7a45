"""KFP component of the device-simulate stage."""

from kfp import dsl
from kfp.dsl import Input, Markdown, Metrics, Model, Output

from edgeopt.images import image_for


@dsl.component(base_image=image_for("device-simulate"), install_kfp_package=False)
def device_simulate(model: Input[Model], report: Output[Metrics], report_md: Output[Markdown],
                    target: str = "cortex-m4f@80mhz", runtime: str = "tflm-cmsis-nn"):
    """Predict how an int8 TFLite model runs on a microcontroller target.

    Inputs: `model`, a tflite model bundle (or .tflite file); `target`, a board name from the
    catalog or `CORE@CLOCK` (e.g. `cortex-m4f@80mhz`); `runtime`, a runtime profile
    (`tflm-cmsis-nn` or `tflm-reference`).
    Outputs: `report`, the metrics `latency_ms`, `cycles`, `ram_bytes`, `flash_bytes`,
    `arena_bytes`, `supported` (1/0), `energy_uj` where known, plus the whole report as JSON
    (`reasons`, `layers`, `method`, `target`, `runtime`, ...); `report_md`, the report in Markdown.
    Raises EdgeoptError for a missing or non-TFLite model, an unknown target or runtime.
    """
    from edgeopt.common.metrics import log_to_kfp
    from edgeopt.device_simulate.core import render_markdown, simulate

    result = simulate(model.path, target, runtime)
    log_to_kfp(report, result)
    with open(report_md.path, "w") as fh:
        fh.write(render_markdown(result))
