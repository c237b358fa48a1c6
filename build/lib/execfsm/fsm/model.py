"""
`MachineModel`: what a declared machine says, extracted once, as plain values.

The one input to diagrams, the review spec, property verification and any faster engine, so
they cannot disagree with the declaration (or with each other).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

import attrs
from statemachine import StateMachine
from statemachine.callbacks import CallbackSpec

from execfsm.enums import MachineReason
from execfsm.errors import DefinitionError
from execfsm.fsm.cases import Case, CaseTable
from execfsm.fsm.guards import description_of


@attrs.frozen
class StateModel:
    """
    One state: its name (the state enum's value) and whether it starts or ends the machine.
    """

    name: str
    initial: bool
    final: bool


@attrs.frozen
class TransitionModel:
    """
    One edge for one event, with the guards on it, by name, in declaration order.
    """

    source: str
    event: str
    target: str
    conds: tuple[str, ...] = ()
    """Must all be true for this edge to be chosen."""
    unless: tuple[str, ...] = ()
    """Must all be false for this edge to be chosen."""
    validators: tuple[str, ...] = ()
    """Raise to refuse the event; they never choose between edges."""
    internal: bool = False

    @property
    def guards(self) -> tuple[str, ...]:
        """
        Every guard on the edge: conds, unless, then validators.
        """
        return self.conds + self.unless + self.validators


@attrs.frozen
class CaseModel:
    """
    One row of a machine's declared cases (`execfsm.fsm.cases.Case`) as plain values: in
    `states`, `event` (in situation `when`, or any if "") ends as `outcome` with `reason`.
    """

    event: str
    """The event's name, or ``*`` for any event."""
    states: tuple[str, ...]
    when: str
    outcome: str
    reason: str
    flags: bool
    """Whether the row flags the subject for reconciliation."""
    action: str
    why: str

    @classmethod
    def from_case(cls, case: Case) -> CaseModel:
        """
        The plain model of `case`.
        """
        return cls(
            event=case.event,
            states=tuple(case.states),
            when=case.when,
            outcome=str(case.outcome),
            reason=str(case.reason),
            flags=case.flags,
            action=case.action,
            why=case.why,
        )

    @property
    def key(self) -> tuple[str, str, tuple[str, ...]]:
        """
        What names the row: event, situation and states (unique within a table).
        """
        return (self.event, self.when, self.states)

    @property
    def name(self) -> str:
        """
        The row's name as drift reports print it: ``event [when situation] in S1|S2``.
        """
        when = f" when {self.when!r}" if self.when else ""
        return f"{self.event}{when} in {'|'.join(self.states)}"


@attrs.frozen
class MachineModel:
    """
    The extracted states, events, transitions, guard descriptions and declared cases of one
    machine class.
    """

    name: str
    states: tuple[StateModel, ...]
    events: tuple[str, ...]
    transitions: tuple[TransitionModel, ...]
    guard_descriptions: Mapping[str, str]
    """Each guard's one-line plain-English description, by name."""
    guard_functions: Mapping[str, Callable[..., Any]] = attrs.field(eq=False, repr=False)
    """The real guard callables, by name, for verification that explores the machine."""
    cases: tuple[CaseModel, ...] = ()
    """The rows of the machine's declared `CaseTable` (``cls.cases``), in lookup order: what
    it does with an event its transitions have no edge for."""
    reason_codes: tuple[str, ...] = ()
    """The machine's own reason codes (``cls.reason_codes``, a `MachineReason` enum)."""
    resting: tuple[str, ...] = ()
    """The non-final states the machine declares an instance may rest in without
    attention (``cls.resting_states``); not part of the spec."""

    @classmethod
    def from_machine(cls, machine: type[StateMachine]) -> MachineModel:
        """
        Extract the model of a declared machine class.

        Raises:
            DefinitionError: a guard has no description, or two guards share a name.
        """
        states = tuple(
            StateModel(_state_name(s), bool(s.initial), bool(s.final)) for s in machine.states
        )
        transitions: list[TransitionModel] = []
        functions: dict[str, Callable[..., Any]] = {}
        for state in machine.states:
            for transition in state.transitions:
                conds = _guards(machine, transition.cond, functions, expected=True)
                unless = _guards(machine, transition.cond, functions, expected=False)
                validators = _guards(machine, transition.validators, functions, expected=None)
                for event in transition.events:
                    transitions.append(
                        TransitionModel(
                            source=_state_name(transition.source),
                            event=str(event),
                            target=_state_name(transition.target),
                            conds=conds,
                            unless=unless,
                            validators=validators,
                            internal=bool(transition.internal),
                        )
                    )
        descriptions = {}
        for name, func in sorted(functions.items()):
            text = description_of(func)
            if not text:
                raise DefinitionError(
                    f"{machine.__name__}: guard {name!r} has no description; "
                    f"decorate it with @describe('...')"
                )
            descriptions[name] = text
        return cls(
            name=machine.__name__,
            states=states,
            events=tuple(dict.fromkeys(t.event for t in transitions)),
            transitions=tuple(transitions),
            guard_descriptions=descriptions,
            guard_functions=functions,
            cases=_cases(machine),
            reason_codes=_reason_codes(machine),
            resting=_resting(machine, states),
        )

    @property
    def initial_state(self) -> str:
        """
        The name of the state the machine starts in.
        """
        return next(s.name for s in self.states if s.initial)

    @property
    def resting_states(self) -> tuple[str, ...]:
        """
        The states an instance may rest in without attention: the final ones and those the
        machine declares (``resting_states``, e.g. an order's FILLED), in state order.
        """
        return tuple(s.name for s in self.states if s.final or s.name in self.resting)

    @property
    def final_states(self) -> tuple[str, ...]:
        """
        The names of the states with no way out.
        """
        return tuple(s.name for s in self.states if s.final)

    def transitions_from(self, state: str) -> tuple[TransitionModel, ...]:
        """
        The edges leaving `state`, in declaration order.
        """
        return tuple(t for t in self.transitions if t.source == state)

    def validators(self) -> tuple[str, ...]:
        """
        Every validator named on some transition, sorted.
        """
        return tuple(sorted({v for t in self.transitions for v in t.validators}))


def _cases(machine: type[StateMachine]) -> tuple[CaseModel, ...]:
    table = getattr(machine, "cases", None)
    if table is None:
        return ()
    if not isinstance(table, CaseTable):
        raise DefinitionError(f"{machine.__name__}: cases must be a CaseTable, got {table!r}")
    rows = tuple(CaseModel.from_case(case) for case in table.rows())
    states = {_state_name(s) for s in machine.states}
    seen: set[tuple[str, str, tuple[str, ...]]] = set()
    for row in rows:
        unknown = sorted(set(row.states) - states)
        if unknown:
            raise DefinitionError(f"{machine.__name__}: case {row.name}: unknown states {unknown}")
        if row.key in seen:
            raise DefinitionError(f"{machine.__name__}: case {row.name} is declared twice")
        seen.add(row.key)
    return rows


def _reason_codes(machine: type[StateMachine]) -> tuple[str, ...]:
    reasons = getattr(machine, "reason_codes", None)
    if reasons is None:
        return ()
    if not (isinstance(reasons, type) and issubclass(reasons, MachineReason)):
        raise DefinitionError(
            f"{machine.__name__}: reason_codes must be a MachineReason enum, got {reasons!r}"
        )
    return tuple(member.value for member in reasons)


def _resting(machine: type[StateMachine], states: tuple[StateModel, ...]) -> tuple[str, ...]:
    declared = getattr(machine, "resting_states", ())
    if isinstance(declared, str) or not all(isinstance(s, str) for s in declared):
        raise DefinitionError(
            f"{machine.__name__}: resting_states must be state names, got {declared!r}"
        )
    names = [s.name for s in states]
    unknown = sorted(set(declared) - set(names))
    if unknown:
        raise DefinitionError(f"{machine.__name__}: resting_states names no state: {unknown}")
    return tuple(name for name in names if name in set(declared))


def _state_name(state: Any) -> str:
    value = state.value
    return str(value) if value is not None else str(state.id)


def _guards(
    machine: type[StateMachine],
    specs: Any,
    functions: dict[str, Callable[..., Any]],
    *,
    expected: bool | None,
) -> tuple[str, ...]:
    names = []
    for spec in specs:
        if expected is not None and spec.expected_value is not expected:
            continue
        func = _resolve(machine, spec)
        name = func.__name__
        known = functions.setdefault(name, func)
        if known is not func and not _same_expression(known, func):
            raise DefinitionError(f"{machine.__name__}: two different guards are named {name!r}")
        names.append(name)
    return tuple(names)


_OPERATORS = frozenset({"and", "or", "not"})


def _expression(machine: type[StateMachine], text: str) -> Callable[..., Any]:
    """
    A boolean expression of guards (``cond="ready and not blocked"``, which only
    python-statemachine's runtime runs) as the model sees it: one guard named by the
    expression, described by its guards' descriptions. Every name in it must be a described
    guard of the machine.
    """
    words = text.replace("(", " ( ").replace(")", " ) ").split()
    shown = []
    for word in words:
        if word in _OPERATORS or word in "()":
            shown.append(word)
            continue
        guard = getattr(machine, word, None) if word.isidentifier() else None
        text_of = description_of(guard) if callable(guard) else None
        if not text_of:
            raise DefinitionError(
                f"{machine.__name__}: guard expression {text!r}: {word!r} is not a described "
                f"guard of the machine"
            )
        shown.append(f"({text_of})")

    def expression(**_values: Any) -> bool:
        raise DefinitionError(f"{text!r} runs on python-statemachine's runtime only")

    expression.__name__ = " ".join(words)
    expression.description = " ".join(shown)  # type: ignore[attr-defined]
    return expression


def _same_expression(first: Callable[..., Any], second: Callable[..., Any]) -> bool:
    return getattr(first, "description", None) == getattr(second, "description", None) and (
        " " in first.__name__
    )


def _resolve(machine: type[StateMachine], spec: CallbackSpec) -> Callable[..., Any]:
    func = spec.func
    if isinstance(func, str) and not func.isidentifier():
        return _expression(machine, func)
    if isinstance(func, str):
        func = getattr(machine, func, None)
    if not callable(func):
        raise DefinitionError(f"{machine.__name__}: guard {spec.func!r} is not a callable")
    return cast(Callable[..., Any], func)
