"""
The compiled engine: a declared machine's `MachineModel` turned into a lookup table, executed
with the same guard and validator callables, the same callbacks and the same audit hook.

python-statemachine stays the reference (``engine="reference"``); differential tests hold the
two to identical state sequences, outcomes, reason codes and audit records. The compiled
engine supports exactly what execfsm's machines use and refuses to compile anything else, so
it can never silently differ:

- selection: the candidate edges of (state, event) in declaration order; a candidate's
  validators run first (one that raises refuses the event), then its conds and unless; the
  first candidate whose conditions hold is taken;
- callbacks: ``prepare_event``, the audit listener's ``on_transition`` (before the state is
  committed, so a failed write leaves the machine where it was), then ``after_<event>`` and
  ``after_transition``; arguments are injected by name, as python-statemachine does.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import attrs
from statemachine import StateMachine

from execfsm.errors import DefinitionError
from execfsm.fsm.model import MachineModel

REFERENCE = "reference"
COMPILED = "compiled"
ENGINES = (REFERENCE, COMPILED)

_SUPPORTED_CALLBACKS = frozenset({"prepare_event", "after_transition"})
_CALLBACK_PREFIXES = ("before_", "on_", "after_", "enter_", "exit_")


@attrs.frozen
class Injected:
    """
    A callable with the argument names it takes, called python-statemachine's way: with the
    available values it names (all of them if it takes ``**kwargs``).
    """

    func: Callable[..., Any]
    names: frozenset[str]
    takes_all: bool

    @classmethod
    def of(cls, func: Callable[..., Any]) -> Injected:
        """
        Inspect `func` once.
        """
        params = inspect.signature(func).parameters.values()
        names = frozenset(p.name for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD)
        takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
        return cls(func, names, takes_all)

    def __call__(self, available: Mapping[str, Any]) -> Any:
        if self.takes_all:
            return self.func(**available)
        names = self.names
        if len(names) == 1:
            (name,) = names
            return self.func(**{name: available[name]}) if name in available else self.func()
        return self.func(**{k: available[k] for k in names if k in available})


@attrs.frozen
class CompiledTransition:
    """
    One edge, ready to run.
    """

    source: Any
    """The source `State` (callbacks get State objects, as from the reference engine)."""
    target: Any
    validators: tuple[Injected, ...]
    conds: tuple[Injected, ...]
    unless: tuple[Injected, ...]


@attrs.frozen
class CompiledMachine:
    """
    The table of one machine class.
    """

    initial: Any
    finals: frozenset[Any]
    table: Mapping[tuple[Any, str], tuple[CompiledTransition, ...]]
    events: frozenset[str]
    prepare: Callable[..., Any] | None
    """The unbound ``prepare_event`` with its argument names, if the class defines one."""
    prepare_names: frozenset[str]
    after_event: Mapping[str, tuple[Callable[..., Any], frozenset[str]]]
    after_transition: tuple[Callable[..., Any], frozenset[str]] | None


def _method(machine: type[StateMachine], name: str) -> tuple[Callable[..., Any], frozenset[str]]:
    func = getattr(machine, name)
    params = list(inspect.signature(func).parameters)[1:]  # drop self
    return func, frozenset(params)


def compile_machine(machine: type[StateMachine]) -> CompiledMachine:
    """
    Compile a declared machine class; raise `DefinitionError` for anything unsupported.
    """
    model = MachineModel.from_machine(machine)
    values = {str(s.value): s for s in machine.states}
    injected = {name: Injected.of(f) for name, f in model.guard_functions.items()}
    table: dict[tuple[Any, str], list[CompiledTransition]] = {}
    for t in model.transitions:
        table.setdefault((values[t.source].value, t.event), []).append(
            CompiledTransition(
                source=values[t.source],
                target=values[t.target],
                validators=tuple(injected[v] for v in t.validators),
                conds=tuple(injected[c] for c in t.conds),
                unless=tuple(injected[u] for u in t.unless),
            )
        )
    events = frozenset(model.events)
    after_event = {}
    for name in dir(machine):
        if not name.startswith(_CALLBACK_PREFIXES) or name in _SUPPORTED_CALLBACKS:
            continue
        if name.startswith("after_") and name[len("after_") :] in events:
            after_event[name[len("after_") :]] = _method(machine, name)
            continue
        if callable(getattr(machine, name, None)):
            raise DefinitionError(
                f"{machine.__name__}: the compiled engine does not run callback {name!r}; "
                f"use engine='reference' or move the logic into a supported callback"
            )
    prepare = _method(machine, "prepare_event") if hasattr(machine, "prepare_event") else None
    return CompiledMachine(
        initial=values[model.initial_state].value,
        finals=frozenset(values[f].value for f in model.final_states),
        table={k: tuple(v) for k, v in table.items()},
        events=events,
        prepare=None if prepare is None else prepare[0],
        prepare_names=frozenset() if prepare is None else prepare[1],
        after_event=after_event,
        after_transition=(
            _method(machine, "after_transition") if hasattr(machine, "after_transition") else None
        ),
    )


_CACHE: dict[type[StateMachine], CompiledMachine] = {}


def compiled(machine: type[StateMachine]) -> CompiledMachine:
    """
    The compiled table of `machine`, built once per class.
    """
    table = _CACHE.get(machine)
    if table is None:
        table = _CACHE[machine] = compile_machine(machine)
    return table


def _call(
    func: Callable[..., Any], names: frozenset[str], self: Any, available: Mapping[str, Any]
) -> Any:
    return func(self, **{k: v for k, v in available.items() if k in names})


class NoTransition(Exception):
    """
    The compiled table has no edge for the event in the current state.
    """


def fire(machine: Any, table: CompiledMachine, event: str, kwargs: dict[str, Any]) -> None:
    """
    Process one event on `machine` (an `AuditedMachine` running the compiled engine).

    Raises:
        NoTransition: no candidate edge (the caller audits and reports the refusal).
    """
    value = machine._state_value
    candidates = table.table.get((value, event))
    if candidates is None or value in table.finals:
        raise NoTransition(event)
    available = {**kwargs, "event": event, "machine": machine, "source": candidates[0].source}
    if table.prepare is not None:
        extra = _call(table.prepare, table.prepare_names, machine, available)
        if extra:
            available.update(extra)
    chosen = None
    for candidate in candidates:
        available["target"] = candidate.target
        for validator in candidate.validators:
            validator(available)
        if all(c(available) for c in candidate.conds) and not any(
            u(available) for u in candidate.unless
        ):
            chosen = candidate
            break
    if chosen is None:
        raise NoTransition(event)
    available["target"] = chosen.target
    machine._audit_listener.on_transition(
        machine,
        event,
        chosen.source,
        chosen.target,
        available.get("reason_code"),
        available.get("detail", ""),
    )
    machine._state_value = chosen.target.value
    after = table.after_event.get(event)
    if after is not None:
        _call(after[0], after[1], machine, available)
    if table.after_transition is not None:
        _call(table.after_transition[0], table.after_transition[1], machine, available)
