"""
OrderLifecycle: the full (state, event) table, and one test per lifecycle rule.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs
import pytest
from statemachine import StateMachine

from execfsm import (
    AuditOutcome,
    ContractViolation,
    EventKind,
    ExecutionEvent,
    Fill,
    IllegalTransition,
    OrderLifecycle,
    OrderState,
    ReasonCode,
)
from execfsm.bounds import AMOUNT_BOUND
from execfsm.clock import EPOCH
from execfsm.fsm.engine import Engine
from execfsm.fsm.order import was_submitted
from execfsm.ledger.audit import AuditLog
from execfsm.testing import in_memory_audit, order_for
from tests.conftest import make_intent

S = OrderState
_counter = iter(range(1, 1_000_000))


def fill(qty: str, price: str = "100", fee: str = "0", fill_id: str | None = None) -> Fill:
    return Fill(fill_id or f"f{next(_counter)}", qty, price, fee)


def event(lc: OrderLifecycle, kind: EventKind, **fields: Any) -> ExecutionEvent:
    return ExecutionEvent(
        kind, f"e{next(_counter)}", lc.client_order_id, lc.correlation_id, EPOCH, **fields
    )


def send_fill(lc: OrderLifecycle, qty: str, **kw: str) -> Any:
    return lc.apply(event(lc, EventKind.FILL, fill=fill(qty, **kw)))


# How to put a fresh order (quantity 1.0) in each state, using only legal events.
PATHS: dict[OrderState, list[tuple[str, dict[str, Any]]]] = {
    S.CREATED: [],
    S.SUBMITTED: [("submit", {})],
    S.ACKNOWLEDGED: [("submit", {}), ("acknowledge", {})],
    S.PARTIALLY_FILLED: [("submit", {}), ("fill", {"fill": fill("0.4", fill_id="p1")})],
    S.PENDING_CANCEL: [("submit", {}), ("acknowledge", {}), ("request_cancel", {})],
    S.PENDING_REPLACE: [("submit", {}), ("acknowledge", {}), ("request_replace", {})],
    S.FILLED: [("submit", {}), ("fill", {"fill": fill("1.0", fill_id="p2")})],
    S.CANCELLED: [("submit", {}), ("request_cancel", {}), ("cancel_ack", {})],
    S.REJECTED: [("submit", {}), ("reject", {"reason_code": ReasonCode.ADAPTER_REJECTED})],
    S.EXPIRED: [("submit", {}), ("expire", {})],
    S.FAILED: [("fail", {"reason_code": ReasonCode.ADAPTER_ERROR})],
}


def _ref(lc: OrderLifecycle) -> Fill:
    """The order's first fill, or one it never had."""
    return lc.fills[0] if lc.fills else fill("0.1", fill_id="ghost")


# The arguments each event is sent with in the table test (a fill of 0.1: partial everywhere;
# a replace to quantity 2; a bust or correction (to 0.1) of the order's first fill).
EVENT_ARGS: dict[str, Callable[[OrderLifecycle], dict[str, Any]]] = {
    "submit": lambda lc: {},
    "acknowledge": lambda lc: {},
    "fill": lambda lc: {"fill": fill("0.1")},
    "reject": lambda lc: {"reason_code": ReasonCode.ADAPTER_REJECTED},
    "request_cancel": lambda lc: {},
    "request_replace": lambda lc: {"replace": lc.replace_request(quantity=Decimal("2.0"))},
    "cancel_ack": lambda lc: {},
    "cancel_reject": lambda lc: {},
    "replace_ack": lambda lc: {},
    "replace_reject": lambda lc: {},
    "expire": lambda lc: {},
    "trade_bust": lambda lc: {"ref_fill": _ref(lc)},
    "trade_correct": lambda lc: {"ref_fill": _ref(lc), "fill": fill("0.1")},
    "fail": lambda lc: {"reason_code": ReasonCode.ADAPTER_ERROR},
}

