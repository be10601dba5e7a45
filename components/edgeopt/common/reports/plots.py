"""The reports' matplotlib figures, saved as SVG text (the HTML page) or PNG bytes (the Markdown).

matplotlib is imported inside the functions, so importing this module costs nothing. A figure is a
`matplotlib.figure.Figure` made by a draw function (no pyplot: nothing is registered globally) and
cleared once saved. Every figure is drawn and saved under the same rcParams (`RC`, on top of
matplotlib's defaults, whatever the user's matplotlibrc says), so one input gives byte-identical
files. Elements a reader or a test looks for carry a gid starting with `eo-` (the package docstring
lists them); every other id of an SVG is prefixed with the figure's key, so that several SVGs can
share one HTML page.
"""

import contextlib
import io
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Draw = Callable[[], "Figure"]

RC: dict[str, Any] = {
    "svg.hashsalt": "edgeopt-reports", "svg.fonttype": "none", "svg.image_inline": True,
    "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial"],
    "font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "xtick.labelsize": 9, "ytick.labelsize": 9,
    "legend.fontsize": 9, "figure.dpi": 100, "savefig.dpi": 100, "savefig.facecolor": "white",
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.color": "#e3e3e3",
    "grid.linewidth": 0.6, "axes.axisbelow": True, "text.usetex": False, "path.simplify": True,
    "image.interpolation": "nearest",
}
PASSED = "#2b6cb0"     # a candidate that passed the gate
REJECTED = "#b4b4b4"   # one that did not
FRONT = "#ff8c00"      # the Pareto front's step line
CHOSEN = "#e6007e"     # the chosen candidate's star and label
BUDGET = "#c62828"     # a device budget line
FLOOR = "#2e7d32"      # the quality floor line
WITHIN = "#4c9a6a"     # a budget bar within its budget
OVER = "#d62728"       # a budget bar over its budget
LAYER = "#5b7fb5"
OTHER = "#9aa5b1"
PALETTE = 64           # colours of a PNG
SVG_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}
PNG_METADATA = {"Software": None}


@dataclass(frozen=True)
class Point:
    """One candidate in one Pareto panel: quality in display units, flash + RAM in bytes (or None)."""

    name: str
    latency_ms: float
    quality: float
    total_bytes: float | None
    passed: bool
    front: bool
    chosen: bool


@dataclass(frozen=True)
class Panel:
    """One target's Pareto panel: its title, its points, its latency budget and the quality floor
    (display units; None: no line), and a note (what could not be plotted; "" for none)."""

    title: str
    points: tuple[Point, ...]
    budget_ms: float | None
    floor: float | None
    note: str = ""


@dataclass(frozen=True)
class Bar:
    """One bar of a per-layer latency chart: its label, milliseconds and share of the total."""

    label: str
    ms: float
    share: float
    other: bool = False


@dataclass(frozen=True)
class BudgetBar:
    """One used-share-of-budget bar: its label, the value and its limit (same unit), the unit."""

    label: str
    value: float
    limit: float
    unit: str

    @property
    def share(self) -> float:
        return 100 * self.value / self.limit

    @property
    def over(self) -> bool:
        return self.value > self.limit


def plain(text: str) -> str:
    """User text for a matplotlib label: dollars escaped, so it is never read as mathtext."""
    return text.replace("$", r"\$")


def render(draw: Draw, key: str, dpi: float) -> tuple[str, bytes]:
    """(SVG text ready to inline, PNG bytes at `dpi`) of the figure `draw` makes."""
    with _style():
        fig = draw()
        try:
            svg = _svg(fig, key)
            fig.set_layout_engine("none")  # keep the layout the SVG was drawn with: laying out again is slow
            return svg, _png(fig, dpi)
        finally:
            fig.clear()


def png(draw: Draw, dpi: float) -> bytes:
    """PNG bytes at `dpi` of the figure `draw` makes."""
    with _style():
        fig = draw()
        try:
            return _png(fig, dpi)
        finally:
            fig.clear()


def pareto(panels: Sequence[Panel], quality_label: str, unit: str) -> "Figure":
    """One panel per target: latency (log when it spans more than 10x) against quality, marker area
    by flash + RAM, the budget and floor lines, the front's step line, the chosen star, id labels;
    `unit` follows quality numbers ("%" or "")."""
    from matplotlib.lines import Line2D

    columns = 1 if len(panels) == 1 else 2
    rows = math.ceil(len(panels) / columns)
    fig = _figure((9.5 if columns == 1 else 11.5, 4.9 * rows + 0.9))
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    sizes = [p.total_bytes for panel in panels for p in panel.points if p.total_bytes is not None]
    area = _area_scale(sizes)
    for number, (ax, panel) in enumerate(zip(axes, panels, strict=False)):
        _pareto_panel(ax, panel, f"eo-pareto-{number}", area, quality_label, unit)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    handles = [Line2D([], [], ls="none", marker="o", ms=8, mfc=PASSED, mec="white", label="passed"),
               Line2D([], [], ls="none", marker="o", ms=8, mfc=REJECTED, mec="white", label="rejected"),
               Line2D([], [], color=FRONT, lw=2, marker="o", ms=8, mfc="none", mec="black",
                      label="Pareto front (black ring)"),
               Line2D([], [], ls="none", marker="*", ms=15, mfc=CHOSEN, mec="black", label="chosen"),
               Line2D([], [], color=BUDGET, ls="--", label="latency budget"),
               Line2D([], [], color=FLOOR, ls="--", label="quality floor")]
    if sizes:
        for label, value in (("smallest", min(sizes)), ("largest", max(sizes))):
            handles.append(Line2D([], [], ls="none", marker="o", mfc="#dddddd", mec="#777777",
                                  ms=math.sqrt(area(value)), label=f"{label} flash + RAM {value / 1024:.0f} KB"))
    fig.legend(handles=handles, loc="outside lower center", ncols=4, frameon=False)
    return fig


