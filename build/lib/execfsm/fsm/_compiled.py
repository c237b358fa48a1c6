"""
The compiled engine: a declared machine's `MachineModel` turned into a lookup table, executed
with the same guard and validator callables, the same callbacks and the same audit hook.

python-statemachine stays the reference (`execfsm.fsm.engine.Engine.REFERENCE`); differential
tests (``tests/test_engine_parity.py`` over randomly generated declarations) hold the two to
identical state sequences, outcomes, reason codes, audit records, callback calls and answers
to the public queries. What the table cannot run identically is refused when the class is
defined, so it can never silently differ:

- selection: the candidate edges of (state, event) in declaration order; a candidate's
  validators run first (one that raises refuses the event), then its conds and unless; the
  first candidate whose conditions hold is taken. Guards are side-effect free (see
  `execfsm.fsm.guards`), so validators a candidate shares with the one before it, and that
  do not read ``target``, are not run a second time. A guard is a plain function or a method
  of the machine, given by name (``cond="is_ready"``) or by the function (``cond=is_ready``);
  a method gets the machine as ``self``, as python-statemachine binds it;
- arguments: guards and callbacks get, by name, the event's keyword arguments, ``event``,
  ``source``, ``target``, ``state`` and what ``prepare_event`` returns, as
  python-statemachine injects them (``event`` as a `statemachine.Event`, with ``id`` and
  ``name``, to whatever takes it; ``state`` is the source, the target once entered).
  Events take keyword arguments only: positional ones raise ``TypeError`` at ``send`` on
  both engines (`execfsm.fsm.audited.AuditedMachine.send`);
- callbacks, the methods (or static methods) python-statemachine would resolve by name for
  this class (any other method is ordinary, whatever its name): ``prepare_event``;
  ``before_transition``, ``before_<event>``;
  ``on_exit_state``, ``on_exit_<state>``; the audit write (before the state is committed, so a
  failed write leaves the machine where it was), ``on_transition``, ``on_<event>``; the
  commit; ``on_enter_state``, ``on_enter_<state>``; ``after_<event>``, ``after_transition``,
  in that order (`execfsm.fsm._callbacks`). An internal transition neither exits nor enters;
  an external self transition does both. The first state's entry callbacks run when the
  machine is constructed (``event`` is ``"__initial__"``);
- ``prepare_event`` is a pure function of the machine and the event: the engine without
  enter/exit/before/on callbacks evaluates it once per event, python-statemachine again
  after the state is committed;
- refused at definition: callbacks given to a transition (``on=``, ``before=``, ``after=``,
  ``@event.on``) or a state (``enter=``, ``exit=``, ``invoke=``, ``donedata=``);
  ``on_invoke_*``; class-level ``listeners``; compound, parallel and history states; boolean
  expressions as guards (``cond="a and not b"``); one guard given to a transition twice, by
  name and as the function (python-statemachine keeps one); delayed events
  (``Event(..., delay=...)``: the table does not wait); ``async`` guards or callbacks (the table
  does not await); states whose values print alike (``1`` and ``"1"``); and guards or
  callbacks taking ``*args`` / ``**kwargs`` or naming python-statemachine's internals
  (``machine``, ``model``, ``transition``, ``event_data``).

`execfsm.fsm.audited.AuditedMachine` compiles every machine class when it is defined, so a
machine the table cannot run identically is refused there, with a ``DefinitionError`` that
names the machine, where, the feature and the way out: ``"<Machine>: <where>: the compiled
engine does not run <feature>; <remedy>, or declare the machine compiled_engine = False and
use Engine.REFERENCE"`` (a guard's or callback's signature: ``"<Machine>: '<qualname>' takes
<parameter>: ..., or use Engine.REFERENCE"``).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from types import FunctionType
from typing import Any

import attrs
from statemachine import Event, State, StateMachine
from statemachine.exceptions import InvalidStateValue

from execfsm.errors import DefinitionError
from execfsm.fsm._declaration import check_declaration, convention_names, method_guards
from execfsm.fsm._fused import Check, Run, fused_calls, fused_check
from execfsm.fsm._injected import ABSENT, Injected
from execfsm.fsm.audit import AuditOutcome
from execfsm.fsm.model import MachineModel


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
    source_name: str
    """The source state's name as audit records carry it."""
    target_name: str
    final: bool
    """Whether the target is a final state."""
    recheck: bool
    """False when this edge's validators already ran, unchanged, for the candidate before
    it: they are side-effect free and read nothing that differs between the two (not the
    target), so running them again cannot change the outcome."""
    check: Check | None = attrs.field(eq=False, repr=False)
    """``check(available)``: the validators (if `recheck`), conds and unless in one call
    (`execfsm.fsm._fused`); None when the edge has none to run."""
    internal: bool = False
    """An internal transition: no exit or entry callbacks."""
    before: Run | None = attrs.field(default=None, eq=False, repr=False)
    """``before_transition`` and ``before_<event>``, if the class defines either."""
    exit: Run | None = attrs.field(default=None, eq=False, repr=False)
    """``on_exit_state`` and ``on_exit_<source>`` (None for an internal transition)."""
    on: Run | None = attrs.field(default=None, eq=False, repr=False)
    """``on_transition`` and ``on_<event>``."""
    enter: Run | None = attrs.field(default=None, eq=False, repr=False)
    """``on_enter_state`` and ``on_enter_<target>`` (None for an internal transition)."""


