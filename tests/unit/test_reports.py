"""The report library: the sweep and verdict reports as HTML (inline SVG plots) and as Markdown (PNG
data URIs under the KFP limit), read back the way a browser or the KFP UI would."""

import base64
import copy
import io
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from edgeopt.common.reports import MARKDOWN_LIMIT, Report, render_sweep_report, render_verdict_report, write_report
from edgeopt.common.verdict import render_markdown

SVG = "{http://www.w3.org/2000/svg}"
TARGETS = [("cortex-m0plus@48mhz", 40.0, 64.0), ("cortex-m4f@80mhz", 8.0, None),
           ("cortex-m7@216mhz", 3.0, None), ("cortex-m55@400mhz", 1.5, 128.0)]
FLOOR = 0.9456
# the demo model's simulation on cortex-m4f@80mhz (report.json of device-simulate), layers trimmed to what is plotted
LAYERS = [(0, "CONV_2D", "conv", 0.4234875, 0.0784), (1, "CONV_2D", "conv", 2.991925, 0.5542),
          (2, "MAX_POOL_2D", "pool", 0.063025, 0.0117), (3, "CONV_2D", "conv", 1.3832125, 0.2562),
          (4, "RESHAPE", "data_movement", 0.029325, 0.0054),
          (5, "FULLY_CONNECTED", "fully_connected", 0.4399125, 0.0815),
          (6, "FULLY_CONNECTED", "fully_connected", 0.0344, 0.0064), (7, "SOFTMAX", "softmax", 0.033525, 0.0062)]
CONFUSION = [[45, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 42, 1, 0, 0, 1, 0, 0, 2, 0], [0, 1, 43, 0, 0, 0, 0, 0, 0, 0],
             [0, 0, 1, 44, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 43, 0, 0, 0, 0, 2], [0, 0, 0, 0, 0, 46, 0, 0, 0, 0],
             [0, 1, 0, 0, 0, 0, 44, 0, 0, 0], [1, 0, 0, 0, 0, 1, 0, 42, 1, 0], [0, 1, 0, 0, 0, 0, 1, 1, 40, 0],
             [0, 0, 0, 1, 0, 0, 0, 0, 0, 44]]
HOSTILE = "<script>alert(1)</script>"