# The lifecycle's table, written out independently of the declaration. Anything absent is
# refused with ILLEGAL_TRANSITION.
ALLOWED: dict[tuple[OrderState, str], OrderState] = {
    (S.CREATED, "submit"): S.SUBMITTED,
    (S.CREATED, "fail"): S.FAILED,
    (S.SUBMITTED, "acknowledge"): S.ACKNOWLEDGED,
    (S.SUBMITTED, "fill"): S.PARTIALLY_FILLED,
    (S.SUBMITTED, "reject"): S.REJECTED,
    (S.SUBMITTED, "request_cancel"): S.PENDING_CANCEL,
    (S.SUBMITTED, "cancel_ack"): S.CANCELLED,
    (S.SUBMITTED, "expire"): S.EXPIRED,
    (S.SUBMITTED, "fail"): S.FAILED,
    (S.ACKNOWLEDGED, "fill"): S.PARTIALLY_FILLED,
    (S.ACKNOWLEDGED, "reject"): S.REJECTED,
    (S.ACKNOWLEDGED, "request_cancel"): S.PENDING_CANCEL,
    (S.ACKNOWLEDGED, "cancel_ack"): S.CANCELLED,
    (S.ACKNOWLEDGED, "expire"): S.EXPIRED,
    (S.PARTIALLY_FILLED, "fill"): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, "request_cancel"): S.PENDING_CANCEL,
    (S.PARTIALLY_FILLED, "cancel_ack"): S.CANCELLED,
    (S.PARTIALLY_FILLED, "expire"): S.EXPIRED,
    (S.PENDING_CANCEL, "fill"): S.PENDING_CANCEL,
    (S.PENDING_CANCEL, "cancel_ack"): S.CANCELLED,
    (S.PENDING_CANCEL, "cancel_reject"): S.ACKNOWLEDGED,
    (S.PENDING_CANCEL, "expire"): S.EXPIRED,
    (S.PENDING_CANCEL, "reject"): S.REJECTED,  # nothing filled: the venue refused it
    (S.ACKNOWLEDGED, "request_replace"): S.PENDING_REPLACE,
    (S.PARTIALLY_FILLED, "request_replace"): S.PENDING_REPLACE,
    (S.PARTIALLY_FILLED, "trade_bust"): S.ACKNOWLEDGED,  # its only fill busted
    (S.PARTIALLY_FILLED, "trade_correct"): S.PARTIALLY_FILLED,
    (S.FILLED, "trade_bust"): S.ACKNOWLEDGED,
    (S.FILLED, "trade_correct"): S.PARTIALLY_FILLED,  # corrected down to 0.1 of 1.0
    (S.PENDING_REPLACE, "fill"): S.PENDING_REPLACE,
    (S.PENDING_REPLACE, "replace_ack"): S.ACKNOWLEDGED,
    (S.PENDING_REPLACE, "replace_reject"): S.ACKNOWLEDGED,
    (S.PENDING_REPLACE, "cancel_ack"): S.CANCELLED,
    (S.PENDING_REPLACE, "expire"): S.EXPIRED,
    (S.PENDING_REPLACE, "reject"): S.REJECTED,
    (S.FILLED, "request_replace"): S.PENDING_REPLACE,  # FIX C.1.c: raised, it re-opens
    (S.PENDING_REPLACE, "request_cancel"): S.PENDING_CANCEL,  # the replace still unanswered
}

# Pairs with an edge whose validator refuses the table test's arguments: no fill to bust.
REFUSED_BY_VALIDATOR: dict[tuple[OrderState, str], ReasonCode] = {
    (state, name): ReasonCode.TRADE_UNKNOWN_FILL
    for state in (S.PENDING_CANCEL, S.PENDING_REPLACE)
    for name in ("trade_bust", "trade_correct")
}
REFUSED_BY_VALIDATOR[S.FILLED, "replace_ack"] = ReasonCode.VENUE_CONTRADICTION  # none pending
REFUSED_BY_VALIDATOR[S.PENDING_CANCEL, "replace_ack"] = ReasonCode.VENUE_CONTRADICTION
for _state in (S.ACKNOWLEDGED, S.PARTIALLY_FILLED):  # an overtaken replace's answer: none here
    for _answer in ("replace_ack", "replace_reject"):
        REFUSED_BY_VALIDATOR[_state, _answer] = ReasonCode.VENUE_CONTRADICTION
REFUSED_BY_VALIDATOR[S.PENDING_CANCEL, "replace_reject"] = ReasonCode.VENUE_CONTRADICTION


def drive(
    state: OrderState, audit: AuditLog | None = None, engine: Engine = Engine.COMPILED
) -> OrderLifecycle:
    audit = audit if audit is not None else in_memory_audit()
    lc = OrderLifecycle(order_for(make_intent()), audit, engine=engine)
    for name, kwargs in PATHS[state]:
        if name == "request_replace":
            kwargs = {"replace": lc.replace_request(quantity=Decimal("2.0"))}
        lc.send(name, **kwargs)
    assert lc.order.state is state
    return lc


