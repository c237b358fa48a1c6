"""
The governance report as a list of blocks (headings, paragraphs, tables, traces, diagrams),
rendered once as Markdown and once as HTML, so both pages say the same and every piece of
text is escaped in one place: names never become markup in either page.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable, Sequence

import attrs


@attrs.frozen
class Code:
    """
    Inline code: a name (a guard, an event, a reason code).
    """

    text: str


@attrs.frozen
class Strong:
    """
    Inline emphasis (PASS, FAIL).
    """

    text: str


Inline = str | Code | Strong
Text = str | Code | Strong | tuple[Inline, ...]
"""A paragraph's or a cell's content: one piece or several."""

_TICKS = re.compile(r"(`+)(.+?)\1", re.DOTALL)


def prose(text: str) -> tuple[Inline, ...]:
    """
    `text` with its backquoted spans (```name``` or ````name````, as docstrings write
    them) as `Code`, so that no backtick reaches the HTML page.
    """
    parts: list[Inline] = []
    at = 0
    for match in _TICKS.finditer(text):
        if match.start() > at:
            parts.append(text[at : match.start()])
        parts.append(Code(match.group(2)))
        at = match.end()
    if at < len(text):
        parts.append(text[at:])
    return tuple(parts)


def plain(text: Text) -> str:
    """
    `text` without any markup (for a page title or an image's alternative text).
    """
    return "".join(p if isinstance(p, str) else p.text for p in _pieces(text))


@attrs.frozen
class Heading:
    level: int
    text: Text
    anchor: str = ""


@attrs.frozen
class Para:
    text: Text
    css: str = ""


@attrs.frozen
class Items:
    """
    A bulleted list.
    """

    items: tuple[Text, ...]


@attrs.frozen
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[Text, ...], ...]
    css: str = ""


@attrs.frozen
class Trace:
    """
    A counterexample: one step per line.
    """

    steps: tuple[str, ...]


@attrs.frozen
class Diagram:
    """
    A machine's diagram: linked in Markdown (`src`); in HTML an image whose source is the
    SVG itself (a ``data:`` URI), so the page stands alone and nothing in the drawing can
    run as part of the page.
    """

    src: str
    alt: str
    svg: bytes


@attrs.frozen
class Raw:
    """
    Text already made for each page (a table another module builds).
    """

    markdown: tuple[str, ...]
    html: str


Block = Heading | Para | Items | Table | Trace | Diagram | Raw


def _pieces(text: Text) -> tuple[Inline, ...]:
    return text if isinstance(text, tuple) else (text,)


# -- Markdown --------------------------------------------------------------------------------

_MD_SPECIAL = str.maketrans({"<": "&lt;", "`": "&#96;"})


def _md_code(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_inline(text: Text, *, cell: bool = False) -> str:
    """
    Markdown of `text`: plain text with ``<`` and backticks as entities (so a name is
    never HTML or code in a Markdown viewer), code as code spans; in a table cell ``|`` is
    escaped and a line break is a space.
    """
    out = []
    for piece in _pieces(text):
        if isinstance(piece, Code):
            out.append(_md_code(piece.text))
        elif isinstance(piece, Strong):
            out.append(f"**{piece.text.translate(_MD_SPECIAL)}**")
        else:
            out.append(piece.translate(_MD_SPECIAL))
    joined = "".join(out)
    if cell:
        joined = " ".join(joined.split("\n")).replace("|", "\\|") or "-"
    return joined


def to_markdown(blocks: Iterable[Block]) -> str:
    """
    The blocks as one Markdown page.
    """
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines += ["#" * block.level + " " + md_inline(block.text), ""]
        elif isinstance(block, Para):
            lines += [md_inline(block.text), ""]
        elif isinstance(block, Items):
            lines += [f"- {md_inline(item)}" for item in block.items] + [""]
        elif isinstance(block, Table):
            lines += ["| " + " | ".join(block.header) + " |"]
            lines += ["|" + " --- |" * len(block.header)]
            lines += [
                "| " + " | ".join(md_inline(c, cell=True) for c in row) + " |" for row in block.rows
            ]
            lines.append("")
        elif isinstance(block, Trace):
            lines += ["```text", *block.steps, "```", ""]
        elif isinstance(block, Diagram):
            lines += [f"![{md_inline(block.alt)}]({block.src})", ""]
        else:
            lines += [*block.markdown, ""]
    return "\n".join(lines).rstrip() + "\n"


# -- HTML ------------------------------------------------------------------------------------


def html_inline(text: Text) -> str:
    """
    HTML of `text`, every piece escaped.
    """
    out = []
    for piece in _pieces(text):
        if isinstance(piece, Code):
            out.append(f"<code>{html.escape(piece.text)}</code>")
        elif isinstance(piece, Strong):
            out.append(f"<strong class='{html.escape(piece.text.lower())}'>")
            out.append(f"{html.escape(piece.text)}</strong>")
        else:
            out.append(html.escape(piece))
    return "".join(out)


def _class(css: str) -> str:
    return f" class='{html.escape(css)}'" if css else ""


def html_table(header: Sequence[str], rows: Iterable[Sequence[Text]], css: str = "") -> str:
    """
    An HTML table, every cell escaped.
    """
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html_inline(c) or '-'}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table{_class(css)}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_html_body(blocks: Iterable[Block]) -> list[str]:
    """
    The blocks as HTML fragments, one per block.
    """
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            anchor = f" id='{html.escape(block.anchor)}'" if block.anchor else ""
            parts.append(f"<h{block.level}{anchor}>{html_inline(block.text)}</h{block.level}>")
        elif isinstance(block, Para):
            parts.append(f"<p{_class(block.css)}>{html_inline(block.text)}</p>")
        elif isinstance(block, Items):
            items = "".join(f"<li>{html_inline(item)}</li>" for item in block.items)
            parts.append(f"<ul>{items}</ul>")
        elif isinstance(block, Table):
            parts.append(html_table(block.header, block.rows, block.css))
        elif isinstance(block, Trace):
            parts.append(
                "<ol class='trace'>"
                + "".join(f"<li><code>{html.escape(s)}</code></li>" for s in block.steps)
                + "</ol>"
            )
        elif isinstance(block, Diagram):
            data = base64.b64encode(block.svg).decode("ascii")
            parts.append(
                f"<figure class='diagram'><img alt='{html.escape(block.alt)}' "
                f"src='data:image/svg+xml;base64,{data}'></figure>"
            )
        else:
            parts.append(block.html)
    return parts
