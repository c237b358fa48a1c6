"""
The bad-input catalogue: malformed intents, events, files and settings. Each gives a clear
error naming the field and the rule (a ReasonCode where the pipeline reports it), and leaves
ledgers and audit trail unchanged apart from an audited refusal.
"""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from execfsm import (
    AdapterRegistry,
    AuditOutcome,
    BlockingRiskHook,
    ConfigurationError,
    ContractViolation,
    EventKind,
    ExecutionEvent,
    ExecutionMode,
    ExecutionOrchestrator,
    Fill,
    LivePolicy,
    OrderIntent,
    OrderState,
    ReasonCode,
    SimulatedVenue,
    SteppingClock,
)
from execfsm.adapters.dispatcher import Dispatcher, RetryPolicy
from execfsm.bounds import AMOUNT_BOUND
from execfsm.cli import main
from execfsm.clock import EPOCH, FixedClock
from execfsm.governance import MACHINES
from execfsm.governance.trail import verify_trail
from execfsm.ledger.sqlite import SqliteStore
from execfsm.testing import FaultyVenue, paper_orchestrator
from tests.conftest import make_intent
from tests.instrument_data import LISTS_UNPRICED

# -- intents refused at construction (type rules) ---------------------------------------------

CONSTRUCTION: list[tuple[str, Any]] = [
    ("quantity", 0.1),
    ("quantity", float("nan")),
    ("quantity", float("inf")),
    ("quantity", float("-inf")),
    ("quantity", "NaN"),
    ("quantity", "Infinity"),
    ("quantity", "-Infinity"),
    ("quantity", "abc"),
    ("quantity", ""),
    ("quantity", True),
    ("quantity", None),
    ("quantity", [1]),
    ("quantity", b"1"),
    ("limit_price", 1.5),
    ("limit_price", "nan"),
    ("limit_price", "inf"),
    ("limit_price", object()),
    ("side", "HOLD"),
    ("side", ""),
    ("side", 1),
    ("side", None),
    ("order_type", "STOP"),
    ("order_type", None),
    ("time_in_force", "GTX"),
    ("symbol", 42),
    ("symbol", None),
    ("symbol", b"BTC/EUR"),
    ("strategy_id", None),
    ("strategy_id", 7),
    ("intent_id", 5),
    ("session_id", []),
]


@pytest.mark.parametrize(
    ("field", "value"), CONSTRUCTION, ids=[f"{f}={v!r}" for f, v in CONSTRUCTION]
)
def test_malformed_intent_is_refused_naming_the_field(field: str, value: Any) -> None:
    """A value of the wrong type or a non-finite number is refused at construction."""
    with pytest.raises(ContractViolation) as caught:
        make_intent(**{field: value})

    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


# -- intents beyond the representable bounds (refused at construction) -----------------------

BOUNDS: list[tuple[str, Any, ReasonCode, str]] = [
    ("quantity", "1e1000000", ReasonCode.VALIDATION_INVALID_QUANTITY, "not below 10^14"),
    ("quantity", "9e999999", ReasonCode.VALIDATION_INVALID_QUANTITY, "not below 10^14"),
    ("quantity", "-1e1000000", ReasonCode.VALIDATION_INVALID_QUANTITY, "not below 10^14"),
    ("quantity", "1e-2000000", ReasonCode.VALIDATION_INVALID_QUANTITY, "2000000 decimal places"),
    ("quantity", "1e30", ReasonCode.VALIDATION_INVALID_QUANTITY, "not below 10^14"),
    ("quantity", 10**14, ReasonCode.VALIDATION_INVALID_QUANTITY, "not below 10^14"),
    ("quantity", "0.000000000000001", ReasonCode.VALIDATION_INVALID_QUANTITY, "15 decimal places"),
    ("quantity", "1." + "1" * 30, ReasonCode.VALIDATION_INVALID_QUANTITY, "30 decimal places"),
    ("quantity", "1." + "0" * 100, ReasonCode.VALIDATION_INVALID_QUANTITY, "written in 101 digits"),
    ("limit_price", "1e1000000", ReasonCode.VALIDATION_INVALID_PRICE, "not below 10^14"),
    ("limit_price", "1e-2000000", ReasonCode.VALIDATION_INVALID_PRICE, "2000000 decimal places"),
    ("limit_price", Decimal("100000000000000.0"), ReasonCode.VALIDATION_INVALID_PRICE, "10^14"),
]


@pytest.mark.parametrize(
    ("field", "value", "reason", "problem"), BOUNDS, ids=[f"{f}={v!r}" for f, v, _, _ in BOUNDS]
)
def test_amount_beyond_the_bounds_is_refused_at_construction(
    field: str, value: Any, reason: ReasonCode, problem: str
) -> None:
    """An amount no ledger could hold exactly is refused naming the field, the value and the
    bound, before any arithmetic."""
    with pytest.raises(ContractViolation) as caught:
        make_intent(**{field: value})

    error = caught.value
    assert type(error) is ContractViolation
    assert (error.reason, error.field, error.value) == (reason, field, Decimal(value))
    assert error.bound == AMOUNT_BOUND
    assert str(error).startswith(f"{field}: must be {AMOUNT_BOUND}, got ")
    assert problem in str(error)


@pytest.mark.parametrize(
    "value",
    ["99999999999999.99999999999999", "0.00000000000001", "1.000000000000000000000000000000"],
)
def test_amount_at_the_bounds_constructs(value: str) -> None:
    """The largest and finest amounts, and trailing zeros beyond 14 places, construct."""
    intent = make_intent(quantity=value)

    assert intent.quantity == Decimal(value)


