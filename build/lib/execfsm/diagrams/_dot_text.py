"""
Safe DOT text for names we do not control (a user's state named ``a"b`` or ``<x>``): nodes
get synthetic ids, and every label is taken literally, never as HTML or an escape sequence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import graphviz  # type: ignore[import-untyped]


def literal(lines: Iterable[str]) -> str:
    """
    A DOT label showing `lines` exactly, one per line: backslashes are doubled (no ``\\l``
    escapes), and the result is marked as no HTML (a name like ``<x>`` stays text); the
    ``graphviz`` package quotes it (``"`` included).
    """
    text = "\n".join(line.replace("\\", "\\\\") for line in lines)
    result: str = graphviz.nohtml(text)
    return result


def node_ids(names: Iterable[str]) -> dict[str, str]:
    """
    A synthetic, stable DOT id per name (``s0``, ``s1``, … in the order given), so that no
    name is ever parsed as a port (``a:b``), an HTML string or a keyword.
    """
    ids: dict[str, str] = {}
    for name in names:
        if name not in ids:
            ids[name] = f"s{len(ids)}"
    return ids


_PLAIN_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def graph_name(name: str) -> str:
    """
    `name` as a DOT graph's name when it is a plain identifier, else ``machine``: a name
    we do not control (``old\\``) is never written into the DOT source unescaped.
    """
    return name if _PLAIN_ID.fullmatch(name) else "machine"
