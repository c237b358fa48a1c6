"""
The compiled engine: a declared machine's `MachineModel` turned into a lookup table, executed
with the same guard and validator callables, the same callbacks and the same audit hook.

python-statemachine stays the reference (`execfsm.fsm.engine.Engine.REFERENCE`); differential
tests hold the two to identical state sequences, outcomes, reason codes, audit records and
answers to the public queries. The compiled engine supports exactly what execfsm's machines use
and refuses to compile anything else, so it can never silently differ:

- selection: the candidate edges of (state, event) in declaration order; a candidate's
  validators run first (one that raises refuses the event), then its conds and unless; the
  first candidate whose conditions hold is taken. Guards are side-effect free (see
  `execfsm.fsm.guards`), so validators a candidate shares with the one before it, and that
  do not read ``target``, are not run a second time;
- callbacks: ``prepare_event``, the audit listener (before the state is committed, so a
  failed write leaves the machine where it was), then ``after_<event>`` and
  ``after_transition``; arguments are injected by name, as python-statemachine does;
- refused at definition: any other callback, named on the class or given to a transition
  (``on=``, ``before=``, ``after=``) or a state (``enter=``, ``exit=``, ``invoke=``,
  ``donedata=``); class-level ``listeners``; compound, parallel and history states; ``async``
  guards or callbacks (the table does not await); states whose values print alike (``1`` and
  ``"1"``); and guards or callbacks taking ``*args`` / ``**kwargs`` or naming
  python-statemachine's internals (``machine``, ``model``, ...).

`execfsm.fsm.audited.AuditedMachine` compiles every machine class when it is defined, so a
machine the table cannot run identically is refused there, unless it declares
``compiled_engine = False`` (python-statemachine's runtime only).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any

import attrs
from statemachine import StateMachine
from statemachine.exceptions import InvalidStateValue

from execfsm.errors import DefinitionError
from execfsm.fsm._declaration import check_declaration, refusal
from execfsm.fsm._fused import Check, Run, fused_calls, fused_check
from execfsm.fsm.audit import AuditOutcome
from execfsm.fsm.model import MachineModel

_SUPPORTED_CALLBACKS = frozenset({"prepare_event", "after_transition"})
_CALLBACK_PREFIXES = ("before_", "on_", "after_", "enter_", "exit_")
CALLBACK_NAMES = frozenset({"prepare_event", "before_transition", "on_transition"})
"""Callback names python-statemachine resolves besides the `_CALLBACK_PREFIXES` ones."""
_INTERNALS = frozenset(
    {"self", "machine", "model", "event_data", "trigger_data", "transition", "state"}
)
"""Values python-statemachine injects from its own runtime, which the table does not have."""


def is_callback(name: str) -> bool:
    """
    Whether python-statemachine would call a machine attribute `name` as a callback.
    """
    return name.startswith(_CALLBACK_PREFIXES) or name in CALLBACK_NAMES


_ABSENT: Any = object()


def _caller(
    func: Callable[..., Any],
    names: tuple[str, ...],
    positional: bool,
    defaults: tuple[Any, ...] = (),
) -> Callable[[Mapping[str, Any]], Any]:
    """
    A function ``call(available)`` that calls `func` python-statemachine's way: with the
    available values it names. Built once per callable, so the table pays no signature work
    at run time. `defaults` (``_ABSENT`` for a required parameter) lets a missing optional
    value take its default without the keyword fallback.
    """
    if not names:
        return lambda available: func()

    def by_name(available: Mapping[str, Any]) -> Any:
        return func(**{k: available[k] for k in names if k in available})

    if not positional:
        return by_name
    if len(names) == 1:
        (name,) = names

        def one(available: Mapping[str, Any]) -> Any:
            value = available.get(name, _ABSENT)
            return func() if value is _ABSENT else func(value)

        return one
    if len(names) == 2 and defaults[1] is not _ABSENT:  # e.g. (self, fill=None)
        (first, second), (first_default, second_default) = names, defaults

        def two(available: Mapping[str, Any]) -> Any:
            value = available.get(first, first_default)
            if value is _ABSENT:
                return by_name(available)
            return func(value, available.get(second, second_default))

        return two
    if len(names) == 4 and _ABSENT not in defaults[1:]:  # e.g. (self, fill=None, ref=None, x=None)
        (first, second, third, fourth) = names
        (first_default, second_default, third_default, fourth_default) = defaults

        def four(available: Mapping[str, Any]) -> Any:
            value = available.get(first, first_default)
            if value is _ABSENT:
                return by_name(available)
            return func(
                value,
                available.get(second, second_default),
                available.get(third, third_default),
                available.get(fourth, fourth_default),
            )

        return four
    if any(default is not _ABSENT for default in defaults):
        named_defaults = tuple(zip(names, defaults, strict=True))

        def many_with_defaults(available: Mapping[str, Any]) -> Any:
            values = []
            for name, default in named_defaults:
                value = available.get(name, default)
                if value is _ABSENT:  # a required value the event did not supply
                    return by_name(available)
                values.append(value)
            return func(*values)

        return many_with_defaults
    values_of = itemgetter(*names)

    def many(available: Mapping[str, Any]) -> Any:
        try:
            values = values_of(available)
        except KeyError:  # a name the event did not supply: let python raise the TypeError
            return by_name(available)
        return func(*values)

    return many


@attrs.frozen
class Injected:
    """
    A callable with the argument names it takes, called python-statemachine's way: with the
    available values it names.
    """

    func: Callable[..., Any]
    names: tuple[str, ...]
    call: Callable[[Mapping[str, Any]], Any] = attrs.field(eq=False, repr=False)
    """``call(available)``: the specialised caller."""
    positional: bool = attrs.field(default=False, eq=False, repr=False)
    """Whether the values can go by position (no keyword-only parameter)."""
    defaults: tuple[Any, ...] = attrs.field(default=(), eq=False, repr=False)
    """Each parameter's default, ``_ABSENT`` for a required one."""

    @classmethod
    def of(cls, func: Callable[..., Any], *, method: bool = False) -> Injected:
        """
        Inspect `func` once. A `method` (a callback defined on the machine) gets the machine
        as ``self``: the engine puts it in the available values under that name, which no
        event can supply.

        Raises:
            DefinitionError: `func` takes ``*args`` or ``**kwargs``, or names one of
                python-statemachine's internals (``event_data``, ``model``, ...): the
                table does not have them, so the engines would differ.
        """
        if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
            raise DefinitionError(
                f"{getattr(func, '__qualname__', func)!r} is async: the compiled engine does not "
                f"await guards or callbacks; make it a plain function, or declare the machine "
                f"compiled_engine = False and use Engine.REFERENCE"
            )
        params = list(inspect.signature(func).parameters.values())
        if method:
            if not params or params[0].name != "self":
                raise DefinitionError(f"{func.__qualname__!r}: a callback takes self first")
            params[0] = params[0].replace(default=params[0].empty)
        variadic = [
            ("**" if p.kind is p.VAR_KEYWORD else "*") + p.name
            for p in params
            if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]
        internal = [p.name for p in params[method:] if p.name in _INTERNALS]
        if variadic or internal:
            taken = variadic[0] if variadic else internal[0]
            raise DefinitionError(
                f"{getattr(func, '__qualname__', func)!r} takes {taken}: the compiled "
                f"engine passes only the values an event and prepare_event supply, not "
                f"python-statemachine's internals; name those, or use Engine.REFERENCE"
            )
        names = tuple(p.name for p in params)
        # Values can go by position when the named parameters are exactly the positional ones.
        positional = all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params)
        defaults = tuple(_ABSENT if p.default is p.empty else p.default for p in params)
        return cls(func, names, _caller(func, names, positional, defaults), positional, defaults)


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


