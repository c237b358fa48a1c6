"""
A machine's spec entries as text, for the diagram diff's picture and summary: values on one
line (long ones cut, two of them from their first difference), an edge and its guards, and
an edge declared twice as one edge of several copies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from execfsm.diagrams.styles import edge_label

Edge = tuple[str, str, str]
Spec = Mapping[str, Any]
GUARD_LISTS = ("conds", "unless", "validators")
"""The guard lists of a spec edge."""
_SHOWN = 60
"""Longest value shown in full in a guard change (longer ones are cut, e.g. source code)."""
_CONTEXT = 20
"""Characters shown before the first difference of two cut values."""


def flat(value: object) -> str:
    """`value` on one line (JSON unless a string), runs of white space as one space."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return " ".join(text.split())


def shown(value: object, start: int = 0) -> str:
    """`value` on one line, from `start` (``…`` before), cut past `_SHOWN` characters."""
    if value is None:
        return "(none)"
    text = flat(value)
    cut = text[start : start + _SHOWN - 1] + "…" if len(text) - start > _SHOWN else text[start:]
    return repr(("…" if start else "") + cut)


def old_new(old: object, new: object) -> str:
    """
    ``old -> new``; two long values are both shown from a little before their first
    difference, so that a change past the cut is seen.
    """
    start = 0
    if old is not None and new is not None:
        a, b = flat(old), flat(new)
        if max(len(a), len(b)) > _SHOWN:
            same = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
            same = min(len(a), len(b)) if same is None else same
            start = max(0, same - _CONTEXT)
    return f"{shown(old, start)} -> {shown(new, start)}"


def edge_of(t: Spec) -> Edge:
    return (str(t["source"]), str(t["event"]), str(t["target"]))


Copies = tuple[Spec, ...]
"""Every entry of one edge: an edge declared twice (same ends and event) has two."""


def edges(spec: Spec | None) -> dict[Edge, Copies]:
    """
    The spec's edges, each with its copies in a canonical order: two edges declared with
    the same source, event and target are one edge of two copies (the audit record cannot
    tell them apart), compared as a multiset, guards included.
    """
    groups: dict[Edge, list[Spec]] = {}
    for t in (spec or {}).get("transitions", []):
        groups.setdefault(edge_of(t), []).append(t)
    return {
        edge: tuple(sorted(copies, key=lambda t: json.dumps(t, sort_keys=True, default=str)))
        for edge, copies in sorted(groups.items())
    }


def guards_text(t: Spec) -> str:
    return edge_label(
        "", tuple(t.get("conds", ())), tuple(t.get("unless", ())), tuple(t.get("validators", ()))
    ).strip()


def copies_text(copies: Copies) -> str:
    """The guards of an edge's copies on one line, ``|`` between copies."""
    shown = [guards_text(t).replace("\n", " ") for t in copies]
    if len(copies) == 1:
        return shown[0]
    return " | ".join(text or "(no guard)" for text in shown) + f" (declared {len(copies)}x)"


def edge_text(edge: Edge, copies: Copies) -> str:
    guards = copies_text(copies)
    return f"{edge[0]} --{edge[1]}--> {edge[2]}" + (f" {guards}" if guards else "")


LIST_MARKS = {"conds": "[{}]", "unless": "[not {}]", "validators": "{{{}}}"}


def list_lines(old: Spec, new: Spec, changed: set[str]) -> list[str]:
    """
    An edge's guards, each as on a diagram; ``+`` added, ``-`` removed, ``~`` a guard whose
    own entry changed.
    """
    lines = []
    for key, mark in LIST_MARKS.items():
        before, after = list(old.get(key, [])), list(new.get(key, []))
        for g in after:
            if g not in before:
                lines.append("+ " + mark.format(g))
            elif g in changed:
                lines.append(f"~ {mark.format(g)} changed")
            else:
                lines.append("  " + mark.format(g))
        lines += ["- " + mark.format(g) for g in before if g not in after]
    return lines


def changed_keys(old: Spec, new: Spec) -> list[str]:
    """The fields of an entry that differ: guard lists first, then any other, by name."""
    keys = sorted(set(old) | set(new), key=lambda k: (k not in GUARD_LISTS, k))
    return [k for k in keys if old.get(k) != new.get(k)]


def state_flags(old: Spec, new: Spec) -> str:
    return ", ".join(
        f"{key} {old.get(key)} -> {new.get(key)}"
        for key in ("initial", "final")
        if old.get(key) != new.get(key)
    )


def copies_lines(copies: Copies) -> list[str]:
    if len(copies) == 1:
        return guards_text(copies[0]).splitlines()
    lines = [f"(declared {len(copies)}x)"]
    for n, t in enumerate(copies):
        lines.append(("or " if n else "") + (guards_text(t).replace("\n", " ") or "(no guard)"))
    return lines