TEXTS: list[tuple[str, str, ReasonCode, str]] = [
    ("symbol", "BTC\ud800", ReasonCode.VALIDATION_INVALID_SYMBOL, "lone surrogate U+D800"),
    ("symbol", "BTC\nEUR", ReasonCode.VALIDATION_INVALID_SYMBOL, "control character U+000A"),
    ("symbol", "BTC\x00", ReasonCode.VALIDATION_INVALID_SYMBOL, "control character U+0000"),
    ("symbol", "\t", ReasonCode.VALIDATION_INVALID_SYMBOL, "control character U+0009"),
    ("symbol", "BTC\x85EUR", ReasonCode.VALIDATION_INVALID_SYMBOL, "control character U+0085"),
    ("symbol", "BTC\u2028EUR", ReasonCode.VALIDATION_INVALID_SYMBOL, "control character U+2028"),
    ("symbol", "BTC/\u202eRUE", ReasonCode.VALIDATION_INVALID_SYMBOL, "control character U+202E"),
    ("symbol", "X" * 65, ReasonCode.VALIDATION_INVALID_SYMBOL, "65 characters"),
    ("strategy_id", "\ud800", ReasonCode.VALIDATION_INVALID_FIELD, "lone surrogate U+D800"),
    ("strategy_id", "s\x7f", ReasonCode.VALIDATION_INVALID_FIELD, "control character U+007F"),
    ("strategy_id", "s\u2029", ReasonCode.VALIDATION_INVALID_FIELD, "control character U+2029"),
    ("strategy_id", "s" * 129, ReasonCode.VALIDATION_INVALID_FIELD, "129 characters"),
    ("intent_id", "\udfff", ReasonCode.VALIDATION_INVALID_FIELD, "lone surrogate U+DFFF"),
    ("intent_id", "id\r\n", ReasonCode.VALIDATION_INVALID_FIELD, "control character U+000D"),
    ("intent_id", "i" * 129, ReasonCode.VALIDATION_INVALID_FIELD, "129 characters"),
    ("session_id", "\ud83d", ReasonCode.VALIDATION_INVALID_FIELD, "lone surrogate U+D83D"),
    ("session_id", "day\x1b[2J", ReasonCode.VALIDATION_INVALID_FIELD, "control character U+001B"),
]


@pytest.mark.parametrize(
    ("field", "value", "reason", "problem"), TEXTS, ids=[f"{f}={v!r}"[:40] for f, v, _, _ in TEXTS]
)
def test_text_that_is_not_valid_or_too_long_is_refused_at_construction(
    field: str, value: str, reason: ReasonCode, problem: str
) -> None:
    """A text field with a lone surrogate, a control character or too many characters is
    refused naming the field, the value and the bound: no intent, order or record exists."""
    with pytest.raises(ContractViolation) as caught:
        make_intent(**{field: value})

    error = caught.value
    assert type(error) is ContractViolation
    assert (error.reason, error.field, error.value) == (reason, field, value)
    assert error.bound is not None
    assert str(error).startswith(f"{field}: must be {error.bound}, got ")
    assert problem in str(error)
    str(error).encode("utf-8")  # the message itself is printable anywhere


@pytest.mark.parametrize(
    ("field", "value"),
    [("symbol", "X" * 64), ("strategy_id", "s" * 128), ("intent_id", "日本-€-\U0001f600")],
)
def test_text_within_the_bounds_constructs(field: str, value: str) -> None:
    """Texts up to their length bound, non-ASCII letters and emoji included, construct."""
    intent = make_intent(**{field: value})

    assert getattr(intent, field) == value


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"symbol": "BTC/EUR"},
            "missing required field(s) order_type, quantity, side, strategy_id",
        ),
        ({**attrs.asdict(make_intent()), "leverage": 5}, "unknown field(s) leverage"),
        ("BUY 1 BTC", "must be a JSON object"),
    ],
)
def test_intent_from_plain_data_names_missing_and_extra_fields(data: Any, message: str) -> None:
    """Plain data with missing or extra fields is refused by name."""
    with pytest.raises(ContractViolation, match=message.replace("(", r"\(").replace(")", r"\)")):
        OrderIntent.from_mapping(data)


# -- intents refused by the pipeline's validation stage --------------------------------------

