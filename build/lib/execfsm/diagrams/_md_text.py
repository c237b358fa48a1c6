"""
Safe Markdown text for names we do not control (a user's state named ``x` <!--`` or one
holding a newline): each is shown as text, on its own line's terms, never as Markdown.
"""

from __future__ import annotations

import re

_LINE_BREAKS = re.compile(r"\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
_BACKTICKS = re.compile(r"`+")


def one_line(text: str) -> str:
    """
    `text` with every line break shown as ``⏎``: a name never starts a Markdown line.
    """
    return _LINE_BREAKS.sub("⏎", text)


def code(text: object) -> str:
    """
    `text` as an inline code span no backtick in it can close (its fence is longer than any
    run of backticks in it), on one line: inside, nothing is Markdown or HTML (``<!--`` is
    shown, not a comment).
    """
    shown = one_line(str(text))
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(shown)), default=0) + 1)
    if shown.startswith(("`", " ")) or shown.endswith(("`", " ")) or not shown:
        shown = f" {shown} "  # CommonMark strips one space each side
    return f"{fence}{shown}{fence}"


_PUNCTUATION = re.compile(r"([\\`*_\[\]&~])")


def text(value: object) -> str:
    """
    `value` as Markdown text on one line: its Markdown punctuation backslash-escaped and
    ``<`` written ``&lt;`` (no HTML, no comment), so it shows as written.
    """
    return _PUNCTUATION.sub(r"\\\1", one_line(str(value))).replace("<", "&lt;")


_PLAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.:-]*[A-Za-z0-9])?")


def name(value: object) -> str:
    """
    A name as it is when it is a plain word (letters, digits, inner ``_.:-``: nothing
    Markdown reads), else as a `code` span.
    """
    shown = str(value)
    return shown if _PLAIN.fullmatch(shown) else code(shown)
