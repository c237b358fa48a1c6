"""
What `execfsm verify` proves a machine's declared properties over, as roots of the code
fingerprints (`execfsm.governance.code`): each declared property (its predicates and
patterns, an `Explored` property's engine resolved from its ``"module:function"`` path), the
input domains, setups, stimuli and groups it is explored with, and a ``snapshot()`` method.
A weakened statement (``dispatch_allowed`` no longer refusing LIVE_BLOCKED) or a narrowed
exploration (a policy dropped from the routes P1 is explored with) is then drift, named
``declared property P1`` or ``declared inputs``.
"""

from __future__ import annotations

import importlib
from typing import Any

from execfsm.fsm.properties import (
    Explored,
    declared_groups,
    declared_inputs,
    declared_properties,
    declared_stimuli,
)


def _engine(path: str) -> Any:
    module, _, name = path.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return f"<unresolved engine {path}>"


def declared_roots(machine: type[Any]) -> list[tuple[str, str, Any]]:
    """
    ``(entry name, kind, value)`` for each declaration of `machine` that exploration reads:
    ``property NAME`` (with its engine when `Explored`), ``group NAME``, ``inputs``,
    ``setups``, ``stimuli``; all of kind ``declared``.
    """
    found: list[tuple[str, str, Any]] = []
    for prop in declared_properties(machine):
        if isinstance(prop, Explored) and isinstance(prop.engine, str):
            found.append((f"property {prop.name}", "declared", (prop, _engine(prop.engine))))
        elif isinstance(prop, Explored):
            found.append((f"property {prop.name}", "declared", (prop, prop.engine)))
        else:
            found.append((f"property {prop.name}", "declared", prop))
    for group in declared_groups(machine):
        found.append((f"group {group.name}", "declared", group))
    declared = {
        "inputs": declared_inputs(machine),
        "setups": tuple(getattr(machine, "setups", ()) or ()),
        "stimuli": declared_stimuli(machine),
    }
    for name, value in declared.items():
        if value:
            found.append((name, "declared", value))
    return found
