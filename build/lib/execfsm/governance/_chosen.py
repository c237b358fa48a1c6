"""
Which of an event's candidate transitions a machine takes, told exactly: two declared
transitions with the same source, event and target (``a.to(b, cond="x") | a.to(b)``) write
the same record, so exploration asks the machine's compiled table instead, as the engine
does: in declaration order, validators then conds and unless, the first that holds.
"""

from __future__ import annotations

from typing import Any

from execfsm.errors import DefinitionError
from execfsm.fsm._compiled import compiled


def chosen_position(instance: Any, event: str, kwargs: dict[str, Any], target: str) -> int | None:
    """
    The position, among the transitions `instance`'s current state declares for `event`
    (in declaration order), of the one `event` sent with `kwargs` takes, which must go to
    `target`; None when none does, a guard raises, the chosen one goes elsewhere, or the
    machine has no compiled table (it runs on python-statemachine's runtime only). Guards
    run: call it on a copy.
    """
    machine = type(instance)
    if not getattr(machine, "compiled_engine", False):
        return None
    try:
        table = compiled(machine)
    except DefinitionError:
        return None
    candidates = table.table.get((instance.current_state_value, event))
    if not candidates or instance.is_terminated:
        return None
    source = candidates[0].source
    available: dict[str, Any] = {**kwargs, "source": source, "self": instance}
    if table.callbacks:  # as `CallbackEngine.fire` gives them
        available.update(event=table.event_objects[event], state=source)
    else:  # as `CompiledEngine.fire`
        available["event"] = event
    if table.prepare is not None:
        extra = table.prepare.call(available)
        if extra:
            available.update(extra)
    for position, candidate in enumerate(candidates):
        available["target"] = candidate.target
        try:
            if candidate.check is None or candidate.check(available):
                return position if candidate.target_name == target else None
        except Exception:  # noqa: BLE001  # a refusal: no candidate is taken
            return None
    return None