class TestTable:
    @pytest.mark.parametrize("state", list(OrderState))
    @pytest.mark.parametrize("name", list(EVENT_ARGS))
    def test_every_state_event_pair(self, state: OrderState, name: str) -> None:
        """An allowed pair moves to its target with one record; any other is refused, changes
        nothing and is audited as a refusal."""
        audit = in_memory_audit()
        lc = drive(state, audit)
        before, records_before = lc.order, len(audit)

        if (state, name) in ALLOWED:
            lc.send(name, **EVENT_ARGS[name](lc))
            new = audit.records[records_before:]

            assert lc.order.state is ALLOWED[state, name]
            assert lc.current_state_value is ALLOWED[state, name]
            assert [(r.event, r.source, r.target, r.outcome) for r in new] == [
                (name, state.value, ALLOWED[state, name].value, AuditOutcome.APPLIED)
            ]
        else:
            reason = REFUSED_BY_VALIDATOR.get((state, name), ReasonCode.ILLEGAL_TRANSITION)
            error = IllegalTransition if reason is ReasonCode.ILLEGAL_TRANSITION else Exception
            with pytest.raises(error, match=name if error is IllegalTransition else "order"):
                lc.send(name, **EVENT_ARGS[name](lc))
            new = audit.records[records_before:]

            assert lc.order == before
            assert lc.current_state_value is state
            assert [(r.event, r.source, r.target, r.outcome, r.reason_code) for r in new] == [
                (name, state.value, None, AuditOutcome.REFUSED, reason)
            ]

    def test_is_a_strict_statemachine(self) -> None:
        """OrderLifecycle is a python-statemachine StateMachine with the strict flags."""
        assert issubclass(OrderLifecycle, StateMachine)
        assert OrderLifecycle.allow_event_without_transition is False
        assert OrderLifecycle.catch_errors_as_events is False

    def test_unknown_event_name_is_refused(self, lifecycle: OrderLifecycle) -> None:
        """An event the machine does not know is refused, not ignored."""
        with pytest.raises(IllegalTransition):
            lifecycle.send("teleport")

        assert lifecycle.order.state is S.CREATED


class TestContractValidators:
    @pytest.mark.parametrize(
        ("overrides", "reason", "field"),
        [
            ({"quantity": 0}, ReasonCode.VALIDATION_INVALID_QUANTITY, "quantity"),
            ({"quantity": "-1"}, ReasonCode.VALIDATION_INVALID_QUANTITY, "quantity"),
            ({"limit_price": None}, ReasonCode.VALIDATION_INVALID_PRICE, "limit_price"),
            ({"limit_price": 0}, ReasonCode.VALIDATION_INVALID_PRICE, "limit_price"),
            ({"symbol": "  "}, ReasonCode.VALIDATION_INVALID_SYMBOL, "symbol"),
            ({"symbol": "BTC\u200bEUR"}, ReasonCode.VALIDATION_INVALID_SYMBOL, "symbol"),
            ({"strategy_id": " "}, ReasonCode.VALIDATION_INVALID_FIELD, "strategy_id"),
            (
                {"order_type": "MARKET", "limit_price": 1},
                ReasonCode.VALIDATION_INVALID_PRICE,
                "limit_price",
            ),
            ({"quantity": "1e13"}, ReasonCode.VALIDATION_INVALID_QUANTITY, "quantity"),
        ],
    )
    def test_submit_refuses_a_broken_contract(
        self, audit: AuditLog, overrides: dict[str, Any], reason: ReasonCode, field: str
    ) -> None:
        """Submit's validators refuse bad terms with the reason code and field, and audit it."""
        lc = OrderLifecycle(order_for(make_intent(**overrides)), audit)

        with pytest.raises(ContractViolation, match=field) as caught:
            lc.send("submit")

        assert (caught.value.reason, caught.value.field) == (reason, field)
        assert lc.order.state is S.CREATED
        assert [(r.event, r.outcome, r.reason_code) for r in audit.records] == [
            ("submit", AuditOutcome.REFUSED, reason)
        ]

    def test_market_order_needs_no_price(self, audit: AuditLog) -> None:
        """A MARKET order without a limit price submits."""
        lc = OrderLifecycle(order_for(make_intent(order_type="MARKET", limit_price=None)), audit)

        lc.send("submit")

        assert lc.order.state is S.SUBMITTED

    def test_reject_without_reason_is_refused(self) -> None:
        """A venue REJECT that carries no reason code is refused with REASON_MISSING."""
        lc = drive(S.SUBMITTED)

        outcome = lc.apply(event(lc, EventKind.REJECT))

        assert (outcome.outcome, outcome.reason_code) == (
            AuditOutcome.REFUSED,
            ReasonCode.REASON_MISSING,
        )
        assert lc.order.state is S.SUBMITTED

    def test_reject_keeps_the_reason(self) -> None:
        """A REJECT ends the order REJECTED with the venue's reason kept on the order."""
        lc = drive(S.SUBMITTED)

        lc.apply(event(lc, EventKind.REJECT, reason_code=ReasonCode.ADAPTER_REJECTED))

        assert (lc.order.state, lc.order.reason_code) == (S.REJECTED, ReasonCode.ADAPTER_REJECTED)