PIPELINE: list[tuple[dict[str, Any], ReasonCode, str]] = [
    ({"quantity": 0}, ReasonCode.VALIDATION_INVALID_QUANTITY, "quantity"),
    ({"quantity": -1}, ReasonCode.VALIDATION_INVALID_QUANTITY, "quantity"),
    ({"quantity": "-0.0001"}, ReasonCode.VALIDATION_INVALID_QUANTITY, "quantity"),
    ({"quantity": 10**12}, ReasonCode.VALIDATION_INVALID_QUANTITY, "quantity"),
    ({"quantity": "1e13"}, ReasonCode.VALIDATION_INVALID_QUANTITY, "quantity"),
    ({"quantity": "1e-13"}, ReasonCode.VALIDATION_INVALID_QUANTITY, "quantity"),
    ({"limit_price": None}, ReasonCode.VALIDATION_INVALID_PRICE, "limit_price"),
    ({"limit_price": 0}, ReasonCode.VALIDATION_INVALID_PRICE, "limit_price"),
    ({"limit_price": "-5"}, ReasonCode.VALIDATION_INVALID_PRICE, "limit_price"),
    ({"limit_price": 10**13}, ReasonCode.VALIDATION_INVALID_PRICE, "limit_price"),
    ({"limit_price": "0.0000000000001"}, ReasonCode.VALIDATION_INVALID_PRICE, "limit_price"),
    (
        {"order_type": "MARKET", "limit_price": 1},
        ReasonCode.VALIDATION_INVALID_PRICE,
        "limit_price",
    ),
    (
        {"order_type": "MARKET", "limit_price": "70000"},
        ReasonCode.VALIDATION_INVALID_PRICE,
        "limit_price",
    ),
    ({"symbol": ""}, ReasonCode.VALIDATION_INVALID_SYMBOL, "symbol"),
    ({"symbol": "   "}, ReasonCode.VALIDATION_INVALID_SYMBOL, "symbol"),
    ({"symbol": "BTC\u200bEUR"}, ReasonCode.VALIDATION_INVALID_SYMBOL, "symbol"),
    ({"strategy_id": ""}, ReasonCode.VALIDATION_INVALID_FIELD, "strategy_id"),
    ({"strategy_id": " \u3000 "}, ReasonCode.VALIDATION_INVALID_FIELD, "strategy_id"),
]


def paper(**settings: Any) -> tuple[ExecutionOrchestrator, SimulatedVenue]:
    clock = SteppingClock(EPOCH, timedelta(milliseconds=1))
    venue = SimulatedVenue(clock)
    orch = paper_orchestrator(venue, clock=clock, **settings)
    orch.submit_intent(make_intent(intent_id="good", limit_price=Decimal(70_000)))
    return orch, venue


@pytest.mark.parametrize(
    ("overrides", "reason", "field"),
    PIPELINE,
    ids=[",".join(f"{k}={v!r}" for k, v in o.items()) for o, _, _ in PIPELINE],
)
def test_invalid_intent_stops_at_validation_and_changes_nothing_else(
    overrides: dict[str, Any], reason: ReasonCode, field: str
) -> None:
    """The pipeline refuses the intent at stage 2 with the field's reason code; the venue is
    not called, positions and other orders are untouched, and the audit gains only this
    intent's records, one of them the refusal."""
    orch, venue = paper()
    orders_before = orch.get_order_ledger_snapshot()
    positions_before = orch.get_position_ledger_snapshot()
    records_before = orch.get_audit_log_snapshot()

    result = orch.submit_intent(make_intent(intent_id="bad", **overrides))

    assert (result.stage_reached, result.reason_code) == (2, reason)
    assert field in result.reason_detail
    assert len(venue.new_orders) == 1
    assert orch.get_position_ledger_snapshot() == positions_before
    orders_after = orch.get_order_ledger_snapshot()
    assert orders_after[:-1] == orders_before
    assert orders_after[-1].state is OrderState.FAILED
    new = orch.get_audit_log_snapshot()[len(records_before) :]
    assert {r.correlation_id for r in new} == {result.correlation_id}
    assert [(r.event, r.reason_code) for r in new if r.outcome is AuditOutcome.REFUSED] == [
        ("validate", reason)
    ]
    assert verify_trail(orch.get_audit_log_snapshot(), MACHINES).ok


# -- events -----------------------------------------------------------------------------------


def _dispatched() -> tuple[ExecutionOrchestrator, str, str]:
    orch, _ = paper()
    result = orch.submit_intent(make_intent(intent_id="resting", limit_price=Decimal(1)))
    assert result.order is not None
    return orch, result.order.client_order_id, result.correlation_id


# Venue fills with values no ledger can hold: (field, value as the venue sent it).
ABSURD: list[tuple[str, str]] = [
    ("price", "9e999999"),
    ("price", "1e14"),
    ("price", "NaN"),
    ("price", "-Infinity"),
    ("quantity", "1e-2000000"),
    ("quantity", "sNaN"),
    ("quantity", "Infinity"),
    ("fee", "1e1000000"),
    ("fee", "1e-15"),
    ("fee", "NaN"),
]
FILL_REASON = {
    "quantity": ReasonCode.FILL_INVALID_QUANTITY,
    "price": ReasonCode.FILL_INVALID_PRICE,
    "fee": ReasonCode.FILL_INVALID_FEE,
}


def absurd_fill(field: str, value: str) -> Fill:
    """A fill of 0.1 at 1, without fee, with `field` set to `value`."""
    return Fill("f", **{"quantity": "0.1", "price": "1", "fee": "0", field: value})


EVENTS: list[tuple[str, dict[str, Any], ReasonCode]] = [
    ("unknown order", {"client_order_id": "ord-ghost"}, ReasonCode.EVENT_UNKNOWN_ORDER),
    ("wrong correlation", {"correlation_id": "cor-other"}, ReasonCode.EVENT_ORDER_MISMATCH),
    ("negative fee", {"fill": Fill("f", "0.1", "1", "-0.01")}, ReasonCode.FILL_INVALID_FEE),
    ("zero fill", {"fill": Fill("f", "0", "1")}, ReasonCode.FILL_INVALID_QUANTITY),
    ("negative fill", {"fill": Fill("f", "-1", "1")}, ReasonCode.FILL_INVALID_QUANTITY),
    ("zero price", {"fill": Fill("f", "0.1", "0")}, ReasonCode.FILL_INVALID_PRICE),
    ("negative price", {"fill": Fill("f", "0.1", "-3")}, ReasonCode.FILL_INVALID_PRICE),
    *((f"{f} {v}", {"fill": absurd_fill(f, v)}, FILL_REASON[f]) for f, v in ABSURD),
]


