"""
Contingent orders (OCO, OTO, bracket) through the orchestrator: every leg through the
pipeline, the group reacting to its legs' venue events, cancels through the adapter, audited
and durable.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import pytest

from execfsm import ExecutionMode, OrderIntent, OrderState, ReasonCode
from execfsm.adapters.simulated import SimulatedVenue
from execfsm.contingent import ContingentGroup, GroupState, TriggerMode
from execfsm.contingent.orders import ContingentOrders
from execfsm.contracts import (
    EventKind,
    ExecutionEvent,
    Fill,
    Order,
    PipelineState,
    ReplaceRequest,
)
from execfsm.errors import ContractViolation, IdempotencyConflict
from execfsm.fsm.audit import AuditOutcome
from execfsm.governance import MACHINES
from execfsm.governance.trail import verify_trail
from execfsm.ledger.sqlite import SqliteStore
from execfsm.orchestrator import ExecutionOrchestrator
from execfsm.risk import ConditionalRiskHook
from execfsm.testing import EPOCH, paper_orchestrator
from execfsm.typing import EventSink

_EVENT_IDS = itertools.count()


class ManualVenue:
    """
    A venue that acknowledges every order and answers nothing else by itself: the test
    speaks for it (fills, cancel answers) through `orch.handle_event`.
    """

    name = "manual"

    def __init__(self, *, ack_cancels: bool = False, fill_before_cancel: int = 0) -> None:
        self.ack_cancels = ack_cancels
        self.fill_before_cancel = fill_before_cancel
        self.submitted: list[str] = []
        self.cancelled: list[str] = []
        self.replaced: list[tuple[str, Decimal]] = []

    def set_event_sink(self, sink: EventSink) -> None:
        self.sink = sink

    def submit(self, order: Order, idempotency_key: str) -> Sequence[ExecutionEvent]:
        self.submitted.append(order.client_order_id)
        return [event(order, EventKind.ACK)]

    def cancel(self, order: Order) -> Sequence[ExecutionEvent]:
        self.cancelled.append(order.client_order_id)
        raced = [event(order, EventKind.FILL, self.fill_before_cancel)]
        answers = raced if self.fill_before_cancel else []
        return [*answers, event(order, EventKind.CANCEL_ACK)] if self.ack_cancels else answers

    def replace(self, order: Order, request: ReplaceRequest) -> Sequence[ExecutionEvent]:
        self.replaced.append((order.client_order_id, request.quantity))
        return []


def event(order: Order, kind: EventKind, quantity: int = 0, price: int = 100) -> ExecutionEvent:
    fill = None
    if kind is EventKind.FILL:
        fill = Fill(f"fill-{next(_EVENT_IDS)}", quantity, price)
    reason = ReasonCode.ADAPTER_REJECTED if kind is EventKind.REJECT else None
    return ExecutionEvent(
        kind,
        f"evt-{next(_EVENT_IDS)}",
        order.client_order_id,
        order.correlation_id,
        EPOCH,
        fill=fill,
        reason_code=reason,
    )


def sell(price: int, quantity: int = 4) -> OrderIntent:
    return OrderIntent(
        "BTC/EUR", "SELL", Decimal(quantity), "LIMIT", "strat", limit_price=Decimal(price)
    )


def buy(price: int, quantity: int = 4) -> OrderIntent:
    return OrderIntent(
        "BTC/EUR", "BUY", Decimal(quantity), "LIMIT", "strat", limit_price=Decimal(price)
    )


def leg(orch: ExecutionOrchestrator, group_id: str, role: str) -> Order:
    order = orch.contingent.status(group_id).legs[role]
    assert order is not None
    return order


def send(orch: ExecutionOrchestrator, group_id: str, role: str, kind: EventKind, qty: int = 0):
    return orch.handle_event(event(leg(orch, group_id, role), kind, qty))


@pytest.fixture(params=["compiled", "reference"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def venue() -> ManualVenue:
    return ManualVenue()


@pytest.fixture
def orch(venue: ManualVenue, engine: str) -> ExecutionOrchestrator:
    return paper_orchestrator(venue, engine=engine)


def oco(mode: TriggerMode = TriggerMode.PARTIAL, group_id: str = "g1") -> ContingentGroup:
    return ContingentGroup.oco(group_id, sell(110), sell(90), mode=mode)


def group_records(orch: ExecutionOrchestrator, group_id: str = "g1") -> list[tuple[str, str]]:
    return [
        (r.event, str(r.target))
        for r in orch.get_audit_log_snapshot()
        if r.machine == "contingent" and r.correlation_id == group_id
    ]


class TestOco:
    def test_both_legs_go_through_the_pipeline_and_work(
        self, orch: ExecutionOrchestrator, venue: ManualVenue
    ) -> None:
        """Both legs are sent, acknowledged, and the group works."""
        status = orch.submit_group(oco())

        assert status.state is GroupState.WORKING
        assert [o.state for o in status.legs.values()] == [OrderState.ACKNOWLEDGED] * 2
        assert len(venue.submitted) == 2

    @pytest.mark.parametrize("mode", list(TriggerMode))
    def test_a_complete_fill_cancels_the_other_leg_through_the_adapter(
        self, orch: ExecutionOrchestrator, venue: ManualVenue, mode: TriggerMode
    ) -> None:
        """A complete fill on one leg sends the other's cancel; its ack ends the group."""
        orch.submit_group(oco(mode))
        send(orch, "g1", "first", EventKind.FILL, 4)
        second = leg(orch, "g1", "second")
        cancelled = list(venue.cancelled)
        send(orch, "g1", "second", EventKind.CANCEL_ACK)

        assert cancelled == [second.client_order_id]
        assert second.state is OrderState.PENDING_CANCEL
        assert orch.contingent.status("g1").state is GroupState.DONE
        assert group_records(orch) == [
            ("accept", "WORKING"),
            ("trigger", "TRIGGERED"),
            ("complete", "DONE"),
        ]

    def test_partial_mode_cancels_the_other_leg_at_the_first_fill(
        self, orch: ExecutionOrchestrator, venue: ManualVenue
    ) -> None:
        """PARTIAL: a fill of 1 of 4 cancels the other leg; the filled leg works on."""
        orch.submit_group(oco(TriggerMode.PARTIAL))
        send(orch, "g1", "first", EventKind.FILL, 1)

        assert venue.cancelled == [leg(orch, "g1", "second").client_order_id]
        assert leg(orch, "g1", "first").state is OrderState.PARTIALLY_FILLED
        assert orch.contingent.status("g1").state is GroupState.TRIGGERED

    def test_full_mode_reduces_the_other_leg_by_a_partial_fill(
        self, orch: ExecutionOrchestrator, venue: ManualVenue
    ) -> None:
        """FULL: a fill of 1 of 4 on one leg amends the other to 3 (one-updates-other)."""
        orch.submit_group(oco(TriggerMode.FULL))
        send(orch, "g1", "first", EventKind.FILL, 1)

        assert venue.cancelled == []
        assert venue.replaced == [(leg(orch, "g1", "second").client_order_id, Decimal(3))]
        assert orch.contingent.status("g1").state is GroupState.WORKING

    def test_a_leg_the_venue_cancels_leaves_the_other_working(
        self, orch: ExecutionOrchestrator, venue: ManualVenue
    ) -> None:
        """An unsolicited cancel of one leg: the other stays working, the group too."""
        orch.submit_group(oco())
        send(orch, "g1", "first", EventKind.CANCEL_ACK)

        assert venue.cancelled == []
        assert leg(orch, "g1", "second").state is OrderState.ACKNOWLEDGED
        assert orch.contingent.status("g1").state is GroupState.WORKING

    def test_both_legs_ended_without_a_fill_end_the_group(
        self, orch: ExecutionOrchestrator
    ) -> None:
        """A reject on one leg and an expiry on the other: the group is done, unfilled."""
        orch.submit_group(oco())
        send(orch, "g1", "first", EventKind.REJECT)
        send(orch, "g1", "second", EventKind.EXPIRE)

        assert orch.contingent.status("g1").state is GroupState.DONE

    def test_a_fill_racing_the_cancel_is_flagged_as_an_overfill(
        self, orch: ExecutionOrchestrator
    ) -> None:
        """Both legs fill (the second before its cancel is acked): OVERFILLED, flagged."""
        orch.submit_group(oco())
        send(orch, "g1", "first", EventKind.FILL, 4)
        send(orch, "g1", "second", EventKind.FILL, 4)
        status = orch.contingent.status("g1")

        assert status.state is GroupState.OVERFILLED
        assert ReasonCode.CONTINGENT_OVERFILL in status.flags
        assert all(
            ReasonCode.CONTINGENT_OVERFILL in o.recon_flags
            for o in status.legs.values()
            if o is not None
        )
        assert orch.get_position_ledger_snapshot()["BTC/EUR"].quantity == Decimal(-8)
        assert any(r.trigger == "contingent" for r in orch.get_recon_snapshot())

    def test_a_late_fill_on_the_cancelled_leg_overfills_a_done_group(
        self, orch: ExecutionOrchestrator
    ) -> None:
        """A fill after the cancel was acked: the done group becomes OVERFILLED, flagged."""
        orch.submit_group(oco())
        send(orch, "g1", "first", EventKind.FILL, 4)
        send(orch, "g1", "second", EventKind.CANCEL_ACK)
        send(orch, "g1", "second", EventKind.FILL, 2)

        assert group_records(orch)[-1] == ("overfill", "OVERFILLED")
        assert ReasonCode.CONTINGENT_OVERFILL in orch.contingent.status("g1").flags

    def test_a_rejected_cancel_is_flagged_and_the_leg_works_on(
        self, orch: ExecutionOrchestrator
    ) -> None:
        """The venue refuses the cancel: the group flags CONTINGENT_CANCEL_REJECTED."""
        orch.submit_group(oco())
        send(orch, "g1", "first", EventKind.FILL, 4)
        send(orch, "g1", "second", EventKind.CANCEL_REJECT)
        status = orch.contingent.status("g1")

        assert status.state is GroupState.TRIGGERED
        assert ReasonCode.CONTINGENT_CANCEL_REJECTED in status.flags
        assert leg(orch, "g1", "second").state is OrderState.ACKNOWLEDGED

    def test_the_trail_verifies_against_the_machines(self, orch: ExecutionOrchestrator) -> None:
        """Every group, order and pipeline record of a raced group verifies."""
        orch.submit_group(oco())
        send(orch, "g1", "first", EventKind.FILL, 4)
        send(orch, "g1", "second", EventKind.FILL, 1)

        assert verify_trail(orch.get_audit_log_snapshot(), MACHINES).ok


