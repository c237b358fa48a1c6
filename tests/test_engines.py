"""
Differential tests: the compiled engine against python-statemachine's (the reference) on
random event sequences, refusals and raising validators included. Both must produce the same
states, outcomes, reason codes, order snapshots and byte-identical audit trails.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from statemachine import State

from execfsm import (
    ContractViolation,
    EventKind,
    ExecutionEvent,
    ExecutionMode,
    Fill,
    IllegalTransition,
    LivePolicy,
    OrderLifecycle,
    PipelineRun,
    PolicyViolation,
    ReasonCode,
    RiskDecision,
    RiskVerdict,
    SteppingClock,
)
from execfsm.clock import EPOCH
from execfsm.contracts import Route
from execfsm.errors import DefinitionError
from execfsm.fsm._audited import AuditedMachine
from execfsm.fsm.engine import compile_machine
from execfsm.fsm.guards import describe
from execfsm.ledger.audit import AuditLog
from execfsm.testing import order_for
from tests.conftest import make_intent

DIFFERENTIAL = settings(
    max_examples=1000, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# Mostly well-formed fills (so orders progress), some malformed or beyond the amount bounds
# (so validators raise).
fills = st.builds(
    Fill,
    fill_id=st.sampled_from(["a", "b", "c", "d"]),
    quantity=st.sampled_from(["0.3", "0.5", "0.7", "1.0", "0.2", "0", "-1", "1e-2000000", "sNaN"]),
    price=st.sampled_from(["10", "11", "10", "0", "9e999999", "NaN"]),
    fee=st.sampled_from(["0", "0.1", "0", "-0.1", "1e1000000"]),
)
reasons = st.sampled_from([None, ReasonCode.ADAPTER_REJECTED, ReasonCode.ADAPTER_ERROR])
local_events = st.tuples(
    st.sampled_from(["submit", "request_cancel", "request_cancel", "fail", "teleport", "fill"]),
    reasons,
)
venue_events = st.tuples(
    st.sampled_from([EventKind.FILL] * 5 + list(EventKind)),
    fills,
    reasons,
    st.sampled_from(["ok"] * 5 + ["stray"]),
)
order_steps = st.tuples(
    st.booleans(), st.lists(st.one_of(venue_events, venue_events, local_events), max_size=14)
).map(lambda t: [("submit", None)] * t[0] + t[1])
intents = st.sampled_from(
    [
        make_intent(),
        make_intent(),
        make_intent(quantity="1.2"),
        make_intent(quantity=0),
        make_intent(limit_price=None),
        make_intent(symbol=" "),
        make_intent(order_type="MARKET", limit_price=None),
    ]
)


def run_order(engine: str, intent: Any, steps: list[Any]) -> tuple[list[Any], str]:
    audit = AuditLog(SteppingClock(EPOCH, timedelta(microseconds=7)))
    lc = OrderLifecycle(order_for(intent), audit, engine=engine)
    trace: list[Any] = []
    for step in steps:
        try:
            if len(step) == 2:
                name, reason = step
                kwargs = {"reason_code": reason} if name == "fail" else {}
                lc.send(name, **kwargs)
                outcome: Any = "applied"
            else:
                kind, fill, reason, target = step
                event = ExecutionEvent(
                    kind,
                    "e",
                    lc.client_order_id if target == "ok" else "ord-stray",
                    lc.correlation_id,
                    EPOCH,
                    fill=fill if kind is EventKind.FILL else None,
                    reason_code=reason,
                )
                result = lc.apply(event)
                outcome = (result.outcome, result.reason_code, result.booked_fill)
        except (IllegalTransition, ContractViolation, PolicyViolation) as exc:
            outcome = (type(exc).__name__, exc.reason, str(exc))
        except TypeError as exc:  # a guard called without its argument, in both engines
            outcome = ("TypeError", str(exc))
        trace.append((outcome, lc.current_state_value, lc.order, lc.fills, lc.late_fills))
    return trace, audit.export_jsonl()


@DIFFERENTIAL
@given(intent=intents, steps=order_steps)
def test_order_engines_agree(intent: Any, steps: list[Any]) -> None:
    """Random order event sequences give identical traces and audit bytes on both engines."""
    reference = run_order("reference", intent, steps)
    compiled = run_order("compiled", intent, steps)

    assert compiled == reference


NOW = EPOCH
routes = st.builds(
    Route,
    mode=st.sampled_from(list(ExecutionMode)),
    adapter_registered=st.booleans(),
    live_policy=st.sampled_from(
        [None, LivePolicy("cro", "x", NOW + timedelta(days=1)), LivePolicy("cro", "x", NOW)]
    ),
    now=st.just(NOW),
)
verdicts = st.one_of(st.none(), st.builds(RiskVerdict, st.sampled_from(list(RiskDecision))))
pipeline_events = st.sampled_from(
    [
        "intake_done",
        "validate",
        "reject",
        "allow",
        "block",
        "pause",
        "resume",
        "abandon",
        "route",
        "dispatched",
        "fail",
        "events_applied",
        "booked",
        "handed_off",
        "warp",
    ]
)
pipeline_steps = st.lists(st.tuples(pipeline_events, verdicts, routes, reasons), max_size=16)


def run_pipeline(engine: str, intent: Any, steps: list[Any]) -> tuple[list[Any], str]:
    audit = AuditLog(SteppingClock(EPOCH, timedelta(microseconds=3)))
    run = PipelineRun(
        intent, correlation_id="cor-d", client_order_id="ord-d", audit=audit, engine=engine
    )
    trace: list[Any] = []
    for name, verdict, route, reason in steps:
        try:
            run.send(name, verdict=verdict, route=route, reason_code=reason)
            outcome: Any = "applied"
        except (IllegalTransition, ContractViolation, PolicyViolation) as exc:
            outcome = (type(exc).__name__, exc.reason, str(exc))
        trace.append((outcome, run.state, run.stage_reached))
    return trace, audit.export_jsonl()


@DIFFERENTIAL
@given(intent=intents, steps=pipeline_steps)
def test_pipeline_engines_agree(intent: Any, steps: list[Any]) -> None:
    """Random pipeline event sequences give identical traces and audit bytes on both engines."""
    reference = run_pipeline("reference", intent, steps)
    compiled = run_pipeline("compiled", intent, steps)

    assert compiled == reference


class TestEngineSelection:
    def test_default_is_compiled_and_reference_is_selectable(self) -> None:
        """Machines run compiled by default; python-statemachine's engine stays available."""
        audit = AuditLog(SteppingClock(EPOCH))

        assert OrderLifecycle(order_for(make_intent()), audit).engine == "compiled"
        assert (
            OrderLifecycle(order_for(make_intent()), audit, engine="reference").engine
            == "reference"
        )

    def test_unknown_engine_is_refused(self) -> None:
        """An engine name that does not exist is a clear error."""
        with pytest.raises(ContractViolation, match="engine"):
            OrderLifecycle(order_for(make_intent()), AuditLog(SteppingClock(EPOCH)), engine="turbo")

    def test_unsupported_callback_is_refused_at_compile_time(self) -> None:
        """A machine with a callback the compiled engine does not run cannot be compiled."""

        class Chatty(OrderLifecycle):
            def on_enter_FILLED(self) -> None:
                return None

        with pytest.raises(DefinitionError, match="on_enter_FILLED"):
            compile_machine(Chatty)