@pytest.mark.parametrize(("name", "fields", "reason"), EVENTS, ids=[e[0] for e in EVENTS])
def test_bad_event_is_refused_and_audited_only(
    name: str, fields: dict[str, Any], reason: ReasonCode
) -> None:
    """A bad venue event is refused with its reason; positions stay as they were, the order
    keeps its figures but is flagged for reconciliation (no venue could report it), the trail
    gains exactly one refusal and the reconciliation log one hand-off."""
    orch, cid, correlation = _dispatched()
    base = {"client_order_id": cid, "correlation_id": correlation, "fill": Fill("f", "0.1", "1")}
    event = ExecutionEvent(EventKind.FILL, f"bad-{name}", ts_event=EPOCH, **{**base, **fields})
    orders, positions = orch.get_order_ledger_snapshot(), orch.get_position_ledger_snapshot()
    records = len(orch.get_audit_log_snapshot())

    outcome = orch.handle_event(event)

    assert (outcome.outcome, outcome.reason_code) == (AuditOutcome.REFUSED, reason)
    if reason.value.startswith("FILL_"):  # a fill no venue could report: flagged, handed off
        orders = [
            o.with_changes(recon_flags=(reason,)) if o.client_order_id == cid else o for o in orders
        ]
        assert orch.get_recon_snapshot()[-1].recon_flags == (reason,)
    assert orch.get_order_ledger_snapshot() == orders
    assert orch.get_position_ledger_snapshot() == positions
    new = orch.get_audit_log_snapshot()[records:]
    assert [(r.outcome, r.reason_code) for r in new] == [(AuditOutcome.REFUSED, reason)]
    assert verify_trail(orch.get_audit_log_snapshot(), MACHINES).ok


@pytest.mark.parametrize(("field", "value"), ABSURD, ids=[f"{f} {v}" for f, v in ABSURD])
def test_absurd_fill_refusal_names_field_value_and_bound(field: str, value: str) -> None:
    """The refusal of a fill no ledger can hold names the field, the value as the venue sent it
    and the bound, in the outcome and in its audit record."""
    orch, cid, correlation = _dispatched()
    fill = absurd_fill(field, value)
    event = ExecutionEvent(EventKind.FILL, f"bad-{value}", cid, correlation, EPOCH, fill=fill)

    outcome = orch.handle_event(event)

    assert (outcome.outcome, outcome.reason_code, outcome.booked_fill) == (
        AuditOutcome.REFUSED,
        FILL_REASON[field],
        None,
    )
    assert outcome.detail.startswith(f"fill f {field}: must be {AMOUNT_BOUND}, got ")
    assert str(Decimal(value)) in outcome.detail
    assert orch.get_audit_log_snapshot()[-1].detail == outcome.detail


def test_absurd_fill_price_leaves_order_position_and_trail_sound() -> None:
    """A venue fill priced 9e999999 is answered with a refused outcome, not an exception: the
    order keeps its figures (flagged for reconciliation), the position stays, a refusal is the
    only new record, and the trail verifies."""
    orch, cid, correlation = _dispatched()
    order, positions = orch.order(cid), orch.get_position_ledger_snapshot()
    records = len(orch.get_audit_log_snapshot())
    absurd = Fill("vf-1", "0.5", Decimal("9e999999"))

    outcome = orch.handle_event(
        ExecutionEvent(EventKind.FILL, "venue-9", cid, correlation, EPOCH, fill=absurd)
    )

    assert (outcome.outcome, outcome.reason_code) == (
        AuditOutcome.REFUSED,
        ReasonCode.FILL_INVALID_PRICE,
    )
    assert order is not None
    assert orch.order(cid) == order.with_changes(recon_flags=(ReasonCode.FILL_INVALID_PRICE,))
    assert orch.get_position_ledger_snapshot() == positions
    new = orch.get_audit_log_snapshot()[records:]
    assert [(r.event, r.outcome, r.reason_code, r.target) for r in new] == [
        ("fill", AuditOutcome.REFUSED, ReasonCode.FILL_INVALID_PRICE, None)
    ]
    assert verify_trail(orch.audit_log.records, MACHINES).ok


def durable(db: Path, **kw: Any) -> ExecutionOrchestrator:
    return paper_orchestrator(store=SqliteStore(db), **kw)


def test_absurd_fill_does_not_brick_the_durable_store(tmp_path: Path) -> None:
    """After an absurd fill is refused, the store reopens (recovery replays the trail) and the
    order still takes a real fill."""
    db = tmp_path / "s.db"
    first = durable(db)
    resting = first.submit_intent(make_intent(intent_id="resting", limit_price=Decimal(1)))
    assert resting.order is not None
    cid, correlation = resting.order.client_order_id, resting.correlation_id
    for number, (field, value) in enumerate(ABSURD):
        fill = absurd_fill(field, value)
        first.handle_event(
            ExecutionEvent(EventKind.FILL, f"bad-{number}", cid, correlation, EPOCH, fill=fill)
        )
    first.close()

    second = durable(db)
    outcome = second.handle_event(
        ExecutionEvent(EventKind.FILL, "good", cid, correlation, EPOCH, fill=Fill("g", "1.0", "1"))
    )

    assert second.order(cid) is not None
    assert outcome.applied
    assert second.get_position_ledger_snapshot()["BTC/EUR"].quantity == Decimal("1.0")
    assert verify_trail(second.audit_log.records, MACHINES).ok