def simulation_report(target: str, layers: int = len(LAYERS)) -> dict:
    """A simulation report shaped like device-simulate's, with `layers` layers (the demo's, repeated)."""
    rows = [{"index": i, "op": LAYERS[i % len(LAYERS)][1], "kernel": LAYERS[i % len(LAYERS)][2],
             "ms": LAYERS[i % len(LAYERS)][3] * (1 + i // len(LAYERS)), "share": LAYERS[i % len(LAYERS)][4],
             "macs": 1000 * i, "cycles": 8000 * i} for i in range(layers)]
    return {"target": target, "runtime": "tflm-cmsis-nn", "latency_ms": sum(r["ms"] for r in rows),
            "ram_bytes": 7736, "flash_bytes": 60680, "supported": True, "layers": rows}


def sweep_doc(n: int, targets: int) -> dict:
    """A pareto.json document: n candidates on the first `targets` of TARGETS, spread so that some pass,
    some fail, the front is the quality/latency front on the first target and the best passing
    candidate is chosen."""
    names = [t[0] for t in TARGETS[:targets]]
    candidates = []
    for i in range(n):
        quality = 0.90 + 0.075 * ((i * 3) % n) / max(n - 1, 1)
        base = 10 + 60 * ((i * 5) % n) / max(n - 1, 1)
        simulation, gates, failed = {}, {}, []
        for j, (name, latency_budget, total_budget) in enumerate(TARGETS[:targets]):
            flash, ram = 32000 + 4000 * ((i * 7) % n) + 2000 * j, 6000 + 200 * i
            latency = round(base / 4 ** j, 3)
            simulation[name] = {"latency_ms": latency, "ram_bytes": ram, "flash_bytes": flash,
                                "total_bytes": flash + ram, "energy_uj": None, "supported": True,
                                "runtime": "tflm-cmsis-nn"}
            gates[name] = latency <= latency_budget and (total_budget is None or (flash + ram) / 1024 <= total_budget)
            if latency > latency_budget:
                failed.append(f"latency {latency} ms is above the {latency_budget:g} ms limit on {name}")
            if total_budget is not None and (flash + ram) / 1024 > total_budget:
                failed.append(f"flash + RAM is above the {total_budget:g} KB limit on {name}")
        if quality < FLOOR:
            failed.append("accuracy is below the floor")
        candidates.append({"id": f"c{i}", "label": f"recipe {i}: width {0.25 * (1 + i % 4)}, int8",
                           "recipe": {"quantize_method": "int8"}, "metrics": {"accuracy": quality},
                           "quality": quality, "simulation": simulation,
                           "verdict": {"passed": not failed, "targets": gates, "quality_passed": quality >= FLOOR,
                                       "failed": failed},
                           "on_front": False, "chosen": False})
    best = -1.0
    for c in sorted(candidates, key=lambda c: c["simulation"][names[0]]["latency_ms"]):
        if c["quality"] > best:
            c["on_front"], best = True, c["quality"]
    passing = [c for c in candidates if c["verdict"]["passed"]]
    chosen = max(passing, key=lambda c: c["quality"]) if passing else None
    if chosen:
        chosen["chosen"] = True
    return {"schema": "edgeopt.sweep/v1", "quality_metric": "accuracy", "quality_better": "higher",
            "baseline": {"accuracy": 0.9756, "size_bytes": 610686, "params": 47530},
            "targets": [{"target": t, "runtime": "tflm-cmsis-nn",
                         "budgets": {"latency_ms": lat, "flash_kb": None, "ram_kb": None, "total_kb": total}}
                        for t, lat, total in TARGETS[:targets]],
            "quality_floor": FLOOR, "candidates": candidates, "front": [c["id"] for c in candidates if c["on_front"]],
            "chosen": chosen["id"] if chosen else None,
            "why": f"{chosen['id']} passes every target with the highest accuracy" if chosen else "nothing passed"}


def verdict_doc(latency: float) -> dict:
    """A one-target verdict.json (the demo's), its latency check at `latency` against a 50 ms limit."""
    ok = latency <= 50
    checks = [
        {"target": "cortex-m4f@80mhz", "metric": "target", "goal": "equals", "value": "cortex-m4f@80mhz",
         "threshold": "cortex-m4f@80mhz", "baseline": None, "passed": True,
         "reason": "simulated for target cortex-m4f@80mhz"},
        {"target": "cortex-m4f@80mhz", "metric": "latency_ms", "goal": "max", "value": latency, "threshold": 50.0,
         "baseline": None, "passed": ok,
         "reason": f"latency {latency} ms is {'within' if ok else 'above'} the 50 ms limit on cortex-m4f@80mhz"},
        {"target": "cortex-m4f@80mhz", "metric": "total_kb", "goal": "max", "value": 66.8125, "threshold": 300.0,
         "baseline": None, "passed": True,
         "reason": "flash + RAM 66.81 KB is within the 300 KB limit on cortex-m4f@80mhz"},
        {"target": None, "metric": "accuracy_drop", "goal": "max_drop", "value": 0.0133, "threshold": 0.02,
         "baseline": 0.9756, "passed": True, "reason": "accuracy fell by 1.33 points | within the allowed 2 points"},
        {"target": "cortex-m4f@80mhz", "metric": "supported", "goal": "equals", "value": True, "threshold": True,
         "baseline": None, "passed": True, "reason": "every operator runs on cortex-m4f@80mhz with tflm-cmsis-nn"},
    ]
    return {"passed": ok, "target": "cortex-m4f@80mhz", "require": "all", "baseline": {"source": "input"},
            "checks": checks, "targets": [{"target": "cortex-m4f@80mhz", "runtime": "tflm-cmsis-nn", "passed": ok}],
            "metrics": {}}


class Page(HTMLParser):
    """The tags of a page, as (tag, attributes) in document order."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def count(self, tag: str, cls: str | None = None) -> int:
        return sum(1 for t, a in self.tags if t == tag and (cls is None or cls in (a.get("class") or "").split()))


def plots_of(html: str) -> dict[str, ET.Element]:
    """Each plot's SVG, parsed as XML, by the key of its <figure id="plot-KEY">."""
    found = re.findall(r'<figure class="plot" id="plot-([^"]+)">\s*(<svg\b.*?</svg>)', html, flags=re.S)
    return {key: ET.fromstring(svg) for key, svg in found}


def element(svg: ET.Element, gid: str) -> ET.Element | None:
    return svg.find(f".//*[@id='{gid}']")


def ids(svg: ET.Element, prefix: str) -> list[str]:
    return [e.get("id") for e in svg.iter() if (e.get("id") or "").startswith(prefix)]


def centres(group: ET.Element | None) -> list[tuple[float, float]]:
    """The centre of every marker drawn in `group` (a <use> at x, y or a <path> outside <defs>)."""
    out: list[tuple[float, float]] = []

    def walk(node: ET.Element) -> None:
        for child in node:
            tag = child.tag.removeprefix(SVG)
            if tag == "defs":
                continue
            if tag == "use":
                out.append((float(child.get("x")), float(child.get("y"))))
            elif tag == "path":
                xs, ys = points(child)
                out.append(((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2))
            walk(child)

    if group is not None:
        walk(group)
    return out


def points(path: ET.Element) -> tuple[list[float], list[float]]:
    numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", path.get("d"))]
    return numbers[0::2], numbers[1::2]


def fill(group: ET.Element) -> str:
    path = next(p for p in group.iter(f"{SVG}path"))
    return re.search(r"fill: (#[0-9a-f]{6})", path.get("style")).group(1)


def texts(svg: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in svg.iter(f"{SVG}text")]


def images(markdown: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]*)\)", markdown)