class TestFills:
    def test_partial_fills_sum_exactly(self) -> None:
        """0.1 + 0.2 + 0.7 of 1.0 is FILLED, with exact Decimal arithmetic."""
        lc = drive(S.ACKNOWLEDGED)

        states = [send_fill(lc, q).order.state for q in ("0.1", "0.2", "0.7")]

        assert states == [S.PARTIALLY_FILLED, S.PARTIALLY_FILLED, S.FILLED]
        assert lc.order.filled_quantity == Decimal("1.0")
        assert lc.order.remaining_quantity == 0

    def test_average_price_and_fees(self) -> None:
        """The order keeps the quantity-weighted average price and the sum of fees."""
        lc = drive(S.ACKNOWLEDGED)

        send_fill(lc, "0.25", price="100", fee="0.10")
        send_fill(lc, "0.75", price="104", fee="0.30")

        assert lc.order.average_fill_price == Decimal("103")
        assert lc.order.fees == Decimal("0.40")

    def test_same_fill_twice_is_a_duplicate(self) -> None:
        """The same fill id with the same content is ignored and audited as a duplicate."""
        audit = in_memory_audit()
        lc = drive(S.ACKNOWLEDGED, audit)
        first = fill("0.3", fill_id="dup")
        lc.apply(event(lc, EventKind.FILL, fill=first))
        after_first = lc.order

        outcome = lc.apply(event(lc, EventKind.FILL, fill=first))

        assert (outcome.outcome, outcome.reason_code) == (
            AuditOutcome.DUPLICATE,
            ReasonCode.FILL_DUPLICATE,
        )
        assert lc.order == after_first
        assert outcome.booked_fill is None
        assert audit.records[-1].outcome is AuditOutcome.DUPLICATE

    def test_same_fill_id_with_other_content_conflicts(self) -> None:
        """The same fill id with a different quantity is refused as FILL_CONFLICT."""
        lc = drive(S.ACKNOWLEDGED)
        send_fill(lc, "0.3", fill_id="x")

        outcome = send_fill(lc, "0.4", fill_id="x")

        assert (outcome.outcome, outcome.reason_code) == (
            AuditOutcome.REFUSED,
            ReasonCode.FILL_CONFLICT,
        )
        assert lc.order.filled_quantity == Decimal("0.3")
        assert lc.order.recon_flags == (ReasonCode.FILL_CONFLICT,)

    def test_direct_fill_event_cannot_reuse_an_id(self) -> None:
        """Even sent straight to the machine, a fill id already applied is refused."""
        lc = drive(S.ACKNOWLEDGED)
        send_fill(lc, "0.3", fill_id="x")

        with pytest.raises(ContractViolation) as caught:
            lc.send("fill", fill=fill("0.3", fill_id="x"))

        assert caught.value.reason is ReasonCode.FILL_DUPLICATE
        assert lc.order.filled_quantity == Decimal("0.3")

    def test_overfill_is_refused(self) -> None:
        """A fill beyond the remaining quantity is refused: quantities and state stay, the order
        is flagged for reconciliation."""
        audit = in_memory_audit()
        lc = drive(S.ACKNOWLEDGED, audit)
        send_fill(lc, "0.6")
        before = lc.order

        outcome = send_fill(lc, "0.5")

        assert (outcome.outcome, outcome.reason_code) == (
            AuditOutcome.REFUSED,
            ReasonCode.FILL_OVERFILL,
        )
        assert "exceeds remaining 0.4" in outcome.detail
        assert lc.order == attrs.evolve(before, recon_flags=(ReasonCode.FILL_OVERFILL,))
        assert audit.records[-1].reason_code is ReasonCode.FILL_OVERFILL

    @pytest.mark.parametrize(
        ("kw", "reason"),
        [
            ({"qty": "0"}, ReasonCode.FILL_INVALID_QUANTITY),
            ({"qty": "-0.1"}, ReasonCode.FILL_INVALID_QUANTITY),
            ({"qty": "0.1", "price": "0"}, ReasonCode.FILL_INVALID_PRICE),
            ({"qty": "0.1", "fee": "-0.01"}, ReasonCode.FILL_INVALID_FEE),
        ],
    )
    def test_malformed_fill_is_refused(self, kw: dict[str, str], reason: ReasonCode) -> None:
        """Fill quantity and price must be positive, the fee not negative."""
        lc = drive(S.ACKNOWLEDGED)

        outcome = send_fill(lc, **kw)

        assert (outcome.outcome, outcome.reason_code) == (AuditOutcome.REFUSED, reason)
        assert lc.order.state is S.ACKNOWLEDGED

    def test_fill_before_ack_is_accepted(self) -> None:
        """A fill that overtakes the ACK is applied: the venue filled the order."""
        lc = drive(S.SUBMITTED)

        outcome = send_fill(lc, "1.0")

        assert outcome.applied
        assert lc.order.state is S.FILLED

    def test_late_ack_after_fill_is_absorbed(self) -> None:
        """An ACK after a fill never moves the order back; it is audited as absorbed."""
        lc = drive(S.SUBMITTED)
        send_fill(lc, "0.5")

        outcome = lc.apply(event(lc, EventKind.ACK))

        assert (outcome.outcome, outcome.reason_code) == (
            AuditOutcome.DUPLICATE,
            ReasonCode.ACK_ABSORBED,
        )
        assert lc.order.state is S.PARTIALLY_FILLED

    def test_ack_after_failure_flags_reconciliation(self) -> None:
        """An ACK for an order we consider failed is refused and flags it for reconciliation."""
        lc = drive(S.FAILED)

        outcome = lc.apply(event(lc, EventKind.ACK))

        assert outcome.outcome is AuditOutcome.REFUSED
        assert lc.order.state is S.FAILED
        assert lc.order.recon_flags == (ReasonCode.ACK_AFTER_FAILURE,)

    @pytest.mark.parametrize("final", [S.CANCELLED, S.EXPIRED, S.REJECTED])
    def test_fill_after_final_is_booked_counted_and_flagged(self, final: OrderState) -> None:
        """A fill after the order ended is booked, counted in its filled quantity, average
        price and fills (FIX CumQty), flagged, and the state stays final with leaves 0."""
        audit = in_memory_audit()
        lc = drive(final, audit)
        filled_before = lc.order.filled_quantity
        late = fill("0.2", price="90", fill_id="late")

        outcome = lc.apply(event(lc, EventKind.FILL, fill=late))

        assert outcome.applied
        assert outcome.booked_fill == late
        assert lc.order.state is final
        assert lc.order.filled_quantity == filled_before + Decimal("0.2")
        assert lc.order.average_fill_price == Decimal("90")
        assert lc.order.remaining_quantity == 0
        assert lc.fills[-1] == late
        assert lc.late_fills == (late,)
        assert lc.order.recon_flags == (ReasonCode.FILL_AFTER_FINAL,)
        assert (audit.records[-1].source, audit.records[-1].target) == (final.value, final.value)
        assert audit.records[-1].reason_code is ReasonCode.FILL_AFTER_FINAL

    def test_late_fill_beyond_the_quantity_is_refused_and_flagged(self) -> None:
        """A fill after CANCELLED (8 of 10 filled) for 5 more is refused as an overfill and
        flags the order: nothing is booked, the figures stay."""
        audit = in_memory_audit()
        lc = OrderLifecycle(order_for(make_intent(quantity="10")), audit)
        lc.send("submit")
        send_fill(lc, "8")
        lc.apply(event(lc, EventKind.CANCEL_ACK))
        before = lc.order.filled_quantity

        outcome = lc.apply(event(lc, EventKind.FILL, fill=fill("5", fill_id="late5")))

        assert (outcome.outcome, outcome.reason_code, outcome.booked_fill) == (
            AuditOutcome.REFUSED,
            ReasonCode.FILL_OVERFILL,
            None,
        )
        assert lc.order.filled_quantity == before == Decimal("8")
        assert lc.order.recon_flags == (ReasonCode.FILL_OVERFILL,)
        assert lc.late_fills == ()

    def test_second_fill_id_after_filled_is_an_overfill(self) -> None:
        """A new fill id for a FILLED order books nothing beyond the order quantity: it is
        refused as an overfill and flags the order."""
        lc = drive(S.FILLED)

        outcome = lc.apply(event(lc, EventKind.FILL, fill=fill("0.2", fill_id="extra")))

        assert (outcome.outcome, outcome.reason_code) == (
            AuditOutcome.REFUSED,
            ReasonCode.FILL_OVERFILL,
        )
        assert lc.order.filled_quantity == lc.order.quantity
        assert lc.order.recon_flags == (ReasonCode.FILL_OVERFILL,)

    def test_late_fill_redelivered_is_a_duplicate(self) -> None:
        """A late fill delivered twice is booked once."""
        lc = drive(S.CANCELLED)
        late = fill("0.2", fill_id="late")
        lc.apply(event(lc, EventKind.FILL, fill=late))

        outcome = lc.apply(event(lc, EventKind.FILL, fill=late))

        assert outcome.outcome is AuditOutcome.DUPLICATE
        assert lc.late_fills == (late,)