# -- fills for orders that never left -------------------------------------------------------


def _never_sent(how: str) -> tuple[ExecutionOrchestrator, str, str]:
    """An orchestrator with an order that ended FAILED before any venue saw it."""
    clock = SteppingClock(EPOCH, timedelta(milliseconds=1))
    venue = SimulatedVenue(clock)
    registry = AdapterRegistry()
    registry.register(ExecutionMode.PAPER, venue)
    mode = ExecutionMode.LIVE_BLOCKED if how == "live blocked" else ExecutionMode.PAPER
    risk = BlockingRiskHook("no") if how == "risk block" else None
    orch = ExecutionOrchestrator(
        execution_mode=mode, registry=registry, clock=clock, risk_hook=risk
    )
    overrides: dict[str, Any] = {
        "invalid quantity": {"quantity": 0},
        "MARKET with a price": {"order_type": "MARKET", "limit_price": 1},
    }.get(how, {})
    result = orch.submit_intent(make_intent(intent_id="never", **overrides))
    assert result.order is not None
    assert result.order.state is OrderState.FAILED
    assert venue.submissions == []
    return orch, result.order.client_order_id, result.correlation_id


NEVER_SENT = ["invalid quantity", "MARKET with a price", "risk block", "live blocked"]


@pytest.mark.parametrize("how", NEVER_SENT)
def test_fill_for_an_order_that_never_left_is_refused_and_flagged(how: str) -> None:
    """A fill naming an order that failed before dispatch is refused, audited and flags the
    order; nothing is booked and the order stays FAILED."""
    orch, cid, correlation = _never_sent(how)
    before = orch.order(cid)
    assert before is not None
    records = len(orch.get_audit_log_snapshot())
    fill = Fill("ghost", "1.0", "1")

    outcome = orch.handle_event(
        ExecutionEvent(EventKind.FILL, "ghost-1", cid, correlation, EPOCH, fill=fill)
    )

    assert (outcome.outcome, outcome.reason_code, outcome.booked_fill) == (
        AuditOutcome.REFUSED,
        ReasonCode.FILL_FOR_UNSENT_ORDER,
        None,
    )
    assert orch.order(cid) == attrs.evolve(before, recon_flags=(ReasonCode.FILL_FOR_UNSENT_ORDER,))
    assert orch.get_position_ledger_snapshot() == {}
    new = orch.get_audit_log_snapshot()[records:]
    assert [(r.event, r.outcome, r.reason_code, r.target) for r in new] == [
        ("fill", AuditOutcome.REFUSED, ReasonCode.FILL_FOR_UNSENT_ORDER, None)
    ]
    assert "never submitted" in new[0].detail
    assert verify_trail(orch.audit_log.records, MACHINES).ok


def test_fill_for_a_never_sent_order_is_refused_after_a_restart(tmp_path: Path) -> None:
    """An order recovered from the store that failed at validation still refuses a fill."""
    db = tmp_path / "s.db"
    first = durable(db)
    failed = first.submit_intent(make_intent(intent_id="bad", quantity=0))
    assert failed.order is not None
    first.close()

    second = durable(db)
    outcome = second.handle_event(
        ExecutionEvent.of_fill(failed.order, "ghost", EPOCH, Fill("ghost", "1", "1"))
    )

    assert (outcome.outcome, outcome.reason_code) == (
        AuditOutcome.REFUSED,
        ReasonCode.FILL_FOR_UNSENT_ORDER,
    )
    assert second.get_position_ledger_snapshot() == {}
    second.close()
    assert durable(db).order(failed.order.client_order_id) == outcome.order


def test_fill_after_a_venue_reject_is_still_booked_and_flagged() -> None:
    """An order the venue rejected did reach it: a fill for it is booked and flagged."""
    orch, _ = paper(instruments=LISTS_UNPRICED)  # lists XYZ/EUR, which the venue rejects
    rejected = orch.submit_intent(make_intent(intent_id="unlisted", symbol="XYZ/EUR"))
    assert rejected.order is not None
    assert rejected.order.state is OrderState.REJECTED

    outcome = orch.handle_event(
        ExecutionEvent.of_fill(rejected.order, "late", EPOCH, Fill("late", "1.0", "2"))
    )

    assert (outcome.outcome, outcome.reason_code) == (
        AuditOutcome.APPLIED,
        ReasonCode.FILL_AFTER_FINAL,
    )
    assert orch.get_position_ledger_snapshot()["XYZ/EUR"].quantity == Decimal("1.0")
    assert orch.order(rejected.order.client_order_id).recon_flags == (  # type: ignore[union-attr]
        ReasonCode.FILL_AFTER_FINAL,
    )


# -- a batch with an extreme intent ---------------------------------------------------------


