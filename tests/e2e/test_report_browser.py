"""A real browser draws the sweep report's Pareto plot: headless Chromium screenshots the page, and the
pixels where the plot sits hold the plot's ink and its front and chosen colours, which a page whose
Pareto SVG is emptied (same size, nothing drawn) does not."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from edgeopt.common.reports import render_sweep_report, write_report
from edgeopt.common.reports.plots import CHOSEN, FRONT

WINDOW = (1280, 2400)
TARGETS = {"cortex-m0plus@48mhz": (40.0, 64.0), "cortex-m4f@80mhz": (8.0, None)}
# (id, accuracy, latency on each target in ms, flash + RAM in bytes, passed, on the front)
CANDIDATES = [("c0", 0.9733, (142.3, 18.2), 108456, False, True), ("c1", 0.9712, (61.0, 7.9), 70120, False, True),
              ("c2", 0.9690, (36.5, 5.1), 60400, True, True), ("c3", 0.9480, (22.0, 3.2), 44800, True, True),
              ("c4", 0.9120, (18.9, 2.6), 41000, False, True), ("c5", 0.9550, (80.2, 9.8), 90300, False, False)]


def browser() -> str:
    """The Chromium executable, or skip (fail where EDGEOPT_REQUIRE_BROWSER=1) when there is none."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("EDGEOPT_REQUIRE_BROWSER") == "1":
        pytest.fail("EDGEOPT_REQUIRE_BROWSER=1 but neither chromium nor chromium-browser is on PATH")
    pytest.skip("no chromium or chromium-browser on PATH (set EDGEOPT_REQUIRE_BROWSER=1 to make this a failure)")


def sweep_doc() -> dict:
    candidates = []
    for cid, accuracy, latencies, total, passed, front in CANDIDATES:
        simulation = {t: {"latency_ms": ms, "ram_bytes": 10424, "flash_bytes": total - 10424, "total_bytes": total,
                          "energy_uj": None, "supported": True, "runtime": "tflm-cmsis-nn"}
                      for t, ms in zip(TARGETS, latencies, strict=True)}
        candidates.append({"id": cid, "label": f"recipe {cid}", "recipe": {}, "metrics": {"accuracy": accuracy},
                           "quality": accuracy, "simulation": simulation,
                           "verdict": {"passed": passed, "targets": {t: passed for t in TARGETS},
                                       "quality_passed": accuracy >= 0.9456, "failed": [] if passed else ["latency"]},
                           "on_front": front, "chosen": cid == "c2"})
    return {"schema": "edgeopt.sweep/v1", "quality_metric": "accuracy", "quality_better": "higher",
            "baseline": {"accuracy": 0.9756, "size_bytes": 610686, "params": 47530},
            "targets": [{"target": t, "runtime": "tflm-cmsis-nn",
                         "budgets": {"latency_ms": lat, "flash_kb": None, "ram_kb": None, "total_kb": kb}}
                        for t, (lat, kb) in TARGETS.items()],
            "quality_floor": 0.9456, "candidates": candidates, "front": [c[0] for c in CANDIDATES if c[5]],
            "chosen": "c2", "why": "c2 passes every target with the highest accuracy (96.9 %)"}


def screenshot(chromium: str, page: Path, out: Path):
    """Chromium's screenshot of `page` (written to `out`), as an RGB Pillow image."""
    from PIL import Image

    command = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
               "--force-device-scale-factor=1", f"--user-data-dir={out.parent / (out.stem + '-profile')}",
               f"--screenshot={out}", f"--window-size={WINDOW[0]},{WINDOW[1]}", page.resolve().as_uri()]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert out.is_file(), f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}"
    with Image.open(out) as image:
        return image.convert("RGB")


def near(image, colour: str, box: tuple[int, int, int, int] | None = None, tolerance: int = 40) -> int:
    """How many pixels of `image` (within `box`) lie within `tolerance` of `colour` on every channel."""
    import numpy as np

    want = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    pixels = np.asarray(image.crop(box) if box else image).astype(int)
    return int((np.abs(pixels - want) <= tolerance).all(axis=2).sum())


def ink(image, box: tuple[int, int, int, int]) -> float:
    """The share of the pixels in `box` that are not (near) white."""
    import numpy as np

    pixels = np.asarray(image.crop(box)).astype(int)
    return float((pixels < 235).any(axis=2).mean())


def test_chromium_draws_the_pareto_plot(tmp_path):
    import numpy as np

    chromium = browser()
    report = render_sweep_report(sweep_doc(), {}, None)
    write_report(report, tmp_path / "sweep.html", tmp_path / "sweep.md")
    # the control: the same page with the Pareto SVG emptied, so the layout stays the same
    empty, count = re.subn(r'(<figure class="plot" id="plot-pareto">\s*<svg\b[^>]*>).*?(</svg>)', r"\1\2",
                           report.html, flags=re.S)
    assert count == 1
    (tmp_path / "control.html").write_text(empty, encoding="utf-8")

    drawn = screenshot(chromium, tmp_path / "sweep.html", tmp_path / "sweep.png")
    control = screenshot(chromium, tmp_path / "control.html", tmp_path / "control.png")
    assert drawn.size == control.size == WINDOW

    changed = np.argwhere((np.asarray(drawn).astype(int) != np.asarray(control).astype(int)).any(axis=2))
    assert len(changed), "the page looks the same with and without its Pareto plot"
    (top, left), (bottom, right) = changed.min(axis=0), changed.max(axis=0)
    box = (int(left), int(top), int(right) + 1, int(bottom) + 1)
    assert right - left > 900 and bottom - top > 400, f"the plot covers only {box}"
    assert ink(drawn, box) > 0.04 and ink(control, box) < 0.001
    # the chosen star (one per panel) and the front's step line, in colours nothing else on the page uses
    assert near(drawn, CHOSEN, box) > 150 and near(drawn, FRONT, box) > 300
    assert near(control, CHOSEN) == 0 and near(control, FRONT) == 0