ENGINES = list(Engine)

# Fill amounts beyond the bounds, or not numbers at all: (field, value as sent, reason).
OUT_OF_BOUNDS: list[tuple[str, str, ReasonCode]] = [
    ("price", "9e999999", ReasonCode.FILL_INVALID_PRICE),
    ("price", "Infinity", ReasonCode.FILL_INVALID_PRICE),
    ("price", "sNaN", ReasonCode.FILL_INVALID_PRICE),
    ("price", "0.000000000000001", ReasonCode.FILL_INVALID_PRICE),
    ("quantity", "1e-2000000", ReasonCode.FILL_INVALID_QUANTITY),
    ("quantity", "1e1000000", ReasonCode.FILL_INVALID_QUANTITY),
    ("quantity", "NaN", ReasonCode.FILL_INVALID_QUANTITY),
    ("quantity", "-sNaN", ReasonCode.FILL_INVALID_QUANTITY),
    ("fee", "9e999999", ReasonCode.FILL_INVALID_FEE),
    ("fee", "-Infinity", ReasonCode.FILL_INVALID_FEE),
]


def absurd(field: str, value: str, fill_id: str = "big") -> Fill:
    return Fill(fill_id, **{"quantity": "0.1", "price": "100", "fee": "0", field: value})


class TestFillBounds:
    @pytest.mark.parametrize("engine", ENGINES)
    @pytest.mark.parametrize(("field", "value", "reason"), OUT_OF_BOUNDS)
    def test_fill_beyond_the_bounds_is_refused_before_any_arithmetic(
        self, engine: Engine, field: str, value: str, reason: ReasonCode
    ) -> None:
        """A fill whose amount is beyond the bounds or not finite is refused and audited, on
        either engine: no arithmetic error escapes and the order keeps its figures."""
        audit = in_memory_audit()
        lc = drive(S.PARTIALLY_FILLED, audit, engine)
        before, fills_before, records = lc.order, lc.fills, len(audit)

        outcome = lc.apply(event(lc, EventKind.FILL, fill=absurd(field, value)))

        assert (outcome.outcome, outcome.reason_code, outcome.booked_fill) == (
            AuditOutcome.REFUSED,
            reason,
            None,
        )
        flagged = before.with_changes(recon_flags=(reason,))  # a fill no venue could report
        assert (lc.order, lc.fills, lc.current_state_value) == (flagged, fills_before, before.state)
        new = audit.records[records:]
        assert [(r.event, r.outcome, r.reason_code, r.target) for r in new] == [
            ("fill", AuditOutcome.REFUSED, reason, None)
        ]
        assert new[0].detail.startswith(f"fill big {field}: must be {AMOUNT_BOUND}, got ")

    @pytest.mark.parametrize("engine", ENGINES)
    @pytest.mark.parametrize(("field", "value", "reason"), OUT_OF_BOUNDS)
    def test_fill_sent_to_the_machine_raises_only_the_contract_error(
        self, engine: Engine, field: str, value: str, reason: ReasonCode
    ) -> None:
        """Sent straight to the machine, such a fill raises ContractViolation naming the field,
        the value and the bound, and the machine stays where it was."""
        lc = drive(S.ACKNOWLEDGED, engine=engine)
        fill = absurd(field, value)

        with pytest.raises(ContractViolation) as caught:
            lc.send("fill", fill=fill)

        error = caught.value
        assert (error.reason, error.field, error.bound) == (reason, f"fill.{field}", AMOUNT_BOUND)
        assert error.value is getattr(fill, field)
        assert lc.order.state is S.ACKNOWLEDGED

    @pytest.mark.parametrize("engine", ENGINES)
    def test_late_fill_beyond_the_bounds_is_refused_not_booked(self, engine: Engine) -> None:
        """A fill after the order is final with an absurd price is refused: nothing is booked
        and the order is flagged (no venue could report it)."""
        lc = drive(S.CANCELLED, engine=engine)

        outcome = lc.apply(event(lc, EventKind.FILL, fill=absurd("price", "9e999999")))

        assert (outcome.outcome, outcome.reason_code, outcome.booked_fill) == (
            AuditOutcome.REFUSED,
            ReasonCode.FILL_INVALID_PRICE,
            None,
        )
        assert (lc.late_fills, lc.order.recon_flags) == ((), (ReasonCode.FILL_INVALID_PRICE,))

    @pytest.mark.parametrize("value", ["NaN", "sNaN", "Infinity"])
    def test_redelivered_fill_id_with_a_non_finite_price_conflicts(self, value: str) -> None:
        """A fill id applied once and sent again with a price that is not a number is a
        conflict, found without a signalling comparison."""
        lc = drive(S.ACKNOWLEDGED)
        send_fill(lc, "0.3", fill_id="x")

        outcome = lc.apply(event(lc, EventKind.FILL, fill=absurd("price", value, fill_id="x")))

        assert (outcome.outcome, outcome.reason_code) == (
            AuditOutcome.REFUSED,
            ReasonCode.FILL_CONFLICT,
        )
        assert lc.order.filled_quantity == Decimal("0.3")

    def test_both_engines_write_the_same_trail(self) -> None:
        """The compiled and the reference engine refuse the same absurd fills with
        byte-identical audit trails."""
        trails = []
        for engine in ENGINES:
            audit = in_memory_audit()
            lc = drive(S.ACKNOWLEDGED, audit, engine)
            for field, value, _ in OUT_OF_BOUNDS:
                lc.apply(
                    ExecutionEvent(
                        EventKind.FILL,
                        f"e-{field}-{value}",
                        lc.client_order_id,
                        lc.correlation_id,
                        EPOCH,
                        fill=absurd(field, value),
                    )
                )
            trails.append(audit.export_jsonl())

        assert trails[0] == trails[1]


