"""
What the compiled engine refuses in a machine's declaration itself, before it builds a table:
what python-statemachine would run from the states and transitions (their own callbacks,
class-level listeners, nested states, boolean expressions as guards) and the table would not,
and state values the table could not tell apart. Also which names python-statemachine resolves
as callbacks of a class (`convention_names`) and which guards it binds to the machine
(`method_guards`), so the table calls exactly those, the same way.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import FunctionType
from typing import Any

from statemachine import Event, State, StateMachine
from statemachine.callbacks import CallbackGroup, SpecReference

from execfsm.errors import DefinitionError

_TABLE_GROUPS = frozenset({CallbackGroup.VALIDATOR, CallbackGroup.COND})
"""The callback groups a transition's own specs may hold: the table runs its guards."""

_GENERIC_CALLBACKS = (
    "prepare_event",
    "before_transition",
    "on_transition",
    "after_transition",
    "on_enter_state",
    "on_exit_state",
    "on_invoke_state",
)
"""The callbacks python-statemachine looks up by name on every machine."""


def refusal(
    machine: type[StateMachine],
    where: str,
    feature: str,
    remedy: str = "move the logic into a supported callback",
) -> DefinitionError:
    """
    The error for a declaration the compiled engine does not run: machine, where, feature,
    remedy, and how to use the reference engine instead.
    """
    return DefinitionError(
        f"{machine.__name__}: {where}: the compiled engine does not run {feature}; {remedy}, "
        f"or declare the machine compiled_engine = False and use Engine.REFERENCE"
    )


def _spec_feature(spec: Any, kind: str) -> str:
    func = spec.func
    name = func if isinstance(func, str) else getattr(func, "__qualname__", repr(func))
    group = spec.group.name.lower()
    return f"{kind}-level {group}= callbacks (the callback {group}={name!r})"


def _nesting(state: State) -> str | None:
    if state.parallel:
        return "parallel states"
    if state.states:
        return "compound states"
    if state.history:
        return "history states"
    return None


def check_declaration(machine: type[StateMachine]) -> None:
    """
    Refuse what python-statemachine would run from the declaration itself but the table
    does not: callbacks given to states and transitions, class-level listeners, compound,
    parallel and history states, boolean expressions as guards, one guard given twice to a
    transition, delayed events, ``on_invoke_*`` callbacks, and state values that print alike.
    """
    if getattr(machine, "_class_listeners", None):
        raise refusal(machine, "listeners", "class-level listeners")
    names: dict[str, State] = {}
    for state in machine.states:
        where = f"state {state.id!r}"
        nesting = _nesting(state)
        if nesting is not None:
            raise refusal(machine, where, nesting, "flatten it")
        for spec in state._specs:
            if not spec.is_convention:  # named conventions: the class's callbacks, below
                remedy = f"name a method on_enter_{state.id} or on_exit_{state.id} instead"
                raise refusal(machine, where, _spec_feature(spec, "state"), remedy)
        seen = names.setdefault(str(state.value), state)
        if seen is not state:
            raise refusal(
                machine,
                f"states {seen.id!r} and {state.id!r}",
                f"two state values that print alike ({seen.value!r}, {state.value!r})",
                "give them values that print differently",
            )
        for transition in state.transitions:
            target = transition.target.id if transition.target else None
            where = f"transition {transition.event!r} {state.id} -> {target}"
            _check_guards_once(machine, where, transition)
            for event in transition.events:
                declared = getattr(machine, str(event), None)
                if isinstance(declared, Event) and declared.delay:
                    feature = f"delayed events (delay={declared.delay!r})"
                    raise refusal(machine, f"event {str(event)!r}", feature, "send it when due")
            for spec in transition._specs:
                if spec.group not in _TABLE_GROUPS and not spec.is_convention:
                    remedy = "name a method before_<event>, on_<event> or after_<event> instead"
                    raise refusal(machine, where, _spec_feature(spec, "transition"), remedy)
                if spec.may_contain_boolean_expression and not spec.func.isidentifier():
                    raise refusal(
                        machine,
                        where,
                        f"boolean expressions as guards ({spec.func!r})",
                        "write one described guard method or function that computes it",
                    )
    for name in sorted(convention_names(machine)):
        if name.startswith("on_invoke_") and callable(getattr(machine, name, None)):
            raise refusal(machine, f"callback {name!r}", "invoked actions (on_invoke_*)")


def _check_guards_once(machine: type[StateMachine], where: str, transition: Any) -> None:
    """
    Refuse one guard given twice to a transition's conds and unless (or its validators),
    once by name and once as the function: python-statemachine resolves both to the same
    callback and keeps one, the table would run both.
    """
    for group in _TABLE_GROUPS:
        seen: set[Any] = set()
        for spec in transition._specs:
            if spec.group is not group or spec.is_convention:
                continue
            func = getattr(machine, spec.func, None) if isinstance(spec.func, str) else spec.func
            if func is not None and func in seen:
                feature = f"one guard given twice ({spec.attr_name!r}, by name and as function)"
                raise refusal(machine, where, feature, "give it once")
            seen.add(func)


def convention_names(machine: type[StateMachine]) -> frozenset[str]:
    """
    The names python-statemachine resolves as callbacks of `machine` (whether or not the
    class defines them): the generic ones, ``before_/on_/after_<event>`` for each event and
    ``on_enter_/on_exit_/on_invoke_<state id>`` for each state. Any other method is an
    ordinary method, never called by either engine.
    """
    names = set(_GENERIC_CALLBACKS)
    for state in machine.states:
        names.update(f"on_{kind}_{state.id}" for kind in ("enter", "exit", "invoke"))
        for transition in state.transitions:
            for event in transition.events:
                names.update(f"{when}_{event}" for when in ("before", "on", "after"))
    return frozenset(names)


def _bound(machine: type[StateMachine], name: str, func: Any = None) -> bool:
    """
    Whether python-statemachine finds `name` on the machine as a method (bound to it), and,
    given `func`, that method's function is `func`.
    """
    try:
        static = inspect.getattr_static(machine, name)
    except AttributeError:
        return False
    return isinstance(static, FunctionType) and (func is None or static is func)


def method_guards(machine: type[StateMachine]) -> frozenset[Callable[..., Any]]:
    """
    The guard functions python-statemachine calls bound to the machine (so with the machine
    as ``self``): the methods a transition names (``cond="is_ready"``) or gives as the
    function defined in the class body (``cond=is_ready``).
    """
    methods: set[Callable[..., Any]] = set()
    for state in machine.states:
        for transition in state.transitions:
            for spec in transition._specs:
                if spec.group not in _TABLE_GROUPS:
                    continue
                if spec.reference is SpecReference.NAME and _bound(machine, spec.func):
                    methods.add(getattr(machine, spec.func))
                elif spec.reference is SpecReference.CALLABLE and _bound(
                    machine, spec.lookup_name, spec.func
                ):
                    methods.add(spec.func)
    return frozenset(methods)
