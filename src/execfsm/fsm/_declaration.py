"""
What the compiled engine refuses in a machine's declaration itself, before it builds a table:
what python-statemachine would run from the states and transitions (their own callbacks,
class-level listeners, nested states) and the table would not, and state values the table
could not tell apart.
"""

from __future__ import annotations

from typing import Any

from statemachine import State, StateMachine
from statemachine.callbacks import CallbackGroup

from execfsm.errors import DefinitionError

_TABLE_GROUPS = frozenset({CallbackGroup.VALIDATOR, CallbackGroup.COND})
"""The callback groups a transition's own specs may hold: the table runs its guards."""


def refusal(
    machine: type[StateMachine],
    where: str,
    feature: str,
    remedy: str = "move the logic into a supported callback",
) -> DefinitionError:
    return DefinitionError(
        f"{machine.__name__}: {where}: the compiled engine does not run {feature}; {remedy}, "
        f"or declare the machine compiled_engine = False and use Engine.REFERENCE"
    )


def _spec_feature(spec: Any) -> str:
    func = spec.func
    name = func if isinstance(func, str) else getattr(func, "__qualname__", repr(func))
    return f"the callback {spec.group.name.lower()}={name!r}"


def check_declaration(machine: type[StateMachine]) -> None:
    """
    Refuse what python-statemachine would run from the declaration itself but the table
    does not: callbacks given to states and transitions, class-level listeners, compound,
    parallel and history states, and state values that print alike.
    """
    if getattr(machine, "_class_listeners", None):
        raise refusal(machine, "listeners", "class-level listeners")
    names: dict[str, State] = {}
    for state in machine.states:
        where = f"state {state.id!r}"
        if state.states or state.history or state.parallel:
            raise refusal(machine, where, "compound, parallel or history states", "flatten it")
        for spec in state._specs:
            if not spec.is_convention:  # named conventions: the class's callbacks, below
                raise refusal(machine, where, _spec_feature(spec))
        seen = names.setdefault(str(state.value), state)
        if seen is not state:
            raise refusal(
                machine,
                f"states {seen.id!r} and {state.id!r}",
                f"two state values that print alike ({seen.value!r}, {state.value!r})",
                "give them values that print differently",
            )
        for transition in state.transitions:
            for spec in transition._specs:
                if spec.group not in _TABLE_GROUPS and not spec.is_convention:
                    target = transition.target.id if transition.target else None
                    where = f"transition {transition.event!r} {state.id} -> {target}"
                    raise refusal(machine, where, _spec_feature(spec))
