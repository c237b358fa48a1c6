"""
Differential tests: the compiled engine against python-statemachine's (the reference) on
random event sequences, refusals and raising validators included. Both must produce the same
states, outcomes, reason codes, order snapshots, answers to the public `StateMachine` queries
and byte-identical audit trails.
"""

from __future__ import annotations

import warnings
from datetime import timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from statemachine import State
from statemachine.exceptions import InvalidStateValue

from execfsm import (
    ContractViolation,
    EventKind,
    ExecutionEvent,
    ExecutionMode,
    Fill,
    IllegalTransition,
    LivePolicy,
    OrderLifecycle,
    OrderState,
    PipelineRun,
    PolicyViolation,
    ReasonCode,
    RiskDecision,
    RiskVerdict,
    SteppingClock,
)
from execfsm.clock import EPOCH
from execfsm.contracts import Route
from execfsm.errors import ConfigurationError, DefinitionError, ReentrantCall
from execfsm.fsm.audit import AuditOutcome
from execfsm.fsm.audited import AuditedMachine
from execfsm.fsm.engine import Engine, compile_machine
from execfsm.fsm.guards import describe
from execfsm.fsm.order import EventOutcome
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
# A correction's new terms: under a fresh id mostly, sometimes another fill's or its own.
corrected_fills = st.builds(
    Fill,
    fill_id=st.sampled_from(["x", "y", "z", "x", "a", "b"]),
    quantity=st.sampled_from(["0.1", "0.3", "0.5", "0.7", "1.0", "1.2", "0"]),
    price=st.sampled_from(["10", "12", "0"]),
    fee=st.sampled_from(["0", "0.2"]),
)
reasons = st.sampled_from([None, ReasonCode.ADAPTER_REJECTED, ReasonCode.ADAPTER_ERROR])
# A replace's new terms, as (quantity, limit price), each None to keep it; "bad" sends no
# ReplaceRequest at all (the validator refuses it in both engines alike).
replace_terms = st.one_of(
    st.tuples(
        st.sampled_from([None, "0.5", "0.8", "1.0", "1.5", "2", "0", "-1", "1e20"]),
        st.sampled_from([None, None, "49000", "51000", "0"]),
    ),
    st.just("bad"),
)
local_events = st.one_of(
    st.tuples(
        st.sampled_from(["submit", "request_cancel", "request_cancel", "fail", "teleport", "fill"]),
        reasons,
    ),
    st.tuples(st.just("request_replace"), replace_terms),
)
venue_events = st.tuples(
    st.sampled_from([EventKind.FILL] * 5 + list(EventKind)),
    fills,
    reasons,
    st.sampled_from(["ok"] * 5 + ["stray"]),
)
# Busts and corrections name a fill: mostly one the order may have, sometimes none.
revision_events = st.tuples(
    st.sampled_from([EventKind.TRADE_BUST, EventKind.TRADE_CORRECT]),
    corrected_fills,
    st.sampled_from(["a", "a", "b", "b", "c", "x", "unknown"]),
)
replace_answers = st.tuples(
    st.sampled_from([EventKind.REPLACE_ACK, EventKind.REPLACE_REJECT]), st.just("answer")
)
_ACK = (EventKind.ACK, Fill("a", "1", "10"), None, "ok")
_FILL_A = (EventKind.FILL, Fill("a", "0.3", "10", "0.1"), None, "ok")
_FILL_B = (EventKind.FILL, Fill("b", "0.7", "11"), None, "ok")
_CANCELLED = (EventKind.CANCEL_ACK, Fill("a", "1", "10"), None, "ok")
_PARTIAL = [("submit", None), _ACK, _FILL_A]
# Where a random tail starts: before submit, live, partly filled, filled, cancel or replace
# pending, ended with a fill; so the tails reach the replace, bust and correction edges.
prefixes = st.sampled_from(
    [
        [],
        [("submit", None)],
        [("submit", None), _ACK],
        _PARTIAL,
        [*_PARTIAL, _FILL_B],
        [*_PARTIAL, ("request_cancel", None)],
        [("submit", None), _ACK, ("request_cancel", None)],
        [*_PARTIAL, ("request_replace", ("0.8", None))],
        [*_PARTIAL, ("request_replace", ("0.3", None))],
        [("submit", None), _ACK, ("request_replace", (None, "51000"))],
        [*_PARTIAL, _CANCELLED],
    ]
)
order_steps = st.tuples(
    prefixes,
    st.lists(
        st.one_of(venue_events, venue_events, local_events, revision_events, replace_answers),
        max_size=14,
    ),
).map(lambda t: t[0] + t[1])
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


