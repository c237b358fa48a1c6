"""
Fill subscribers are told of every booked fill, and one that raises loses nothing: the fills
stay booked, the other subscribers hear them, the intent or event is recorded and durable,
and only then does the caller get a `FillSubscriberError` carrying what it would have got.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from execfsm import (
    ExecutionEvent,
    ExecutionOrchestrator,
    FillSubscriberError,
    Order,
    OrderIntent,
    OrderState,
    PipelineResult,
    SimulatedVenue,
    SteppingClock,
)
from execfsm.clock import EPOCH
from execfsm.contracts import Fill
from execfsm.fsm.order import EventOutcome
from execfsm.ledger.sqlite import SqliteStore
from execfsm.risk import ConditionalRiskHook
from tests.test_durability import intent, session
from tests.test_orchestrator import SpyVenue, market, orchestrator


class Flaky:
    """A subscriber that raises while it is broken, and counts every call."""

    def __init__(self) -> None:
        self.broken = True
        self.calls: list[tuple[str, str]] = []

    def __call__(self, order: Order, fill: Fill) -> None:
        self.calls.append((order.client_order_id, fill.fill_id))
        if self.broken:
            raise ValueError(f"downstream of {fill.fill_id} is down")


class Listener:
    """A subscriber that only listens."""

    def __init__(self) -> None:
        self.heard: list[tuple[str, Decimal]] = []

    def __call__(self, order: Order, fill: Fill) -> None:
        self.heard.append((order.client_order_id, fill.quantity))


def two_fills() -> tuple[ExecutionOrchestrator, SimulatedVenue]:
    """An orchestrator whose venue fills every market order in two halves."""
    return orchestrator(venue=SpyVenue(SteppingClock(EPOCH), partial_fills=("0.5", "0.5")))


def limit(intent_id: str) -> OrderIntent:
    return OrderIntent(
        "BTC/EUR",
        "BUY",
        Decimal("0.2"),
        "LIMIT",
        "t",
        limit_price=Decimal(59_000),
        intent_id=intent_id,
    )


class TestOneIntent:
    def test_the_intent_is_recorded_before_the_error_reaches_the_caller(self) -> None:
        """Both partial fills are booked and heard by the next subscriber; the error carries
        the recorded result, and a resubmission answers it as a duplicate."""
        orch, venue = two_fills()
        flaky, listener = Flaky(), Listener()
        orch.subscribe_fills(flaky)
        orch.subscribe_fills(listener)

        with pytest.raises(FillSubscriberError, match="downstream of") as caught:
            orch.submit_intent(market(qty="1"))

        result = caught.value.outcome
        assert isinstance(result, PipelineResult)
        assert result.success
        assert result.order is not None
        assert result.order.state is OrderState.FILLED
        cid = result.order.client_order_id
        assert [type(e) for e in caught.value.errors] == [ValueError, ValueError]
        assert isinstance(caught.value.__cause__, ValueError)
        assert len(flaky.calls) == 2
        assert listener.heard == [(cid, Decimal("0.5"))] * 2
        assert orch.get_position_ledger_snapshot()["BTC/EUR"].quantity == Decimal(1)
        assert orch.get_recon_snapshot()[-1].order == result.order

        again = orch.submit_intent(market(qty="1"))  # before: KeyError deep in the ledger

        assert again == attrs.evolve(result, duplicate=True)
        assert len(venue.submissions) == 1
        assert len(flaky.calls) == 2  # a duplicate books nothing, so tells nobody
        assert orch.audit_log.verify_chain().ok

    def test_a_subscriber_that_stops_raising_hears_the_next_intents(self) -> None:
        """One failure does not unsubscribe anyone."""
        orch, _ = two_fills()
        flaky = Flaky()
        orch.subscribe_fills(flaky)
        with pytest.raises(FillSubscriberError):
            orch.submit_intent(market(intent_id="a"))
        flaky.broken = False

        result = orch.submit_intent(market(intent_id="b"))

        assert result.success
        assert len(flaky.calls) == 4

    def test_a_resumed_intent_raises_after_it_is_recorded(self) -> None:
        """The same holds for an intent that fills once a paused risk gate lets it through."""
        risk = ConditionalRiskHook(review_quantity="1")
        orch, _ = orchestrator(risk=risk)
        orch.subscribe_fills(Flaky())
        big = market(qty="2")
        paused = orch.submit_intent(big)
        risk.approve(big)

        with pytest.raises(FillSubscriberError) as caught:
            orch.resume(paused.correlation_id)

        result = caught.value.outcome
        assert isinstance(result, PipelineResult)
        assert (result.success, result.stage_reached) == (True, 8)
        assert orch.submit_intent(big) == attrs.evolve(result, duplicate=True)


class TestBatchAndLateFills:
    def test_a_batch_records_every_intent_then_raises_once(self) -> None:
        """A subscriber failing for one order of a batch: every intent is recorded, and one
        error at the end carries the batch's results in order."""
        orch, _ = two_fills()
        first = orch.submit_intent(market(intent_id="b0"))
        seen: list[str] = []

        def fail_for_the_second_order(order: Order, _fill: Fill) -> None:
            if order.client_order_id not in seen:
                seen.append(order.client_order_id)
            if seen.index(order.client_order_id) == 1:
                raise RuntimeError("ledger feed refused it")

        orch.subscribe_fills(fail_for_the_second_order)
        intents = [market(intent_id=f"b{n}") for n in range(4)]

        with pytest.raises(FillSubscriberError, match="ledger feed refused it") as caught:
            orch.submit_intents(intents)

        batch = caught.value.outcome
        assert isinstance(batch, list)
        assert [r.success for r in batch] == [True] * 4
        # a duplicate: it books nothing, so tells nobody
        assert batch[0] == attrs.evolve(first, duplicate=True)
        assert [r.order.client_order_id for r in batch[1:] if r.order] == seen
        assert len(caught.value.errors) == 2  # the second order's two partial fills
        assert orch.submit_intents(intents) == [attrs.evolve(r, duplicate=True) for r in batch]
        assert orch.audit_log.verify_chain().ok

    def test_late_fills_from_a_price_move_all_arrive(self) -> None:
        """A price move that fills two resting orders delivers both, though the subscriber
        raises on the first; the venue re-raises once every event is in."""
        orch, venue = orchestrator()
        resting = [orch.submit_intent(limit(f"r{n}")) for n in range(2)]
        orch.subscribe_fills(Flaky())

        with pytest.raises(FillSubscriberError) as caught:
            venue.set_price("BTC/EUR", "58900")

        assert isinstance(caught.value.outcome, EventOutcome)
        for result in resting:
            assert result.order is not None
            now = orch.order(result.order.client_order_id)
            assert now is not None
            assert now.state is OrderState.FILLED
        assert orch.get_position_ledger_snapshot()["BTC/EUR"].quantity == Decimal("0.4")
        assert orch.audit_log.verify_chain().ok

    def test_a_cancel_answered_with_a_fill_then_its_ack_applies_both(self) -> None:
        """Part of the order filled just before the cancel took: the venue answers with the
        fill, then the CANCEL_ACK. The ACK is applied though the subscriber raised on the
        fill, and only then does the caller get the error."""
        orch, _ = orchestrator(venue=FillsBeforeCancel(SteppingClock(EPOCH)))
        resting = orch.submit_intent(limit("c1"))
        assert resting.order is not None
        orch.subscribe_fills(Flaky())

        with pytest.raises(FillSubscriberError) as caught:
            orch.cancel(resting.order.client_order_id)

        assert isinstance(caught.value.outcome, EventOutcome)
        now = orch.order(resting.order.client_order_id)
        assert now is not None
        assert (now.state, now.filled_quantity) == (OrderState.CANCELLED, Decimal("0.1"))
        assert orch.get_position_ledger_snapshot()["BTC/EUR"].quantity == Decimal("0.1")
        assert orch.audit_log.verify_chain().ok


class FillsBeforeCancel(SpyVenue):
    """A venue where part of a resting order fills just before its cancel takes effect."""

    def cancel(self, order: Order) -> Sequence[ExecutionEvent]:
        fill = Fill("race", "0.1", "59000")
        return [ExecutionEvent.of_fill(order, "race", EPOCH, fill), *super().cancel(order)]


class TestDurable:
    def test_a_restart_finds_the_intent_done_not_interrupted(self, tmp_path: Path) -> None:
        """The result was made durable before the error was raised: a restart sees a finished
        intent, and its resubmission is answered from the store without a second send."""
        db = tmp_path / "s.db"
        first, _ = session(db)
        first.subscribe_fills(Flaky())
        with pytest.raises(FillSubscriberError) as caught:
            first.submit_intent(intent(1))
        store = first._services.store
        assert isinstance(store, SqliteStore)
        store.close()

        second, venue = session(db)

        assert second.recovery.interrupted == ()
        assert second.submit_intent(intent(1)) == attrs.evolve(caught.value.outcome, duplicate=True)
        assert venue.submissions == []