class TestOto:
    def test_the_child_is_held_until_the_parent_fills(
        self, orch: ExecutionOrchestrator, venue: ManualVenue
    ) -> None:
        """Only the parent is sent; its complete fill releases the child."""
        status = orch.submit_group(ContingentGroup.oto("o1", buy(100), sell(120)))
        sent_first = list(venue.submitted)
        send(orch, "o1", "parent", EventKind.FILL, 3)
        held_after_part = orch.contingent.status("o1").legs["child"]
        send(orch, "o1", "parent", EventKind.FILL, 1)
        after = orch.contingent.status("o1")

        assert status.legs["child"] is None
        assert sent_first == [leg(orch, "o1", "parent").client_order_id]
        assert held_after_part is None
        assert after.state is GroupState.RELEASED
        assert after.legs["child"] is not None
        assert after.legs["child"].state is OrderState.ACKNOWLEDGED

    def test_partial_mode_releases_the_child_in_proportion(
        self, orch: ExecutionOrchestrator
    ) -> None:
        """PARTIAL: the parent's fill of 1 of 4 releases the child for 1 of its 8."""
        group = ContingentGroup.oto("o1", buy(100), sell(120, 8), mode=TriggerMode.PARTIAL)
        orch.submit_group(group)
        send(orch, "o1", "parent", EventKind.FILL, 1)

        assert leg(orch, "o1", "child").quantity == Decimal(2)

    def test_a_parent_cancelled_before_any_fill_drops_the_child_unsent(
        self, orch: ExecutionOrchestrator, venue: ManualVenue
    ) -> None:
        """The parent ends unfilled: the group is done, the child never sent."""
        orch.submit_group(ContingentGroup.oto("o1", buy(100), sell(120)))
        send(orch, "o1", "parent", EventKind.CANCEL_ACK)
        status = orch.contingent.status("o1")

        assert status.state is GroupState.DONE
        assert ReasonCode.CONTINGENT_HELD_CANCELLED in status.flags
        assert status.legs["child"] is None
        assert len(venue.submitted) == 1