def queries(machine: AuditedMachine) -> tuple[Any, ...]:
    """What the public StateMachine queries answer, as comparable values."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        current = machine.current_state
    return (
        machine.current_state_value,
        current.id,
        [s.id for s in machine.configuration],
        list(machine.configuration_values),
        [e.id for e in machine.allowed_events],
        [e.id for e in machine.enabled_events()],
        machine.is_terminated,
        [e.id for e in machine.events],
    )


def lifecycle_view(lc: OrderLifecycle) -> tuple[Any, ...]:
    """Everything an order's lifecycle exposes, as comparable values."""
    return (
        queries(lc),
        lc.order,
        lc.fills,
        lc.late_fills,
        lc.retired_fills,
        lc.pending_replace,
        lc.replace_count,
        lc.submitted,
        lc.packed(),
    )


def outcome_view(result: EventOutcome) -> tuple[Any, ...]:
    """Every field of an `EventOutcome`."""
    return attrs.astuple(result, recurse=False)


def venue_event(lc: OrderLifecycle, step: tuple[Any, ...], event_id: str) -> ExecutionEvent:
    """The venue event a generated step describes."""
    if step[1] == "answer":
        return ExecutionEvent.of_kind(step[0], lc.order, event_id, EPOCH)
    if len(step) == 3:
        kind, fill, ref = step
        if kind is EventKind.TRADE_BUST:
            return ExecutionEvent.bust(lc.order, event_id, EPOCH, ref)
        return ExecutionEvent.correction(lc.order, event_id, EPOCH, ref, fill)
    kind, fill, reason, target = step
    return ExecutionEvent(
        kind,
        event_id,
        lc.client_order_id if target == "ok" else "ord-stray",
        lc.correlation_id,
        EPOCH,
        fill=fill if kind is EventKind.FILL else None,
        reason_code=reason,
    )


def local_event(lc: OrderLifecycle, step: tuple[Any, ...]) -> None:
    """Send the local event a generated step describes."""
    name, value = step
    if name == "request_replace":
        if value == "bad":
            lc.send(name, replace=None)
            return
        quantity, price = value
        replace = lc.replace_request(
            quantity=None if quantity is None else Decimal(quantity),
            limit_price=None if price is None else Decimal(price),
        )
        lc.send(name, replace=replace)
        return
    kwargs = {"reason_code": value} if name == "fail" else {}
    lc.send(name, **kwargs)


def run_order(engine: Engine, intent: Any, steps: list[Any]) -> tuple[list[Any], str]:
    audit = AuditLog(SteppingClock(EPOCH, timedelta(microseconds=7)))
    lc = OrderLifecycle(order_for(intent), audit, engine=engine)
    trace: list[Any] = []
    for number, step in enumerate(steps):
        try:
            if len(step) == 2 and step[1] != "answer":
                local_event(lc, step)
                outcome: Any = "applied"
            else:
                outcome = outcome_view(lc.apply(venue_event(lc, step, f"e{number}")))
        except (IllegalTransition, ContractViolation, PolicyViolation) as exc:
            outcome = (type(exc).__name__, exc.reason, str(exc))
        except TypeError as exc:  # a guard called without its argument, in both engines
            outcome = ("TypeError", str(exc))
        trace.append((outcome, lifecycle_view(lc)))
    return trace, audit.export_jsonl()


@DIFFERENTIAL
@given(intent=intents, steps=order_steps)
def test_order_engines_agree(intent: Any, steps: list[Any]) -> None:
    """Random order event sequences (replaces, busts and corrections included) give identical
    traces and audit bytes on both engines."""
    reference = run_order(Engine.REFERENCE, intent, steps)
    compiled = run_order(Engine.COMPILED, intent, steps)

    assert compiled == reference


def fill_step(fill_id: str, quantity: str, price: str = "10") -> tuple[Any, ...]:
    """A FILL step for `run_order`."""
    return (EventKind.FILL, Fill(fill_id, quantity, price), None, "ok")


def venue_step(kind: EventKind, reason: ReasonCode | None = None) -> tuple[Any, ...]:
    """A step for `run_order` of a venue event that carries nothing but its kind."""
    return (kind, Fill("a", "1", "10"), reason, "ok")


def bust_step(fill_id: str) -> tuple[Any, ...]:
    """A TRADE_BUST step for `run_order`."""
    return (EventKind.TRADE_BUST, Fill("unused", "1", "1"), fill_id)


def correct_step(fill_id: str, new_id: str, quantity: str, price: str = "10") -> tuple[Any, ...]:
    """A TRADE_CORRECT step for `run_order`."""
    return (EventKind.TRADE_CORRECT, Fill(new_id, quantity, price), fill_id)


