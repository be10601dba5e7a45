"""A report: its blocks rendered once as a self-contained HTML page and once as Markdown, the
`Report` that holds both, and writing it."""

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edgeopt.common.reports import html, markdown, plots
from edgeopt.common.reports.blocks import Block, Plot

MARKDOWN_LIMIT = 400_000  # the KFP UI's Markdown visualization limit (characters)
DPI = 100                 # the Markdown's PNGs, before they are shrunk to fit MARKDOWN_LIMIT


@dataclass(frozen=True)
class Report:
    """html: a self-contained page; markdown: the same report, images as PNG data URIs, no raw
    HTML, shorter than MARKDOWN_LIMIT."""

    html: str
    markdown: str


def build(title: str, blocks: Sequence[Block]) -> Report:
    """Render `blocks` as HTML (plots as inline SVG) and as Markdown (plots as PNG)."""
    drawn = {b.key: plots.render(b.draw, b.key, DPI) for b in blocks if isinstance(b, Plot)}
    page = html.page(title, blocks, {key: svg for key, (svg, _) in drawn.items()})
    text = markdown.document(blocks, {key: image for key, (_, image) in drawn.items()}, DPI, MARKDOWN_LIMIT)
    return Report(html=page, markdown=text)


def write_report(report: Report, html_path: str | Path, md_path: str | Path) -> None:
    """Write the page to `html_path` and the Markdown to `md_path` (UTF-8), creating their folders;
    each file is replaced whole or not at all."""
    for path, text in ((Path(html_path), report.html), (Path(md_path), report.markdown)):
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_name(f".{path.name}.tmp")
        scratch.write_text(text, encoding="utf-8")
        os.replace(scratch, path)
