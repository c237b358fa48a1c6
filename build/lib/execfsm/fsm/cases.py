"""
Declared cases: what a machine does with an event its transition table has no edge for.

A venue says things an order cannot take as a move: a repeated answer, a late one, one that
contradicts the order's state. A machine lists how it handles each as a `Case` in a
`CaseTable`, beside its transitions, instead of hiding them in ``if`` chains: the extracted
model carries the table, so the spec, the diagrams and the governance report show it, and a
reviewer reads one place to know what the machine does with any event in any state.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from execfsm.enums import Reason
from execfsm.fsm.audit import AuditOutcome

ANY_EVENT = "*"
"""A case's event that matches every event (the deny-by-default row)."""


@attrs.frozen
class Case:
    """
    One declared row: in `states`, `event` (when `when` holds) ends as `outcome` with
    `reason`, and flags the subject for reconciliation if `flags`.
    """

    event: str
    states: tuple[str, ...]
    outcome: AuditOutcome
    reason: Reason
    why: str
    """The one-line reason for the row, shown wherever the table is."""
    when: str = ""
    """The situation the row is for (one of the machine's named situations), or "" for any."""
    flags: bool = False
    action: str = ""
    """What an applied row does besides recording (a name the machine resolves), or ""."""


@attrs.frozen
class CaseTable:
    """
    A machine's cases, looked up by (state, event, situation): the first row that matches
    wins, so rows for a named situation come before the row for any.
    """

    cases: tuple[Case, ...]
    situations: tuple[str, ...] = ()
    """Every situation a row may name, in the words the machine reports them."""
    _index: dict[tuple[str, str, str], Case] = attrs.field(init=False, factory=dict, eq=False)

    def __attrs_post_init__(self) -> None:
        for case in self.cases:
            if case.when and case.when not in self.situations:
                raise ValueError(f"case {case.event}/{case.when!r}: not a declared situation")

    def find(self, state: str, event: str, situation: str = "") -> Case | None:
        """
        The row for `event` in `state` in `situation` (or for any situation), or None.
        """
        key = (state, event, situation)
        found = self._index.get(key)
        if found is None:
            found = self._lookup(state, event, situation)
            if found is not None:
                self._index[key] = found
        return found

    def _lookup(self, state: str, event: str, situation: str) -> Case | None:
        for case in self.cases:
            if (
                case.event in (event, ANY_EVENT)
                and state in case.states
                and case.when in ("", situation)
            ):
                return case
        return None

    def events(self) -> tuple[str, ...]:
        """
        The events the table has rows for, in first-row order.
        """
        return tuple(dict.fromkeys(case.event for case in self.cases))

    def rows(self) -> Iterable[Case]:
        """
        Every row, in order.
        """
        return iter(self.cases)
