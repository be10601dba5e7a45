"""The HTML page of a report: one self-contained file (CSS inline, plots as inline SVG, nothing
fetched: a Content-Security-Policy forbids it), every piece of text escaped."""

from collections.abc import Mapping, Sequence
from html import escape

from edgeopt.common.reports.blocks import Block, Bullets, Heading, Plot, Table, Text

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
CSS = """
body{margin:0;background:#fff;color:#1f2328;font:15px/1.5 "DejaVu Sans","Liberation Sans",Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:26px;margin:0 0 12px}h2{font-size:20px;margin:32px 0 8px;border-bottom:1px solid #d8dee4}
h3{font-size:16px;margin:20px 0 6px}
p.alert{background:#fdecea;border-left:5px solid #c62828;padding:8px 12px;font-weight:bold}
p.ok{background:#e8f5e9;border-left:5px solid #2e7d32;padding:8px 12px;font-weight:bold}
p.note{color:#57606a;font-style:italic}
figure{margin:12px 0 20px}figure svg{display:block;max-width:100%;height:auto}
figcaption{color:#57606a;font-size:13px;margin-top:4px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:12.5px;margin:8px 0 16px}
th,td{border:1px solid #d0d7de;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f3f5f7}tbody tr:nth-child(even){background:#fafbfc}
tr.rejected td{color:#6e7781}tr.chosen td{background:#fff4fa;font-weight:bold}
tr td.pass{color:#1a7f37}tr td.fail{color:#c62828;font-weight:bold}
td.num{text-align:right;white-space:nowrap}td.label{min-width:10em}td.reasons{min-width:12em}
"""


def page(title: str, blocks: Sequence[Block], svgs: Mapping[str, str]) -> str:
    """The whole page: `blocks` in order, each Plot as its SVG from `svgs` (by key)."""
    body = "\n".join(_block(b, svgs) for b in blocks)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n{body}\n"
            f"</main>\n</body>\n</html>\n")


def _block(block: Block, svgs: Mapping[str, str]) -> str:
    if isinstance(block, Heading):
        return f"<h{block.level}>{escape(block.text)}</h{block.level}>"
    if isinstance(block, Text):
        return f"<p{_cls(block.cls)}>{escape(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{escape(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, Table):
        head = "".join(f"<th>{escape(h)}</th>" for h in block.header)
        rows = "\n".join(f"<tr{_cls(row.cls)}>" + "".join(f"<td{_cls(c.cls)}>{escape(c.text)}</td>" for c in row.cells)
                         + "</tr>" for row in block.rows)
        return (f'<div class="scroll"><table{_cls(block.cls)}><thead><tr>{head}</tr></thead>\n'
                f"<tbody>\n{rows}\n</tbody></table></div>")
    if isinstance(block, Plot):
        return (f'<figure class="plot" id="plot-{escape(block.key)}">\n{svgs[block.key]}\n'
                f"<figcaption>{escape(block.title)}</figcaption>\n</figure>")
    raise TypeError(f"not a report block: {block!r}")


def _cls(cls: str) -> str:
    return f' class="{escape(cls)}"' if cls else ""
