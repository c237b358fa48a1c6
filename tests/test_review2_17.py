"""
Hostile review 2 of issue 17: a durable orchestrator closed and reopened must come back with
the same ledgers and order internals, whatever was done before. Each test asserts the correct
behaviour and fails on the code as reviewed (found by a seeded random driver of the
orchestrator: submit, replace, cancel, venue events, expiry, reopen).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import attrs

from execfsm import (
    EventKind,
    ExecutionEvent,
    ExecutionOrchestrator,
    Fill,
    OrderState,
    ReasonCode,
    SimulatedVenue,
)
from execfsm.clock import EPOCH
from execfsm.fsm.audit import AuditOutcome
from execfsm.fsm.order import EventOutcome, OrderLifecycle
from execfsm.ledger.sqlite import SqliteStore
from execfsm.testing import paper_orchestrator
from execfsm.typing import OrderAdapter
from tests.recon_settings import RECOVERY_ONLY
from tests.test_replace import clock
from tests.test_review_17 import Silent, intent_of


def lifecycle(orch: ExecutionOrchestrator, cid: str) -> OrderLifecycle:
    """The order's lifecycle as the orchestrator holds it."""
    held = orch._services.orders.get(cid)
    assert held is not None
    return held


def state_after(outcome: EventOutcome) -> OrderState:
    assert outcome.order is not None
    return outcome.order.state


def reopened(db: Path, orch: ExecutionOrchestrator, venue: OrderAdapter) -> ExecutionOrchestrator:
    """Close `orch` and open a new orchestrator on the same file."""
    orch.close()
    store = SqliteStore(db)
    return paper_orchestrator(venue, clock=clock(), store=store, reconciliation=RECOVERY_ONLY)


class TestReopen:
    def test_a_cancel_reject_answering_the_expiry_sweep_leaves_a_store_that_reopens(
        self, tmp_path: Path
    ) -> None:
        """A GTD order expired by `expire_due` whose venue rejects the follow-up cancel (the
        simulated venue no longer holds it) leaves a store that reopens with the same orders."""
        db = tmp_path / "s.db"
        venue = SimulatedVenue(clock())
        orch = paper_orchestrator(venue, clock=clock(), store=SqliteStore(db))
        expire_time = EPOCH + timedelta(seconds=1)
        order = orch.submit_intent(intent_of(1, time_in_force="GTD", expire_time=expire_time)).order
        assert order is not None
        venue.cancel(order)  # the venue dropped it without telling us
        orch.expire_due(EPOCH + timedelta(seconds=2))  # its cancel: CANCEL_REJECT, no reason
        before = orch.get_order_ledger_snapshot()
        assert before[0].state is OrderState.EXPIRED

        again = reopened(db, orch, venue)  # StoreError: refused record carries no reason code

        assert again.get_order_ledger_snapshot() == before

    def test_a_stray_replace_reject_does_not_lose_the_pending_replace_across_a_reopen(
        self, tmp_path: Path
    ) -> None:
        """A REPLACE_REJECT naming another replace (a repeat) leaves the pending replace pending
        after a reopen too, so the venue's REPLACE_ACK of it still applies."""
        db = tmp_path / "s.db"
        orch = paper_orchestrator(Silent(), clock=clock(), store=SqliteStore(db))
        order = orch.submit_intent(intent_of(1)).order
        assert order is not None
        cid = order.client_order_id
        assert orch.replace(cid, quantity=Decimal(2)).applied
        stray = attrs.evolve(
            ExecutionEvent.of_kind(EventKind.REPLACE_REJECT, order, "e1", EPOCH),
            causation_id=f"{cid}.r9",
        )
        assert orch.handle_event(stray).reason_code is ReasonCode.EVENT_REPEATED
        pending = lifecycle(orch, cid).pending_replace
        assert pending is not None

        again = reopened(db, orch, Silent())

        assert lifecycle(again, cid).pending_replace == pending
        ack = attrs.evolve(
            ExecutionEvent.of_kind(EventKind.REPLACE_ACK, order, "e2", EPOCH),
            causation_id=pending.new_client_order_id,
        )
        assert again.handle_event(ack).applied
        assert (order_now := again.order(cid)) is not None
        assert order_now.quantity == Decimal(2)

    def test_a_replace_overtaken_by_a_fill_then_busted_keeps_its_pending_replace_across_a_reopen(
        self, tmp_path: Path
    ) -> None:
        """An order a fill filled while its replace was out, reopened by a bust, then sent a
        REPLACE_REJECT, has the same pending replace after a reopen as before it."""
        db = tmp_path / "s.db"
        orch = paper_orchestrator(Silent(), clock=clock(), store=SqliteStore(db))
        order = orch.submit_intent(intent_of(1)).order
        assert order is not None
        cid = order.client_order_id
        assert orch.replace(cid, quantity=Decimal(2)).applied  # the venue does not answer yet
        fill = ExecutionEvent.of_fill(order, "e1", EPOCH, Fill("f1", Decimal(1), Decimal(50000)))
        assert state_after(orch.handle_event(fill)) is OrderState.FILLED  # overtook the replace
        assert orch.handle_event(ExecutionEvent.bust(order, "e2", EPOCH, "f1")).applied
        orch.handle_event(ExecutionEvent.of_kind(EventKind.REPLACE_REJECT, order, "e3", EPOCH))
        live = lifecycle(orch, cid)
        before = (live.order.state, live.pending_replace)

        again = reopened(db, orch, Silent())

        after = lifecycle(again, cid)
        assert (after.order.state, after.pending_replace) == before

    def test_a_cancel_of_a_cancelled_order_is_answered_alike_before_and_after_a_reopen(
        self, tmp_path: Path
    ) -> None:
        """A cancel of an order already CANCELLED is refused the same way after a reopen as
        before it, not raised as an order that was never dispatched."""
        db = tmp_path / "s.db"
        orch = paper_orchestrator(Silent(), clock=clock(), store=SqliteStore(db))
        order = orch.submit_intent(intent_of(1)).order
        assert order is not None
        cid = order.client_order_id
        cancelled = ExecutionEvent.of_kind(EventKind.CANCEL_ACK, order, "e1", EPOCH)
        assert state_after(orch.handle_event(cancelled)) is OrderState.CANCELLED
        before = orch.cancel(cid)
        assert (before.outcome, before.reason_code) == (
            AuditOutcome.REFUSED,
            ReasonCode.ILLEGAL_TRANSITION,
        )

        again = reopened(db, orch, Silent())

        after = again.cancel(cid)  # ContractViolation: no dispatched order has id ...
        assert (after.outcome, after.reason_code) == (before.outcome, before.reason_code)