def layers(gid: str, bars: Sequence[Bar]) -> "Figure":
    """Horizontal bars of per-layer latency, largest on top, each labelled with ms and share."""
    fig = _figure((9.5, 1.3 + 0.3 * len(bars)))
    ax = fig.subplots()
    top = max((b.ms for b in bars), default=0) or 1
    for row, bar in enumerate(bars):
        ax.barh(row, bar.ms, height=0.7, color=OTHER if bar.other else LAYER,
                gid=f"{gid}-other" if bar.other else f"{gid}-bar-{row}")
        ax.text(bar.ms + top * 0.01, row, f"{bar.ms:.3g} ms  {100 * bar.share:.1f} %", va="center", fontsize=8.5)
    ax.set_yticks(range(len(bars)), [plain(b.label) for b in bars])
    ax.set_ylim(len(bars) - 0.4, -0.6)
    ax.set_xlim(0, top * 1.22)
    ax.set_xlabel("latency (ms)")
    ax.grid(axis="y", visible=False)
    return fig


def budgets(bars: Sequence[BudgetBar]) -> "Figure":
    """The used share of each budget as a bar, the 100 % line, over-budget bars in red; the axis ends
    at 400 % at most, and a longer bar stops there (its label gives the true share)."""
    fig = _figure((9.5, 1.4 + 0.42 * len(bars)))
    ax = fig.subplots()
    limit = min(max([b.share for b in bars] + [100]) * 1.25, 400)
    for row, bar in enumerate(bars):
        ax.barh(row, min(bar.share, limit), height=0.62, color=OVER if bar.over else WITHIN,
                gid=f"eo-budget-{row}-{'over' if bar.over else 'ok'}")
        text = f"{bar.value:.3g} of {bar.limit:.3g} {bar.unit} ({bar.share:.0f} %)"
        inside = bar.share > limit * 0.7
        ax.text(min(bar.share, limit) + (-1 if inside else 1) * limit * 0.01, row, text, va="center",
                ha="right" if inside else "left", fontsize=8.5, color="white" if inside else "black")
    ax.axvline(100, color="black", lw=1.2, ls="--", gid="eo-budget-limit")
    ax.annotate("100 %", (100, 1), xycoords=("data", "axes fraction"), xytext=(0, 3), textcoords="offset points",
                ha="center", va="bottom", fontsize=8.5, annotation_clip=False)
    ax.set_yticks(range(len(bars)), [plain(b.label) for b in bars])
    ax.set_ylim(len(bars) - 0.4, -0.6)
    ax.set_xlim(0, limit)
    ax.set_xlabel("share of the budget used (%)")
    ax.grid(axis="y", visible=False)
    return fig


