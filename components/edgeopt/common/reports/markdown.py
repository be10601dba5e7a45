"""The Markdown of a report: plots as PNG data URIs, text escaped so that none of it is read as HTML
or as Markdown markup, and the whole shorter than a limit. When the PNGs would not fit they are
drawn again at lower dpi, then plots are left out by descending rank, and the text says so; the
text alone is cut at the limit as a last resort."""

import base64
import re
from collections.abc import Mapping, Sequence

from edgeopt.common.reports import plots
from edgeopt.common.reports.blocks import Block, Bullets, Heading, Plot, Table, Text

SHRINK_DPI = (72, 50)  # tried in turn when the first PNGs do not fit
# markup characters; an underscore inside a word (accuracy_drop) is no markup and stays as it is
_SPECIAL = re.compile(r"([\\`*\[\]<>|#~$]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")


def document(blocks: Sequence[Block], images: Mapping[str, bytes], dpi: int, limit: int) -> str:
    """`blocks` as Markdown shorter than `limit` characters, each Plot as its PNG in `images` (made
    at `dpi`) or redrawn smaller."""
    figures = [b for b in blocks if isinstance(b, Plot)]
    uris = {key: _uri(image) for key, image in images.items()}
    text = _compose(blocks, uris, dpi, dpi, limit)
    for lower in SHRINK_DPI:
        if len(text) < limit:
            return text
        uris = {p.key: _uri(plots.png(p.draw, lower)) for p in figures}
        text = _compose(blocks, uris, dpi, lower, limit)
    order = sorted(range(len(figures)), key=lambda i: (-figures[i].rank, -i))
    for index in order:
        if len(text) < limit:
            return text
        del uris[figures[index].key]
        text = _compose(blocks, uris, dpi, SHRINK_DPI[-1], limit)
    if len(text) < limit:
        return text
    cut = f"\n\n*The report was cut here to stay under the {limit} characters a Markdown view shows; " \
          "the HTML report has all of it.*\n"
    return text[:limit - len(cut) - 1] + cut


def escape(text: str) -> str:
    """Text for Markdown: on one line, markup characters backslash-escaped (no HTML, links or math)."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _compose(blocks: Sequence[Block], uris: Mapping[str, str], dpi: int, shown: int, limit: int) -> str:
    parts = []
    dropped = [b.title for b in blocks if isinstance(b, Plot) and b.key not in uris]
    for block in blocks:
        parts.append(_block(block, uris, limit))
        if len(parts) == 1 and (shown != dpi or dropped):
            note = f"images at {shown} dpi instead of {dpi}" if shown != dpi else ""
            if dropped:
                note += ("; " if note else "") + f"{len(dropped)} plot(s) left out"
            parts.append(f"*To stay under the {limit} characters a Markdown view shows: {note}. "
                         "The HTML report has every plot in full.*")
    return "\n\n".join(parts) + "\n"


def _block(block: Block, uris: Mapping[str, str], limit: int) -> str:
    if isinstance(block, Heading):
        return "#" * block.level + " " + escape(block.text)
    if isinstance(block, Text):
        mark = {"alert": "**", "ok": "**", "note": "*"}.get(block.cls, "")
        return f"{mark}{escape(block.text)}{mark}"
    if isinstance(block, Bullets):
        return "\n".join(f"- {escape(item)}" for item in block.items)
    if isinstance(block, Table):
        lines = ["| " + " | ".join(escape(h) for h in block.header) + " |",
                 "|" + " --- |" * len(block.header)]
        for row in block.rows:
            cells = [f"**{escape(c.text)}**" if c.cls == "fail" and c.text else escape(c.text) for c in row.cells]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)
    if isinstance(block, Plot):
        if block.key not in uris:
            return f"*Plot left out (the {limit}-character limit): {escape(block.title)}.*"
        return f"![{escape(block.title)}]({uris[block.key]})\n\n*{escape(block.title)}*"
    raise TypeError(f"not a report block: {block!r}")


def _uri(image: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(image).decode("ascii")