class TestBracket:
    def test_entry_releases_the_exits_which_cancel_each_other(
        self, orch: ExecutionOrchestrator, venue: ManualVenue
    ) -> None:
        """The entry's fill releases take-profit and stop-loss; the take-profit's fill
        cancels the stop-loss."""
        orch.submit_group(ContingentGroup.bracket("b1", buy(100), sell(120), sell(90)))
        send(orch, "b1", "entry", EventKind.FILL, 4)
        released = orch.contingent.status("b1")
        send(orch, "b1", "take_profit", EventKind.FILL, 4)
        send(orch, "b1", "stop_loss", EventKind.CANCEL_ACK)

        assert released.state is GroupState.RELEASED
        assert len(venue.submitted) == 3
        assert venue.cancelled == [leg(orch, "b1", "stop_loss").client_order_id]
        assert orch.contingent.status("b1").state is GroupState.DONE

    def test_on_the_simulated_venue(self) -> None:
        """End to end on the simulated venue (limit orders only, so both exits rest above
        the market): the market rises through the take-profit, the other exit is cancelled."""
        orch = paper_orchestrator()
        venue = orch.registry.get(ExecutionMode.PAPER)
        assert isinstance(venue, SimulatedVenue)
        venue.set_price("BTC/EUR", 100)
        orch.submit_group(ContingentGroup.bracket("b1", buy(101), sell(110), sell(130)))
        entry = leg(orch, "b1", "entry")
        venue.set_price("BTC/EUR", 112)
        status = orch.contingent.status("b1")

        assert entry.state is OrderState.FILLED
        assert status.legs["take_profit"] is not None
        assert status.legs["take_profit"].state is OrderState.FILLED
        assert status.legs["stop_loss"] is not None
        assert status.legs["stop_loss"].state is OrderState.CANCELLED
        assert status.state is GroupState.DONE
        assert orch.get_position_ledger_snapshot()["BTC/EUR"].quantity == 0