def _method(machine: type[StateMachine], name: str) -> Injected:
    return Injected.of(getattr(machine, name), method=True)


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


def _compile(machine: type[StateMachine]) -> CompiledMachine:
    check_declaration(machine)
    model = MachineModel.from_machine(machine)
    values = {str(s.value): s for s in machine.states}
    injected = {name: Injected.of(f) for name, f in model.guard_functions.items()}
    table: dict[tuple[Any, str], list[CompiledTransition]] = {}
    edges: dict[Any, list[tuple[str, CompiledTransition]]] = {}
    for t in model.transitions:
        candidates = table.setdefault((values[t.source].value, t.event), [])
        validators = tuple(injected[v] for v in t.validators)
        same_as_before = (
            bool(candidates)
            and candidates[-1].validators == validators
            and not _reads_target(validators)
        )
        conds = tuple(injected[c] for c in t.conds)
        unless = tuple(injected[u] for u in t.unless)
        recheck = not same_as_before
        candidates.append(
            CompiledTransition(
                source=values[t.source],
                target=values[t.target],
                validators=validators,
                conds=conds,
                unless=unless,
                source_name=str(values[t.source].value),
                target_name=str(values[t.target].value),
                final=values[t.target].final,
                recheck=recheck,
                check=fused_check(validators if recheck else (), conds, unless, _ABSENT),
            )
        )
        edges.setdefault(values[t.source].value, []).append((t.event, candidates[-1]))
    events = frozenset(model.events)
    after_event = {}
    for name in dir(machine):
        if not is_callback(name) or name in _SUPPORTED_CALLBACKS:
            continue
        if name.startswith("after_") and name[len("after_") :] in events:
            after_event[name[len("after_") :]] = _method(machine, name)
            continue
        if callable(getattr(machine, name, None)):
            raise refusal(machine, f"callback {name!r}", "this callback")
    after_transition = (
        _method(machine, "after_transition") if hasattr(machine, "after_transition") else None
    )
    after = {}
    for event in events:
        callbacks = (after_event.get(event), after_transition)
        run = fused_calls(tuple(c for c in callbacks if c is not None), _ABSENT)
        if run is not None:
            after[event] = run
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
        return called.machine.send(str(called.event), **called.kwargs)


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
            available = {**kwargs, "event": event}
            available.update(source=candidate.source, target=candidate.target)
            try:
                holds = all(c.call(available) for c in candidate.conds) and not any(
                    u.call(available) for u in candidate.unless
                )
            except Exception:  # noqa: BLE001 - python-statemachine counts it as enabled
                holds = True
            if holds:
                enabled[event] = None
        return list(enabled)
