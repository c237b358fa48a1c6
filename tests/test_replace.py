"""
Amend (cancel/replace) through the whole stack: the orchestrator's `replace`, the adapters'
`replace`, the write-ahead, venue failures, recovery of a replace acknowledged or in doubt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from execfsm import (
    EventKind,
    ExecutionEvent,
    ExecutionOrchestrator,
    Fill,
    Order,
    OrderState,
    ReasonCode,
    SimulatedVenue,
    SteppingClock,
)
from execfsm.clock import EPOCH
from execfsm.contracts import ReplaceRequest
from execfsm.errors import ContractViolation
from execfsm.fsm.audit import AuditOutcome
from execfsm.governance import MACHINES
from execfsm.governance.trail import verify_trail
from execfsm.ledger.replay import replay
from execfsm.ledger.sqlite import SqliteStore
from execfsm.testing import Fault, FaultyVenue, paper_orchestrator
from execfsm.typing import EventSink, ReplacingAdapter
from tests.test_durability import Crash, Venue, close, intent, session

Answer = Callable[[Order, ReplaceRequest], Sequence[ExecutionEvent]]


def clock() -> SteppingClock:
    return SteppingClock(EPOCH, timedelta(milliseconds=1))


class AckOnly:
    """An adapter that acknowledges every order, fills nothing, and cannot amend."""

    name = "ack-only"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def submit(self, order: Order, idempotency_key: str) -> Sequence[ExecutionEvent]:
        return (ExecutionEvent.ack(order, f"ack-{order.client_order_id}", EPOCH),)

    def cancel(self, order: Order) -> Sequence[ExecutionEvent]:
        self.calls.append("cancel")
        return (ExecutionEvent.of_kind(EventKind.CANCEL_ACK, order, "cxl", EPOCH),)

    def set_event_sink(self, sink: EventSink) -> None:
        pass


class Scripted(AckOnly):
    """An `AckOnly` that can amend: it records each request and answers as `answer` says
    (REPLACE_ACK by default)."""

    name = "scripted"

    def __init__(self, answer: Answer | None = None) -> None:
        super().__init__()
        self.requests: list[ReplaceRequest] = []
        self.answer = answer

    def replace(self, order: Order, request: ReplaceRequest) -> Sequence[ExecutionEvent]:
        self.calls.append("replace")
        self.requests.append(request)
        if self.answer is not None:
            return self.answer(order, request)
        event_id = f"rpl-{request.new_client_order_id}"
        return (ExecutionEvent.of_kind(EventKind.REPLACE_ACK, order, event_id, EPOCH),)


def resting(orch: ExecutionOrchestrator, n: int = 1, **kw: Any) -> Order:
    """A LIMIT buy of 1 BTC/EUR at 50000 (the simulated market is at 60000: it rests)."""
    terms: dict[str, Any] = {"order_type": "LIMIT", "limit_price": Decimal(50000)}
    terms.update(kw)
    result = orch.submit_intent(intent(n, **terms))
    assert result.order is not None
    assert result.order.state is OrderState.ACKNOWLEDGED
    return result.order


def now(orch: ExecutionOrchestrator, order: Order) -> Order:
    current = orch.order(order.client_order_id)
    assert current is not None
    return current


def trail_of(orch: ExecutionOrchestrator, order: Order) -> list[tuple[str, AuditOutcome]]:
    return [(r.event, r.outcome) for r in orch.audit_log.by_order(order.client_order_id)]


def faulty(*script: Fault) -> tuple[ExecutionOrchestrator, FaultyVenue]:
    c = clock()
    venue = FaultyVenue(SimulatedVenue(c), script=(Fault.NONE, *script))
    return paper_orchestrator(venue, clock=c), venue


class TestReplaceAgainstTheSimulatedVenue:
    @pytest.mark.parametrize("quantity", [Decimal(3), Decimal("0.4")])
    def test_replace_up_or_down_takes_the_new_quantity(self, quantity: Decimal) -> None:
        """A resting order replaced up or down is ACKNOWLEDGED with the new quantity, at the
        venue and in the ledger, under the next id of its chain."""
        orch = paper_orchestrator()
        order = resting(orch)

        outcome = orch.replace(order.client_order_id, quantity=quantity)

        assert outcome.applied
        assert outcome.order == now(orch, order)
        assert (outcome.order.state, outcome.order.quantity) == (OrderState.ACKNOWLEDGED, quantity)
        assert outcome.order.current_client_order_id == f"{order.client_order_id}.r1"
        assert trail_of(orch, order)[-3:] == [
            ("request_replace", AuditOutcome.APPLIED),
            ("replace_attempt", AuditOutcome.APPLIED),
            ("replace_ack", AuditOutcome.APPLIED),
        ]
        assert orch.audit_log.verify_chain().ok

    def test_a_price_amend_that_becomes_marketable_fills(self) -> None:
        """A new limit price through the market is acknowledged, then fills at once."""
        orch = paper_orchestrator()
        order = resting(orch)

        outcome = orch.replace(order.client_order_id, limit_price=Decimal(61000))

        assert outcome.applied
        assert outcome.order is not None
        assert (outcome.order.state, outcome.order.limit_price) == (
            OrderState.FILLED,
            Decimal(61000),
        )
        assert outcome.order.average_fill_price == Decimal(60000)
        assert orch.get_position_ledger_snapshot()["BTC/EUR"].quantity == Decimal(1)
        assert [e for e, _ in trail_of(orch, order)][-2:] == ["replace_ack", "fill"]

    def test_a_replace_the_venue_rejects_returns_the_order_unchanged(self) -> None:
        """A REPLACE_REJECT (the venue no longer holds the order) is returned REFUSED with
        ADAPTER_REJECTED, and the order is back ACKNOWLEDGED with its old terms."""
        c = clock()
        venue = SimulatedVenue(c)
        orch = paper_orchestrator(venue, clock=c)
        order = resting(orch)
        venue.cancel(order)  # the venue dropped it without telling us

        outcome = orch.replace(order.client_order_id, quantity=Decimal(2))

        assert (outcome.outcome, outcome.reason_code) == (
            AuditOutcome.REFUSED,
            ReasonCode.ADAPTER_REJECTED,
        )
        assert "no resting order" in outcome.detail
        assert outcome.order == now(orch, order)
        assert (outcome.order.state, outcome.order.quantity) == (
            OrderState.ACKNOWLEDGED,
            Decimal(1),
        )
        assert outcome.order.recon_flags == ()

    def test_an_unknown_order_raises(self) -> None:
        """A replace naming no dispatched order raises ContractViolation, as a cancel does."""
        orch = paper_orchestrator()

        with pytest.raises(ContractViolation) as caught:
            orch.replace("ord-ghost", quantity=Decimal(2))

        assert caught.value.reason is ReasonCode.EVENT_UNKNOWN_ORDER


class TestFillsRacingTheReplace:
    def test_a_fill_racing_the_replace_applies_against_the_old_terms(self) -> None:
        """A fill arriving before the REPLACE_ACK counts while PENDING_REPLACE; the ack then
        gives the new quantity, the fill kept."""
        orch, _ = faulty(Fault.FILL_BEFORE_REPLACE)
        order = resting(orch, quantity=Decimal(2))

        outcome = orch.replace(order.client_order_id, quantity=Decimal(3))

        assert outcome.applied
        assert outcome.order is not None
        assert (outcome.order.state, outcome.order.quantity, outcome.order.filled_quantity) == (
            OrderState.PARTIALLY_FILLED,
            Decimal(3),
            Decimal(1),
        )
        fill_record = orch.audit_log.by_order(order.client_order_id)[-2]
        assert (fill_record.event, fill_record.source) == ("fill", "PENDING_REPLACE")
        assert orch.get_position_ledger_snapshot()["BTC/EUR"].quantity == Decimal(1)

    def test_a_replace_the_fills_reach_exactly_leaves_the_order_filled(self) -> None:
        """A replace down to what racing fills reached leaves the order FILLED on the ack."""
        orch, _ = faulty(Fault.FILL_BEFORE_REPLACE)
        order = resting(orch, quantity=Decimal(2))

        outcome = orch.replace(order.client_order_id, quantity=Decimal(1))

        assert outcome.applied
        assert outcome.order is not None
        assert (outcome.order.state, outcome.order.quantity, outcome.order.filled_quantity) == (
            OrderState.FILLED,
            Decimal(1),
            Decimal(1),
        )
        assert outcome.order.remaining_quantity == 0

    def test_a_fill_delivered_while_the_replace_is_out_counts_against_the_old_terms(
        self,
    ) -> None:
        """A scripted venue delivering a fill through handle_event before its REPLACE_ACK:
        the fill applies in PENDING_REPLACE, the ack brings the new quantity."""
        orch: ExecutionOrchestrator

        def fill_first(order: Order, request: ReplaceRequest) -> Sequence[ExecutionEvent]:
            fill = Fill("race-1", Decimal("0.5"), Decimal(50000))
            orch.handle_event(ExecutionEvent.of_fill(order, "race", EPOCH, fill))
            return (ExecutionEvent.of_kind(EventKind.REPLACE_ACK, order, "rpl", EPOCH),)

        orch = paper_orchestrator(Scripted(fill_first))
        order = resting(orch)

        outcome = orch.replace(order.client_order_id, quantity=Decimal(2))

        assert outcome.order is not None
        assert (outcome.order.state, outcome.order.quantity, outcome.order.filled_quantity) == (
            OrderState.PARTIALLY_FILLED,
            Decimal(2),
            Decimal("0.5"),
        )


class TestRefusedLocally:
    def test_a_replace_below_what_is_filled_is_refused_and_nothing_sent(self) -> None:
        """A new quantity not above the filled quantity is refused by the machine's
        validator; the venue is not called and the order stays as it was."""
        venue = Scripted()
        orch = paper_orchestrator(venue)
        order = resting(orch)
        orch.handle_event(ExecutionEvent.of_fill(order, "f", EPOCH, Fill("f1", "0.6", "50000")))

        outcome = orch.replace(order.client_order_id, quantity=Decimal("0.6"))

        assert (outcome.outcome, outcome.reason_code) == (
            AuditOutcome.REFUSED,
            ReasonCode.VALIDATION_INVALID_QUANTITY,
        )
        assert venue.calls == []
        assert (now(orch, order).state, now(orch, order).quantity) == (
            OrderState.PARTIALLY_FILLED,
            Decimal(1),
        )

    def test_a_price_on_a_market_order_is_refused(self) -> None:
        """A limit price for a live MARKET order is refused, nothing sent."""
        venue = Scripted()
        orch = paper_orchestrator(venue)
        result = orch.submit_intent(intent(1))
        assert result.order is not None

        outcome = orch.replace(result.order.client_order_id, limit_price=Decimal(100))

        assert (outcome.outcome, outcome.reason_code) == (
            AuditOutcome.REFUSED,
            ReasonCode.VALIDATION_INVALID_PRICE,
        )
        assert venue.calls == []
        assert now(orch, result.order).state is OrderState.ACKNOWLEDGED

    @pytest.mark.parametrize(
        ("terms", "reason"),
        [
            ({"quantity": Decimal(1)}, ReasonCode.VALIDATION_INVALID_FIELD),
            ({"quantity": Decimal(-2)}, ReasonCode.VALIDATION_INVALID_QUANTITY),
        ],
    )
    def test_terms_that_change_nothing_or_are_invalid_are_refused(
        self, terms: dict[str, Decimal], reason: ReasonCode
    ) -> None:
        """A replace that changes nothing, or to a quantity no order could have, is refused."""
        venue = Scripted()
        orch = paper_orchestrator(venue)
        order = resting(orch)

        outcome = orch.replace(order.client_order_id, **terms)

        assert (outcome.outcome, outcome.reason_code) == (AuditOutcome.REFUSED, reason)
        assert venue.calls == []

    def test_a_replace_raising_a_filled_order_is_sent_and_the_venue_answers(self) -> None:
        """A replace up of a FILLED order is sent (FIX C.1.c lets a venue re-open it); the
        simulated venue no longer holds the order, so it rejects, and the order is FILLED
        again with its quantity, unflagged."""
        orch = paper_orchestrator()
        result = orch.submit_intent(intent(1))
        assert result.order is not None
        cid = result.order.client_order_id

        outcome = orch.replace(cid, quantity=Decimal(2))

        assert (outcome.outcome, outcome.reason_code) == (
            AuditOutcome.REFUSED,
            ReasonCode.ADAPTER_REJECTED,
        )
        order = orch.order(cid)
        assert order is not None
        assert (order.state, order.quantity, order.recon_flags) == (
            OrderState.FILLED,
            result.order.quantity,
            (),
        )

    def test_a_replace_down_of_a_filled_order_is_refused(self) -> None:
        """A replace of a FILLED order to no more than it filled is refused locally."""
        orch = paper_orchestrator()
        result = orch.submit_intent(intent(1))
        assert result.order is not None

        outcome = orch.replace(result.order.client_order_id, quantity=result.order.quantity / 2)

        assert (outcome.outcome, outcome.reason_code) == (
            AuditOutcome.REFUSED,
            ReasonCode.VALIDATION_INVALID_QUANTITY,
        )

    def test_an_adapter_that_cannot_amend_is_refused_not_supported(self) -> None:
        """An adapter without replace: REPLACE_NOT_SUPPORTED, audited on the order, nothing
        sent and nothing moved."""
        venue = AckOnly()
        orch = paper_orchestrator(venue)
        order = resting(orch)

        outcome = orch.replace(order.client_order_id, quantity=Decimal(2))

        assert not isinstance(venue, ReplacingAdapter)
        assert (outcome.outcome, outcome.reason_code) == (
            AuditOutcome.REFUSED,
            ReasonCode.REPLACE_NOT_SUPPORTED,
        )
        assert now(orch, order) == order
        last = orch.audit_log.records[-1]
        assert (last.event, last.outcome, last.reason_code, last.source, last.target) == (
            "request_replace",
            AuditOutcome.REFUSED,
            ReasonCode.REPLACE_NOT_SUPPORTED,
            "ACKNOWLEDGED",
            None,
        )
        assert verify_trail(orch.get_audit_log_snapshot(), MACHINES).ok


class TestVenueFailures:
    @pytest.mark.parametrize(
        ("fault", "reason"),
        [
            (Fault.TRANSIENT, ReasonCode.ADAPTER_ERROR),
            (Fault.TIMEOUT_BEFORE_SEND, ReasonCode.ADAPTER_ERROR),
            (Fault.REJECTED, ReasonCode.ADAPTER_REJECTED),
        ],
    )
    def test_a_replace_that_never_left_returns_the_order_where_it_was(
        self, fault: Fault, reason: ReasonCode
    ) -> None:
        """A replace that never left, or that the venue refused, returns the order to its
        previous state unflagged, and a later replace goes through."""
        orch, _ = faulty(fault)
        order = resting(orch)

        outcome = orch.replace(order.client_order_id, quantity=Decimal(2))
        again = orch.replace(order.client_order_id, quantity=Decimal(2))

        assert (outcome.outcome, outcome.reason_code) == (AuditOutcome.REFUSED, reason)
        assert outcome.order is not None
        assert (outcome.order.state, outcome.order.quantity, outcome.order.recon_flags) == (
            OrderState.ACKNOWLEDGED,
            Decimal(1),
            (),
        )
        assert again.applied
        assert now(orch, order).quantity == Decimal(2)

    def test_a_partly_filled_order_returns_partly_filled(self) -> None:
        """A transient failure returns a PARTIALLY_FILLED order to PARTIALLY_FILLED."""
        orch, _ = faulty(Fault.TRANSIENT)
        order = resting(orch)
        orch.handle_event(ExecutionEvent.of_fill(order, "f", EPOCH, Fill("f1", "0.5", "50000")))

        outcome = orch.replace(order.client_order_id, quantity=Decimal(2))

        assert outcome.order is not None
        assert outcome.order.state is OrderState.PARTIALLY_FILLED

    @pytest.mark.parametrize(
        "fault", [Fault.TIMEOUT_AFTER_SEND, Fault.UNKNOWN_EXCEPTION, Fault.PERMANENT]
    )
    def test_a_replace_that_may_have_reached_the_venue_stays_pending_and_flagged(
        self, fault: Fault
    ) -> None:
        """A timeout after the send (or an untranslated or permanent error) leaves the order
        PENDING_REPLACE, flagged REPLACE_OUTCOME_UNKNOWN; another replace is refused until the
        venue answers, but the order can still be pulled: the cancel is sent, and the venue
        cancels it."""
        orch, _ = faulty(fault)
        order = resting(orch)

        outcome = orch.replace(order.client_order_id, quantity=Decimal(2))
        pending = now(orch, order)
        second = orch.replace(order.client_order_id, quantity=Decimal(3))
        cancel = orch.cancel(order.client_order_id)

        assert (outcome.outcome, outcome.reason_code) == (
            AuditOutcome.REFUSED,
            ReasonCode.REPLACE_OUTCOME_UNKNOWN,
        )
        assert pending.state is OrderState.PENDING_REPLACE
        assert pending.recon_flags == (ReasonCode.REPLACE_OUTCOME_UNKNOWN,)
        assert second.reason_code is ReasonCode.ILLEGAL_TRANSITION
        assert cancel.applied
        assert now(orch, order).state is OrderState.CANCELLED
        assert now(orch, order).recon_flags == (ReasonCode.REPLACE_OUTCOME_UNKNOWN,)

    def test_the_venues_late_answer_to_a_replace_in_doubt_applies(self) -> None:
        """After a timeout, the venue's REPLACE_ACK delivered later gives the new terms; the
        flag stays for reconciliation."""
        orch, _ = faulty(Fault.TIMEOUT_AFTER_SEND)
        order = resting(orch)
        orch.replace(order.client_order_id, quantity=Decimal(2))

        late = ExecutionEvent.of_kind(EventKind.REPLACE_ACK, order, "late-rpl", EPOCH)
        outcome = orch.handle_event(late)

        assert outcome.applied
        assert (now(orch, order).state, now(orch, order).quantity) == (
            OrderState.ACKNOWLEDGED,
            Decimal(2),
        )
        assert now(orch, order).recon_flags == (ReasonCode.REPLACE_OUTCOME_UNKNOWN,)

    def test_a_repeated_answer_does_not_hide_the_first(self) -> None:
        """With every answer delivered twice, replace returns the outcome of the first
        REPLACE_ACK and the new terms hold; the repeat is audited as a duplicate and flags
        nothing."""
        orch, _ = faulty(Fault.DUPLICATE_EVENTS)
        order = resting(orch)

        outcome = orch.replace(order.client_order_id, quantity=Decimal(2))

        assert outcome.applied
        assert outcome.order is not None
        assert (outcome.order.state, outcome.order.quantity) == (
            OrderState.ACKNOWLEDGED,
            Decimal(2),
        )
        assert [o for e, o in trail_of(orch, order) if e == "replace_ack"] == [
            AuditOutcome.APPLIED,
            AuditOutcome.DUPLICATE,
        ]
        assert now(orch, order).recon_flags == ()

    def test_a_slow_answer_is_waited_for(self) -> None:
        """A SLOW venue answers after its delay; the replace is then acknowledged."""
        c = clock()
        slept: list[float] = []
        venue = FaultyVenue(SimulatedVenue(c), script=(Fault.NONE, Fault.SLOW), sleep=slept.append)
        orch = paper_orchestrator(venue, clock=c)
        order = resting(orch)

        outcome = orch.replace(order.client_order_id, quantity=Decimal(2))

        assert outcome.applied
        assert slept == [venue.slow_seconds]


class TestClientOrderIdChain:
    def test_each_replace_names_the_id_the_venue_holds_the_order_by(self) -> None:
        """The adapter sees a new ClOrdID per replace, and the second replace names the
        first's id as orig."""
        venue = Scripted()
        orch = paper_orchestrator(venue)
        order = resting(orch)
        cid = order.client_order_id

        orch.replace(cid, quantity=Decimal(2))
        orch.replace(cid, limit_price=Decimal(49000))

        assert [(r.new_client_order_id, r.orig_client_order_id) for r in venue.requests] == [
            (f"{cid}.r1", cid),
            (f"{cid}.r2", f"{cid}.r1"),
        ]
        assert [(r.quantity, r.limit_price) for r in venue.requests] == [
            (Decimal(2), Decimal(50000)),
            (Decimal(2), Decimal(49000)),
        ]
        assert now(orch, order).current_client_order_id == f"{cid}.r2"

    def test_the_simulated_venue_follows_the_chain(self) -> None:
        """Two replaces in a row are both acknowledged by the simulated venue, which finds
        the order by the chained ids."""
        c = clock()
        venue = SimulatedVenue(c)
        orch = paper_orchestrator(venue, clock=c)
        order = resting(orch)

        first = orch.replace(order.client_order_id, quantity=Decimal(2))
        second = orch.replace(order.client_order_id, quantity=Decimal(3))

        assert (first.applied, second.applied) == (True, True)
        (held,) = venue.resting_orders()
        assert (held.quantity, held.current_client_order_id) == (
            Decimal(3),
            f"{order.client_order_id}.r2",
        )


