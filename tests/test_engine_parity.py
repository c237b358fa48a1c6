"""
Engine parity over randomly generated machine declarations: both engines give the same
states, outcomes, refusals, audit records and callback calls, or the class is refused when
it is defined.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statemachine import Event, State
from statemachine.state import HistoryState

from execfsm.clock import SteppingClock
from execfsm.contracts import ReasonCode
from execfsm.errors import (
    AuditWriteError,
    ContractViolation,
    DefinitionError,
    IllegalTransition,
    PolicyViolation,
)
from execfsm.fsm.audit import AuditEntry
from execfsm.fsm.audited import AuditedMachine
from execfsm.fsm.engine import Engine
from execfsm.fsm.guards import describe
from execfsm.ledger.audit import AuditLog
from tests.strategies_machines import Declaration, declarations, event_sequences

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class RecordingSink:
    """
    An `AuditLog` that also notes each write in the machine's call log, so the audit write's
    place among the callbacks is compared too.
    """

    def __init__(self, calls: list[Any]) -> None:
        self.log = AuditLog(SteppingClock(EPOCH))
        self.calls = calls

    def append(self, entry: AuditEntry) -> Any:
        self.calls.append(("AUDIT", entry.event, entry.source, entry.target, str(entry.outcome)))
        return self.log.append(entry)


def run(machine: type[AuditedMachine], engine: Engine, steps: list[Any]) -> list[Any]:
    """Everything observable of `steps` sent to a new `machine` on `engine`."""
    calls: list[Any] = []
    sink = RecordingSink(calls)
    try:
        sm = machine(sink, calls, engine=engine)  # type: ignore[call-arg]
    except ContractViolation as exc:  # an entry callback of the first state refused
        return [("construction", exc.reason, str(exc)), calls]
    trace: list[Any] = [("constructed", list(calls))]
    for event, kwargs in steps:
        calls.clear()
        try:
            sm.send(event, **kwargs)
            outcome: Any = "ok"
        except (IllegalTransition, ContractViolation, PolicyViolation) as exc:
            outcome = (type(exc).__name__, exc.reason, str(exc))
        enabled = [e.id for e in sm.enabled_events(**kwargs)]
        trace.append((event, outcome, sm.current_state_value, sm.is_terminated, enabled, calls[:]))
    return [*trace, sink.log.export_jsonl()]


@settings(max_examples=300, deadline=None)
@given(spec=declarations(), data=st.data())
def test_generated_declarations_run_alike(spec: Declaration, data: st.DataObject) -> None:
    """Random declarations (method and function guards, validators, named callbacks, self
    and internal transitions) under random events give identical traces on both engines."""
    machine = spec.build()
    steps = data.draw(event_sequences(spec), label="steps")

    assert run(machine, Engine.COMPILED, steps) == run(machine, Engine.REFERENCE, steps)


class Session(AuditedMachine):
    """A small machine of the kind users write: method guards, named callbacks."""

    audit_machine = "session"
    idle = State(initial=True)
    ready = State()
    closed = State(final=True)

    connect = idle.to(ready, cond="is_ready", validators="not_blocked") | idle.to(closed)
    close = ready.to(closed, unless="is_busy")

    def __init__(self, audit: Any, calls: list[Any], **options: Any) -> None:
        self.calls = calls
        self.busy = False
        super().__init__(audit, **options)

    @property
    def correlation_id(self) -> str:
        return "cor-session"

    @describe("the venue answered")
    def is_ready(self, up: bool = False) -> bool:
        return up

    @describe("the session has open requests")
    def is_busy(self) -> bool:
        return self.busy

    @describe("not blocked by the caller")
    def not_blocked(self, blocked: bool = False) -> None:
        if blocked:
            raise PolicyViolation("blocked", reason=ReasonCode.RISK_BLOCKED)

    def on_enter_ready(self, source: Any) -> None:
        self.calls.append(("on_enter_ready", source.id))

    def before_connect(self, event: str) -> None:
        self.calls.append(("before_connect", str(event)))

    def on_something_helper(self) -> None:
        self.calls.append("helper")


class TestSupported:
    @pytest.mark.parametrize("engine", list(Engine))
    def test_method_guards_and_named_callbacks(self, engine: Engine) -> None:
        """Method guards get the machine as ``self``; ``before_<event>`` and
        ``on_enter_<state>`` run; a helper named ``on_*`` is an ordinary method."""
        calls: list[Any] = []
        machine = Session(AuditLog(SteppingClock(EPOCH)), calls, engine=engine)
        machine.send("connect", up=True)

        assert (machine.current_state_value, calls) == (
            "ready",
            [("before_connect", "connect"), ("on_enter_ready", "idle")],
        )

    @pytest.mark.parametrize("engine", list(Engine))
    def test_positional_event_arguments_are_refused_alike(self, engine: Engine) -> None:
        """Events take keyword arguments only: ``send("go", 1)`` and ``machine.go(1)`` raise
        the same TypeError on both engines, and nothing moves."""
        machine = Session(AuditLog(SteppingClock(EPOCH)), [], engine=engine)
        with pytest.raises(TypeError, match=r"Session.send\('connect'\): values go by keyword"):
            machine.send("connect", True)
        with pytest.raises(TypeError, match="values go by keyword"):
            machine.connect(True)

        assert machine.current_state_value == "idle"


class Odd(AuditedMachine):
    """A guard whose first parameter is not called ``self``, a static-method callback."""

    audit_machine = "odd"
    idle = State(initial=True)
    ready = State(final=True)
    connect = idle.to(ready, cond="answered")

    @property
    def correlation_id(self) -> str:
        return "cor-odd"

    @describe("the venue answered")
    def answered(this, up: bool = False) -> bool:  # any first parameter binds the machine
        return up and isinstance(this, Odd)

    @staticmethod
    def on_exit_idle(target: Any) -> None:
        seen.append(target.id)


seen: list[str] = []


@pytest.mark.parametrize("engine", list(Engine))
def test_any_first_parameter_and_static_callbacks(engine: Engine) -> None:
    """A method guard binds the machine whatever its first parameter is called; a static
    method callback gets no machine."""
    seen.clear()
    machine = Odd(AuditLog(SteppingClock(EPOCH)), engine=engine)
    machine.send("connect", up=True)

    assert (machine.current_state_value, seen) == ("ready", ["ready"])


def test_failed_entry_callback_restores_the_source_alike() -> None:
    """An ``on_enter_<state>`` that raises leaves the machine in the source state after its
    record was written, on both engines."""

    class Fragile(Session):
        def on_enter_ready(self, source: Any) -> None:
            raise ContractViolation("no", reason=ReasonCode.RISK_BLOCKED)

    traces = [run(Fragile, engine, [("connect", {"up": True})]) for engine in Engine]

    assert traces[0] == traces[1]
    assert traces[0][1][2] == "idle"


class BrokenSink:
    """A sink that cannot write."""

    def append(self, entry: AuditEntry) -> Any:
        raise OSError("disk full")


@pytest.mark.parametrize("engine", list(Engine))
def test_failing_sink_blocks_the_move_after_before_callbacks(engine: Engine) -> None:
    """The audit write comes after ``before_<event>`` and before the commit: a sink that
    fails leaves the machine where it was, on both engines."""
    calls: list[Any] = []
    machine = Session(BrokenSink(), calls, engine=engine)
    with pytest.raises(AuditWriteError, match="disk full"):
        machine.send("connect", up=True)

    assert (machine.current_state_value, calls) == ("idle", [("before_connect", "connect")])


@describe("always")
def always() -> bool:
    return True


def noted() -> None:
    return None


class TestRefusedAtDefinition:
    def test_boolean_expression_guard(self) -> None:
        """``cond="a and not b"`` is refused, naming the feature and the way out."""
        with pytest.raises(
            DefinitionError,
            match=r"Expr: transition 'go' a -> b: the compiled engine does not run boolean "
            r"expressions as guards \('is_a and not is_b'\); .*compiled_engine = False",
        ):

            class Expr(AuditedMachine):
                a = State(initial=True)
                b = State(final=True)
                go = a.to(b, cond="is_a and not is_b")

                @describe("a")
                def is_a(self) -> bool:
                    return True

                @describe("b")
                def is_b(self) -> bool:
                    return False

    def test_compound_states(self) -> None:
        """A compound state is refused, naming the feature and the way out."""
        with pytest.raises(
            DefinitionError,
            match=r"Nested: state 'busy': the compiled engine does not run compound states; "
            r"flatten it, or declare the machine compiled_engine = False and use "
            r"Engine.REFERENCE",
        ):

            class Nested(AuditedMachine):
                class busy(State.Compound):
                    x = State(initial=True)
                    y = State(final=True)
                    step = x.to(y)

                done = State(final=True)
                fin = busy.to(done)

    def test_parallel_states(self) -> None:
        """A parallel state is refused, naming the feature."""
        with pytest.raises(
            DefinitionError, match=r"Both: state 'busy': .* does not run parallel states"
        ):

            class Both(AuditedMachine):
                class busy(State.Parallel):
                    class left(State.Compound):
                        x = State(initial=True)
                        y = State(final=True)
                        step = x.to(y)

                    class right(State.Compound):
                        p = State(initial=True)
                        q = State(final=True)
                        hop = p.to(q)

                done = State(final=True)
                fin = busy.to(done)

    def test_history_states(self) -> None:
        """A history pseudo-state is refused (the compound holding it first)."""
        with pytest.raises(DefinitionError, match=r"does not run (compound|history) states"):

            class Remembering(AuditedMachine):
                class busy(State.Compound):
                    x = State(initial=True)
                    y = State()
                    h = HistoryState()
                    step = x.to(y)

                done = State(final=True)
                fin = busy.to(done)

    def test_invoked_actions(self) -> None:
        """``on_invoke_<state>`` is refused."""
        with pytest.raises(DefinitionError, match=r"callback 'on_invoke_a'.*invoked actions"):

            class Invoking(AuditedMachine):
                a = State(initial=True)
                b = State(final=True)
                go = a.to(b, cond=always)

                def on_invoke_a(self) -> None:
                    return None

    @pytest.mark.parametrize(
        ("decorator", "where", "feature"),
        [
            ("go.on", "transition 'go' a -> b", "transition-level on= callbacks"),
            ("go.before", "transition 'go' a -> b", "transition-level before= callbacks"),
            ("b.enter", "state 'b'", "state-level enter= callbacks"),
            ("a.exit", "state 'a'", "state-level exit= callbacks"),
        ],
    )
    def test_decorated_callbacks(self, decorator: str, where: str, feature: str) -> None:
        """``@go.on`` / ``@state.enter`` callbacks are refused, naming the feature and the
        named callback to write instead."""
        on, kind = decorator.split(".")
        with pytest.raises(
            DefinitionError,
            match=rf"Deco: {where}: the compiled engine does not run {feature} .*; name a method",
        ):

            class Deco(AuditedMachine):
                a = State(initial=True)
                b = State(final=True)
                go = a.to(b)
                getattr(locals()[on], kind)(noted)

    def test_guard_given_twice(self) -> None:
        """One method given as cond by function and as unless by name is refused
        (python-statemachine resolves both to one callback and keeps one)."""
        with pytest.raises(DefinitionError, match=r"Twice: transition 'go' a -> b: .*twice"):

            class Twice(AuditedMachine):
                @describe("ready")
                def is_ready(self) -> bool:
                    return True

                a = State(initial=True)
                b = State(final=True)
                go = a.to(b, cond=is_ready, unless="is_ready")

    def test_delayed_event(self) -> None:
        """An event declared with a delay is refused (the table does not wait)."""
        with pytest.raises(DefinitionError, match=r"Later: event 'go': .*delayed events"):

            class Later(AuditedMachine):
                a = State(initial=True)
                b = State(final=True)
                go = Event(a.to(b), delay=30)

    def test_reference_engine_runs_what_is_refused(self) -> None:
        """``compiled_engine = False`` declares an expression guard; the reference engine
        evaluates it with method guards bound to the machine."""

        class Expr(AuditedMachine):
            compiled_engine = False
            audit_machine = "expr"
            a = State(initial=True)
            b = State(final=True)
            go = a.to(b, cond="is_a and not is_b")

            @property
            def correlation_id(self) -> str:
                return "cor-expr"

            @describe("a")
            def is_a(self, ok: bool = False) -> bool:
                return ok and isinstance(self, Expr) and self.audit_machine == "expr"

            @describe("b")
            def is_b(self) -> bool:
                return False

        machine = Expr(AuditLog(SteppingClock(EPOCH)))
        machine.send("go", ok=True)

        assert (machine.engine, machine.current_state_value) == (Engine.REFERENCE, "b")
