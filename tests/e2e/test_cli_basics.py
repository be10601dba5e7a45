"""The command line answers --version and --help without importing any stage's heavy stack."""

import subprocess
import sys

PROBE = """
import sys
from edgeopt.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = [m for m in ("tensorflow", "onnxruntime", "tflite_micro", "boto3") if m in sys.modules]
print("HEAVY=" + ",".join(heavy))
"""


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120)


def test_version_and_help_import_no_stage_stack():
    for args in (["--version"], ["--help"]):
        proc = run(*args)
        assert "HEAVY=\n" in proc.stdout, proc.stdout
    assert "edgeopt 0." in run("--version").stdout


def test_validate_help_imports_only_its_own_module():
    proc = run("validate", "--help")
    assert "--targets" in proc.stdout
    assert "HEAVY=\n" in proc.stdout, proc.stdout