class ReplaceCrash(Venue):
    """A venue whose replace call never returns: the process dies inside it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.replaces = 0

    def replace(self, order: Order, request: ReplaceRequest) -> Sequence[ExecutionEvent]:
        self.replaces += 1
        raise Crash


class CountingVenue(Venue):
    """A durable-session venue that counts its replace calls."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.replaces = 0

    def replace(self, order: Order, request: ReplaceRequest) -> Sequence[ExecutionEvent]:
        self.replaces += 1
        return super().replace(order, request)


def rows_equal_replay(orch: ExecutionOrchestrator) -> None:
    """Every order row equals what a replay of the trail gives (recovery's own check)."""
    rebuilt = replay(orch.get_audit_log_snapshot())
    for order in orch.get_order_ledger_snapshot():
        replayed = rebuilt.orders[order.client_order_id]
        assert (order.quantity, order.state, order.filled_quantity) == (
            replayed.quantity,
            replayed.state,
            replayed.filled_quantity,
        )


class TestDurableReplace:
    def test_a_crash_inside_the_replace_call_leaves_the_order_flagged_and_never_resent(
        self, tmp_path: Path
    ) -> None:
        """The PENDING_REPLACE order is durable before the adapter is called; after a crash
        inside the call, recovery flags it REPLACE_OUTCOME_UNKNOWN, keeps its pending
        replace, and sends nothing again."""
        db = tmp_path / "r.db"
        orch, _ = session(db)
        order = resting(orch)
        close(orch)
        crashing = ReplaceCrash(orch._routes.clock)
        orch, _ = session(db, venue=crashing)

        with pytest.raises(Crash):
            orch.replace(order.client_order_id, quantity=Decimal(2))
        close(orch)
        venue = CountingVenue(clock())
        again, _ = session(db, venue=venue)
        close(again)
        third, _ = session(db, venue=venue)

        current = now(third, order)
        assert current.state is OrderState.PENDING_REPLACE
        assert current.quantity == Decimal(1)
        assert current.recon_flags == (ReasonCode.REPLACE_OUTCOME_UNKNOWN,)
        flags = [r for r in third.audit_log.records if r.event == "flag_reconciliation"]
        assert len(flags) == 1
        assert "being sent" in flags[0].detail
        held = third._services.orders.get(order.client_order_id)
        assert held is not None
        assert held.pending_replace is not None
        assert (held.pending_replace.quantity, held.pending_replace.new_client_order_id) == (
            Decimal(2),
            f"{order.client_order_id}.r1",
        )
        assert crashing.replaces == 1
        assert venue.replaces == 0
        assert any(o.client_order_id == order.client_order_id for o in third.recovery.in_flight)

    def test_a_replace_in_doubt_after_reopen_takes_the_venues_late_answer(
        self, tmp_path: Path
    ) -> None:
        """An order recovered PENDING_REPLACE still has its adapter: the venue's REPLACE_ACK
        delivered after the reopen gives the restored pending terms."""
        db = tmp_path / "l.db"
        orch, _ = session(db)
        order = resting(orch)
        close(orch)
        orch, _ = session(db, venue=ReplaceCrash(clock()))
        with pytest.raises(Crash):
            orch.replace(order.client_order_id, quantity=Decimal(2))
        close(orch)
        again, _ = session(db)

        late = ExecutionEvent.of_kind(EventKind.REPLACE_ACK, order, "late-rpl", EPOCH)
        outcome = again.handle_event(late)

        assert outcome.applied
        current = now(again, order)
        assert (current.state, current.quantity, current.current_client_order_id) == (
            OrderState.ACKNOWLEDGED,
            Decimal(2),
            f"{order.client_order_id}.r1",
        )
        assert current.recon_flags == (ReasonCode.REPLACE_OUTCOME_UNKNOWN,)
        rows_equal_replay(again)

    def test_a_replace_timed_out_is_in_doubt_after_reopen(self, tmp_path: Path) -> None:
        """A replace that timed out stays PENDING_REPLACE and flagged (once) across a reopen,
        the trail saying the request left."""
        db = tmp_path / "t.db"
        c = clock()
        venue = FaultyVenue(Venue(c), script=(Fault.NONE, Fault.TIMEOUT_AFTER_SEND))
        orch = paper_orchestrator(venue, clock=c, store=SqliteStore(db))
        order = resting(orch)
        orch.replace(order.client_order_id, quantity=Decimal(2))
        rows_equal_replay(orch)
        close(orch)

        again, _ = session(db)

        current = now(again, order)
        assert current.state is OrderState.PENDING_REPLACE
        assert current.recon_flags == (ReasonCode.REPLACE_OUTCOME_UNKNOWN,)
        flags = [r for r in again.audit_log.records if r.event == "flag_reconciliation"]
        assert [r.reason_code for r in flags] == [ReasonCode.REPLACE_OUTCOME_UNKNOWN]
        assert [e for e, _ in trail_of(again, order)][-3:] == [
            "request_replace",
            "replace_attempt",
            "flag_reconciliation",
        ]
        rows_equal_replay(again)

    def test_a_replace_acknowledged_survives_a_reopen(self, tmp_path: Path) -> None:
        """A replace acknowledged before the stop is in force after a reopen (stored row equal
        to the trail's replay), and the next replace continues the id chain."""
        db = tmp_path / "a.db"
        orch, venue = session(db)  # the venue outlives the process
        order = resting(orch)
        orch.replace(order.client_order_id, quantity=Decimal(3))
        before = now(orch, order)
        rows_equal_replay(orch)
        close(orch)

        again, _ = session(db, venue=venue)
        after = now(again, order)
        outcome = again.replace(order.client_order_id, quantity=Decimal(4))

        assert after == before
        assert (after.state, after.quantity, after.current_client_order_id) == (
            OrderState.ACKNOWLEDGED,
            Decimal(3),
            f"{order.client_order_id}.r1",
        )
        assert after.recon_flags == ()
        assert outcome.applied
        assert now(again, order).current_client_order_id == f"{order.client_order_id}.r2"
        assert venue.resting_orders()[0].quantity == Decimal(4)
        rows_equal_replay(again)
        close(again)
        session(db)  # recovery's row check passes once more
