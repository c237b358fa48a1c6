"""
Hypothesis strategies that declare whole machines: states (finals among them), edges for a
few events (several candidates per event, self and internal transitions), guards as methods
and as plain functions taking injected arguments, validators raising `ContractViolation` or
`PolicyViolation` with a reason code, and callbacks that record their calls. Plus random event
sequences with random keyword arguments. `tests/test_engine_parity.py` runs them on both
engines.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
from hypothesis import strategies as st
from statemachine import State

from execfsm.contracts import ReasonCode
from execfsm.errors import ContractViolation, PolicyViolation
from execfsm.fsm.audited import AuditedMachine
from execfsm.fsm.guards import describe

EVENTS = ("a", "b", "c")
"""The events generated machines declare (``a`` also chains every state to the next)."""


# -- plain-function guards, taking what python-statemachine injects by name ---------------


@describe("the event carries flag=True")
def flag_set(flag: bool = False) -> bool:
    return flag


@describe("the event's level is at least 5")
def level_high(level: int = 0) -> bool:
    return level >= 5


@describe("the edge leaves the initial state")
def from_start(source: Any) -> bool:
    return bool(source.initial)


@describe("the edge ends in a final state")
def to_final(target: Any) -> bool:
    return bool(target.final)


@describe("the event is 'a'")
def event_is_a(event: Any, level: int = 0) -> bool:
    return event == "a" and level != 3 and event.name == "A"


@describe("the event's level is at most 8")
def level_bounded(level: int = 0) -> None:
    if level > 8:
        raise ContractViolation(
            f"level {level} above 8",
            reason=ReasonCode.VALIDATION_INVALID_FIELD,
            field="level",
            value=level,
        )


@describe("the event is not blocked")
def not_blocked(blocked: bool = False, target: Any = None) -> None:
    if blocked and target is not None and target.final:
        raise PolicyViolation("blocked before a final state", reason=ReasonCode.RISK_BLOCKED)


# -- method guards: the machine is ``self`` -------------------------------------------------


@describe("the machine has taken fewer than 3 transitions")
def is_fresh(self: Any, level: int = 0) -> bool:
    return len([c for c in self.calls if c[0] == "AUDIT"]) < 3 + level % 2


@describe("the event's level is odd")
def level_odd(self: Any, level: int = 0) -> bool:
    return level % 2 == 1


@describe("the machine is not quarantined")
def not_quarantined(self: Any, blocked: bool = False, state: Any = None) -> None:
    if blocked and state is not None and state.id == "s1":
        raise PolicyViolation("quarantined in s1", reason=ReasonCode.RISK_PAUSED)


FUNCTION_CONDS: tuple[Callable[..., Any], ...] = (flag_set, level_high, from_start, to_final)
FUNCTION_CONDS += (event_is_a,)
METHOD_CONDS: tuple[Callable[..., Any], ...] = (is_fresh, level_odd)
FUNCTION_VALIDATORS: tuple[Callable[..., Any], ...] = (level_bounded, not_blocked)
METHOD_VALIDATORS: tuple[Callable[..., Any], ...] = (not_quarantined,)
METHODS = {f.__name__: f for f in (*METHOD_CONDS, *METHOD_VALIDATORS)}


@attrs.frozen
class Guard:
    """
    One guard on an edge: `func` given as a plain function, or a method of the machine given
    by name (``by_name``) or by the function defined in the class body.
    """

    func: Callable[..., Any] = attrs.field(repr=lambda f: f.__name__)
    method: bool
    by_name: bool

    def spec(self, namespace: dict[str, Any]) -> Any:
        """What the transition is given (the function, or the method's name)."""
        if not self.method:
            return self.func
        return self.func.__name__ if self.by_name else namespace[self.func.__name__]


@attrs.frozen
class Edge:
    source: int
    event: str
    target: int
    conds: tuple[Guard, ...] = ()
    unless: tuple[Guard, ...] = ()
    validators: tuple[Guard, ...] = ()
    internal: bool = False


@attrs.frozen
class Declaration:
    """
    A machine's declaration as data (so hypothesis prints and shrinks it): states
    ``s0 .. s<n-1>`` chained by ``a`` (the last one final), optionally a final ``x`` (``c``
    from ``s0`` when the event carries ``flag=True``), the
    extra edges, and the named callbacks the class defines (each records its call, and
    raises `ContractViolation` when the event's ``boom`` names it).
    """

    states: int
    final_x: bool
    edges: tuple[Edge, ...]
    callbacks: tuple[str, ...]

    def build(self) -> type[AuditedMachine]:
        """The machine class (compiled for both engines when defined)."""
        return _build(self)


def _guards(draw: st.DrawFn, conds: bool) -> tuple[Guard, ...]:
    functions = FUNCTION_CONDS if conds else FUNCTION_VALIDATORS
    methods = METHOD_CONDS if conds else METHOD_VALIDATORS
    chosen = draw(st.lists(st.sampled_from([*functions, *methods]), max_size=2, unique=True))
    return tuple(
        Guard(f, method=f in methods, by_name=draw(st.booleans()) if f in methods else False)
        for f in chosen
    )


def callback_names(n: int) -> list[str]:
    """Every named callback python-statemachine resolves for a generated machine, and two
    helpers it does not (never called by either engine)."""
    states = [f"s{i}" for i in range(n)] + ["x"]
    return [
        "before_transition",
        "on_transition",
        "after_transition",
        "on_enter_state",
        "on_exit_state",
        *(f"{when}_{e}" for e in EVENTS for when in ("before", "on", "after")),
        *(f"on_{kind}_{s}" for s in states for kind in ("enter", "exit")),
        "on_something_helper",
        "before_nothing",
    ]


@st.composite
def declarations(draw: st.DrawFn) -> Declaration:
    """A random machine declaration."""
    n = draw(st.integers(2, 5))
    final_x = draw(st.booleans())
    targets = n + final_x  # x is number n
    edges = []
    for _ in range(draw(st.integers(0, 10))):
        source = draw(st.integers(0, n - 2))
        target = draw(st.integers(0, targets - 1))
        edges.append(
            Edge(
                source=source,
                event=draw(st.sampled_from(EVENTS)),
                target=target,
                conds=(conds := _guards(draw, conds=True)),
                unless=tuple(
                    g for g in _guards(draw, conds=True) if g.func not in {c.func for c in conds}
                ),
                validators=_guards(draw, conds=False),
                internal=source == target and draw(st.booleans()),
            )
        )
    names = callback_names(n)
    callbacks = tuple(draw(st.lists(st.sampled_from(names), max_size=10, unique=True)))
    return Declaration(n, final_x, tuple(edges), callbacks)


def _recorder(name: str, with_state: bool) -> Callable[..., None]:
    def record(self: Any, event: str, source: Any, target: Any, boom: str | None = None) -> None:
        self.calls.append((name, str(event), event.name, source.id, target.id, self.peek()))
        if boom == name:
            raise ContractViolation(
                f"{name} refused", reason=ReasonCode.VALIDATION_INVALID_FIELD, field="boom"
            )

    def record_state(
        self: Any, event: str, source: Any, target: Any, state: Any, boom: str | None = None
    ) -> None:
        record(self, event, source, target, boom)
        self.calls.append((name, "state", state.id))

    chosen = record_state if with_state else record
    chosen.__name__ = name
    return chosen


class GeneratedBase(AuditedMachine):
    """
    What every generated machine shares: a call log (the audit sink writes to it too).
    """

    audit_machine = "generated"

    def __init__(self, audit: Any, calls: list[Any], **options: Any) -> None:
        self.calls = calls
        super().__init__(audit, **options)

    @property
    def correlation_id(self) -> str:
        return "cor-generated"

    def peek(self) -> Any:
        """The current state's value, or None while the machine is being constructed."""
        engine = self.__dict__.get("_engine")
        return None if engine is None else engine.value


def _build(spec: Declaration) -> type[AuditedMachine]:
    states = {
        f"s{i}": State(initial=i == 0, final=i == spec.states - 1) for i in range(spec.states)
    }
    if spec.final_x:
        states["x"] = State(final=True)
    names = list(states)
    namespace: dict[str, Any] = dict(states)
    namespace.update(METHODS)
    for i, name in enumerate(spec.callbacks):
        namespace[name] = _recorder(name, with_state=i % 3 == 2)
    for i in range(spec.states - 1):
        states[names[i]].to(states[names[i + 1]], event="a")
    if spec.final_x:
        states["s0"].to(states["x"], event="c", cond=flag_set)
    for edge in spec.edges:
        options: dict[str, Any] = {"event": edge.event}
        for key in ("conds", "unless", "validators"):
            guards = getattr(edge, key)
            if guards:
                options["cond" if key == "conds" else key] = [g.spec(namespace) for g in guards]
        source, target = states[names[edge.source]], states[names[edge.target]]
        if source is target:
            source.to.itself(internal=edge.internal, **options)
        else:
            source.to(target, **options)
    return type("Generated", (GeneratedBase,), namespace)


def event_sequences(spec: Declaration) -> st.SearchStrategy[list[tuple[str, dict[str, Any]]]]:
    """
    Events to send to a machine of `spec`, with their keyword arguments (``zzz`` is no event
    of any machine; ``boom`` names one of the machine's callbacks, to make it raise).
    """
    kwargs = st.fixed_dictionaries(
        {},
        optional={
            "flag": st.booleans(),
            "level": st.integers(0, 10),
            "blocked": st.booleans(),
            "boom": st.sampled_from([*spec.callbacks, "nothing"]),
        },
    )
    events = st.sampled_from([*EVENTS, *EVENTS, "zzz"])
    return st.lists(st.tuples(events, kwargs), max_size=10)