def test_batch_keeps_its_good_intents_when_one_is_beyond_the_bounds() -> None:
    """An intent with quantity 1e1000000 is refused while the batch is built, so the batch of
    the others runs whole, each intent succeeds, and resubmitting it sends nothing twice."""
    orch, venue = paper()
    records = len(orch.get_audit_log_snapshot())
    batch, refused = [], []
    for n, quantity in enumerate(["0.1", "1e1000000", "0.2"]):
        try:
            batch.append(make_intent(intent_id=f"b{n}", quantity=quantity))
        except ContractViolation as exc:
            refused.append(exc)

    results = orch.submit_intents(batch)
    again = orch.submit_intents(batch)

    assert [(e.reason, e.field, e.value) for e in refused] == [
        (ReasonCode.VALIDATION_INVALID_QUANTITY, "quantity", Decimal("1e1000000"))
    ]
    assert [r.success for r in results] == [True, True]
    assert again == [attrs.evolve(r, duplicate=True) for r in results]
    assert len(venue.new_orders) == 3  # the fixture's own intent and the two good ones
    assert "1E+1000000" not in "".join(r.detail for r in orch.get_audit_log_snapshot())
    assert len({r.correlation_id for r in orch.get_audit_log_snapshot()[records:]}) == 2
    assert verify_trail(orch.audit_log.records, MACHINES).ok


MALFORMED_EVENTS: list[tuple[str, dict[str, Any], str]] = [
    ("fill event without a fill", {"kind": EventKind.FILL}, "fill"),
    ("ack carrying a fill", {"kind": EventKind.ACK, "fill": Fill("f", "1", "1")}, "fill"),
    ("naive timestamp", {"ts_event": EPOCH.replace(tzinfo=None)}, "ts_event"),
    ("unknown kind", {"kind": "TRADE"}, "kind"),
    ("reason as a string", {"kind": EventKind.REJECT, "reason_code": "REJECTED"}, "reason_code"),
    ("numeric event id", {"event_id": 5}, "event_id"),
    ("fill with a float quantity", {"kind": EventKind.FILL, "fill": "x"}, "fill"),
    ("event id with a lone surrogate", {"event_id": "e\ud800"}, "event_id"),
    ("detail with a lone surrogate", {"detail": "\udc80"}, "detail"),
    ("venue order id as a number", {"venue_order_id": 7}, "venue_order_id"),
]


@pytest.mark.parametrize(
    ("name", "fields", "field"), MALFORMED_EVENTS, ids=[e[0] for e in MALFORMED_EVENTS]
)
def test_malformed_event_is_refused_at_construction(
    name: str, fields: dict[str, Any], field: str
) -> None:
    """An event that cannot describe anything real never reaches a machine."""
    base: dict[str, Any] = {
        "kind": EventKind.ACK,
        "event_id": "e",
        "client_order_id": "ord-1",
        "correlation_id": "cor-1",
        "ts_event": EPOCH,
    }

    with pytest.raises(ContractViolation) as caught:
        ExecutionEvent(**{**base, **fields})

    assert caught.value.field == field


def test_fill_with_float_quantity_is_refused() -> None:
    """A fill built with a float quantity is refused naming the field."""
    with pytest.raises(ContractViolation, match="quantity"):
        Fill("f", 0.1, "1")


def test_fill_id_with_a_lone_surrogate_is_refused_at_construction() -> None:
    """A fill id no audit record can hold is refused when the adapter builds the fill, not
    when the trail is written."""
    with pytest.raises(ContractViolation) as caught:
        Fill("f\ud800", "1", "1")

    assert (caught.value.field, caught.value.reason) == (
        "fill_id",
        ReasonCode.VALIDATION_INVALID_FIELD,
    )


# -- files for `execfsm run` -----------------------------------------------------------------

GOOD_LINE = (
    '{"symbol":"BTC/EUR","side":"BUY","quantity":"1","order_type":"MARKET","strategy_id":"s"}'
)
FILES: list[tuple[str, bytes, str]] = [
    ("malformed JSON", b"{symbol: BTC}", "line 2: not valid JSON"),
    (
        "a lone CR hiding a second intent",
        GOOD_LINE.replace('"1"', '"1000"').encode() + b"\r" + GOOD_LINE.encode(),
        "line 2: not valid JSON",
    ),
    ("truncated line", GOOD_LINE[:-9].encode(), "line 2: not valid JSON"),
    ("not an object", b"[1, 2]", "line 2: intent: must be a JSON object"),
    ("unknown field", GOOD_LINE[:-1].encode() + b',"venue":"x"}', "unknown field(s) venue"),
    (
        "missing field",
        b'{"symbol":"BTC/EUR","side":"BUY","quantity":"1","order_type":"MARKET"}',
        "missing required field(s) strategy_id",
    ),
    ("float quantity", GOOD_LINE.replace('"1"', "1.5").encode(), "line 2: quantity"),
    (
        "NaN quantity",
        GOOD_LINE.replace('"1"', '"NaN"').encode(),
        "line 2: quantity: must be a finite number",
    ),
    (
        "unknown side",
        GOOD_LINE.replace("BUY", "LONG").encode(),
        "line 2: side: must be one of BUY, SELL",
    ),
    ("binary garbage", b"\xff\xfe\x00garbage", "cannot read"),
    (
        "quantity beyond the bounds",
        GOOD_LINE.replace('"1"', '"1e1000000"').encode(),
        "line 2: quantity: must be finite, below 10^14",
    ),
    (
        "symbol with a lone surrogate",
        GOOD_LINE.replace("BTC/EUR", "BTC\\ud800").encode(),
        "line 2: symbol: must be a string of valid Unicode",
    ),
]