@attrs.frozen
class CompiledMachine:
    """
    The table of one machine class.
    """

    initial: Any
    values: frozenset[Any]
    """Every state's value (what ``start_value`` may be)."""
    finals: frozenset[Any]
    table: Mapping[tuple[Any, str], tuple[CompiledTransition, ...]]
    events: frozenset[str]
    edges: Mapping[Any, tuple[tuple[str, CompiledTransition], ...]]
    """Each state's (event, edge) pairs in declaration order (for `enabled_events`)."""
    prepare: Injected | None
    """The unbound ``prepare_event``, if the class defines one."""
    after_event: Mapping[str, Injected]
    after_transition: Injected | None
    after: Mapping[str, Run]
    """Each event's ``after_<event>`` and ``after_transition`` in one call
    (`execfsm.fsm._fused`); an event with neither is absent."""
    states: Mapping[Any, State] = attrs.field(factory=dict, eq=False, repr=False)
    """Each state by value."""
    initial_enter: Mapping[Any, Run] = attrs.field(factory=dict, eq=False, repr=False)
    """Each state's entry callbacks, run when a machine starts in it."""
    event_objects: Mapping[str, Event] = attrs.field(factory=dict, eq=False, repr=False)
    """Each event as python-statemachine passes it to guards and callbacks (its id, name)."""
    callbacks: bool = False
    """Whether any edge or start runs callbacks besides ``after``: the machine then runs on
    `execfsm.fsm._callbacks.CallbackEngine`."""


def _method(machine: type[StateMachine], name: str) -> Injected:
    """
    The callback `name` as python-statemachine calls it: a method bound to the machine, a
    static method as the plain function.

    Raises:
        DefinitionError: anything else (a class method, a property, a callable object).
    """
    static = inspect.getattr_static(machine, name)
    if isinstance(static, FunctionType):
        return Injected.of(static, method=True)
    if isinstance(static, staticmethod):
        return Injected.of(static.__func__)
    raise DefinitionError(
        f"callback {name!r} is a {type(static).__name__}: the compiled engine runs callbacks "
        f"that are methods or static methods; make it one, or use Engine.REFERENCE"
    )


def _reads_target(guards: tuple[Injected, ...]) -> bool:
    return any("target" in g.names for g in guards)


def compile_machine(machine: type[StateMachine]) -> CompiledMachine:
    """
    Compile a declared machine class.

    Raises:
        DefinitionError: anything the table would not run as python-statemachine does,
            naming the machine, where and what.
    """
    try:
        return _compile(machine)
    except DefinitionError as exc:
        message = str(exc)
        if message.startswith(f"{machine.__name__}: "):
            raise
        raise DefinitionError(f"{machine.__name__}: {message}") from None