def confusion(matrix: Sequence[Sequence[int]]) -> "Figure":
    """A heatmap of a confusion matrix (rows: true class), coloured by the share of each true class,
    with the counts written in the cells when there are 20 classes or fewer."""
    import numpy as np

    counts = np.asarray(matrix, dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    n = max(counts.shape)
    side = min(7.5, 2.4 + 0.3 * n)
    fig = _figure((side + 1.3, side))
    ax = fig.subplots()
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1, gid="eo-confusion")
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the true class")
    if n <= 20:
        for (row, column), count in np.ndenumerate(counts):
            if count:
                ax.text(column, row, f"{count:.0f}", ha="center", va="center", fontsize=8,
                        color="white" if shares[row, column] > 0.55 else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.grid(False)
    ax.tick_params(length=0)
    if n <= 30:
        ax.set_xticks(range(counts.shape[1]))
        ax.set_yticks(range(counts.shape[0]))
    return fig


def _pareto_panel(ax: "Axes", panel: Panel, gid: str, area: Callable[[float | None], float],
                  quality_label: str, unit: str) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    points = panel.points
    for group, color in (("rejected", REJECTED), ("passed", PASSED)):
        members = [p for p in points if p.passed == (group == "passed")]
        if members:
            ax.scatter([p.latency_ms for p in members], [p.quality for p in members],
                       s=[area(p.total_bytes) for p in members], c=color,
                       edgecolors=["black" if p.front else "white" for p in members],
                       linewidths=[1.3 if p.front else 0.6 for p in members], zorder=3, gid=f"{gid}-{group}")
    front = sorted((p for p in points if p.front), key=lambda p: p.latency_ms)
    if front:
        ax.plot([p.latency_ms for p in front], [p.quality for p in front], drawstyle="steps-post", color=FRONT,
                lw=2, zorder=2, gid=f"{gid}-front")
    for number, p in enumerate(points):
        if p.chosen:
            ax.scatter([p.latency_ms], [p.quality], marker="*", s=420, c=CHOSEN, edgecolors="black",
                       linewidths=0.8, zorder=4, gid=f"{gid}-chosen")
        ax.annotate(plain(p.name) + (" (chosen)" if p.chosen else ""), (p.latency_ms, p.quality),
                    xytext=(7, 5), textcoords="offset points", fontsize=8.5 if p.chosen else 8,
                    color=CHOSEN if p.chosen else "#333333", fontweight="bold" if p.chosen else "normal",
                    zorder=5, gid=f"{gid}-label-{number}")
    xs = [p.latency_ms for p in points] + ([panel.budget_ms] if panel.budget_ms else [])
    ys = [p.quality for p in points] + ([panel.floor] if panel.floor is not None else [])
    if xs:
        low, high = min(xs), max(xs)
        if low > 0 and high / low > 10:
            ax.set_xscale("log")
            ax.set_xlim(low / 1.5, high * 1.6)
            ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        else:
            pad = (high - low) * 0.12 or max(abs(high) * 0.1, 0.1)
            ax.set_xlim(max(0, low - pad), high + pad * 1.4)
    if ys:
        low, high = min(ys), max(ys)
        pad = (high - low) * 0.15 or max(abs(high) * 0.02, 0.5)
        ax.set_ylim(low - pad, high + pad)
    if panel.budget_ms:
        ax.axvline(panel.budget_ms, color=BUDGET, ls="--", lw=1.4, zorder=1, gid=f"{gid}-budget")
        ax.annotate(f"budget {panel.budget_ms:g} ms", (panel.budget_ms, 1), xycoords=("data", "axes fraction"),
                    xytext=(0, 3), textcoords="offset points", ha="center", va="bottom", fontsize=8.5,
                    color=BUDGET, annotation_clip=False, gid=f"{gid}-budget-label")
    if panel.floor is not None:
        ax.axhline(panel.floor, color=FLOOR, ls="--", lw=1.4, zorder=1, gid=f"{gid}-floor")
        ax.annotate(f"floor\n{panel.floor:.4g} {unit}".rstrip(), (1, panel.floor), xycoords=("axes fraction", "data"),
                    xytext=(3, 0), textcoords="offset points", ha="left", va="center", fontsize=8.5, color=FLOOR,
                    annotation_clip=False, gid=f"{gid}-floor-label")
    if not points:
        ax.text(0.5, 0.5, "nothing to plot", transform=ax.transAxes, ha="center", color="#777777")
    ax.set_title(plain(panel.title) + (f"\n{plain(panel.note)}" if panel.note else ""), fontsize=10.5, pad=16)
    ax.set_xlabel("predicted latency (ms)" + (", log scale" if ax.get_xscale() == "log" else ""))
    ax.set_ylabel(plain(quality_label))


def _area_scale(sizes: Sequence[float]) -> Callable[[float | None], float]:
    """Marker area (points²) by flash + RAM, linear between the smallest and largest; None: smallest."""
    low, high = (min(sizes), max(sizes)) if sizes else (0.0, 0.0)

    def area(size: float | None) -> float:
        if size is None or high == low:
            return 36.0 if size is None else 110.0
        return 36.0 + 264.0 * (size - low) / (high - low)

    return area


def _figure(size: tuple[float, float]) -> "Figure":
    from matplotlib.figure import Figure

    return Figure(figsize=size, layout="constrained")


@contextlib.contextmanager
def _style() -> Iterator[None]:
    """matplotlib's defaults plus RC, whatever the user's matplotlibrc says; undone on exit."""
    import matplotlib

    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(RC)
        yield


def _svg(fig: "Figure", key: str) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata=SVG_METADATA)
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    return re.sub(r"<[^>]*>", lambda tag: _scope(tag.group(0), key), text)


def _scope(tag: str, key: str) -> str:
    """A tag with its matplotlib ids and references to them prefixed by `key` (eo- gids stay)."""
    tag = re.sub(r'\bid="(?!eo-)', f'id="{key}-', tag)
    tag = re.sub(r"url\(#(?!eo-)", f"url(#{key}-", tag)
    return re.sub(r'href="#(?!eo-)', f'href="#{key}-', tag)


def _png(fig: "Figure", dpi: float) -> bytes:
    """The figure as a PNG of PALETTE colours: a third of the size of a full-colour one."""
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata=PNG_METADATA)
    with Image.open(buffer) as image:
        small = image.convert("RGB").quantize(PALETTE, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return out.getvalue()