@pytest.mark.parametrize(("name", "second_line", "message"), FILES, ids=[f[0] for f in FILES])
def test_bad_jsonl_file_is_reported_and_nothing_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, second_line: bytes, message: str
) -> None:
    """A bad line is reported with its number and the rule; exit 2; no intent is run."""
    path = tmp_path / "intents.jsonl"
    path.write_bytes(GOOD_LINE.encode() + b"\n" + second_line + b"\n")

    code = main(["run", str(path), "--mode", "paper", "--db", str(tmp_path / "run.db")])

    captured = capsys.readouterr()
    assert code == 2
    assert message in captured.err
    assert captured.out == ""


@pytest.mark.parametrize("where", ["missing.jsonl", "."])
def test_unreadable_file_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    """A missing file or a directory exits 2 with the path named."""
    code = main(["run", str(tmp_path / where), "--db", str(tmp_path / "run.db")])

    assert code == 2
    assert "cannot read" in capsys.readouterr().err


# -- settings ---------------------------------------------------------------------------------


def faulty(**settings: Any) -> FaultyVenue:
    """A faulty venue over a fresh simulated one, with `settings`."""
    return FaultyVenue(SimulatedVenue(SteppingClock(EPOCH)), **settings)


class _NoSink:
    """An adapter that cannot deliver later events: refused when registered."""

    name = "nosink"

    def submit(self, order: object, idempotency_key: str) -> list[object]:
        return []

    def cancel(self, order: object) -> list[object]:
        return []


class _OneAdapter:
    """A user's own registry (any object with ``get`` and ``adapters``)."""

    def __init__(self, adapter: object) -> None:
        self.adapter = adapter

    def get(self, mode: object) -> object:
        return self.adapter

    def adapters(self) -> tuple[object, ...]:
        return (self.adapter,)


