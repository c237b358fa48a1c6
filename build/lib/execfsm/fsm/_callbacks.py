"""
The compiled engine for machines with callbacks around the move: ``before_<event>`` and
``before_transition``, ``on_exit_<state>`` and ``on_exit_state``, ``on_<event>`` and
``on_transition``, ``on_enter_<state>`` and ``on_enter_state``, run in python-statemachine's
order and with its arguments (see `execfsm.fsm._compiled`). A machine without them runs on
`execfsm.fsm._compiled.CompiledEngine`, which has none of this work on its path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from statemachine import Event, State

from execfsm.fsm._compiled import CompiledEngine, NoTransition
from execfsm.fsm.audit import AuditOutcome

if TYPE_CHECKING:
    from execfsm.fsm._compiled import CompiledMachine

_INITIAL = Event("__initial__")
"""The event python-statemachine gives the entry callbacks of the first state."""
_NO_STATE = State()
"""The source python-statemachine gives the entry callbacks of the first state: a state
with no id, outside any machine."""


class CallbackEngine(CompiledEngine):
    """
    One running machine on a compiled table whose edges carry callbacks.

    python-statemachine's order, for the chosen edge: validators and conds (selection), then
    ``before``, the source's exit callbacks, the audit write and ``on``, the commit of the
    new state, the target's entry callbacks, then ``after``. A failure before the commit
    leaves the state; one in an entry callback puts the source state back (as
    python-statemachine restores its configuration); one in ``after`` leaves the new state.
    An internal transition neither exits nor enters. ``prepare_event`` is evaluated again for
    the exit callbacks and for the entry (and after) callbacks, as python-statemachine does.
    """

    __slots__ = ()

    def __init__(self, machine: Any, table: CompiledMachine, start_value: Any = None) -> None:
        super().__init__(table, start_value)
        enter = table.initial_enter.get(self.value)
        if enter is not None:  # python-statemachine enters the first state on construction
            state = table.states[self.value]
            available: dict[str, Any] = {
                "event": _INITIAL,
                "source": _NO_STATE,
                "target": state,
                "state": state,
                "self": machine,
            }
            self._prepared(available)
            enter(available)

    def _prepared(self, available: dict[str, Any]) -> dict[str, Any]:
        prepare = self.table.prepare
        if prepare is not None:
            extra = prepare.call(available)
            if extra:
                available.update(extra)
        return available

    def fire(self, machine: Any, event: str, kwargs: dict[str, Any]) -> None:
        """
        Process one event on `machine`, with its callbacks.

        Raises:
            NoTransition: no candidate edge (the caller audits and reports the refusal).
        """
        table = self.table
        value = self.value
        candidates = table.table.get((value, event))
        if candidates is None or not self.running:
            raise NoTransition(event)
        source = candidates[0].source
        base = {
            **kwargs,
            "event": table.event_objects[event],
            "source": source,
            "state": source,
            "self": machine,
        }
        available = self._prepared(dict(base))
        for chosen in candidates:
            available["target"] = chosen.target
            check = chosen.check
            if check is None or check(available):
                break
        else:
            raise NoTransition(event)
        base["target"] = chosen.target
        if chosen.before is not None:
            chosen.before(available)
        if not chosen.internal:
            exiting = self._prepared(dict(base))
            if chosen.exit is not None:
                chosen.exit(exiting)
        machine._audit_listener.write(
            machine,
            event,
            chosen.source_name,
            chosen.target_name,
            AuditOutcome.APPLIED,
            available.get("reason_code"),
            available.get("detail", ""),
        )
        machine._audit_listener.moved = (event, chosen.source_name, chosen.target_name)
        if chosen.on is not None:
            chosen.on(available)
        self.value = chosen.target.value
        entering = self._prepared({**base, "state": chosen.target})
        if not chosen.internal and chosen.enter is not None:
            try:
                chosen.enter(entering)
            except Exception:
                self.value = value
                raise
        if chosen.final:
            self.running = False
        after = table.after.get(event)
        if after is not None:
            after(entering)