def reason_of(outcome: Any) -> ReasonCode | None:
    """The reason code in one step's outcome as `run_order` traces it."""
    if outcome == "applied":
        return None
    if isinstance(outcome[0], AuditOutcome):  # an EventOutcome's fields
        reason: ReasonCode | None = outcome[2]
        return reason
    return outcome[1]  # a refused local event: (error type, reason, message)


_S = OrderState
_ACKED = [("submit", None), venue_step(EventKind.ACK)]
_FILLED_03 = [*_ACKED, fill_step("a", "0.3")]
_FILLED = [*_FILLED_03, fill_step("b", "0.7")]
_REPLACE_08 = [*_FILLED_03, ("request_replace", ("0.8", None))]
_CANCEL_PENDING = [*_FILLED_03, ("request_cancel", None)]
_REPLACE_ACK = (EventKind.REPLACE_ACK, "answer")
_REPLACE_REJECT = (EventKind.REPLACE_REJECT, "answer")

# (what it shows, steps on a 1.0 LIMIT buy at 50000, the state after the last step, the
# last step's reason code): every new edge of the order machine, each cond both ways and
# each validator passing and refusing.
# fmt: off
NEW_EDGES = [
    ("request_replace from ACKNOWLEDGED",
     [*_ACKED, ("request_replace", ("2", None))], _S.PENDING_REPLACE, None),
    ("request_replace from PARTIALLY_FILLED", _REPLACE_08, _S.PENDING_REPLACE, None),
    ("request_replace of the price alone",
     [*_ACKED, ("request_replace", (None, "51000"))], _S.PENDING_REPLACE, None),
    ("replace_terms_valid: not above filled",
     [*_FILLED_03, ("request_replace", ("0.3", None))],
     _S.PARTIALLY_FILLED, ReasonCode.VALIDATION_INVALID_QUANTITY),
    ("replace_terms_valid: changes nothing",
     [*_ACKED, ("request_replace", (None, None))],
     _S.ACKNOWLEDGED, ReasonCode.VALIDATION_INVALID_FIELD),
    ("replace_terms_valid: no ReplaceRequest",
     [*_ACKED, ("request_replace", "bad")],
     _S.ACKNOWLEDGED, ReasonCode.VALIDATION_INVALID_FIELD),
    ("no replace while a cancel is pending",
     [*_CANCEL_PENDING, ("request_replace", ("2", None))],
     _S.PENDING_CANCEL, ReasonCode.ILLEGAL_TRANSITION),
    ("a cancel while a replace is pending",
     [*_REPLACE_08, ("request_cancel", None)], _S.PENDING_CANCEL, None),
    ("a cancel rejected while a replace is pending returns to it",
     [*_REPLACE_08, ("request_cancel", None), venue_step(EventKind.CANCEL_REJECT)],
     _S.PENDING_REPLACE, None),
    ("replace_ack, nothing_filled",
     [*_ACKED, ("request_replace", ("2", None)), _REPLACE_ACK], _S.ACKNOWLEDGED, None),
    ("replace_ack, filled below the new quantity",
     [*_REPLACE_08, _REPLACE_ACK], _S.PARTIALLY_FILLED, None),
    ("replace_ack, replace_completes",
     [*_REPLACE_08, fill_step("c", "0.5"), _REPLACE_ACK], _S.FILLED, None),
    ("replace_ack, racing fills passed the new quantity (FIX C.3.c: amended to filled)",
     [*_REPLACE_08, fill_step("c", "0.6"), _REPLACE_ACK], _S.FILLED, None),
    ("fill racing a replace, against the old terms",
     [*_REPLACE_08, fill_step("c", "0.7")], _S.FILLED, None),
    ("replace_reject, nothing_filled",
     [*_ACKED, ("request_replace", ("2", None)), _REPLACE_REJECT], _S.ACKNOWLEDGED, None),
    ("replace_reject with fills",
     [*_REPLACE_08, _REPLACE_REJECT], _S.PARTIALLY_FILLED, None),
    ("replace_ack with none pending",
     [*_FILLED_03, _REPLACE_ACK], _S.PARTIALLY_FILLED, ReasonCode.VENUE_CONTRADICTION),
    ("PENDING_REPLACE -> REJECTED, nothing_filled_yet",
     [*_ACKED, ("request_replace", ("2", None)),
      venue_step(EventKind.REJECT, ReasonCode.ADAPTER_REJECTED)], _S.REJECTED, None),
    ("PENDING_REPLACE -> REJECTED refused after fills",
     [*_REPLACE_08, venue_step(EventKind.REJECT, ReasonCode.ADAPTER_REJECTED)],
     _S.PENDING_REPLACE, ReasonCode.VENUE_CONTRADICTION),
    ("PENDING_CANCEL -> REJECTED, nothing_filled_yet",
     [*_ACKED, ("request_cancel", None), venue_step(EventKind.REJECT, ReasonCode.ADAPTER_ERROR)],
     _S.REJECTED, None),
    ("PENDING_CANCEL -> REJECTED refused after fills",
     [*_CANCEL_PENDING, venue_step(EventKind.REJECT, ReasonCode.ADAPTER_REJECTED)],
     _S.PENDING_CANCEL, ReasonCode.VENUE_CONTRADICTION),
    ("trade_bust, bust_leaves_fills",
     [*_FILLED_03, fill_step("b", "0.2"), bust_step("a")], _S.PARTIALLY_FILLED, None),
    ("trade_bust of the only fill", [*_FILLED_03, bust_step("a")], _S.ACKNOWLEDGED, None),
    ("trade_bust of a FILLED order, fills left",
     [*_FILLED, bust_step("b")], _S.PARTIALLY_FILLED, None),
    ("trade_bust of a FILLED order, none left",
     [*_ACKED, fill_step("a", "1.0"), bust_step("a")], _S.ACKNOWLEDGED, None),
    ("trade_bust while a cancel is pending",
     [*_CANCEL_PENDING, bust_step("a")], _S.PENDING_CANCEL, None),
    ("cancel_reject after the bust of every fill",
     [*_CANCEL_PENDING, bust_step("a"), venue_step(EventKind.CANCEL_REJECT)],
     _S.ACKNOWLEDGED, None),
    ("trade_bust while a replace is pending",
     [*_REPLACE_08, bust_step("a")], _S.PENDING_REPLACE, None),
    ("trade_bust of an unknown fill",
     [*_FILLED_03, bust_step("zz")], _S.PARTIALLY_FILLED, ReasonCode.TRADE_UNKNOWN_FILL),
    ("trade_bust twice",
     [*_FILLED_03, bust_step("a"), bust_step("a")], _S.ACKNOWLEDGED, ReasonCode.EVENT_REPEATED),
    ("trade_bust of an ended order's fill",
     [*_FILLED_03, venue_step(EventKind.CANCEL_ACK), bust_step("a")],
     _S.CANCELLED, ReasonCode.TRADE_BUSTED),
    ("trade_correct up, still open",
     [*_FILLED_03, correct_step("a", "a2", "0.5")], _S.PARTIALLY_FILLED, None),
    ("trade_correct down",
     [*_FILLED_03, correct_step("a", "a2", "0.1", "9")], _S.PARTIALLY_FILLED, None),
    ("trade_correct, correction_completes",
     [*_FILLED_03, correct_step("a", "a2", "1.0")], _S.FILLED, None),
    ("trade_correct, correction_within_quantity refuses",
     [*_FILLED_03, correct_step("a", "a2", "1.1")],
     _S.PARTIALLY_FILLED, ReasonCode.FILL_OVERFILL),
    ("trade_correct of a FILLED order's price",
     [*_FILLED, correct_step("b", "b2", "0.7", "12")], _S.FILLED, None),
    ("trade_correct of a FILLED order down",
     [*_FILLED, correct_step("b", "b2", "0.5")], _S.PARTIALLY_FILLED, None),
    ("trade_correct while a cancel is pending, completing",
     [*_CANCEL_PENDING, correct_step("a", "a2", "1.0")], _S.FILLED, None),
    ("trade_correct while a replace is pending",
     [*_REPLACE_08, correct_step("a", "a2", "0.4")], _S.PENDING_REPLACE, None),
    ("trade_correct while a replace is pending, completing the terms in force",
     [*_REPLACE_08, correct_step("a", "a2", "1.0")], _S.FILLED, None),
    ("trade_correct under another fill's id",
     [*_FILLED, correct_step("a", "b", "0.2")], _S.FILLED, ReasonCode.FILL_CONFLICT),
    ("trade_correct of a corrected fill",
     [*_FILLED_03, correct_step("a", "a2", "0.2"), correct_step("a", "a3", "0.1")],
     _S.PARTIALLY_FILLED, ReasonCode.VENUE_CONTRADICTION),
    ("trade_correct re-delivered",
     [*_FILLED_03, correct_step("a", "a2", "0.2"), correct_step("a", "a2", "0.2")],
     _S.PARTIALLY_FILLED, ReasonCode.EVENT_REPEATED),
    ("trade_correct of an ended order's fill",
     [*_FILLED_03, venue_step(EventKind.EXPIRE), correct_step("a", "a2", "0.9")],
     _S.EXPIRED, ReasonCode.TRADE_CORRECTED),
    ("late fill after cancel, within quantity",
     [*_FILLED_03, venue_step(EventKind.CANCEL_ACK), fill_step("c", "0.7")],
     _S.CANCELLED, ReasonCode.FILL_AFTER_FINAL),
    ("late fill after cancel, beyond quantity",
     [*_FILLED_03, venue_step(EventKind.CANCEL_ACK), fill_step("c", "0.8")],
     _S.CANCELLED, ReasonCode.FILL_OVERFILL),
]
# fmt: on


