"""
Random event sequences against OrderLifecycle, with the lifecycle's invariants after each step.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

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
from execfsm.clock import EPOCH
from execfsm.contracts import FINAL_ORDER_STATES
from execfsm.fsm.order import EventOutcome
from execfsm.testing import in_memory_audit, order_for
from tests.strategies import fees, fill_ids, intents, prices, quantities


class OrderLifecycleMachine(RuleBasedStateMachine):
    """Drive one order with any mix of local actions and venue events, duplicates included."""

    @initialize(intent=intents)
    def start(self, intent: object) -> None:
        self.audit = in_memory_audit()
        self.lc = OrderLifecycle(order_for(intent), self.audit)  # type: ignore[arg-type]
        self.events = 0
        self.applied = 0
        self.booked: dict[str, Fill] = {}
        self.sent_fills: list[Fill] = []
        self.previous_state = self.lc.order.state
        self.previous_filled = Decimal(0)

    def _venue(self, kind: EventKind, **fields: object) -> EventOutcome:
        self.events += 1
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
        return outcome

    def _local(self, name: str, **kwargs: object) -> None:
        self.events += 1
        try:
            self.lc.send(name, **kwargs)
        except (IllegalTransition, ContractViolation):
            return
        self.applied += 1

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
        kind=st.sampled_from(
            [EventKind.ACK, EventKind.CANCEL_ACK, EventKind.CANCEL_REJECT, EventKind.EXPIRE]
        )
    )
    def venue_event(self, kind: EventKind) -> None:
        self._venue(kind)

    @rule(reason=st.sampled_from([None, ReasonCode.ADAPTER_REJECTED]))
    def reject(self, reason: ReasonCode | None) -> None:
        self._venue(EventKind.REJECT, reason_code=reason)

    @rule(fill_id=fill_ids, qty=st.one_of(st.just("rest"), quantities), price=prices, fee=fees)
    def fill(self, fill_id: str, qty: object, price: Decimal, fee: Decimal) -> None:
        rest = self.lc.order.remaining_quantity
        quantity = rest if qty == "rest" and rest > 0 else qty if qty != "rest" else Decimal(1)
        sent = Fill(fill_id, quantity, price, fee)  # type: ignore[arg-type]
        self.sent_fills.append(sent)
        self._book(sent, self._venue(EventKind.FILL, fill=sent))

    @rule(data=st.data())
    def redeliver(self, data: st.DataObject) -> None:
        if self.sent_fills:
            again = data.draw(st.sampled_from(self.sent_fills))
            self._book(again, self._venue(EventKind.FILL, fill=again))

    def _book(self, sent: Fill, outcome: EventOutcome) -> None:
        """A fill id is booked at most once, whatever is re-delivered."""
        if outcome.applied:
            assert sent.fill_id not in self.booked
            assert outcome.booked_fill == sent
            self.booked[sent.fill_id] = sent

    @invariant()
    def fills_add_up_and_never_overfill(self) -> None:
        order = self.lc.order
        live = sum((f.quantity for f in self.lc.fills), Decimal(0))
        assert order.filled_quantity == live <= order.quantity
        assert {f.fill_id for f in (*self.lc.fills, *self.lc.late_fills)} == set(self.booked)

    @invariant()
    def never_moves_backwards(self) -> None:
        state, filled = self.lc.order.state, self.lc.order.filled_quantity
        assert state is self.lc.current_state_value
        assert filled >= self.previous_filled
        if self.previous_state in FINAL_ORDER_STATES:
            assert state is self.previous_state
        if self.previous_state is not OrderState.CREATED:
            assert state is not OrderState.CREATED
        if filled > 0:
            assert state not in (OrderState.SUBMITTED, OrderState.ACKNOWLEDGED)
        self.previous_state, self.previous_filled = state, filled

    @invariant()
    def one_record_per_event_and_chain_verifies(self) -> None:
        records = self.audit.records
        assert len(records) == self.events
        assert [r.seq for r in records] == list(range(1, self.events + 1))
        assert sum(r.outcome is AuditOutcome.APPLIED for r in records) == self.applied
        assert self.audit.verify_chain().ok


TestOrderLifecycleStateful = OrderLifecycleMachine.TestCase