class TestNeverSubmitted:
    @pytest.mark.parametrize("engine", ENGINES)
    @pytest.mark.parametrize("state", [S.CREATED, S.FAILED])
    def test_fill_for_an_order_never_submitted_is_refused_and_flagged(
        self, engine: Engine, state: OrderState
    ) -> None:
        """A fill for an order that never took submit (still CREATED, or FAILED from CREATED)
        is refused with FILL_FOR_UNSENT_ORDER and flags the order; nothing is booked."""
        audit = in_memory_audit()
        lc = drive(state, audit, engine)
        before, records = lc.order, len(audit)

        outcome = lc.apply(event(lc, EventKind.FILL, fill=fill("0.5", fill_id="ghost")))

        assert (outcome.outcome, outcome.reason_code, outcome.booked_fill) == (
            AuditOutcome.REFUSED,
            ReasonCode.FILL_FOR_UNSENT_ORDER,
            None,
        )
        assert lc.order == attrs.evolve(before, recon_flags=(ReasonCode.FILL_FOR_UNSENT_ORDER,))
        assert outcome.order == lc.order
        assert (lc.fills, lc.late_fills) == ((), ())
        assert [(r.event, r.outcome, r.reason_code, r.target) for r in audit.records[records:]] == [
            ("fill", AuditOutcome.REFUSED, ReasonCode.FILL_FOR_UNSENT_ORDER, None)
        ]

    def test_fill_after_a_failed_send_is_booked_and_flagged(self) -> None:
        """An order FAILED after it was SUBMITTED may have reached the venue: its fill is booked
        and flagged as after final."""
        lc = drive(S.SUBMITTED)
        lc.send("fail", reason_code=ReasonCode.ADAPTER_ERROR)

        outcome = lc.apply(event(lc, EventKind.FILL, fill=fill("0.5", fill_id="late")))

        assert (outcome.outcome, outcome.reason_code) == (
            AuditOutcome.APPLIED,
            ReasonCode.FILL_AFTER_FINAL,
        )
        assert lc.order.recon_flags == (ReasonCode.FILL_AFTER_FINAL,)

    @pytest.mark.parametrize(("via", "submitted"), [("CREATED", False), ("SUBMITTED", True)])
    def test_packing_keeps_whether_the_order_was_submitted(self, via: str, submitted: bool) -> None:
        """A FAILED order re-opened from its packed form remembers whether it was submitted,
        whatever its reason code says."""
        lc = drive(S.CREATED if via == "CREATED" else S.SUBMITTED)
        lc.send("fail", reason_code=ReasonCode.ADAPTER_ERROR)

        reopened = OrderLifecycle.from_packed(lc.packed(), in_memory_audit())

        assert (lc.submitted, reopened.submitted) == (submitted, submitted)

    @pytest.mark.parametrize(
        ("state", "reason", "submitted"),
        [
            (S.CREATED, None, False),
            (S.FAILED, ReasonCode.VALIDATION_INVALID_PRICE, False),
            (S.FAILED, ReasonCode.RISK_BLOCKED, False),
            (S.FAILED, ReasonCode.POLICY_LIVE_NOT_ENABLED, False),
            (S.FAILED, ReasonCode.ADAPTER_ERROR, True),
            (S.REJECTED, ReasonCode.ADAPTER_REJECTED, True),
            (S.SUBMITTED, None, True),
            (S.CANCELLED, None, True),
        ],
    )
    def test_a_restored_order_reads_it_from_its_snapshot(
        self, state: OrderState, reason: ReasonCode | None, submitted: bool
    ) -> None:
        """Re-opened from a stored snapshot alone, an order failed by a stage before dispatch
        counts as never submitted; any other past CREATED counts as submitted."""
        order = attrs.evolve(order_for(make_intent()), state=state, reason_code=reason)

        restored = OrderLifecycle.restore(order, in_memory_audit())

        assert (was_submitted(order), restored.submitted) == (submitted, submitted)