@pytest.mark.parametrize(
    ("steps", "state", "reason"),
    [pytest.param(steps, state, reason, id=name) for name, steps, state, reason in NEW_EDGES],
)
def test_new_edges_agree(steps: list[Any], state: OrderState, reason: ReasonCode | None) -> None:
    """Each replace, bust, correction and reject edge, its conds and validators, gives the
    same trace and audit bytes on both engines, ending where the table says."""
    reference = run_order(Engine.REFERENCE, make_intent(), steps)
    compiled = run_order(Engine.COMPILED, make_intent(), steps)
    last_outcome, (view, *_) = compiled[0][-1]

    assert compiled == reference
    assert view[0] is state
    assert reason_of(last_outcome) is reason


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


def run_pipeline(engine: Engine, intent: Any, steps: list[Any]) -> tuple[list[Any], str]:
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
        trace.append((outcome, run.state, run.stage_reached, queries(run)))
    return trace, audit.export_jsonl()


@DIFFERENTIAL
@given(intent=intents, steps=pipeline_steps)
def test_pipeline_engines_agree(intent: Any, steps: list[Any]) -> None:
    """Random pipeline event sequences give identical traces and audit bytes on both engines."""
    reference = run_pipeline(Engine.REFERENCE, intent, steps)
    compiled = run_pipeline(Engine.COMPILED, intent, steps)

    assert compiled == reference