# A machine of the kind a user of the framework might declare, with guards whose signatures
# our own machines do not use: both engines must call them the same way.
calls: list[tuple[str, Any]] = []


@describe("level at least 5 (default 5)")
def level_ok(level: int = 5) -> bool:
    calls.append(("level_ok", level))
    return level >= 5


@describe("keyword-only arguments")
def keyword_only(*, level: int = 0, source: Any = None) -> bool:
    calls.append(("keyword_only", (level, str(source.value))))
    return True


@describe("two arguments, the second defaulted")
def event_and_note(event: str, note: str = "none") -> bool:
    calls.append(("event_and_note", (str(event), note)))
    return note != "stop"


class Signatures(AuditedMachine):
    audit_machine = "signatures"
    idle = State(initial=True)
    busy = State()
    done = State(final=True)

    start = idle.to(busy, cond=[level_ok, keyword_only, event_and_note]) | idle.to(done)
    finish = busy.to(done, cond=event_and_note)

    @property
    def correlation_id(self) -> str:
        return "cor-signatures"


def run_signatures(engine: str, steps: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    audit = AuditLog(SteppingClock(EPOCH))
    machine = Signatures(audit, engine=engine)
    seen: list[Any] = []
    for event, kwargs in steps:
        calls.clear()
        try:
            machine.send(event, **kwargs)
            outcome = "ok"
        except IllegalTransition as exc:
            outcome = exc.reason
        seen.append((event, outcome, machine.current_state_value, list(calls)))
    return [*seen, audit.export_jsonl()]


class TestGuardSignatures:
    @pytest.mark.parametrize(
        "steps",
        [
            [("start", {}), ("finish", {})],
            [("start", {"level": 3})],
            [("start", {"level": 7, "note": "go"}), ("finish", {"note": "stop"})],
            [("start", {"note": "stop"}), ("finish", {"unused": 1})],
        ],
    )
    def test_defaults_keyword_only_and_missing_values_match_the_reference(
        self, steps: list[tuple[str, dict[str, Any]]]
    ) -> None:
        """Defaults apply when an event does not supply a value, keyword-only and positional
        parameters get the same values, and the trails are byte-identical."""
        assert run_signatures("compiled", steps) == run_signatures("reference", steps)

    def test_variadic_guard_is_refused_at_compile_time(self) -> None:
        """A guard taking **kwargs would receive python-statemachine's internals from the
        reference engine only: the compiled engine refuses it, naming it."""

        @describe("takes everything")
        def anything(**kwargs: Any) -> bool:
            return True

        class Greedy(AuditedMachine):
            audit_machine = "greedy"
            idle = State(initial=True)
            done = State(final=True)
            start = idle.to(done, cond=anything)

            @property
            def correlation_id(self) -> str:
                return "cor-greedy"

        with pytest.raises(DefinitionError, match=r"anything.*\*\*kwargs"):
            compile_machine(Greedy)
        reference = Greedy(AuditLog(SteppingClock(EPOCH)), engine="reference")
        reference.send("start")
        assert reference.current_state_value == "done"