class TestCancel:
    @pytest.mark.parametrize("origin", [S.SUBMITTED, S.ACKNOWLEDGED, S.PARTIALLY_FILLED])
    def test_cancel_reject_returns_to_the_origin(self, origin: OrderState) -> None:
        """A rejected cancel returns the order to the state it was in before."""
        lc = drive(origin)
        lc.send("request_cancel")

        lc.apply(event(lc, EventKind.CANCEL_REJECT))

        assert lc.order.state is origin

    def test_partial_fill_during_cancel_returns_to_partially_filled(self) -> None:
        """A partial fill while the cancel is pending makes a rejected cancel return to
        PARTIALLY_FILLED."""
        lc = drive(S.PENDING_CANCEL)
        send_fill(lc, "0.3")

        lc.apply(event(lc, EventKind.CANCEL_REJECT))

        assert lc.order.state is S.PARTIALLY_FILLED
        assert lc.order.filled_quantity == Decimal("0.3")

    def test_ack_during_cancel_requested_before_ack(self) -> None:
        """A cancel requested before the ACK, then ACKed and rejected, returns to ACKNOWLEDGED."""
        lc = drive(S.SUBMITTED)
        lc.send("request_cancel")
        lc.apply(event(lc, EventKind.ACK))

        lc.apply(event(lc, EventKind.CANCEL_REJECT))

        assert lc.order.state is S.ACKNOWLEDGED

    def test_complete_fill_beats_the_cancel(self) -> None:
        """A complete fill while the cancel is pending ends FILLED; a CANCEL_ACK after it
        contradicts the fill: refused, and the order is flagged."""
        lc = drive(S.PENDING_CANCEL)
        send_fill(lc, "1.0")

        outcome = lc.apply(event(lc, EventKind.CANCEL_ACK))

        assert lc.order.state is S.FILLED
        assert outcome.reason_code is ReasonCode.VENUE_CONTRADICTION
        assert lc.order.recon_flags == (ReasonCode.VENUE_CONTRADICTION,)