class TestEngineSelection:
    def test_default_is_compiled_and_reference_is_selectable(self) -> None:
        """Machines run compiled by default; python-statemachine's engine stays available."""
        audit = AuditLog(SteppingClock(EPOCH))

        assert OrderLifecycle(order_for(make_intent()), audit).engine is Engine.COMPILED
        assert (
            OrderLifecycle(order_for(make_intent()), audit, engine=Engine.REFERENCE).engine
            is Engine.REFERENCE
        )

    def test_engine_names_are_accepted(self) -> None:
        """The names "compiled" and "reference" still choose the engines."""
        audit = AuditLog(SteppingClock(EPOCH))

        assert OrderLifecycle(order_for(make_intent()), audit, engine="reference").engine is (
            Engine.REFERENCE
        )
        assert PipelineRun(
            make_intent(), correlation_id="c", client_order_id="o", audit=audit, engine="compiled"
        ).engine is (Engine.COMPILED)

    def test_unknown_engine_is_refused(self) -> None:
        """An engine name that does not exist is a clear error naming the choices."""
        with pytest.raises(ConfigurationError, match=r"engine: must be one of Engine\.COMPILED"):
            OrderLifecycle(order_for(make_intent()), AuditLog(SteppingClock(EPOCH)), engine="turbo")

    def test_unsupported_callback_is_refused_at_class_definition(self) -> None:
        """A machine with a callback the compiled engine does not run cannot be declared."""
        with pytest.raises(DefinitionError, match="Chatty: callback 'on_invoke_FILLED'"):

            class Chatty(OrderLifecycle):
                def on_invoke_FILLED(self) -> None:
                    return None


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


def run_signatures(engine: Engine, steps: list[tuple[str, dict[str, Any]]]) -> list[Any]:
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
        seen.append((event, outcome, queries(machine), list(calls)))
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
        assert run_signatures(Engine.COMPILED, steps) == run_signatures(Engine.REFERENCE, steps)

    def test_variadic_guard_is_refused_at_compile_time(self) -> None:
        """A guard taking **kwargs would receive python-statemachine's internals from the
        reference engine only: the compiled engine refuses it, naming it."""

        @describe("takes everything")
        def anything(**kwargs: Any) -> bool:
            return True

        class Greedy(AuditedMachine):
            compiled_engine = False
            audit_machine = "greedy"
            idle = State(initial=True)
            done = State(final=True)
            start = idle.to(done, cond=anything)

            @property
            def correlation_id(self) -> str:
                return "cor-greedy"

        with pytest.raises(DefinitionError, match=r"anything.*\*\*kwargs"):
            compile_machine(Greedy)
        reference = Greedy(AuditLog(SteppingClock(EPOCH)), engine=Engine.REFERENCE)
        reference.send("start")
        assert reference.current_state_value == "done"