_RUNTIME_VALUES = frozenset({"state", "event"})
"""Values only `execfsm.fsm._callbacks.CallbackEngine` gives as python-statemachine does:
``state`` (the source, or the target once entered) and ``event`` as an `Event` (with its
``id`` and ``name``; the plain engine passes the event's id, a ``str``)."""


def _reads_runtime_values(machine: type[StateMachine], guards: Iterable[Injected]) -> bool:
    """
    Whether a guard, ``prepare_event`` or a callback takes ``state`` or ``event``.
    """
    callbacks = (getattr(machine, name, None) for name in convention_names(machine))
    return any(_RUNTIME_VALUES.intersection(g.names) for g in guards) or any(
        _RUNTIME_VALUES.intersection(inspect.signature(c).parameters)
        for c in callbacks
        if callable(c)
    )


def _event(machine: type[StateMachine], event: str) -> Event:
    declared = getattr(machine, event, None)
    name = declared.name if isinstance(declared, Event) else None
    return Event(id=event, name=name)


def _calls(machine: type[StateMachine], *names: str) -> Run | None:
    defined = tuple(_method(machine, n) for n in names if callable(getattr(machine, n, None)))
    return fused_calls(defined, ABSENT)


def _compile(machine: type[StateMachine]) -> CompiledMachine:
    check_declaration(machine)
    model = MachineModel.from_machine(machine)
    values = {str(s.value): s for s in machine.states}
    methods = method_guards(machine)
    injected = {
        name: Injected.of(f, method=f in methods) for name, f in model.guard_functions.items()
    }
    table: dict[tuple[Any, str], list[CompiledTransition]] = {}
    edges: dict[Any, list[tuple[str, CompiledTransition]]] = {}
    callbacks = False
    for t in model.transitions:
        source, target = values[t.source], values[t.target]
        candidates = table.setdefault((source.value, t.event), [])
        validators = tuple(injected[v] for v in t.validators)
        same_as_before = (
            bool(candidates)
            and candidates[-1].validators == validators
            and not _reads_target(validators)
        )
        conds = tuple(injected[c] for c in t.conds)
        unless = tuple(injected[u] for u in t.unless)
        recheck = not same_as_before
        moves = not t.internal
        runs = {
            "before": _calls(machine, "before_transition", f"before_{t.event}"),
            "exit": _calls(machine, "on_exit_state", f"on_exit_{source.id}") if moves else None,
            "on": _calls(machine, "on_transition", f"on_{t.event}"),
            "enter": _calls(machine, "on_enter_state", f"on_enter_{target.id}") if moves else None,
        }
        callbacks = callbacks or any(run is not None for run in runs.values())
        candidates.append(
            CompiledTransition(
                source=source,
                target=target,
                validators=validators,
                conds=conds,
                unless=unless,
                source_name=str(source.value),
                target_name=str(target.value),
                final=target.final,
                recheck=recheck,
                check=fused_check(validators if recheck else (), conds, unless, ABSENT),
                internal=t.internal,
                **runs,
            )
        )
        edges.setdefault(source.value, []).append((t.event, candidates[-1]))
    events = frozenset(model.events)
    after_event = {
        event: _method(machine, f"after_{event}")
        for event in sorted(events)
        if callable(getattr(machine, f"after_{event}", None))
    }
    after_transition = (
        _method(machine, "after_transition") if hasattr(machine, "after_transition") else None
    )
    after = {}
    for event in events:
        run = _calls(machine, f"after_{event}", "after_transition")
        if run is not None:
            after[event] = run
    initial_enter = {}
    for state in machine.states:
        run = _calls(machine, "on_enter_state", f"on_enter_{state.id}")
        if run is not None:
            initial_enter[state.value] = run
    return CompiledMachine(
        initial=values[model.initial_state].value,
        values=frozenset(s.value for s in machine.states),
        finals=frozenset(values[f].value for f in model.final_states),
        table={k: tuple(v) for k, v in table.items()},
        events=events,
        edges={k: tuple(v) for k, v in edges.items()},
        prepare=_method(machine, "prepare_event") if hasattr(machine, "prepare_event") else None,
        after_event=after_event,
        after_transition=after_transition,
        after=after,
        states={s.value: s for s in machine.states},
        initial_enter=initial_enter,
        callbacks=callbacks
        or bool(initial_enter)
        or _reads_runtime_values(machine, injected.values()),
        event_objects={e: _event(machine, e) for e in sorted(events)},
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


class NoTransition(Exception):
    """
    The compiled table has no edge for the event in the current state.
    """


class CalledEvents:
    """
    python-statemachine hands an event called as a method (``machine.submit()``) to the
    machine's engine: `put`, then `processing_loop`. Both engines run it through the
    machine's audited ``send``, as if it had been sent by name.
    """

    __slots__ = ("_called",)

    def put(self, trigger_data: Any, internal: bool = False) -> None:
        """
        Keep an event called as a method until `processing_loop` runs it.
        """
        self._called = trigger_data

    def processing_loop(self, caller_future: Any = None) -> Any:
        """
        Run the kept event.
        """
        called, self._called = self._called, None
        if called is None:
            return None
        return called.machine.send(str(called.event), *called.args, **called.kwargs)


class CompiledEngine(CalledEvents):
    """
    One running machine on its class's compiled table: the table and the current state's
    value, nothing else (the machine it runs is passed in, so no reference cycle).
    """

    __slots__ = ("running", "table", "value")
    kind = "compiled"

    def __init__(self, table: CompiledMachine, start_value: Any = None) -> None:
        self.table = table
        if start_value is not None and start_value not in table.values:
            raise InvalidStateValue([start_value])  # type: ignore[no-untyped-call]  # its words
        self.value: Any = table.initial if start_value is None else start_value
        """The current state's value."""
        self.running = self.value not in table.finals
        """False once a transition (or the start) reached a final state: from then on every
        event is refused, as by python-statemachine, even if ``value`` is set again."""
        self._called: Any = None

    def fire(self, machine: Any, event: str, kwargs: dict[str, Any]) -> None:
        """
        Process one event on `machine`.

        Raises:
            NoTransition: no candidate edge (the caller audits and reports the refusal).
        """
        table = self.table
        value = self.value
        candidates = table.table.get((value, event))
        if candidates is None or not self.running:
            raise NoTransition(event)
        available = kwargs
        available["event"] = event
        available["source"] = candidates[0].source
        available["self"] = machine
        prepare = table.prepare
        if prepare is not None:
            extra = prepare.call(available)
            if extra:
                available.update(extra)
        for chosen in candidates:
            available["target"] = chosen.target
            check = chosen.check
            if check is None or check(available):
                break
        else:
            raise NoTransition(event)
        machine._audit_listener.write(
            machine,
            event,
            chosen.source_name,
            chosen.target_name,
            AuditOutcome.APPLIED,
            available.get("reason_code"),
            available.get("detail", ""),
        )
        self.value = chosen.target.value
        if chosen.final:
            self.running = False
        after = table.after.get(event)
        if after is not None:
            after(available)

    def enabled_events(self, machine: Any, kwargs: dict[str, Any]) -> list[str]:
        """
        The events with an edge from the current state whose conds and unless hold for
        `kwargs` (a guard that raises counts as holding), as python-statemachine decides.
        """
        enabled: dict[str, None] = {}
        for event, candidate in self.table.edges.get(self.value, ()):
            if event in enabled:
                continue
            available = {**kwargs, "event": self.table.event_objects[event], "self": machine}
            available.update(source=candidate.source, target=candidate.target)
            available["state"] = candidate.source
            try:
                holds = all(c.call(available) for c in candidate.conds) and not any(
                    u.call(available) for u in candidate.unless
                )
            except Exception:  # noqa: BLE001 - python-statemachine counts it as enabled
                holds = True
            if holds:
                enabled[event] = None
        return list(enabled)
