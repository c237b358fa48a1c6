"""
How each kind of state looks, so risk and compliance read the same colours in every diagram.
"""

from __future__ import annotations

import enum

from execfsm.fsm.model import MachineModel, StateModel


class StateKind(enum.StrEnum):
    """
    The visual classes of states.
    """

    INITIAL = "initial"
    ACTIVE = "active"
    PAUSED = "paused"
    SUCCESS = "success"
    STOPPED = "stopped"
    """Final, neither success nor failure (cancelled, expired)."""
    FAILURE = "failure"
    """Final failure or block."""


SUCCESS_STATES = frozenset({"FILLED", "COMPLETED"})
FAILURE_STATES = frozenset({"FAILED", "REJECTED", "BLOCKED"})
PAUSED_STATES = frozenset({"PAUSED", "PENDING_CANCEL", "PENDING_REPLACE"})

NODE_STYLE: dict[StateKind, dict[str, str]] = {
    StateKind.INITIAL: {"shape": "box", "style": "rounded,filled,bold", "fillcolor": "#dbeafe"},
    StateKind.ACTIVE: {"shape": "box", "style": "rounded,filled", "fillcolor": "#f8fafc"},
    StateKind.PAUSED: {"shape": "box", "style": "rounded,filled,dashed", "fillcolor": "#fef3c7"},
    StateKind.SUCCESS: {"shape": "doubleoctagon", "style": "filled", "fillcolor": "#bbf7d0"},
    StateKind.STOPPED: {"shape": "doubleoctagon", "style": "filled", "fillcolor": "#e5e7eb"},
    StateKind.FAILURE: {"shape": "doubleoctagon", "style": "filled", "fillcolor": "#fecaca"},
}


def kind_of(state: StateModel) -> StateKind:
    """
    The visual class of a state.
    """
    if state.initial:
        return StateKind.INITIAL
    if state.name in SUCCESS_STATES:  # also when a revision may leave it (a busted fill)
        return StateKind.SUCCESS
    if state.final:
        if state.name in FAILURE_STATES:
            return StateKind.FAILURE
        return StateKind.STOPPED
    if state.name in PAUSED_STATES:
        return StateKind.PAUSED
    return StateKind.ACTIVE


def edge_label(
    event: str, conds: tuple[str, ...], unless: tuple[str, ...], validators: tuple[str, ...]
) -> str:
    """
    ``event``, then ``[cond]`` / ``[not cond]`` lines, then ``{validator}`` lines.
    """
    lines = [event]
    lines += [f"[{c}]" for c in conds]
    lines += [f"[not {u}]" for u in unless]
    lines += [f"{{{v}}}" for v in validators]
    return "\n".join(lines)


def validator_keys(model: MachineModel) -> dict[tuple[str, ...], str]:
    """
    A short key (``V1``, ``V2``, … in order of first use) for each set of two or more
    validators on some edge: the compact diagram labels such an edge ``{V1}`` and the legend
    lists the set once.
    """
    keys: dict[tuple[str, ...], str] = {}
    for t in model.transitions:
        if len(t.validators) > 1 and t.validators not in keys:
            keys[t.validators] = f"V{len(keys) + 1}"
    return keys


def compact_edge_label(
    event: str,
    conds: tuple[str, ...],
    unless: tuple[str, ...],
    validators: tuple[str, ...],
    keys: dict[tuple[str, ...], str],
) -> str:
    """
    `edge_label` with a set of validators that has a key written as ``{key}``, on one line
    with the event when the edge has no condition.
    """
    key = keys.get(validators)
    shown = (f"{{{key}}}",) if key else tuple(f"{{{v}}}" for v in validators)
    lines = [event, *(f"[{c}]" for c in conds), *(f"[not {u}]" for u in unless)]
    if len(lines) == 1 and len(shown) == 1:
        return f"{event} {shown[0]}"
    return "\n".join([*lines, *shown])


def legend_states(model: MachineModel) -> list[tuple[str, StateKind]]:
    """
    Each state's name with its kind, in declaration order.
    """
    return [(s.name, kind_of(s)) for s in model.states]