class TestPublicQueries:
    @pytest.mark.parametrize("state", list(OrderState))
    def test_reference_answers_are_python_statemachines_own(self, state: OrderState) -> None:
        """On the reference engine every query answers what python-statemachine's runtime
        answers, in every state (so the compiled engine, held equal to it, does too)."""
        order = attrs.evolve(order_for(make_intent()), state=state)
        lc = OrderLifecycle.restore(order, AuditLog(SteppingClock(EPOCH)), engine=Engine.REFERENCE)
        library = lc._engine._runtime  # type: ignore[attr-defined]  # the library's own object
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            expected = (library.current_state.id, library.current_state_value)

        assert queries(lc)[1::-1] == expected
        assert [s.id for s in lc.configuration] == [s.id for s in library.configuration]
        assert list(lc.configuration_values) == list(library.configuration_values)
        assert [e.id for e in lc.allowed_events] == [e.id for e in library.allowed_events]
        assert [e.id for e in lc.enabled_events()] == [e.id for e in library.enabled_events()]
        assert lc.is_terminated == library.is_terminated

    @pytest.mark.parametrize("engine", list(Engine))
    def test_current_state_warns_as_python_statemachine_does(self, engine: Engine) -> None:
        """``current_state`` works on both engines, with the library's deprecation warning."""
        lc = OrderLifecycle(order_for(make_intent()), AuditLog(SteppingClock(EPOCH)), engine=engine)

        with pytest.warns(DeprecationWarning, match="configuration"):
            assert lc.current_state is OrderLifecycle.states_map[OrderState.CREATED]

    def test_assigned_state_values_behave_alike(self) -> None:
        """``current_state_value`` assigned directly bypasses every hook on both engines:
        a machine that reached a final state stays terminated, one that did not accepts
        events from the assigned state, with the same trails."""

        def run(engine: Engine, before: list[str], state: OrderState) -> Any:
            audit = AuditLog(SteppingClock(EPOCH))
            lc = OrderLifecycle(order_for(make_intent()), audit, engine=engine)
            for name in before:
                lc.send(name, reason_code=ReasonCode.ADAPTER_ERROR)
            lc.current_state_value = state
            seen = [queries(lc)]
            for name in ("acknowledge", "request_cancel", "expire"):
                try:
                    lc.send(name)
                    seen.append(("ok", queries(lc)))
                except IllegalTransition as exc:
                    seen.append((exc.reason, queries(lc)))
            return seen, audit.export_jsonl()

        for before in ([], ["submit", "fail"]):
            for state in OrderState:
                assert run(Engine.COMPILED, before, state) == run(Engine.REFERENCE, before, state)

    def test_events_called_as_methods_run_and_are_audited_alike(self) -> None:
        """``machine.submit()`` takes the same audited path as ``send("submit")``, refusals
        included, on both engines."""
        trails = []
        for engine in Engine:
            audit = AuditLog(SteppingClock(EPOCH))
            lc = OrderLifecycle(order_for(make_intent()), audit, engine=engine)
            lc.submit()
            with pytest.raises(IllegalTransition):
                lc.submit()
            trails.append((lc.current_state_value, audit.export_jsonl()))

        assert trails[0] == trails[1]
        assert trails[0][0] is OrderState.SUBMITTED

    def test_a_guard_reading_the_library_runtime_is_refused_at_compile_time(self) -> None:
        """A guard naming ``machine`` would get different objects from the two engines: the
        compiled engine refuses the declaration."""

        @describe("reads the machine")
        def peeks(machine: Any) -> bool:
            return True

        class Peeking(AuditedMachine):
            compiled_engine = False
            audit_machine = "peeking"
            idle = State(initial=True)
            done = State(final=True)
            start = idle.to(done, cond=peeks)

        with pytest.raises(DefinitionError, match=r"peeks.*machine"):
            compile_machine(Peeking)


# Randomly generated declarations: both engines must run any machine the compiled engine
# accepts the same way.


@describe("the event carries flag=True")
def flag_set(flag: bool = False) -> bool:
    return flag


@describe("the event's level is at least 5")
def level_high(level: int = 0) -> bool:
    return level >= 5


@describe("the event's level is at most 8")
def level_bounded(level: int = 0) -> None:
    if level > 8:
        raise ContractViolation(
            f"level {level} above 8",
            reason=ReasonCode.VALIDATION_INVALID_FIELD,
            field="level",
            value=level,
        )


class Generated(AuditedMachine):
    audit_machine = "generated"

    def __init__(self, audit: Any, *, engine: Engine) -> None:
        self.entered: list[str] = []
        super().__init__(audit, engine=engine)

    @property
    def correlation_id(self) -> str:
        return "cor-generated"

    def after_transition(self, event: str, target: Any) -> None:
        self.entered.append(f"{event}->{target.id}")