def assert_markdown_clean(markdown: str) -> None:
    from PIL import Image

    assert len(markdown) < MARKDOWN_LIMIT
    assert not re.search(r"(?<!\\)<[A-Za-z/!?]", markdown), "raw HTML in the Markdown"
    assert not re.search(r"https?://", markdown)
    for uri in images(markdown):
        assert uri.startswith("data:image/png;base64,"), uri[:40]
        data = base64.b64decode(uri.removeprefix("data:image/png;base64,"), validate=True)
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "PNG" and image.width > 200 and image.height > 100
            image.verify()


@pytest.fixture(scope="module")
def doc() -> dict:
    doc = sweep_doc(8, 2)
    passed = [c for c in doc["candidates"] if c["verdict"]["passed"]]
    assert 0 < len(passed) < 8 and doc["chosen"] and 1 < len(doc["front"]) < 8  # the data shows every case
    return doc


@pytest.fixture(scope="module")
def sweep(doc) -> Report:
    return render_sweep_report(doc, {t: simulation_report(t) for t in ("cortex-m0plus@48mhz", "cortex-m4f@80mhz")},
                               CONFUSION)


def test_importing_the_package_loads_no_plotting_library():
    probe = ("import sys, edgeopt.common.reports; "
             "print(sorted(m for m in ('matplotlib', 'PIL', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_rendering_registers_no_figure_with_pyplot():
    probe = ("import sys; from edgeopt.common.reports import render_verdict_report; "
             f"render_verdict_report({verdict_doc(5.4)!r}, [], {{}}); "
             "print('matplotlib' in sys.modules, 'matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["True", "False"]


def test_sweep_page_holds_one_svg_per_plot(sweep):
    page = Page(sweep.html)
    assert list(plots_of(sweep.html)) == ["pareto", "layers-0", "layers-1", "budgets", "confusion"]
    assert page.count("svg") == 5 and page.count("figure", "plot") == 5
    assert page.count("script") == page.count("link") == page.count("iframe") == page.count("img") == 0


def test_pareto_panels_show_every_candidate_once(doc, sweep):
    svg = plots_of(sweep.html)["pareto"]
    for t, target in enumerate(doc["targets"]):
        passed = [c for c in doc["candidates"] if c["verdict"]["passed"]]
        rejected = [c for c in doc["candidates"] if not c["verdict"]["passed"]]
        shown = centres(element(svg, f"eo-pareto-{t}-passed"))
        greyed = centres(element(svg, f"eo-pareto-{t}-rejected"))
        assert len(shown) == len(passed) and len(greyed) == len(rejected)
        assert fill(element(svg, f"eo-pareto-{t}-passed")) == "#2b6cb0"
        assert fill(element(svg, f"eo-pareto-{t}-rejected")) == "#b4b4b4"
        assert len(ids(svg, f"eo-pareto-{t}-label-")) == len(doc["candidates"])
        labels = ["".join(element(svg, f"eo-pareto-{t}-label-{i}").itertext()).strip()
                  for i in range(len(doc["candidates"]))]
        assert labels == [c["id"] + (" (chosen)" if c["chosen"] else "") for c in doc["candidates"]]
        # the chosen star sits on the chosen candidate's marker
        star = centres(element(svg, f"eo-pareto-{t}-chosen"))
        chosen = shown[passed.index(next(c for c in passed if c["chosen"]))]
        assert len(star) == 1 and abs(star[0][0] - chosen[0]) < 1 and abs(star[0][1] - chosen[1]) < 1
        # the budget line lies between the candidates under it and those over it
        (x, *_), _ = points(element(svg, f"eo-pareto-{t}-budget").find(f"{SVG}path"))
        budget = target["budgets"]["latency_ms"]
        markers = {c["id"]: m for c, m in zip(passed + rejected, shown + greyed)}
        for c in doc["candidates"]:
            assert (markers[c["id"]][0] < x) == (c["simulation"][target["target"]]["latency_ms"] < budget)
        assert f"budget {budget:g} ms" in "".join(element(svg, f"eo-pareto-{t}-budget-label").itertext())
        assert "94.56 %" in "".join(element(svg, f"eo-pareto-{t}-floor-label").itertext())
        # the step line goes through every front marker
        xs, ys = points(element(svg, f"eo-pareto-{t}-front").find(f"{SVG}path"))
        for c in doc["candidates"]:
            x0, y0 = markers[c["id"]]
            on_line = any(abs(x0 - a) < 0.5 and abs(y0 - b) < 0.5 for a, b in zip(xs, ys, strict=True))
            assert on_line == c["on_front"], c["id"]


def test_pareto_latency_is_log_scale_only_over_a_tenfold_range():
    doc = sweep_doc(4, 1)
    for c, latency in zip(doc["candidates"], (0.9, 4.0, 30.0, 120.0)):
        c["simulation"]["cortex-m0plus@48mhz"]["latency_ms"] = latency
    wide = plots_of(render_sweep_report(doc, {}, None).html)["pareto"]
    for c, latency in zip(doc["candidates"], (20.0, 25.0, 30.0, 35.0)):
        c["simulation"]["cortex-m0plus@48mhz"]["latency_ms"] = latency
    narrow = plots_of(render_sweep_report(doc, {}, None).html)["pareto"]
    assert "predicted latency (ms), log scale" in texts(wide)
    assert "predicted latency (ms)" in texts(narrow) and "predicted latency (ms), log scale" not in texts(narrow)


def test_candidate_table_has_a_row_per_candidate(doc, sweep):
    rows = re.findall(r'<tr class="candidate ([a-z ]+)">(.*?)</tr>', sweep.html, flags=re.S)
    assert len(rows) == len(doc["candidates"])
    for (cls, cells), c in zip(rows, doc["candidates"]):
        values = re.findall(r"<td[^>]*>(.*?)</td>", cells)
        assert values[:2] == [c["id"], c["label"]]
        assert values[2] == f"{100 * c['quality']:.2f}".rstrip("0").rstrip(".")
        assert ("rejected" in cls.split()) != c["verdict"]["passed"] and ("chosen" in cls.split()) == c["chosen"]
        gates = [values[5], values[8]]
        assert gates == ["pass" if c["verdict"]["targets"][t] else "FAIL" for t in c["simulation"]]
    assert f"Chosen: {doc['chosen']}" in sweep.html and f"Why this model: {doc['why']}" in sweep.html


def test_chosen_model_plots_layers_budgets_and_confusion(doc, sweep):
    svgs = plots_of(sweep.html)
    bars = ids(svgs["layers-0"], "eo-layers-0-")
    assert bars == [f"eo-layers-0-bar-{i}" for i in range(len(LAYERS))]
    widths = [max(points(element(svgs["layers-0"], b).find(f"{SVG}path"))[0]) for b in bars]
    assert widths == sorted(widths, reverse=True)
    order = sorted(LAYERS, key=lambda layer: -layer[3])
    ticks = [t for t in texts(svgs["layers-0"]) if re.fullmatch(r"\d+ [A-Z_0-9]+", t)]
    assert [f"{i} {op}" for i, op, *_ in order] == ticks
    chosen = next(c for c in doc["candidates"] if c["chosen"])
    budgets = ids(svgs["budgets"], "eo-budget-")
    # budgets: latency and flash + RAM on the first target, latency on the second
    assert budgets == ["eo-budget-0-ok", "eo-budget-1-ok", "eo-budget-2-ok", "eo-budget-limit"]
    assert chosen["verdict"]["passed"]
    assert element(svgs["confusion"], "eo-confusion") is not None
    assert {str(v) for row in CONFUSION for v in row if v} <= set(texts(svgs["confusion"]))


def test_hostile_text_is_escaped():
    doc = sweep_doc(3, 1)
    doc["candidates"][0]["label"] = HOSTILE
    doc["candidates"][1]["id"] = '"><img src=x onerror=alert(1)>'
    doc["targets"][0]["target"] = "<b>m0</b>"
    for c in doc["candidates"]:
        c["simulation"] = {"<b>m0</b>": c["simulation"]["cortex-m0plus@48mhz"]}
    report = render_sweep_report(doc, {}, None)
    page = Page(report.html)
    assert "<script" not in report.html.lower() and "<b>" not in report.html and "<img" not in report.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report.html
    assert page.count("script") == page.count("img") == page.count("b") == 0
    svg = plots_of(report.html)["pareto"]  # still well-formed XML: the id label is escaped in the SVG too
    assert '"><img src=x onerror=alert(1)>' in texts(svg) and "<b>m0</b> (tflm-cmsis-nn)" in texts(svg)
    assert_markdown_clean(report.markdown)
    assert r"\<script\>alert(1)\</script\>" in report.markdown


def test_no_external_url(sweep):
    for match in re.finditer(r"https?://", sweep.html):
        before = sweep.html[:match.start()]
        assert re.search(r'xmlns(:xlink)?="$', before), sweep.html[match.start() - 40:match.end() + 20]
    assert 'src="' not in sweep.html and "href=\"http" not in sweep.html
    assert "Content-Security-Policy" in sweep.html


def test_sweep_markdown_has_png_images_and_no_html(sweep):
    assert_markdown_clean(sweep.markdown)
    assert len(images(sweep.markdown)) == 5
    assert "| c0 |" in sweep.markdown and "## Pareto front" in sweep.markdown


def test_markdown_stays_under_the_limit_with_30_candidates_on_4_targets():
    doc = sweep_doc(30, 4)
    report = render_sweep_report(doc, {t[0]: simulation_report(t[0], layers=40) for t in TARGETS}, CONFUSION)
    assert_markdown_clean(report.markdown)
    svgs = plots_of(report.html)
    assert list(svgs) == ["pareto", "layers-0", "layers-1", "layers-2", "layers-3", "budgets", "confusion"]
    assert len(images(report.markdown)) == 7
    pareto = svgs["pareto"]
    for t in range(4):
        shown = centres(element(pareto, f"eo-pareto-{t}-passed")) + centres(element(pareto, f"eo-pareto-{t}-rejected"))
        assert len(shown) == 30
    assert len(ids(svgs["layers-0"], "eo-layers-0-bar-")) == 15
    assert element(svgs["layers-0"], "eo-layers-0-other") is not None
    assert "other 25 layers" in texts(svgs["layers-0"])


def test_markdown_shrinks_then_drops_images_to_fit():
    from functools import partial

    from edgeopt.common.reports import markdown, plots
    from edgeopt.common.reports.blocks import Heading, Plot

    bars = (plots.BudgetBar("a", 10, 20, "ms"), plots.BudgetBar("b", 30, 20, "KB"))
    blocks = [Heading("t", 1)] + [Plot(f"p{rank}", f"plot {rank}", partial(plots.budgets, bars), rank)
                                  for rank in range(3)]
    full = {b.key: plots.png(b.draw, 100) for b in blocks[1:]}
    roomy = markdown.document(blocks, full, 100, 10 ** 7)
    assert len(images(roomy)) == 3 and "dpi" not in roomy
    small = markdown.document(blocks, full, 100, len(roomy) - 1)      # fits at a lower dpi
    assert len(small) < len(roomy) and len(images(small)) == 3 and "images at 72 dpi instead of 100" in small
    tighter = markdown.document(blocks, full, 100, len(small) // 2)   # only some plots fit
    assert len(tighter) < len(small) // 2 and "plot(s) left out" in tighter
    kept = [b.key for b in blocks[1:] if f"![plot {b.rank}]" in tighter]
    assert kept and kept == [f"p{r}" for r in range(len(kept))]      # the highest ranks go first
    assert f"Plot left out (the {len(small) // 2}-character limit): plot 2." in tighter
    tiny = markdown.document(blocks, full, 100, 300)
    assert len(tiny) < 300 and not images(tiny) and "cut here" in tiny


def test_no_candidate_passed():
    doc = sweep_doc(6, 2)
    for c in doc["candidates"]:
        c["simulation"]["cortex-m0plus@48mhz"]["latency_ms"] = 55.0 + int(c["id"][1:])
        c["verdict"]["passed"], c["chosen"] = False, False
    doc["chosen"] = None
    report = render_sweep_report(doc, {}, None)
    for text in (report.html, report.markdown):
        assert "No candidate passed" in text
        assert "latency over the 40 ms budget on cortex-m0plus@48mhz: 6 of 6 candidates" in text
    svgs = plots_of(report.html)
    assert list(svgs) == ["pareto"] and not ids(svgs["pareto"], "eo-pareto-0-chosen")
    assert "no per-layer, budget or confusion plots" in report.html
    assert_markdown_clean(report.markdown)


def test_missing_figures_are_left_out_and_named():
    doc = sweep_doc(5, 2)
    doc["candidates"][1]["simulation"]["cortex-m4f@80mhz"] = None
    doc["candidates"][2]["simulation"]["cortex-m4f@80mhz"]["latency_ms"] = None
    doc["candidates"][3]["simulation"]["cortex-m4f@80mhz"]["total_bytes"] = None
    doc["candidates"][4]["quality"] = None
    chosen = next(c for c in doc["candidates"] if c["chosen"])
    chosen["simulation"]["cortex-m0plus@48mhz"]["total_bytes"] = None
    report = render_sweep_report(doc, {"cortex-m0plus@48mhz": simulation_report("cortex-m0plus@48mhz")}, None)
    svgs = plots_of(report.html)
    counted = [len(centres(element(svgs["pareto"], f"eo-pareto-{t}-passed"))
                   + centres(element(svgs["pareto"], f"eo-pareto-{t}-rejected"))) for t in range(2)]
    assert counted == [4, 2]  # c4 has no accuracy; on the second target c1 and c2 have no latency
    assert "not plotted: c1, c2, c4" in texts(svgs["pareto"])
    assert "c1 (no simulation), c2 (no latency), c3 (no flash + RAM: smallest marker), c4 (no accuracy)" in report.html
    assert "No simulation report for cortex-m4f@80mhz." in report.html
    assert "cortex-m0plus@48mhz · flash + RAM" in report.html.split("Budgets with no value to compare:")[1][:200]
    assert "No confusion matrix for the chosen model" in report.html
    assert list(svgs) == ["pareto", "layers-0", "budgets"]


def test_verdict_report_shows_an_over_budget_bar_in_red():
    verdict = verdict_doc(62.0)
    report = render_verdict_report(verdict, [simulation_report("cortex-m4f@80mhz")], {"accuracy": 0.96})
    page = Page(report.html)
    assert re.search(r"<h1>Verdict: REJECTED</h1>", report.html)
    assert "<li>latency 62.0 ms is above the 50 ms limit on cortex-m4f@80mhz</li>" in report.html
    svg = plots_of(report.html)["budgets"]
    over, within = element(svg, "eo-budget-0-over"), element(svg, "eo-budget-1-ok")
    assert fill(over) == "#d62728" and fill(within) == "#4c9a6a"
    (limit, *_), _ = points(element(svg, "eo-budget-limit").find(f"{SVG}path"))
    assert max(points(over.find(f"{SVG}path"))[0]) > limit > max(points(within.find(f"{SVG}path"))[0])
    assert "62 of 50 ms (124 %)" in texts(svg)
    assert page.count("table", "checks") == 2 and page.count("tr", "failed") == 1
    assert list(plots_of(report.html)) == ["layers-0", "budgets"] and "No confusion matrix" in report.html
    assert_markdown_clean(report.markdown)


def test_verdict_markdown_holds_render_markdown_tables():
    verdict = verdict_doc(5.4)
    report = render_verdict_report(verdict, [simulation_report("cortex-m4f@80mhz")], {"confusion_matrix": CONFUSION})
    lines = set(report.markdown.splitlines())
    wanted = [line for line in render_markdown(verdict).splitlines() if line.startswith(("|", "#"))]
    assert len(wanted) > 8 and [line for line in wanted if line not in lines] == []
    assert "<h1>Verdict: PASSED</h1>" in report.html
    assert list(plots_of(report.html)) == ["layers-0", "budgets", "confusion"]
    assert len(images(report.markdown)) == 3
    assert_markdown_clean(report.markdown)


def test_verdict_without_checks_says_so():
    report = render_verdict_report({"passed": False, "checks": [], "targets": [], "reason": "no candidate passed"},
                                   [], {})
    assert "<h1>Verdict: REJECTED</h1>" in report.html and "No check was made on no target." in report.html
    assert "no candidate passed" in report.markdown and not plots_of(report.html)
    assert_markdown_clean(report.markdown)


def test_output_is_deterministic_whatever_the_user_rcparams(doc):
    import matplotlib

    small = sweep_doc(3, 1)
    first = render_sweep_report(small, {}, CONFUSION)
    with matplotlib.rc_context({"font.size": 30, "lines.linewidth": 9, "svg.fonttype": "path", "svg.hashsalt": None}):
        again = render_sweep_report(copy.deepcopy(small), {}, CONFUSION)
    assert again == first


def test_write_report(tmp_path):
    report = Report(html="<!DOCTYPE html><p>é</p>", markdown="# é\n")
    write_report(report, tmp_path / "a" / "report.html", tmp_path / "b" / "c" / "report.md")
    assert (tmp_path / "a" / "report.html").read_text(encoding="utf-8") == report.html
    assert (tmp_path / "b" / "c" / "report.md").read_text(encoding="utf-8") == report.markdown
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["report.html", "report.md"]