class TestSubmit:
    def test_a_leg_refused_at_validation_refuses_the_group_before_anything_is_sent(
        self, orch: ExecutionOrchestrator, venue: ManualVenue
    ) -> None:
        """The second leg has no limit price: nothing is sent, the first leg fails too."""
        bad = OrderIntent("BTC/EUR", "SELL", Decimal(4), "LIMIT", "strat")
        status = orch.submit_group(ContingentGroup.oco("g1", sell(110), bad))
        first = orch.get_order_ledger_snapshot()[0]

        assert status.state is GroupState.REFUSED
        assert status.reason_code is ReasonCode.CONTINGENT_GROUP_REFUSED
        assert venue.submitted == []
        assert first.state is OrderState.FAILED
        assert first.reason_code is ReasonCode.CONTINGENT_GROUP_REFUSED

    def test_a_leg_blocked_by_risk_refuses_the_group(self, venue: ManualVenue) -> None:
        """The risk gate blocks the second leg (too big): the whole group is refused."""
        orch = paper_orchestrator(venue, risk_hook=ConditionalRiskHook(max_quantity=Decimal(5)))
        status = orch.submit_group(ContingentGroup.oco("g1", sell(110, 4), sell(90, 4)))
        big = orch.submit_group(ContingentGroup.oco("g2", sell(110, 6), sell(90, 6)))

        assert status.state is GroupState.WORKING
        assert big.state is GroupState.REFUSED
        assert "RISK" in big.reason_detail
        assert len(venue.submitted) == 2

    def test_a_leg_paused_by_risk_refuses_the_group_and_is_not_left_paused(
        self, venue: ManualVenue
    ) -> None:
        """A risk PAUSE on a leg refuses the group; the paused leg is abandoned, BLOCKED."""
        orch = paper_orchestrator(venue, risk_hook=ConditionalRiskHook(review_quantity=Decimal(5)))
        status = orch.submit_group(ContingentGroup.oco("g1", sell(110, 6), sell(90, 6)))
        first = orch.get_order_ledger_snapshot()[0]

        assert status.state is GroupState.REFUSED
        assert venue.submitted == []
        assert first.state is OrderState.FAILED
        with pytest.raises(ContractViolation):
            orch.resume(first.correlation_id)

    def test_live_blocked_by_default(self) -> None:
        """A default orchestrator refuses every group at routing: nothing can be sent."""
        orch = ExecutionOrchestrator()
        status = orch.submit_group(oco())

        assert orch.execution_mode is ExecutionMode.LIVE_BLOCKED
        assert status.state is GroupState.REFUSED
        assert "POLICY_LIVE_NOT_ENABLED" in status.reason_detail

    def test_a_held_leg_with_bad_terms_refuses_the_group(
        self, orch: ExecutionOrchestrator, venue: ManualVenue
    ) -> None:
        """An OTO child without a limit price is refused at submit, the parent unsent."""
        bad = OrderIntent("BTC/EUR", "SELL", Decimal(4), "LIMIT", "strat")
        status = orch.submit_group(ContingentGroup.oto("o1", buy(100), bad))

        assert status.state is GroupState.REFUSED
        assert venue.submitted == []

    def test_mismatched_oco_legs_are_refused_at_construction(self) -> None:
        """OCO legs of different quantities cannot form a group."""
        with pytest.raises(Exception, match="one symbol, one quantity"):
            ContingentGroup.oco("g1", sell(110, 4), sell(90, 5))

    def test_a_leg_filled_on_submit_keeps_its_sibling_unsent(self) -> None:
        """The first leg fills on submit (marketable): the second is never sent."""
        clock_orch = paper_orchestrator()
        venue = clock_orch.registry.get(ExecutionMode.PAPER)
        assert isinstance(venue, SimulatedVenue)
        venue.set_price("BTC/EUR", 100)
        status = clock_orch.submit_group(ContingentGroup.oco("g1", sell(95), sell(130)))

        assert status.legs["first"] is not None
        assert status.legs["first"].state is OrderState.FILLED
        assert status.legs["second"] is not None
        assert status.legs["second"].state is OrderState.FAILED
        assert status.legs["second"].reason_code is ReasonCode.CONTINGENT_LEG_NOT_SENT
        assert status.state is GroupState.DONE
        assert venue.resting_orders() == ()