edge_specs = st.tuples(
    st.sampled_from(["a", "b", "c"]),
    st.integers(0, 4),
    st.sampled_from([None, flag_set, level_high]),
    st.sampled_from([None, flag_set]),
    st.sampled_from([None, level_bounded]),
    st.booleans(),
)
declarations = st.tuples(st.integers(2, 5), st.lists(edge_specs, min_size=1, max_size=10))
machine_steps = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", "zzz"]), st.booleans(), st.integers(0, 10)),
    max_size=12,
)


def declare(spec: tuple[int, list[Any]]) -> type[Generated]:
    """A machine of `n` states: a chain s0 -> ... -> s(n-1) (final), plus the random edges."""
    n, extra = spec
    states = {f"s{i}": State(initial=i == 0, final=i == n - 1) for i in range(n)}
    names = list(states)
    chain = [(names[i], "a", names[i + 1], None, None, None, False) for i in range(n - 1)]
    edges = chain + [
        (names[src % (n - 1)], event, names[dst % n], cond, unless, validator, internal)
        for event, dst, cond, unless, validator, internal, src in (
            (*e, i) for i, e in enumerate(extra)
        )
    ]
    for src, event, dst, cond, unless, validator, internal in edges:
        options: dict[str, Any] = {"event": event}
        if cond is not None:
            options["cond"] = cond
        if unless is not None:
            options["unless"] = unless
        if validator is not None:
            options["validators"] = validator
        if src == dst:
            states[src].to.itself(internal=internal, **options)
        else:
            states[src].to(states[dst], **options)
    return type("Declared", (Generated,), dict(states))


def run_declared(
    machine: type[Generated], engine: Engine, steps: list[tuple[str, bool, int]]
) -> list[Any]:
    audit = AuditLog(SteppingClock(EPOCH))
    sm = machine(audit, engine=engine)
    trace: list[Any] = []
    for event, flag, level in steps:
        try:
            sm.send(event, flag=flag, level=level)
            outcome: Any = "ok"
        except (IllegalTransition, ContractViolation) as exc:
            outcome = (type(exc).__name__, exc.reason, str(exc))
        trace.append((outcome, queries(sm), list(sm.entered)))
    return [*trace, audit.export_jsonl()]


@settings(max_examples=300, derandomize=True, deadline=None)
@given(spec=declarations, steps=machine_steps)
def test_generated_machines_run_alike(spec: tuple[int, list[Any]], steps: list[Any]) -> None:
    """Random declarations under random events give identical traces, queries and audit
    bytes on both engines."""
    machine = declare(spec)

    assert run_declared(machine, Engine.COMPILED, steps) == run_declared(
        machine, Engine.REFERENCE, steps
    )


# What the compiled engine would not run as python-statemachine does is refused when the class
# is defined, naming the machine, where and what; ``compiled_engine = False`` opts out.


def noted() -> None:
    return None


@describe("async: the event's level is at least 5")
async def level_high_async(level: int = 0) -> bool:
    return level >= 5


