"""Ethos-U targets through Arm's own compiler, Vela (PyPI `ethos-u-vela`).

`compile_npu(model, target, out_dir)` runs Vela in-process on the int8 model for the target's NPU
configuration, with the system configuration of Vela's vela.ini and the target's clock, and reads
its performance estimate (NPU cycles, SRAM and flash used). The Vela-compiled model (the NPU
command stream in an `ethos-u` custom operator, plus the operators left to the CPU) is written to
`out_dir`. Vela's estimate is not validated here: MLPerf Tiny has no Ethos-U measurement.
"""

import configparser
import contextlib
import csv
import os
import sys
from collections.abc import Iterator
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from edgeopt.common.errors import EdgeoptError

SYSTEM = "edgeopt"


@dataclass(frozen=True)
class VelaResult:
    """Vela's estimate for one model on one NPU system."""

    npu_cycles: int
    sram_bytes: int
    flash_bytes: int
    npu_operators: int
    cpu_operators: int
    compiled: Path  # the Vela-compiled .tflite
    version: str


def _vela_ini() -> configparser.ConfigParser:
    try:
        ini = resources.files("ethosu").joinpath("config_files").joinpath("Arm").joinpath("vela.ini")
    except ModuleNotFoundError as exc:
        raise EdgeoptError("Ethos-U targets need Arm's Vela compiler, which is not installed",
                           "pip install ethos-u-vela==5.2.0 (in the simulate extra)") from exc
    parser = configparser.ConfigParser()
    parser.optionxform = str  # Vela's option names are case-sensitive
    parser.read_string(ini.read_text())
    return parser


def _config_file(npu, clock_mhz: float, folder: Path) -> Path:
    """A Vela config with the NPU's system configuration at `clock_mhz` and its memory mode."""
    source = _vela_ini()
    out = configparser.ConfigParser()
    out.optionxform = str
    system = dict(source[f"System_Config.{npu.system_config}"])
    system["core_clock"] = f"{clock_mhz * 1e6:.0f}"
    out[f"System_Config.{SYSTEM}"] = system
    mode = f"Memory_Mode.{npu.memory_mode}"
    section = dict(source[mode])
    parent = section.pop("inherit", None)
    out[mode] = {**(dict(source[parent]) if parent else {}), **section}
    path = folder / "vela.ini"
    with open(path, "w") as fh:
        out.write(fh)
    return path


def compile_npu(model: Path, npu, clock_mhz: float, out_dir: Path) -> VelaResult:
    """Compile `model` with Vela for `npu` at `clock_mhz`; the compiled model goes to `out_dir`."""
    from ethosu.vela import vela
    from ethosu.vela._version import __version__

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edgeopt-vela-") as scratch:
        config = _config_file(npu, clock_mhz, Path(scratch))
        argv = [str(model), "--accelerator-config", npu.accelerator, "--config", str(config), "--system-config",
                SYSTEM, "--memory-mode", npu.memory_mode, "--output-dir", str(out_dir)]
        try:
            with _captured(Path(scratch) / "vela.log") as log:
                code = vela.main(argv)
        except SystemExit as exc:  # argparse or Vela's own fatal errors
            code = exc.code
        except Exception as exc:  # noqa: BLE001 - Vela's errors reach the user as one message
            raise EdgeoptError(f"Vela could not compile {model.name}: {exc}",
                               "check that the model is a full-integer int8 TFLite model") from exc
        text = log.read_text(errors="replace")
    if code:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        raise EdgeoptError(f"Vela could not compile {model.name}: {lines[-1] if lines else f'exit code {code}'}",
                           "check that the model is a full-integer int8 TFLite model")
    summary = next(out_dir.glob(f"{model.stem}_summary_{SYSTEM}.csv"))
    with open(summary, newline="") as fh:
        stats = next(csv.DictReader(fh))
    counts = _operator_counts(text)
    return VelaResult(npu_cycles=int(float(stats["cycles_total"])),
                      sram_bytes=int(float(stats["sram_memory_used"]) * 1024),
                      flash_bytes=int(float(stats["off_chip_flash_memory_used"]) * 1024
                                      + float(stats["on_chip_flash_memory_used"]) * 1024),
                      npu_operators=counts[0], cpu_operators=counts[1],
                      compiled=out_dir / f"{model.stem}_vela.tflite", version=__version__)


@contextlib.contextmanager
def _captured(path: Path) -> Iterator[Path]:
    """Within the block, file descriptors 1 and 2 (Python and Vela's C++ alike) write to `path`."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "w") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                yield path
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _operator_counts(log: str) -> tuple[int, int]:
    """(NPU operators, CPU operators) from Vela's network summary."""
    found = {"NPU": 0, "CPU": 0}
    for line in log.splitlines():
        for kind in found:
            if line.strip().startswith(f"{kind} operators ="):
                found[kind] = int(line.split("=")[1].split("(")[0])
    return found["NPU"], found["CPU"]