class TestOwnership:
    def test_event_for_another_order_is_refused(self) -> None:
        """An event whose ids do not match the order is refused and audited."""
        audit = in_memory_audit()
        lc = drive(S.SUBMITTED, audit)
        stray = attrs.evolve(event(lc, EventKind.ACK), client_order_id="ord-other")

        outcome = lc.apply(stray)

        assert (outcome.outcome, outcome.reason_code) == (
            AuditOutcome.REFUSED,
            ReasonCode.EVENT_ORDER_MISMATCH,
        )
        assert lc.order.state is S.SUBMITTED
        assert audit.records[-1].reason_code is ReasonCode.EVENT_ORDER_MISMATCH

    def test_event_with_wrong_correlation_is_refused(self) -> None:
        """An event whose correlation id differs from the order's is refused."""
        lc = drive(S.SUBMITTED)
        stray = attrs.evolve(event(lc, EventKind.ACK), correlation_id="cor-other")

        outcome = lc.apply(stray)

        assert outcome.reason_code is ReasonCode.EVENT_ORDER_MISMATCH

    def test_lifecycle_starts_from_created(self) -> None:
        """A lifecycle cannot adopt an order that is already past CREATED."""
        submitted = attrs.evolve(order_for(make_intent()), state=S.SUBMITTED)

        with pytest.raises(ContractViolation, match="starts from CREATED"):
            OrderLifecycle(submitted, in_memory_audit())
