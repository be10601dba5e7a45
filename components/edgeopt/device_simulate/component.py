"""KFP component of the device-simulate stage."""

from kfp import dsl
from kfp.dsl import Artifact, Input, Markdown, Metrics, Model, Output

from edgeopt.device_simulate.spec import SPEC
from edgeopt.containers.images import image_for


@dsl.component(base_image=image_for("device-simulate"), install_kfp_package=False)
@SPEC.describe(
    "Predict how an int8 TFLite model runs on a microcontroller (or Ethos-U NPU) target with a given runtime: "
    "latency with its cross-validated error band, RAM, flash, energy where the board's power was measured, "
    "whether every operator runs.",
    artifacts={"model": "tflite model bundle (or .tflite file).",
               "report": "output: the figures people compare (latency_ms, cycles, ram_bytes, flash_bytes, "
                         "energy_uj, supported, macs); the whole report as JSON at its path.",
               "report_json": "output: the whole report as JSON (layers, bottlenecks, reasons, method, error band).",
               "report_md": "output: the report in Markdown.",
               "npu_model": "output: the Vela-compiled model for an Ethos-U target (empty otherwise).",
               "reports": "output: a folder with one report per targets entry and index.json (with `targets`), "
                          "else the one report; validate-targets reads it."})
def device_simulate(model: Input[Model], report: Output[Metrics], report_json: Output[Artifact],
                    report_md: Output[Markdown], npu_model: Output[Model], reports: Output[Artifact],
                    target: str = "cortex-m4f@80mhz", runtime: str = "tflm-cmsis-nn", targets: str = ""):
    import json
    from pathlib import Path

    from edgeopt.common.metrics import log_to_kfp
    from edgeopt.common.simulations import simulate_all
    from edgeopt.device_simulate.core import render_markdown, simulate
    from edgeopt.device_simulate.spec import SPEC as STAGE

    Path(npu_model.path).mkdir(parents=True, exist_ok=True)
    if targets.strip():
        index = simulate_all(model.path, targets, reports.path, simulate, render_markdown)
        first = Path(reports.path) / index["reports"][0]["dir"]
        result = json.loads((first / "report.json").read_text())
        for vela in first.glob("*.tflite"):  # an NPU target's compiled model
            vela.replace(Path(npu_model.path) / vela.name)
    else:
        result = simulate(model.path, target, runtime, artifacts_dir=npu_model.path)
        Path(reports.path).mkdir(parents=True, exist_ok=True)
        (Path(reports.path) / "report.json").write_text(json.dumps(result, indent=2, default=str))
    log_to_kfp(report, result, keys=[m.key for m in STAGE.metrics])
    Path(report_json.path).write_text(json.dumps(result, indent=2, default=str))
    Path(report_md.path).write_text(render_markdown(result))
    npu_model.metadata.update({"npu": bool(result.get("npu")), "target": result["target"]})