class TestIdempotency:
    def test_the_same_group_again_is_a_duplicate(
        self, orch: ExecutionOrchestrator, venue: ManualVenue
    ) -> None:
        """Same id, same terms: the status again, marked duplicate, nothing sent."""
        orch.submit_group(oco())
        again = orch.submit_group(oco())
        last = orch.get_audit_log_snapshot()[-1]

        assert again.duplicate
        assert len(venue.submitted) == 2
        assert (last.machine, last.outcome) == ("contingent", AuditOutcome.DUPLICATE)

    def test_the_same_id_with_other_terms_is_a_conflict(
        self, orch: ExecutionOrchestrator, venue: ManualVenue
    ) -> None:
        """Same id, other terms: an audited IdempotencyConflict, nothing sent."""
        orch.submit_group(oco())
        with pytest.raises(IdempotencyConflict):
            orch.submit_group(ContingentGroup.oco("g1", sell(111), sell(90)))

        assert len(venue.submitted) == 2
        assert orch.get_audit_log_snapshot()[-1].reason_code is ReasonCode.IDEMPOTENCY_CONFLICT


class TestDurability:
    def test_a_group_survives_a_restart(self, tmp_path: Path, engine: str) -> None:
        """Reopened on its SQLite store, the group has its state and reacts on."""
        db = tmp_path / "s.db"
        venue = ManualVenue()
        orch = paper_orchestrator(venue, store=SqliteStore(db), engine=engine)
        orch.submit_group(oco())
        orch.close()
        again = paper_orchestrator(ManualVenue(), store=SqliteStore(db), engine=engine)
        before = again.contingent.status("g1").state
        send(again, "g1", "first", EventKind.FILL, 4)

        assert before is GroupState.WORKING
        assert again.contingent.interrupted == ()
        assert again.contingent.status("g1").state is GroupState.TRIGGERED
        assert again.submit_group(oco()).duplicate

    def test_a_refused_group_stays_refused_after_a_restart(self, tmp_path: Path) -> None:
        """A refused group is rebuilt REFUSED; its id resubmitted is a duplicate."""
        db = tmp_path / "s.db"
        bad = OrderIntent("BTC/EUR", "SELL", Decimal(4), "LIMIT", "strat")
        orch = paper_orchestrator(ManualVenue(), store=SqliteStore(db))
        orch.submit_group(ContingentGroup.oco("g1", sell(110), bad))
        orch.close()
        again = paper_orchestrator(ManualVenue(), store=SqliteStore(db))
        status = again.submit_group(ContingentGroup.oco("g1", sell(110), bad))

        assert status.duplicate
        assert status.state is GroupState.REFUSED
        assert status.reason_code is ReasonCode.CONTINGENT_GROUP_REFUSED

    def test_a_crash_between_the_fill_and_the_cancel_is_flagged_then_resumed(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The process stops after the fill is durable, before the group reacted: the
        restart flags the group, and `resume` sends the owed cancel."""
        db = tmp_path / "s.db"
        orch = paper_orchestrator(ManualVenue(), store=SqliteStore(db))
        orch.submit_group(oco())
        with monkeypatch.context() as patch:
            patch.setattr(ContingentOrders, "_settle", lambda *args: [])
            send(orch, "g1", "first", EventKind.FILL, 4)
        orch.close()
        venue = ManualVenue()
        again = paper_orchestrator(venue, store=SqliteStore(db))
        flagged = again.contingent.status("g1")
        resumed = again.contingent.resume("g1")

        assert again.contingent.interrupted == ("g1",)
        assert ReasonCode.CONTINGENT_REACTION_INTERRUPTED in flagged.flags
        assert resumed.state is GroupState.TRIGGERED
        assert venue.cancelled == [leg(again, "g1", "second").client_order_id]

    def test_a_crash_between_the_trigger_and_the_cancel_is_flagged(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The trigger is durable but the cancel never left: flagged at restart."""
        db = tmp_path / "s.db"
        orch = paper_orchestrator(ManualVenue(), store=SqliteStore(db))
        orch.submit_group(oco())
        with monkeypatch.context() as patch:
            patch.setattr(ContingentOrders, "_perform", lambda *args: None)
            send(orch, "g1", "first", EventKind.FILL, 4)
        orch.close()
        venue = ManualVenue()
        again = paper_orchestrator(venue, store=SqliteStore(db))
        flagged = again.contingent.status("g1")
        again.contingent.resume("g1")

        assert flagged.state is GroupState.TRIGGERED
        assert again.contingent.interrupted == ("g1",)
        assert venue.cancelled == [leg(again, "g1", "second").client_order_id]

    def test_a_cancel_in_flight_at_the_crash_is_not_owed_again(self, tmp_path: Path) -> None:
        """A cancel written ahead and sent is not flagged as owed at restart."""
        db = tmp_path / "s.db"
        orch = paper_orchestrator(ManualVenue(), store=SqliteStore(db))
        orch.submit_group(oco())
        send(orch, "g1", "first", EventKind.FILL, 4)
        orch.close()
        again = paper_orchestrator(ManualVenue(), store=SqliteStore(db))

        assert again.contingent.interrupted == ()
        assert leg(again, "g1", "second").state is OrderState.PENDING_CANCEL

    def test_a_reduction_owed_at_the_crash_is_flagged_then_sent(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """FULL mode: the partial fill is durable, its reduction of the other leg never
        left; the restart flags it and `resume` sends the replace."""
        db = tmp_path / "s.db"
        orch = paper_orchestrator(ManualVenue(), store=SqliteStore(db))
        orch.submit_group(oco(TriggerMode.FULL))
        with monkeypatch.context() as patch:
            patch.setattr(ContingentOrders, "_settle", lambda *args: [])
            send(orch, "g1", "first", EventKind.FILL, 1)
        orch.close()
        venue = ManualVenue()
        again = paper_orchestrator(venue, store=SqliteStore(db))
        interrupted = again.contingent.interrupted
        again.contingent.resume("g1")

        assert interrupted == ("g1",)
        assert venue.replaced == [(leg(again, "g1", "second").client_order_id, Decimal(3))]


class TestOperator:
    def test_an_operator_cancel_of_the_parent_ends_the_oto_unsent(self) -> None:
        """The operator cancels the OTO parent (the venue acks at once): the group re-reads
        its legs and ends, the child never sent."""
        venue = ManualVenue(ack_cancels=True)
        orch = paper_orchestrator(venue)
        orch.submit_group(ContingentGroup.oto("o1", buy(100), sell(120)))
        orch.cancel(leg(orch, "o1", "parent").client_order_id)
        status = orch.contingent.status("o1")

        assert status.state is GroupState.DONE
        assert status.legs["child"] is None
        assert len(venue.submitted) == 1


class TestRaceInTheCancelsAnswer:
    def test_a_fill_in_the_cancels_answer_is_booked_heard_and_flagged(self) -> None:
        """The venue answers the group's cancel with a fill, then the cancel ack: the fill
        is booked, the subscribers hear it, the group ends OVERFILLED."""
        orch = paper_orchestrator(ManualVenue(ack_cancels=True, fill_before_cancel=1))
        heard: list[tuple[str, Decimal]] = []
        orch.subscribe_fills(
            lambda order, fill: heard.append((order.client_order_id, fill.quantity))
        )
        orch.submit_group(oco())
        send(orch, "g1", "first", EventKind.FILL, 4)
        status = orch.contingent.status("g1")

        assert heard == [
            (leg(orch, "g1", "first").client_order_id, Decimal(4)),
            (leg(orch, "g1", "second").client_order_id, Decimal(1)),
        ]
        assert status.state is GroupState.OVERFILLED
        assert leg(orch, "g1", "second").state is OrderState.CANCELLED


class TestHotPath:
    def test_an_order_outside_any_group_never_reaches_the_groups(
        self, orch: ExecutionOrchestrator, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A single order's events are one dict lookup away from the groups, no more."""
        orch.submit_group(oco())
        result = orch.submit_intent(buy(80))
        assert result.order is not None

        def boom(*args: object) -> None:
            raise AssertionError("a single order's event reached the contingent groups")

        monkeypatch.setattr(ContingentOrders, "handle_event", boom)
        outcome = orch.handle_event(event(result.order, EventKind.FILL, 1))

        assert outcome.applied
        assert result.pipeline_state is PipelineState.COMPLETED


class TestRaces:
    @pytest.mark.parametrize("attempt", range(5))
    def test_fills_on_both_legs_from_two_threads_are_both_kept_and_flagged(
        self, attempt: int
    ) -> None:
        """Both legs fill at once from two threads: the group's lock serialises them, both
        fills are booked, and the group ends OVERFILLED, flagged, whichever came first."""
        import threading

        orch = paper_orchestrator(ManualVenue())
        orch.submit_group(oco())
        first, second = leg(orch, "g1", "first"), leg(orch, "g1", "second")
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def deliver(order: Order) -> None:
            barrier.wait()
            try:
                orch.handle_event(event(order, EventKind.FILL, 4))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=deliver, args=(o,)) for o in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        status = orch.contingent.status("g1")

        assert errors == []
        assert status.state is GroupState.OVERFILLED
        assert orch.get_position_ledger_snapshot()["BTC/EUR"].quantity == Decimal(-8)
        assert verify_trail(orch.get_audit_log_snapshot(), MACHINES).ok