SETTINGS: list[tuple[str, Any, str]] = [
    ("mode as a string", lambda: ExecutionOrchestrator(execution_mode="LIVE"), "execution_mode"),
    ("policy as a string", lambda: ExecutionOrchestrator(live_policy="approved"), "live_policy"),
    (
        "naive policy expiry",
        lambda: LivePolicy("cro", "x", EPOCH.replace(tzinfo=None)),
        "expires_at",
    ),
    ("zero attempts", lambda: RetryPolicy(max_attempts=0), "max_attempts"),
    ("negative timeout", lambda: Dispatcher(timeout=-1), "timeout"),
    ("zero timeout", lambda: Dispatcher(timeout=0), "timeout"),
    ("float fee", lambda: SimulatedVenue(SteppingClock(EPOCH), fee_bps=1.5), "fee_bps"),
    (
        "fractions not summing to 1",
        lambda: SimulatedVenue(SteppingClock(EPOCH), partial_fills=("0.5",)),
        "partial_fills",
    ),
    (
        "adapter for LIVE_BLOCKED",
        lambda: AdapterRegistry().register(
            ExecutionMode.LIVE_BLOCKED, SimulatedVenue(SteppingClock(EPOCH))
        ),
        "mode",
    ),
    ("naive clock start", lambda: SteppingClock(EPOCH.replace(tzinfo=None)), "start"),
    ("clock going back", lambda: SteppingClock(EPOCH, timedelta(seconds=-1)), "step"),
    ("unknown engine", lambda: ExecutionOrchestrator(engine="turbo"), "engine"),
    ("retry delay negative", lambda: RetryPolicy(base_delay=-0.1), "base_delay"),
    ("retry delay infinite", lambda: RetryPolicy(base_delay=math.inf), "base_delay"),
    ("retry delay past a float", lambda: RetryPolicy(base_delay=10**400), "base_delay"),
    ("retry cap infinite", lambda: RetryPolicy(max_delay=math.inf), "max_delay"),
    ("retry cap over a day", lambda: RetryPolicy(max_delay=86_401), "max_delay"),
    ("multiplier infinite", lambda: RetryPolicy(multiplier=math.inf), "multiplier"),
    ("multiplier absurd", lambda: RetryPolicy(multiplier=1e200), "multiplier"),
    ("jitter infinite", lambda: RetryPolicy(jitter=math.inf), "jitter"),
    ("jitter above 1", lambda: RetryPolicy(jitter=5), "jitter"),
    ("attempts absurd", lambda: RetryPolicy(max_attempts=10**30), "max_attempts"),
    ("retry_unknown as a string", lambda: RetryPolicy(retry_unknown="no"), "retry_unknown"),  # type: ignore[arg-type]
    ("timeout infinite", lambda: Dispatcher(timeout=math.inf), "timeout"),
    ("timeout past a float", lambda: Dispatcher(timeout=10**400), "timeout"),
    ("timeout absurd", lambda: Dispatcher(timeout=1e300), "timeout"),
    ("retry not a policy", lambda: Dispatcher(retry="x"), "retry"),  # type: ignore[arg-type]
    ("sleep not callable", lambda: Dispatcher(sleep=None), "sleep"),  # type: ignore[arg-type]
    ("seed not an int", lambda: Dispatcher(seed=[1]), "seed"),  # type: ignore[arg-type]
    ("fee negative", lambda: SimulatedVenue(SteppingClock(EPOCH), fee_bps=-50), "fee_bps"),
    ("fee absurd", lambda: SimulatedVenue(SteppingClock(EPOCH), fee_bps="1e30"), "fee_bps"),
    (
        "slippage below -100%",
        lambda: SimulatedVenue(SteppingClock(EPOCH), slippage_bps=-20_000),
        "slippage_bps",
    ),
    (
        "slippage of 100%",
        lambda: SimulatedVenue(SteppingClock(EPOCH), slippage_bps=10_000),
        "slippage_bps",
    ),
    ("venue name not a str", lambda: SimulatedVenue(SteppingClock(EPOCH), name=5), "name"),  # type: ignore[arg-type]
    ("venue clock without now()", lambda: SimulatedVenue("x"), "clock"),  # type: ignore[arg-type]
    (
        "prices not a mapping",
        lambda: SimulatedVenue(SteppingClock(EPOCH), prices=["BTC/EUR"]),  # type: ignore[arg-type]
        "prices",
    ),
    (
        "price symbol not a str",
        lambda: SimulatedVenue(SteppingClock(EPOCH), prices={5: "10"}),  # type: ignore[dict-item]
        "prices",
    ),
    (
        "partial fills not a sequence",
        lambda: SimulatedVenue(SteppingClock(EPOCH), partial_fills=5),  # type: ignore[arg-type]
        "partial_fills",
    ),
    (
        "partial fills as a string",
        lambda: SimulatedVenue(SteppingClock(EPOCH), partial_fills="1"),
        "partial_fills",
    ),
    ("journal not a path", lambda: SimulatedVenue(SteppingClock(EPOCH), journal=5), "journal"),  # type: ignore[arg-type]
    (
        "journal a directory",
        lambda: SimulatedVenue(SteppingClock(EPOCH), journal=Path(__file__).parent),
        "journal",
    ),
    ("storm of no pieces", lambda: faulty(storm_size=0), "storm_size"),
    ("storm of negative pieces", lambda: faulty(storm_size=-3), "storm_size"),
    ("slow answer back in time", lambda: faulty(slow_seconds=-1), "slow_seconds"),
    ("fault rate NaN", lambda: faulty(rate=math.nan), "rate"),
    ("fault not a Fault", lambda: faulty(faults=["TRANSIENT"]), "faults"),
    ("orchestrator clock without now()", lambda: ExecutionOrchestrator(clock="x"), "clock"),  # type: ignore[arg-type]
    ("risk hook without evaluate()", lambda: ExecutionOrchestrator(risk_hook="x"), "risk_hook"),  # type: ignore[arg-type]
    (
        "kill switch without status()",
        lambda: ExecutionOrchestrator(kill_switch="x"),  # type: ignore[arg-type]
        "kill_switch",
    ),
    ("dispatcher of the wrong kind", lambda: ExecutionOrchestrator(dispatcher="x"), "dispatcher"),  # type: ignore[arg-type]
    ("registry of the wrong kind", lambda: ExecutionOrchestrator(registry="x"), "registry"),  # type: ignore[arg-type]
    ("store of the wrong kind", lambda: ExecutionOrchestrator(store="x"), "store"),  # type: ignore[arg-type]
    ("audit of the wrong kind", lambda: ExecutionOrchestrator(audit="x"), "audit"),  # type: ignore[arg-type]
    ("fixed clock at a string", lambda: FixedClock("2020-01-01"), "at"),  # type: ignore[arg-type]
    ("clock start a string", lambda: SteppingClock("x"), "start"),  # type: ignore[arg-type]
    ("clock step not a timedelta", lambda: SteppingClock(EPOCH, 5), "step"),  # type: ignore[arg-type]
    ("clock step past a day", lambda: SteppingClock(EPOCH, timedelta.max), "step"),
    ("approver not a str", lambda: LivePolicy(5, "x", EPOCH), "approved_by"),  # type: ignore[arg-type]
    ("approver blank", lambda: LivePolicy(" ", "x", EPOCH), "approved_by"),
    ("policy reason not a str", lambda: LivePolicy("cro", 5, EPOCH), "reason"),  # type: ignore[arg-type]
    (
        "adapter for LIVE_BLOCKED by name",
        lambda: AdapterRegistry().register("LIVE_BLOCKED", SimulatedVenue(SteppingClock(EPOCH))),  # type: ignore[arg-type]
        "mode",
    ),
    (
        "unknown mode",
        lambda: AdapterRegistry().register("nope", SimulatedVenue(SteppingClock(EPOCH))),  # type: ignore[arg-type]
        "mode",
    ),
    (
        "a user's registry serving an adapter without an event sink",
        lambda: ExecutionOrchestrator(registry=_OneAdapter(_NoSink())),  # type: ignore[arg-type]
        "adapter",
    ),
    (
        "adapter without an event sink",
        lambda: AdapterRegistry().register(ExecutionMode.PAPER, _NoSink()),  # type: ignore[arg-type]
        "adapter",
    ),
]
"""Settings a developer or operator gives a component: refused with a ConfigurationError."""


@pytest.mark.parametrize(("name", "build", "field"), SETTINGS, ids=[s[0] for s in SETTINGS])
def test_bad_setting_is_a_clear_error(name: str, build: Any, field: str) -> None:
    """A bad setting is refused at construction with a ConfigurationError naming it."""
    with pytest.raises(ConfigurationError) as caught:
        build()

    assert caught.value.field == field
    assert field in str(caught.value)


def test_the_catalogue_has_at_least_50_cases() -> None:
    """The catalogue covers at least fifty malformed inputs."""
    total = len(CONSTRUCTION) + 3 + len(PIPELINE) + len(EVENTS) + len(MALFORMED_EVENTS) + 1
    total += len(FILES) + 2 + len(SETTINGS)

    assert total >= 50
