"""The pieces a report is made of: headings, text, lists, tables and plots, which `html` and
`markdown` each render."""

from dataclasses import dataclass, field

from edgeopt.common.reports.plots import Draw


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Text:
    """A paragraph; cls "alert" stands out (bold), "note" is quiet (italic)."""

    text: str
    cls: str = ""


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Cell:
    """A table cell; cls "pass" or "fail" colours it (HTML) and makes a failure bold (Markdown);
    "num", "label" and "reasons" set its alignment and width (HTML)."""

    text: str
    cls: str = ""


@dataclass(frozen=True)
class Row:
    cells: tuple[Cell, ...]
    cls: str = ""


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[Row, ...]
    cls: str = ""


@dataclass(frozen=True)
class Plot:
    """A figure: `key` names it (HTML id `plot-KEY`, prefix of its SVG's own ids), `draw` makes it;
    the Markdown leaves plots out by descending `rank` when it must (0: keep the longest)."""

    key: str
    title: str
    draw: Draw = field(repr=False)
    rank: int = 0


Block = Heading | Text | Bullets | Table | Plot
