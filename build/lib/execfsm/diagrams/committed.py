"""
The committed spec (``spec/machines.json``) as read for a diagram diff: every machine's
entry checked for the shape its readers index (this package, and
`execfsm.governance.spec.drift`), so that a bad merge or a hand edit is one message, never a
traceback.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from execfsm.diagrams._spec_text import GUARD_LISTS, Spec
from execfsm.governance.spec import SPEC_FILE


class SpecUnreadable(ValueError):
    """
    The committed spec file is not a machine spec.
    """


def load_committed(directory: Path) -> dict[str, Spec] | None:
    """
    The committed spec's machines, by name; None when there is no committed spec.

    Raises:
        SpecUnreadable: the file is not a machine spec.
    """
    path = directory / SPEC_FILE
    if not path.exists():
        return None
    try:
        machines = json.loads(path.read_text(encoding="utf-8"))["machines"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise SpecUnreadable(f"{path}: not a machine spec ({exc})") from None
    if not isinstance(machines, dict):
        raise SpecUnreadable(f"{path}: not a machine spec (machines is not an object)")
    for name, entry in machines.items():
        problem = _shape_problem(entry)
        if problem:
            raise SpecUnreadable(f"{path}: not a machine spec (machine {name!r}: {problem})")
    return machines


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _entries(value: object, fields: Mapping[str, type]) -> str:
    """The first problem of a list of objects with these fields (``list``: of strings)."""
    if not isinstance(value, list):
        return "not a list"
    for n, item in enumerate(value):
        if not isinstance(item, dict):
            return f"entry {n} is not an object"
        for field, kind in fields.items():
            ok = _strings(item.get(field)) if kind is list else isinstance(item.get(field), kind)
            if not ok:
                return f"entry {n}: {field} missing or not a {kind.__name__}"
    return ""


_STATE_FIELDS: dict[str, type] = {"name": str, "initial": bool, "final": bool}


_EDGE_FIELDS: dict[str, type] = {"source": str, "event": str, "target": str}


_EDGE_FIELDS |= dict.fromkeys(GUARD_LISTS, list)


_CASE_FIELDS: dict[str, type] = {"event": str, "states": list}


def _shape_problem(entry: object) -> str:
    """
    What keeps one machine's committed entry from being read as a machine spec, or "": the
    fields every reader of the spec (this module, `execfsm.governance.spec.drift`) indexes.
    """
    if not isinstance(entry, dict):
        return f"a {type(entry).__name__}, not an object"
    if not isinstance(entry.get("name"), str):
        return "name missing or not a string"
    if not isinstance(entry.get("initial"), str | None):
        return "initial is not a string"
    if not isinstance(entry.get("guards"), dict):
        return "guards missing or not an object"
    for key, fields in (
        ("states", _STATE_FIELDS),
        ("transitions", _EDGE_FIELDS),
        ("cases", _CASE_FIELDS),
    ):
        problem = _entries(entry.get(key), fields)
        if problem:
            return f"{key}: {problem}"
    return ""
