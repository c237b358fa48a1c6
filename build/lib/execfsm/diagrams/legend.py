"""
What the marks of a report diagram mean: the state shapes and colours, the edge colours,
``[condition]``, ``{validator}`` and the validator sets written once as ``{V1}``.
"""

from __future__ import annotations

from execfsm.diagrams._blocks import Block, Code, Heading, Table, Text
from execfsm.diagrams.styles import StateKind, kind_of, validator_keys
from execfsm.fsm.model import MachineModel

STATE_MARKS: dict[StateKind, str] = {
    StateKind.INITIAL: "blue rounded box, bold outline: the state the machine starts in",
    StateKind.ACTIVE: "white rounded box: a working state",
    StateKind.PAUSED: "yellow rounded box, dashed outline: waiting (for the venue's answer "
    "to a cancel or replace, or for an operator after a risk PAUSE); not final",
    StateKind.SUCCESS: "green double octagon: a final success",
    StateKind.STOPPED: "grey double octagon: final, neither success nor failure",
    StateKind.FAILURE: "red double octagon: a final failure or block",
}
"""How each kind of state is drawn, in words."""

EDGE_MARKS: tuple[tuple[Text, str], ...] = (
    ("black arrow", "a transition without validators"),
    ("red, thicker arrow", "at least one transition on it has validators"),
    ("one arrow, several lines", "each line is one declared transition between the two states"),
    (Code("event"), "the event that takes the transition"),
    (Code("[cond]"), "a condition: taken only when it holds; it chooses between transitions"),
    (Code("[not cond]"), "taken only when the condition does not hold"),
    (
        Code("{validator}"),
        "a rule checked on the transition: when it fails the event is refused, the state "
        "does not change and the refusal is audited with a reason code",
    ),
)
"""How edges and their labels read."""


def legend_rows(model: MachineModel) -> list[tuple[Text, Text]]:
    """
    The legend of the machine's report diagram: the kinds of state it has, the edge marks,
    and each validator set's key with its validators.
    """
    kinds = dict.fromkeys(kind_of(s) for s in model.states)
    rows: list[tuple[Text, Text]] = [(f"state: {k.value}", STATE_MARKS[k]) for k in kinds]
    rows += list(EDGE_MARKS)
    for validators, key in validator_keys(model).items():
        names: list[str | Code] = []
        for i, name in enumerate(validators):
            names += [", "] if i else []
            names.append(Code(name))
        rows.append((Code(f"{{{key}}}"), ("the validators ", *names)))
    return rows


def legend_blocks(model: MachineModel) -> list[Block]:
    """
    The legend as a report section.
    """
    return [
        Heading(3, "Legend"),
        Table(("mark", "meaning"), tuple(legend_rows(model)), css="legend"),
    ]
