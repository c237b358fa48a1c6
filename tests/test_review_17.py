"""
Hostile review of issue 17 (amend, busts and corrections, time in force): each test asserts
the correct behaviour and fails on the code as reviewed.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal
from pathlib import Path
from typing import Any

from execfsm import (
    EventKind,
    ExecutionEvent,
    ExecutionOrchestrator,
    Fill,
    Order,
    OrderState,
    ReasonCode,
)
from execfsm.clock import EPOCH
from execfsm.errors import AuditWriteError
from execfsm.ledger.audit import AuditLog
from execfsm.ledger.replay import replay
from execfsm.ledger.sqlite import SqliteStore
from execfsm.risk import ConditionalRiskHook
from execfsm.testing import paper_orchestrator
from tests.test_durability import intent
from tests.test_replace import Scripted, clock, resting


class Silent(Scripted):
    """An amending venue that answers neither cancels nor replaces at once: the test says
    what the venue says, event by event."""

    name = "silent"

    def cancel(self, order: Order) -> tuple[ExecutionEvent, ...]:
        self.calls.append("cancel")
        return ()

    def replace(self, order: Order, request: Any) -> tuple[ExecutionEvent, ...]:
        self.calls.append("replace")
        self.requests.append(request)
        return ()


def intent_of(n: int, **kw: Any) -> Any:
    """A LIMIT buy at 50000 (resting at the simulated market's 60000)."""
    return intent(n, order_type="LIMIT", limit_price=Decimal(50000), **kw)


def durable(tmp_path: Path, venue: Any = None) -> ExecutionOrchestrator:
    return paper_orchestrator(
        venue if venue is not None else Silent(),
        clock=clock(),
        store=SqliteStore(tmp_path / "s.db"),
    )


def fill(order: Order, fill_id: str, quantity: str, price: str = "100") -> ExecutionEvent:
    return ExecutionEvent.of_fill(order, f"e-{fill_id}", EPOCH, Fill(fill_id, quantity, price))


def position(orch: ExecutionOrchestrator) -> Decimal:
    held = orch.get_position_ledger_snapshot().get("BTC/EUR")
    return Decimal(0) if held is None else held.quantity


def now(orch: ExecutionOrchestrator, order: Order) -> Order:
    current = orch.order(order.client_order_id)
    assert current is not None
    return current


class TestReversalIdsCollideWithVenueFillIds:
    def test_a_correction_whose_new_fill_id_is_the_reversal_id_is_booked(
        self, tmp_path: Path
    ) -> None:
        """A correction whose new fill id is `<ref>/reversed` is booked in the position, not
        swallowed as an already-booked reversal."""
        orch = durable(tmp_path)
        order = resting(orch, quantity=Decimal(10))
        orch.handle_event(fill(order, "F1", "5"))

        outcome = orch.handle_event(
            ExecutionEvent.correction(order, "c1", EPOCH, "F1", Fill("F1/reversed", "4", "100"))
        )

        assert outcome.applied
        assert now(orch, order).filled_quantity == Decimal(4)
        assert position(orch) == Decimal(4)  # is 0: the corrected 4 were never booked

    def test_a_venue_fill_id_ending_in_reversed_does_not_swallow_a_later_bust(
        self, tmp_path: Path
    ) -> None:
        """A genuine fill named `F1/reversed`, then a bust of F1: the position is the order's
        filled quantity (2), not 7 with the bust's reversal silently dropped."""
        orch = durable(tmp_path)
        order = resting(orch, quantity=Decimal(10))
        orch.handle_event(fill(order, "F1", "5"))
        orch.handle_event(fill(order, "F1/reversed", "2"))

        outcome = orch.handle_event(ExecutionEvent.bust(order, "b1", EPOCH, "F1"))

        assert outcome.applied
        assert now(orch, order).filled_quantity == Decimal(2)
        assert position(orch) == Decimal(2)  # is 7: the reversal's key was already booked
        assert replay(orch.get_audit_log_snapshot()).positions["BTC/EUR"].quantity == Decimal(2)

    def test_a_fill_arriving_under_a_busted_fills_reversal_id_is_booked(
        self, tmp_path: Path
    ) -> None:
        """After a bust of F1, a new execution whose id happens to be `F1/reversed` is counted
        by the order and must be booked in the position too."""
        orch = durable(tmp_path)
        order = resting(orch, quantity=Decimal(10))
        orch.handle_event(fill(order, "F1", "5"))
        orch.handle_event(ExecutionEvent.bust(order, "b1", EPOCH, "F1"))

        outcome = orch.handle_event(fill(order, "F1/reversed", "2"))

        assert outcome.applied
        assert now(orch, order).filled_quantity == Decimal(2)
        assert position(orch) == Decimal(2)  # is 0: the order counts 2 the ledger never booked


class FlakyAudit(AuditLog):
    """An audit log whose next write fails once `armed` (the disk went away for a moment)."""

    armed = False

    def append_fields(self, *fields: Any) -> int:
        if self.armed:
            self.armed = False
            raise OSError("audit device unavailable")
        return super().append_fields(*fields)


def cancelled_with_a_fill() -> tuple[ExecutionOrchestrator, FlakyAudit, Order]:
    """A CANCELLED order of 10 with fill F1 of 5 booked, on a flaky audit log."""
    c = clock()
    audit = FlakyAudit(c)
    orch = paper_orchestrator(Silent(), clock=c, audit=audit)
    order = resting(orch, quantity=Decimal(10))
    orch.handle_event(fill(order, "F1", "5"))
    orch.cancel(order.client_order_id)
    orch.handle_event(ExecutionEvent.of_kind(EventKind.CANCEL_ACK, order, "ca", EPOCH))
    assert now(orch, order).state is OrderState.CANCELLED
    return orch, audit, order


class TestAFailedAuditWriteOnADoneOrder:
    def test_a_bust_whose_record_failed_is_not_half_applied_and_can_be_retried(self) -> None:
        """A bust of a CANCELLED order's fill whose audit write fails changes nothing, so the
        venue's re-sent bust is applied (not answered DUPLICATE with the position still
        long the busted 5)."""
        orch, audit, order = cancelled_with_a_fill()
        bust = ExecutionEvent.bust(order, "b1", EPOCH, "F1")
        audit.armed = True
        with contextlib.suppress(AuditWriteError):
            orch.handle_event(bust)

        assert now(orch, order).filled_quantity == Decimal(5)  # is 0: retired, unaudited

        retried = orch.handle_event(bust)

        assert retried.applied  # is DUPLICATE: the bust is lost for good
        assert (now(orch, order).filled_quantity, position(orch)) == (Decimal(0), Decimal(0))

    def test_a_late_fill_whose_record_failed_is_booked_when_re_delivered(self) -> None:
        """A late fill on a CANCELLED order whose audit write fails is not counted, so its
        re-delivery is booked (not answered DUPLICATE with the position never booked)."""
        orch, audit, order = cancelled_with_a_fill()
        late = fill(order, "L1", "2")
        audit.armed = True
        with contextlib.suppress(AuditWriteError):
            orch.handle_event(late)

        retried = orch.handle_event(late)

        assert retried.applied  # is DUPLICATE: the order counts 7, the position 5
        assert (now(orch, order).filled_quantity, position(orch)) == (Decimal(7), Decimal(7))


class TestARepeatedReplaceAck:
    def test_a_re_delivered_replace_ack_does_not_accept_a_later_replace(self) -> None:
        """The venue's REPLACE_ACK of replace r1 (naming it, as FIX's ClOrdID does),
        re-delivered while replace r2 is pending, is a repeat: the order keeps r1's terms and
        stays PENDING_REPLACE, rather than taking r2's quantity the venue never accepted."""
        orch = paper_orchestrator(Silent(), clock=clock())
        order = resting(orch, quantity=Decimal(10))
        orch.replace(order.client_order_id, quantity=Decimal(6))
        r1 = f"{order.client_order_id}.r1"  # the venue names the replace it answers (ClOrdID)
        ack_of_r1 = ExecutionEvent(
            EventKind.REPLACE_ACK,
            "ra-r1",
            order.client_order_id,
            order.correlation_id,
            EPOCH,
            causation_id=r1,
        )
        assert orch.handle_event(ack_of_r1).applied
        orch.replace(order.client_order_id, quantity=Decimal(20))
        assert now(orch, order).state is OrderState.PENDING_REPLACE

        again = orch.handle_event(ack_of_r1)

        assert not again.applied  # is APPLIED: r2's 20 taken on r1's repeated ack
        current = now(orch, order)
        assert (current.state, current.quantity) == (OrderState.PENDING_REPLACE, Decimal(6))


class TestFillOrKill:
    def test_a_partial_fill_of_a_fok_order_is_flagged(self) -> None:
        """A FOK order filled 5 of 10 and then cancelled is impossible (fill or kill is all
        or nothing): the venue and we disagree, so the order is flagged for reconciliation."""
        orch = paper_orchestrator(Silent(), clock=clock())
        result = orch.submit_intent(intent_of(1, time_in_force="FOK", quantity=Decimal(10)))
        order = result.order
        assert order is not None

        orch.handle_event(fill(order, "F1", "5"))
        orch.handle_event(ExecutionEvent.of_kind(EventKind.CANCEL_ACK, order, "ca", EPOCH))

        current = now(orch, order)
        assert (current.state, current.filled_quantity) == (OrderState.CANCELLED, Decimal(5))
        assert current.recon_flags != ()  # is (): a FOK partly filled passes unremarked

    def test_an_immediate_order_cannot_be_amended(self) -> None:
        """An IOC order has no resting remainder to amend: a replace is refused by the machine
        and nothing is sent to the venue."""
        venue = Silent()
        orch = paper_orchestrator(venue, clock=clock())
        result = orch.submit_intent(intent_of(1, time_in_force="IOC", quantity=Decimal(10)))
        order = result.order
        assert order is not None

        outcome = orch.replace(order.client_order_id, quantity=Decimal(20))

        assert not outcome.applied
        assert "replace" not in venue.calls  # the replace was sent for an IOC order


class TestAmendAndTheRiskGate:
    def test_a_replace_upward_is_refused_while_the_kill_switch_is_active(self) -> None:
        """With the kill switch active no new exposure reaches a venue: a replace raising an
        order from 10 to 10,000 is refused and not sent."""
        venue = Scripted()
        orch = paper_orchestrator(venue, clock=clock())
        order = resting(orch, quantity=Decimal(10))
        orch.activate_kill_switch("halt")

        outcome = orch.replace(order.client_order_id, quantity=Decimal(10_000))

        assert not outcome.applied  # is APPLIED: 10,000 acknowledged at the venue
        assert "replace" not in venue.calls
        assert now(orch, order).quantity == Decimal(10)

    def test_a_replace_beyond_the_risk_limits_is_refused(self) -> None:
        """A replace to a quantity the risk hook blocks for a new order (max_quantity 10,
        max_notional 1,000,000) is refused too, not sent around the risk gate."""
        venue = Scripted()
        risk = ConditionalRiskHook(max_quantity=Decimal(10), max_notional=Decimal(1_000_000))
        orch = paper_orchestrator(venue, clock=clock(), risk_hook=risk)
        order = resting(orch, quantity=Decimal(10))

        outcome = orch.replace(order.client_order_id, quantity=Decimal(10_000))

        assert not outcome.applied  # is APPLIED: 500,000,000 of notional, unchecked
        assert "replace" not in venue.calls
        assert now(orch, order).quantity == Decimal(10)


class TestABustRecomputesThePosition:
    def test_a_bust_reverses_the_fill_and_total_pnl_is_as_if_it_never_happened(self) -> None:
        """Buy 5 @ 100 and 5 @ 200, then the first is busted: the position holds 5, fees are
        refunded, and at any mark its total PnL (realised plus unrealised) is what 5 @ 200
        alone gives; the realised/unrealised split is the reversal's (README: a bust books
        the reverse of the fill at its price)."""
        orch = paper_orchestrator(Silent(), clock=clock())
        order = resting(orch, quantity=Decimal(10))
        orch.handle_event(fill(order, "F1", "5", "100"))
        orch.handle_event(fill(order, "F2", "5", "200"))

        orch.handle_event(ExecutionEvent.bust(order, "b1", EPOCH, "F1"))

        held = orch.get_position_ledger_snapshot()["BTC/EUR"]
        assert held.quantity == Decimal(5)
        assert held.average_cost is not None
        for mark in (Decimal(50), Decimal(200), Decimal(333)):
            total = held.realized_pnl + held.quantity * (mark - held.average_cost)
            assert total == Decimal(5) * (mark - Decimal(200))


class TestRestartsAfterRevisions:
    def test_an_order_a_bust_reopened_after_a_restart_can_be_cancelled(
        self, tmp_path: Path
    ) -> None:
        """A FILLED order recovered from the store, then busted back to ACKNOWLEDGED (live
        again), can be cancelled at its venue, as it could before the restart."""
        first = durable(tmp_path)
        order = resting(first, quantity=Decimal(10))
        first.handle_event(fill(order, "F1", "10"))
        assert now(first, order).state is OrderState.FILLED
        first._services.store.close()

        venue = Silent()
        second = durable(tmp_path, venue)
        assert second.handle_event(ExecutionEvent.bust(order, "b1", EPOCH, "F1")).applied
        assert now(second, order).state is OrderState.ACKNOWLEDGED

        outcome = second.cancel(order.client_order_id)  # raises: "no dispatched order"

        assert outcome.applied
        assert "cancel" in venue.calls

    def test_a_filled_order_with_a_replace_out_is_in_doubt_after_a_restart(
        self, tmp_path: Path
    ) -> None:
        """A replace to 20 is out when fills complete the old 10 (FILLED, the venue's answer
        still to come); after a restart that answer may be lost, so the order is flagged
        REPLACE_OUTCOME_UNKNOWN (or listed in flight), as a PENDING_REPLACE one is."""
        first = durable(tmp_path)
        order = resting(first, quantity=Decimal(10))
        first.replace(order.client_order_id, quantity=Decimal(20))
        first.handle_event(fill(order, "F1", "10"))
        assert now(first, order).state is OrderState.FILLED
        first._services.store.close()

        second = durable(tmp_path)

        recovered = now(second, order)
        in_doubt = ReasonCode.REPLACE_OUTCOME_UNKNOWN in recovered.recon_flags
        listed = order.client_order_id in [o.client_order_id for o in second.recovery.in_flight]
        assert in_doubt or listed  # neither: the venue may be filling 10 more, unwatched
