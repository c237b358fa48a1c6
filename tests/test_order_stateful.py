"""
Random event sequences against OrderLifecycle, with the lifecycle's invariants after each step:
local actions (submit, cancel, replace, fail), every venue event kind (replace answers, busts
and corrections, late fills and contradictions included), and a replay of the trail.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from execfsm import (
    AuditOutcome,
    ContractViolation,
    EventKind,
    ExecutionEvent,
    Fill,
    IllegalTransition,
    OrderIntent,
    OrderLifecycle,
    OrderSide,
    OrderState,
    PipelineRun,
    ReasonCode,
)
from execfsm.clock import EPOCH
from execfsm.contracts import FINAL_ORDER_STATES, Order
from execfsm.fsm.order import EventOutcome
from execfsm.ids import canonical_json
from execfsm.ledger.positions import PositionLedger, reversal
from execfsm.ledger.replay import replay
from execfsm.testing import in_memory_audit, order_for
from tests.conftest import make_intent
from tests.strategies import fees, fill_ids, intents, limit_intents, prices, quantities

DISAGREEING = frozenset(
    {
        ReasonCode.VENUE_CONTRADICTION,
        ReasonCode.FILL_OVERFILL,
        ReasonCode.FILL_CONFLICT,
        ReasonCode.TRADE_UNKNOWN_FILL,
        ReasonCode.FILL_FOR_UNSENT_ORDER,
    }
)
"""Refusal reasons that mean the venue and we disagree: each must flag the order."""

TICK = Decimal("0.001")
REVISIONS = ("trade_bust", "trade_correct")


def figures(order: Order) -> tuple[object, ...]:
    """What an event may change about an order, reconciliation flags aside."""
    return (
        order.state,
        order.quantity,
        order.limit_price,
        order.filled_quantity,
        order.average_fill_price,
        order.fees,
        order.venue_order_id,
        order.venue_client_order_id,
        order.reason_code,
    )


def signed(side: OrderSide, quantity: Decimal) -> Decimal:
    """`quantity` as it moves a position on `side`."""
    return quantity if side is OrderSide.BUY else -quantity


class OrderLifecycleMachine(RuleBasedStateMachine):
    """Drive one order with any mix of local actions and venue events, duplicates included."""

    @initialize(intent=st.one_of(intents, limit_intents))
    def start(self, intent: OrderIntent) -> None:
        self.audit = in_memory_audit()
        order = order_for(intent)
        # The pipeline's intake record carries the terms a replay of the trail starts from.
        PipelineRun(
            intent,
            correlation_id=order.correlation_id,
            client_order_id=order.client_order_id,
            audit=self.audit,
        ).send("intake_done", detail=canonical_json(intent))
        self.lc = OrderLifecycle(order, self.audit)
        self.events = 0
        self.applied = 0
        self.booked: dict[str, Fill] = {}
        self.sent_fills: list[Fill] = []
        self.positions = PositionLedger()
        self.previous_state = self.lc.order.state
        self.previous_filled = Decimal(0)
        self.revised = False  # the last step applied a bust or correction
        self.corrections = 0

    # -- driving the order --------------------------------------------------------------------

    def _venue(self, kind: EventKind, **fields: object) -> EventOutcome:
        self.events += 1
        before = self.lc.order
        outcome = self.lc.apply(
            ExecutionEvent(
                kind,
                f"e{self.events}",
                self.lc.client_order_id,
                self.lc.correlation_id,
                EPOCH,
                **fields,  # type: ignore[arg-type]
            )
        )
        self.applied += outcome.applied
        after = self.lc.order
        assert outcome.order == after
        if not outcome.applied:  # a refused or absorbed event changes none of the figures
            assert figures(after) == figures(before)
            assert outcome.booked_fill is None
            assert outcome.reversed_fill is None
        if outcome.outcome is AuditOutcome.REFUSED and outcome.reason_code in DISAGREEING:
            assert outcome.reason_code in after.recon_flags
        assert set(before.recon_flags) <= set(after.recon_flags)
        self._book(outcome)
        self.revised = outcome.applied and kind in (EventKind.TRADE_BUST, EventKind.TRADE_CORRECT)
        return outcome

    def _local(self, name: str, **kwargs: object) -> bool:
        self.events += 1
        self.revised = False
        before = self.lc.order
        try:
            self.lc.send(name, **kwargs)
        except (IllegalTransition, ContractViolation):
            assert self.lc.order == before
            return False
        self.applied += 1
        return True

    def _book(self, outcome: EventOutcome) -> None:
        """Book what the outcome moved, as `post_trade.book_outcome` does: a fill id is booked
        at most once, whatever is re-delivered, and only a counted fill is taken back."""
        order = self.lc.order
        if outcome.reversed_fill is not None:
            taken = outcome.reversed_fill
            assert self.booked.pop(taken.fill_id) == taken
            side, back = reversal(order.side, taken)
            self.positions.book(order.client_order_id, order.symbol, side, back, reversal=True)
        if outcome.booked_fill is not None:
            fill = outcome.booked_fill
            assert outcome.applied
            assert fill.fill_id not in self.booked
            self.booked[fill.fill_id] = fill
            self.positions.book(order.client_order_id, order.symbol, order.side, fill)

    def _fill(self, fill: Fill) -> EventOutcome:
        self.sent_fills.append(fill)
        outcome = self._venue(EventKind.FILL, fill=fill)
        if outcome.applied:
            assert outcome.booked_fill == fill
        return outcome

    # -- local actions --------------------------------------------------------------------------

    @rule()
    def submit(self) -> None:
        self._local("submit")

    @rule()
    def request_cancel(self) -> None:
        self._local("request_cancel")

    @rule(reason=st.sampled_from([None, ReasonCode.ADAPTER_ERROR]))
    def fail(self, reason: ReasonCode | None) -> None:
        self._local("fail", reason_code=reason)

    @rule(
        how=st.sampled_from(["up", "down", "at_filled", "below_filled", "same", "none"]),
        step=quantities,
        price=st.none() | prices,
    )
    def request_replace(self, how: str, step: Decimal, price: Decimal | None) -> None:
        order = self.lc.order
        filled = order.filled_quantity
        quantity = {
            "up": order.quantity + step,
            # above filled, below the quantity in force, on the quantity grid
            "down": filled + max(TICK, ((order.quantity - filled) / 2).quantize(TICK, ROUND_DOWN)),
            "at_filled": filled,
            "below_filled": filled - TICK,
            "same": order.quantity,
            "none": None,
        }[how]
        replace = self.lc.replace_request(quantity=quantity, limit_price=price)
        state = order.state
        if self._local("request_replace", replace=replace):
            assert self.lc.order.state is OrderState.PENDING_REPLACE
            assert self.lc.pending_replace == replace
            assert replace.quantity > filled
            assert replace.orig_client_order_id == order.current_client_order_id
        else:
            assert (
                state not in (OrderState.ACKNOWLEDGED, OrderState.PARTIALLY_FILLED)
                or replace.quantity <= filled
                or (replace.quantity, replace.limit_price) == (order.quantity, order.limit_price)
                or (order.limit_price is None) != (replace.limit_price is None)
            )

    # -- venue events -------------------------------------------------------------------------

    @rule(kind=st.sampled_from([EventKind.ACK, EventKind.CANCEL_ACK, EventKind.CANCEL_REJECT]))
    def venue_event(self, kind: EventKind) -> None:
        self._venue(kind)

    @rule()
    def expire(self) -> None:
        self._venue(EventKind.EXPIRE)

    @rule(reason=st.sampled_from([None, ReasonCode.ADAPTER_REJECTED]))
    def reject(self, reason: ReasonCode | None) -> None:
        filled = self.lc.order.filled_quantity
        state = self.lc.order.state
        outcome = self._venue(EventKind.REJECT, reason_code=reason)
        # A venue cannot reject what it executed: a contradiction, whatever the state.
        ended = state in (OrderState.REJECTED, OrderState.FAILED)
        if filled and not ended:
            assert outcome.reason_code is ReasonCode.VENUE_CONTRADICTION

    @rule(kind=st.sampled_from([EventKind.REPLACE_ACK, EventKind.REPLACE_REJECT]))
    def replace_answer(self, kind: EventKind) -> None:
        pending, state = self.lc.pending_replace, self.lc.order.state
        filled, quantity = self.lc.order.filled_quantity, self.lc.order.quantity
        outcome = self._venue(kind)
        order = self.lc.order
        answered = pending is not None and (
            state in (OrderState.PENDING_REPLACE, OrderState.PENDING_CANCEL)
            or (state is OrderState.FILLED and kind is EventKind.REPLACE_ACK)
        )
        if not answered:
            assert not outcome.applied
            return
        assert pending is not None
        assert outcome.applied
        assert self.lc.pending_replace is None
        assert order.filled_quantity == filled
        if kind is EventKind.REPLACE_REJECT:
            assert order.quantity == quantity
            back = (
                OrderState.FILLED
                if filled >= quantity
                else OrderState.PARTIALLY_FILLED
                if filled
                else OrderState.ACKNOWLEDGED
            )
            assert order.state is (
                OrderState.PENDING_CANCEL if state is OrderState.PENDING_CANCEL else back
            )
            return
        # A raise a fill overtook re-opens the FILLED order (FIX C.1.c): the one move back
        # besides a bust or a correction.
        self.revised = state is OrderState.FILLED
        assert order.quantity == max(pending.quantity, filled)  # FIX C.3.c past the fills
        assert order.limit_price == pending.limit_price
        assert order.current_client_order_id == pending.new_client_order_id
        if filled >= pending.quantity:
            assert order.state is OrderState.FILLED
        elif state is OrderState.PENDING_CANCEL:
            assert order.state is OrderState.PENDING_CANCEL
        else:
            assert order.state is (
                OrderState.PARTIALLY_FILLED if filled else OrderState.ACKNOWLEDGED
            )

    @rule(
        fill_id=fill_ids,
        qty=st.one_of(st.sampled_from(["rest", "over"]), quantities),
        price=prices,
        fee=fees,
    )
    def fill(self, fill_id: str, qty: object, price: Decimal, fee: Decimal) -> None:
        order = self.lc.order
        open_ = order.quantity - order.filled_quantity
        if qty == "rest":
            quantity = open_ if open_ > 0 else Decimal(1)
        elif qty == "over":
            quantity = open_ + TICK
        else:
            quantity = qty  # type: ignore[assignment]
        submitted = self.lc.submitted
        outcome = self._fill(Fill(fill_id, quantity, price, fee))
        if quantity > open_:  # beyond the quantity in force, on every path
            assert not outcome.applied
        if submitted and order.state in FINAL_ORDER_STATES and outcome.applied:
            # a late fill within the quantity: booked, counted, flagged
            assert outcome.reason_code is ReasonCode.FILL_AFTER_FINAL
            assert self.lc.order.state is order.state
            assert fill_id in {f.fill_id for f in self.lc.late_fills}

    @rule(data=st.data())
    def redeliver(self, data: st.DataObject) -> None:
        if self.sent_fills:
            again = data.draw(st.sampled_from(self.sent_fills))
            self._fill(again)

    def _named(self, data: st.DataObject, target: str) -> str:
        """A fill id a bust or correction names: a counted fill, a retired one, or none."""
        counted = [f.fill_id for f in self.lc.fills]
        retired = [f.fill_id for f in self.lc.retired_fills]
        if target == "counted" and counted:
            return data.draw(st.sampled_from(counted))
        if target == "retired" and retired:
            return data.draw(st.sampled_from(retired))
        return data.draw(st.sampled_from(["f-unknown", *(f"f{i}" for i in range(8))]))

    @rule(named=st.sampled_from(["counted", "counted", "retired", "unknown"]), data=st.data())
    def trade_bust(self, named: str, data: st.DataObject) -> None:
        ref = self._named(data, named)
        counted = {f.fill_id: f for f in self.lc.fills}
        retired = {f.fill_id for f in self.lc.retired_fills}
        filled = self.lc.order.filled_quantity
        submitted = self.lc.submitted
        outcome = self._venue(EventKind.TRADE_BUST, exec_ref_id=ref)
        if not submitted:
            assert not outcome.applied
        elif ref in counted:
            assert outcome.applied
            assert outcome.reversed_fill == counted[ref]
            assert self.lc.order.filled_quantity == filled - counted[ref].quantity
        elif ref in retired:  # busted or corrected already
            assert outcome.outcome is AuditOutcome.DUPLICATE
        else:
            assert outcome.reason_code is ReasonCode.TRADE_UNKNOWN_FILL

    @rule(
        named=st.sampled_from(["counted", "counted", "counted", "retired", "unknown"]),
        how=st.sampled_from(["up", "down", "complete", "overfill", "same"]),
        new_id=st.sampled_from(["fresh", "fresh", "pool"]),
        price=st.none() | prices,
        fee=fees,
        data=st.data(),
    )
    def trade_correct(
        self,
        named: str,
        how: str,
        new_id: str,
        price: Decimal | None,
        fee: Decimal,
        data: st.DataObject,
    ) -> None:
        ref = self._named(data, named)
        order = self.lc.order
        counted = {f.fill_id: f for f in self.lc.fills}
        old = counted.get(ref) or Fill(ref, Decimal(1), Decimal(1))
        room = order.quantity - order.filled_quantity + old.quantity  # what the fill may be
        quantity = {
            "up": min(old.quantity + TICK, room),
            "down": max(old.quantity - TICK, TICK),
            "complete": room,
            "overfill": room + TICK,
            "same": old.quantity,
        }[how]
        self.corrections += 1
        fill_id = {
            "fresh": f"c{self.corrections}",
            "pool": data.draw(fill_ids.filter(lambda i: i != ref)),
        }[new_id]
        corrected = Fill(fill_id, quantity, old.price if price is None else price, fee)
        taken = {*counted, *(f.fill_id for f in self.lc.retired_fills)}
        conflicts = fill_id != ref and fill_id in taken
        submitted = self.lc.submitted
        outcome = self._venue(EventKind.TRADE_CORRECT, exec_ref_id=ref, fill=corrected)
        if submitted and ref in counted and not conflicts and quantity > room:
            assert outcome.reason_code is ReasonCode.FILL_OVERFILL
        if outcome.applied:
            assert outcome.reversed_fill == counted[ref]
            assert outcome.booked_fill == corrected
            assert corrected in self.lc.fills
            if how == "complete":
                assert self.lc.order.state in FINAL_ORDER_STATES

    # -- invariants -----------------------------------------------------------------------------

    @invariant()
    def never_overfilled_and_fills_add_up(self) -> None:
        order = self.lc.order
        counted = sum((f.quantity for f in self.lc.fills), Decimal(0))
        assert order.filled_quantity == counted <= order.quantity
        assert order.fees == sum((f.fee for f in self.lc.fills), Decimal(0))
        assert {f.fill_id for f in self.lc.fills} == set(self.booked)
        assert {f.fill_id for f in self.lc.late_fills} <= set(self.booked)

    @invariant()
    def leaves_are_zero_once_done(self) -> None:
        order = self.lc.order
        done = order.state in FINAL_ORDER_STATES

        assert order.remaining_quantity == (0 if done else order.quantity - order.filled_quantity)

    @invariant()
    def average_price_is_that_of_the_counted_fills(self) -> None:
        fills = self.lc.fills
        average = self.lc.order.average_fill_price
        if not fills:
            assert average is None
            return
        exact = sum(f.price * f.quantity for f in fills) / sum(f.quantity for f in fills)
        assert average is not None
        assert abs(average - exact) <= exact * Decimal("1e-20")

    @invariant()
    def position_is_the_signed_sum_of_the_counted_fills(self) -> None:
        order = self.lc.order
        position = self.positions.get(order.symbol)

        assert position.quantity == signed(
            order.side, sum((f.quantity for f in self.lc.fills), Decimal(0))
        )

    @invariant()
    def moves_backwards_only_by_a_bust_or_correction(self) -> None:
        state, filled = self.lc.order.state, self.lc.order.filled_quantity
        assert state is self.lc.current_state_value
        if not self.revised:
            assert filled >= self.previous_filled
            if self.previous_state in FINAL_ORDER_STATES:
                # a filled order's quantity may be raised (FIX C.1.c): it re-opens that way
                raised = (self.previous_state, state) == (
                    OrderState.FILLED,
                    OrderState.PENDING_REPLACE,
                )
                assert state is self.previous_state or raised
        elif state is not self.previous_state:
            # out of FILLED (the one way back) or into it, or the bust of the last fill
            assert OrderState.FILLED in (self.previous_state, state) or (
                self.previous_state,
                state,
            ) == (OrderState.PARTIALLY_FILLED, OrderState.ACKNOWLEDGED)
        if self.previous_state is not OrderState.CREATED:
            assert state is not OrderState.CREATED
        if filled > 0:
            assert state not in (OrderState.SUBMITTED, OrderState.ACKNOWLEDGED)
        if state is OrderState.PENDING_REPLACE:  # the replace may outlive it: its answer counts
            assert self.lc.pending_replace is not None
        self.previous_state, self.previous_filled = state, filled

    @invariant()
    def one_record_per_event_and_chain_verifies(self) -> None:
        records = self.audit.records[1:]  # after the intake record
        assert len(records) == self.events
        assert [r.seq for r in records] == list(range(2, self.events + 2))
        assert sum(r.outcome is AuditOutcome.APPLIED for r in records) == self.applied
        assert self.audit.verify_chain().ok

    @invariant()
    def the_trail_rebuilds_the_order_and_the_position(self) -> None:
        order = self.lc.order
        rebuilt = replay(self.audit.records)
        again = rebuilt.orders[order.client_order_id]
        assert (again.state, again.filled_quantity, again.quantity) == (
            order.state,
            order.filled_quantity,
            order.quantity,
        )
        assert again.fills == self.lc.fills
        assert again.retired_fills == self.lc.retired_fills
        assert again.late_fills == self.lc.late_fills
        assert again.pending_replace == self.lc.pending_replace  # it may outlive PENDING_REPLACE
        assert rebuilt.positions == self.positions.snapshot()


TestOrderLifecycleStateful = OrderLifecycleMachine.TestCase


def test_a_fill_named_like_a_reversal_is_booked() -> None:
    """A fill whose id happens to be a busted fill's id plus "/reversed" still moves the
    position as the order counts it."""
    lc = OrderLifecycle(order_for(make_intent(quantity=Decimal(10))), in_memory_audit())
    lc.send("submit")
    positions = PositionLedger()

    def book(outcome: EventOutcome) -> None:
        order = lc.order
        if outcome.reversed_fill is not None:
            side, back = reversal(order.side, outcome.reversed_fill)
            positions.book(order.client_order_id, order.symbol, side, back, reversal=True)
        if outcome.booked_fill is not None:
            positions.book(order.client_order_id, order.symbol, order.side, outcome.booked_fill)

    def fill(event_id: str, fill_id: str, quantity: int) -> ExecutionEvent:
        return ExecutionEvent(
            EventKind.FILL,
            event_id,
            lc.client_order_id,
            lc.correlation_id,
            EPOCH,
            fill=Fill(fill_id, quantity, 100),
        )

    book(lc.apply(fill("e1", "f1", 4)))
    book(lc.apply(ExecutionEvent.bust(lc.order, "e2", EPOCH, "f1")))
    book(lc.apply(fill("e3", "f1/reversed", 3)))

    assert positions.get(lc.order.symbol).quantity == lc.order.filled_quantity == 3


@pytest.mark.parametrize("pending", ["request_cancel", "request_replace"])
def test_a_reasonless_reject_of_a_filled_pending_order_is_a_flagged_contradiction(
    pending: str,
) -> None:
    """A REJECT of an order with fills is a contradiction that flags it, with or without a
    reason code, while a cancel or replace is pending too."""
    lc = OrderLifecycle(order_for(make_intent(quantity=Decimal(10))), in_memory_audit())
    lc.send("submit")
    lc.apply(
        ExecutionEvent(
            EventKind.FILL,
            "e1",
            lc.client_order_id,
            lc.correlation_id,
            EPOCH,
            fill=Fill("f1", 4, 100),
        )
    )
    if pending == "request_cancel":
        lc.send("request_cancel")
    else:
        lc.send("request_replace", replace=lc.replace_request(quantity=Decimal(20)))
    outcome = lc.apply(ExecutionEvent.of_kind(EventKind.REJECT, lc.order, "e2", EPOCH))

    assert outcome.reason_code is ReasonCode.VENUE_CONTRADICTION
    assert ReasonCode.VENUE_CONTRADICTION in lc.order.recon_flags