class TestRefusedAtDefinition:
    @pytest.mark.parametrize(
        ("options", "where", "feature"),
        [
            ({"on": noted}, r"transition 'start' idle -> busy", "on='noted'"),
            ({"before": noted}, r"transition 'start' idle -> busy", "before='noted'"),
            ({"after": noted}, r"transition 'start' idle -> busy", "after='noted'"),
            ({"on": "do_it"}, r"transition 'start' idle -> busy", "on='do_it'"),
        ],
    )
    def test_callbacks_given_to_a_transition(
        self, options: dict[str, Any], where: str, feature: str
    ) -> None:
        """``idle.to(busy, on=f)`` (or before=, after=, a method's name): python-statemachine
        runs the callback, the table would not; the class is refused."""
        with pytest.raises(DefinitionError, match=rf"Inline: {where}: .*{feature}"):

            class Inline(AuditedMachine):
                idle = State(initial=True)
                busy = State(final=True)
                start = idle.to(busy, **options)

                def do_it(self) -> None:
                    return None

    @pytest.mark.parametrize("option", ["enter", "exit"])
    def test_callbacks_given_to_a_state(self, option: str) -> None:
        """``State(enter=f)`` / ``State(exit=f)`` are refused as well."""
        with pytest.raises(DefinitionError, match=rf"Entering: state 'idle': .*{option}='noted'"):

            class Entering(AuditedMachine):
                idle = State(initial=True, **{option: noted})
                busy = State(final=True)
                start = idle.to(busy)

    def test_async_guard(self) -> None:
        """An ``async def`` guard would be a truthy coroutine object to the table."""
        with pytest.raises(DefinitionError, match=r"AsyncGuard: .*level_high_async.* is async"):

            class AsyncGuard(AuditedMachine):
                idle = State(initial=True)
                busy = State()
                done = State(final=True)
                start = idle.to(busy, cond=level_high_async) | idle.to(done)
                finish = busy.to(done)

    def test_async_callback(self) -> None:
        """An ``async def`` callback would never run on the table."""
        with pytest.raises(DefinitionError, match=r"AsyncAfter: .*after_start.* is async"):

            class AsyncAfter(AuditedMachine):
                idle = State(initial=True)
                done = State(final=True)
                start = idle.to(done)

                async def after_start(self) -> None:
                    return None

    def test_state_values_that_print_alike(self) -> None:
        """``1`` and ``"1"`` are two states to python-statemachine, one to a table keyed by
        the printed value: refused."""
        with pytest.raises(DefinitionError, match=r"Alike: states 'b' and 'c': .*1, '1'"):

            class Alike(AuditedMachine):
                a = State(initial=True, value=0)
                b = State(value=1)
                c = State(value="1")
                d = State(final=True, value=3)
                go_b = a.to(b)
                go_c = a.to(c)
                b_done = b.to(d)
                c_done = c.to(d)

    def test_reference_only_machine(self) -> None:
        """``compiled_engine = False``: defined, runs on the reference engine (also by
        default), and asking for the compiled one is a ConfigurationError naming it. A base
        without states is not compiled."""

        class ChattyBase(AuditedMachine):
            @property
            def correlation_id(self) -> str:
                return "cor-chatty"

            def on_enter_busy(self) -> None:
                self.entered = True

        class Chatty(ChattyBase):
            compiled_engine = False
            audit_machine = "chatty"
            idle = State(initial=True)
            busy = State(final=True)
            start = idle.to(busy, cond="ready and ready")

            @describe("always")
            def ready(self) -> bool:
                return True

        machine = Chatty(AuditLog(SteppingClock(EPOCH)))
        machine.send("start")
        assert machine.engine is Engine.REFERENCE
        assert machine.entered
        with pytest.raises(ConfigurationError, match="Chatty declares compiled_engine = False"):
            Chatty(AuditLog(SteppingClock(EPOCH)), engine=Engine.COMPILED)
        with pytest.raises(DefinitionError, match="boolean expressions as guards"):
            compile_machine(Chatty)


class TestInvalidStateValues:
    @pytest.mark.parametrize("engine", list(Engine))
    def test_invalid_start_value(self, engine: Engine) -> None:
        """A start value that is no state's raises python-statemachine's InvalidStateValue
        on both engines."""
        with pytest.raises(InvalidStateValue, match=r"\['bogus'\] is not a valid state value"):
            Signatures(AuditLog(SteppingClock(EPOCH)), start_value="bogus", engine=engine)

    @pytest.mark.parametrize("engine", list(Engine))
    def test_invalid_assigned_value(self, engine: Engine) -> None:
        """Assigning a value that is no state's raises InvalidStateValue on both engines,
        and the machine stays where it was."""
        machine = Signatures(AuditLog(SteppingClock(EPOCH)), engine=engine)
        with pytest.raises(InvalidStateValue, match="'bogus' is not a valid state value"):
            machine.current_state_value = "bogus"
        assert machine.current_state_value == "idle"


class Nesting(AuditedMachine):
    audit_machine = "nesting"
    idle = State(initial=True)
    busy = State()
    more = State()
    done = State(final=True)
    start = idle.to(busy)
    step = busy.to(more)
    finish = more.to(done) | busy.to(done)

    @property
    def correlation_id(self) -> str:
        return "cor-nesting"

    def after_start(self, how: str = "send") -> None:
        if how == "send":
            self.send("step")
        else:
            self.step()


@pytest.mark.parametrize("how", ["send", "method"])
def test_nested_send_from_a_callback_is_refused_alike(how: str) -> None:
    """A callback sending an event to its own machine is a ReentrantCall on both engines
    (the reference would queue it, the compiled engine run it inside the first); the first
    transition stands and the machine goes on."""
    seen = []
    for engine in Engine:
        audit = AuditLog(SteppingClock(EPOCH))
        machine = Nesting(audit, engine=engine)
        with pytest.raises(ReentrantCall, match=r"Nesting\.send\('step'\)"):
            machine.send("start", how=how)
        machine.send("finish")
        seen.append((queries(machine), audit.export_jsonl()))
    assert seen[0] == seen[1]
    assert seen[0][0][0] == "done"
