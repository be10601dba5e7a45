"""The simulator's catalogs in one import: targets (hardware.py), runtime profiles (runtimes.py)
and the calibration (calibration.py).

Other stages check names through this module: `resolve_target(name)` and `runtime_profile(name)`
raise EdgeoptError, with close matches, for names the simulator does not know.
"""

from edgeopt.device_simulate.calibration import load_calibration
from edgeopt.device_simulate.hardware import Core, Npu, Target, boards, cores, find_core, npus, resolve_target
from edgeopt.device_simulate.runtimes import Runtime, families, registry, runtime_profile

__all__ = ["Core", "Npu", "Runtime", "Target", "boards", "cores", "families", "find_core", "load_calibration",
           "npus", "registry", "resolve_target", "runtime_profile"]
