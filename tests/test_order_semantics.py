"""
The order semantics of issue 17, one class per finding: late fills counted and bounded, leaves
0 when done, contradictions flagged and handed off, REJECT while a cancel is pending, busts
and corrections booked as reversals that survive a restart, and the declared case table.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from execfsm import (
    AuditOutcome,
    EventKind,
    ExecutionEvent,
    ExecutionOrchestrator,
    Fill,
    IdempotencyConflict,
    OrderIntent,
    OrderLifecycle,
    OrderState,
    ReasonCode,
    SimulatedVenue,
    SteppingClock,
)
from execfsm.clock import EPOCH
from execfsm.contracts import FINAL_ORDER_STATES
from execfsm.errors import ContractViolation
from execfsm.fsm.audit import AuditOutcome as Outcome
from execfsm.fsm.cases import ANY_EVENT
from execfsm.fsm.order_cases import ORDER_CASES
from execfsm.fsm.outcome import EVENT_OF_KIND
from execfsm.ledger.replay import replay
from execfsm.ledger.sqlite import SqliteStore
from execfsm.testing import in_memory_audit, order_for, paper_orchestrator
from tests.conftest import make_intent
from tests.recon_settings import RECOVERY_ONLY

S = OrderState
_ids = iter(range(1, 1_000_000))


def venue_event(lc: OrderLifecycle, kind: EventKind, **fields: Any) -> ExecutionEvent:
    return ExecutionEvent(
        kind, f"v{next(_ids)}", lc.client_order_id, lc.correlation_id, EPOCH, **fields
    )


def live(quantity: str = "10") -> OrderLifecycle:
    lc = OrderLifecycle(order_for(make_intent(quantity=quantity)), in_memory_audit())
    lc.send("submit")
    lc.apply(venue_event(lc, EventKind.ACK))
    return lc


def fill(lc: OrderLifecycle, fill_id: str, qty: str, price: str = "100") -> Any:
    return lc.apply(venue_event(lc, EventKind.FILL, fill=Fill(fill_id, qty, price)))


class TestLeaves:
    @pytest.mark.parametrize(
        ("kind", "state"),
        [
            (EventKind.CANCEL_ACK, S.CANCELLED),
            (EventKind.EXPIRE, S.EXPIRED),
        ],
    )
    def test_leaves_is_zero_once_the_order_is_done(self, kind: EventKind, state: S) -> None:
        """A partly filled order that is cancelled or expires has leaves 0 (FIX LeavesQty)."""
        lc = live()
        fill(lc, "f1", "4")

        lc.apply(venue_event(lc, kind))

        assert (lc.order.state, lc.order.filled_quantity) == (state, Decimal("4"))
        assert lc.order.remaining_quantity == 0

    def test_leaves_is_what_is_open_while_live(self) -> None:
        """A live order's leaves is its quantity less what is filled."""
        lc = live()
        fill(lc, "f1", "4")

        assert lc.order.remaining_quantity == Decimal("6")


class TestContradictions:
    @pytest.mark.parametrize(
        ("setup", "kind", "state"),
        [
            ("filled", EventKind.CANCEL_ACK, S.FILLED),
            ("partly", EventKind.REJECT, S.PARTIALLY_FILLED),
            ("filled", EventKind.EXPIRE, S.FILLED),
            ("partly", EventKind.REPLACE_ACK, S.PARTIALLY_FILLED),
            ("cancelled", EventKind.REJECT, S.CANCELLED),
        ],
    )
    def test_an_impossible_venue_event_is_refused_and_flags(
        self, setup: str, kind: EventKind, state: S
    ) -> None:
        """A venue event that cannot happen to the order in its state is refused, changes no
        figure, is audited, and flags the order VENUE_CONTRADICTION."""
        lc = live()
        fill(lc, "f1", "10" if setup == "filled" else "4")
        if setup == "cancelled":
            lc.apply(venue_event(lc, EventKind.CANCEL_ACK))
        before = lc.order
        extra = {"reason_code": ReasonCode.ADAPTER_REJECTED} if kind is EventKind.REJECT else {}

        outcome = lc.apply(venue_event(lc, kind, **extra))

        assert (outcome.outcome, outcome.reason_code) == (
            AuditOutcome.REFUSED,
            ReasonCode.VENUE_CONTRADICTION,
        )
        assert lc.order == before.with_changes(recon_flags=(ReasonCode.VENUE_CONTRADICTION,))
        assert lc.order.state is state

    def test_a_contradiction_reaches_the_reconciliation_log(self) -> None:
        """Through the orchestrator, a CANCEL_ACK for a FILLED order flags it and writes a
        reconciliation hand-off naming the flag."""
        orch = paper_orchestrator()
        order = orch.submit_intent(make_intent(order_type="MARKET", limit_price=None)).order
        assert order is not None
        assert order.state is S.FILLED
        handed = len(orch.get_recon_snapshot())

        outcome = orch.handle_event(
            ExecutionEvent.of_kind(EventKind.CANCEL_ACK, order, "late-cancel", EPOCH)
        )

        assert outcome.reason_code is ReasonCode.VENUE_CONTRADICTION
        known = orch.order(order.client_order_id)
        assert known is not None
        assert known.recon_flags == (ReasonCode.VENUE_CONTRADICTION,)
        new = orch.get_recon_snapshot()[handed:]
        assert [(r.trigger, r.recon_flags) for r in new] == [
            ("CANCEL_ACK", (ReasonCode.VENUE_CONTRADICTION,))
        ]

    def test_a_repeated_answer_is_a_duplicate_and_flags_nothing(self) -> None:
        """A second CANCEL_ACK for a cancelled order is audited as a duplicate: nothing moves,
        nothing is flagged."""
        lc = live()
        lc.apply(venue_event(lc, EventKind.CANCEL_ACK))

        outcome = lc.apply(venue_event(lc, EventKind.CANCEL_ACK))

        assert (outcome.outcome, outcome.reason_code) == (
            AuditOutcome.DUPLICATE,
            ReasonCode.EVENT_REPEATED,
        )
        assert lc.order.recon_flags == ()


class TestRejectWhilePendingCancel:
    def test_a_reject_ends_a_pending_cancel_rejected(self) -> None:
        """A venue REJECT while the cancel is pending ends the order REJECTED (nothing was
        filled), with the venue's reason."""
        lc = live()
        lc.send("request_cancel")

        outcome = lc.apply(
            venue_event(lc, EventKind.REJECT, reason_code=ReasonCode.ADAPTER_REJECTED)
        )

        assert outcome.applied
        assert (lc.order.state, lc.order.reason_code) == (S.REJECTED, ReasonCode.ADAPTER_REJECTED)

    def test_a_reject_after_fills_while_pending_cancel_is_a_contradiction(self) -> None:
        """With fills, the same REJECT contradicts the fills: refused, flagged, still pending."""
        lc = live()
        fill(lc, "f1", "3")
        lc.send("request_cancel")

        outcome = lc.apply(
            venue_event(lc, EventKind.REJECT, reason_code=ReasonCode.ADAPTER_REJECTED)
        )

        assert outcome.reason_code is ReasonCode.VENUE_CONTRADICTION
        assert lc.order.state is S.PENDING_CANCEL
        assert lc.order.recon_flags == (ReasonCode.VENUE_CONTRADICTION,)


class TestBustsAndCorrections:
    def test_a_bust_reopens_a_filled_order_and_recounts(self) -> None:
        """Busting one of two fills of a FILLED order moves it back to PARTIALLY_FILLED with
        the other fill's quantity, price and fee."""
        lc = live()
        fill(lc, "f1", "4", "100")
        fill(lc, "f2", "6", "110")

        outcome = lc.apply(ExecutionEvent.bust(lc.order, "b1", EPOCH, "f2"))

        assert outcome.applied
        assert outcome.reversed_fill == Fill("f2", "6", "110")
        assert (lc.order.state, lc.order.filled_quantity) == (S.PARTIALLY_FILLED, Decimal("4"))
        assert lc.order.average_fill_price == Decimal("100")
        assert [f.fill_id for f in lc.fills] == ["f1"]
        assert [f.fill_id for f in lc.retired_fills] == ["f2"]

    def test_a_bust_repeated_is_a_duplicate_and_the_fill_cannot_come_back(self) -> None:
        """The same bust again is a duplicate; the busted fill re-delivered is a duplicate too
        (booked once, never again)."""
        lc = live()
        fill(lc, "f1", "4")
        lc.apply(ExecutionEvent.bust(lc.order, "b1", EPOCH, "f1"))

        again = lc.apply(ExecutionEvent.bust(lc.order, "b2", EPOCH, "f1"))
        redelivered = fill(lc, "f1", "4")

        assert (again.outcome, again.reason_code) == (Outcome.DUPLICATE, ReasonCode.EVENT_REPEATED)
        assert (redelivered.outcome, redelivered.booked_fill) == (Outcome.DUPLICATE, None)
        assert lc.order.filled_quantity == 0

    def test_a_bust_of_an_unknown_fill_is_refused_and_flagged(self) -> None:
        """A bust naming a fill the order never had is refused and flags TRADE_UNKNOWN_FILL."""
        lc = live()
        fill(lc, "f1", "4")

        outcome = lc.apply(ExecutionEvent.bust(lc.order, "b1", EPOCH, "nope"))

        assert outcome.reason_code is ReasonCode.TRADE_UNKNOWN_FILL
        assert lc.order.filled_quantity == Decimal("4")
        assert lc.order.recon_flags == (ReasonCode.TRADE_UNKNOWN_FILL,)

    def test_a_correction_that_would_overfill_is_refused(self) -> None:
        """A correction taking the filled quantity beyond the order is refused as an
        overfill and flags the order; the fill stays as it was."""
        lc = live()
        fill(lc, "f1", "4")
        fill(lc, "f2", "5")

        outcome = lc.apply(
            ExecutionEvent.correction(lc.order, "c1", EPOCH, "f2", Fill("f2c", "7", "100"))
        )

        assert outcome.reason_code is ReasonCode.FILL_OVERFILL
        assert lc.order.filled_quantity == Decimal("9")
        assert [f.fill_id for f in lc.fills] == ["f1", "f2"]

    def test_a_correction_keeps_its_place_and_may_complete_the_order(self) -> None:
        """A correction up to the order quantity fills the order; the corrected fill takes the
        original's place under its own id."""
        lc = live()
        fill(lc, "f1", "4", "100")
        fill(lc, "f2", "5", "100")

        outcome = lc.apply(
            ExecutionEvent.correction(lc.order, "c1", EPOCH, "f1", Fill("f1c", "5", "90"))
        )

        assert outcome.applied
        assert (outcome.reversed_fill, outcome.booked_fill) == (
            Fill("f1", "4", "100"),
            Fill("f1c", "5", "90"),
        )
        assert (lc.order.state, lc.order.filled_quantity) == (S.FILLED, Decimal("10"))
        assert lc.order.average_fill_price == Decimal("95")
        assert [f.fill_id for f in lc.fills] == ["f1c", "f2"]

    def test_a_correction_must_carry_its_own_fill_id(self) -> None:
        """A TRADE_CORRECT whose fill reuses the corrected id is refused at construction."""
        lc = live()

        with pytest.raises(ContractViolation, match="own id"):
            ExecutionEvent.correction(lc.order, "c1", EPOCH, "f1", Fill("f1", "5", "90"))

    def test_a_bust_on_a_cancelled_order_keeps_it_cancelled(self) -> None:
        """A bust of a fill of a cancelled order takes it back and the order stays CANCELLED."""
        lc = live()
        fill(lc, "f1", "4")
        lc.apply(venue_event(lc, EventKind.CANCEL_ACK))

        outcome = lc.apply(ExecutionEvent.bust(lc.order, "b1", EPOCH, "f1"))

        assert (outcome.outcome, outcome.reason_code) == (
            AuditOutcome.APPLIED,
            ReasonCode.TRADE_BUSTED,
        )
        assert (lc.order.state, lc.order.filled_quantity) == (S.CANCELLED, Decimal("0"))
        assert outcome.reversed_fill == Fill("f1", "4", "100")


def _durable(db: Path) -> tuple[ExecutionOrchestrator, SimulatedVenue]:
    clock = SteppingClock(EPOCH, timedelta(milliseconds=1))
    venue = SimulatedVenue(clock)
    store = SqliteStore(db)
    return paper_orchestrator(venue, clock=clock, store=store, reconciliation=RECOVERY_ONLY), venue


class TestRevisionsThroughTheOrchestrator:
    def test_bust_and_correction_book_reversals_and_survive_a_restart(self, tmp_path: Path) -> None:
        """A bust and a correction move the position as if the fills were never booked (and
        then the corrected one was); the store reopens with the same orders and positions, and
        a replay of the trail agrees."""
        db = tmp_path / "s.db"
        orch, _venue = _durable(db)
        intent = OrderIntent("BTC/EUR", "BUY", "10", "LIMIT", "s", limit_price="1", intent_id="a")
        order = orch.submit_intent(intent).order
        assert order is not None
        for n, qty in enumerate(("3", "4")):
            orch.handle_event(
                ExecutionEvent.of_fill(order, f"vf{n}", EPOCH, Fill(f"f{n}", qty, "1"))
            )
        orch.handle_event(ExecutionEvent.bust(order, "bust", EPOCH, "f0"))
        orch.handle_event(
            ExecutionEvent.correction(order, "corr", EPOCH, "f1", Fill("f1c", "2", "1.5"))
        )
        orders, positions = orch.get_order_ledger_snapshot(), orch.get_position_ledger_snapshot()
        rebuilt = replay(orch.get_audit_log_snapshot())
        orch._services.store.close()

        again, _ = _durable(db)

        position = positions["BTC/EUR"]
        assert (position.quantity, position.average_cost) == (Decimal("2"), Decimal("1.5"))
        known = again.order(order.client_order_id)
        assert known is not None
        assert (known.state, known.filled_quantity) == (S.PARTIALLY_FILLED, Decimal("2"))
        assert again.get_order_ledger_snapshot() == orders
        assert again.get_position_ledger_snapshot() == positions == rebuilt.positions
        assert rebuilt.orders[order.client_order_id].filled_quantity == Decimal("2")

    def test_fill_subscribers_hear_the_corrected_fill_not_the_reversal(self) -> None:
        """A correction tells fill subscribers of its new fill; the reversal is no execution."""
        orch = paper_orchestrator()
        intent = OrderIntent("BTC/EUR", "BUY", "10", "LIMIT", "s", limit_price="1", intent_id="b")
        order = orch.submit_intent(intent).order
        assert order is not None
        orch.handle_event(ExecutionEvent.of_fill(order, "vf", EPOCH, Fill("f1", "3", "1")))
        heard: list[str] = []
        orch.subscribe_fills(lambda _order, fill: heard.append(fill.fill_id))

        orch.handle_event(ExecutionEvent.correction(order, "c", EPOCH, "f1", Fill("f1c", "2", "1")))

        assert heard == ["f1c"]


class TestDeclaredCases:
    def test_every_venue_event_in_every_state_has_an_edge_or_a_row(self) -> None:
        """For each state and venue event, the transition table has an edge or the case table
        a row of its own: the deny-by-default row is never the only answer."""
        missing = []
        for state in OrderState:
            for name in EVENT_OF_KIND.values():
                own = [
                    c
                    for c in ORDER_CASES.rows()
                    if state.value in c.states and (c.event == name or c.when)
                ]
                if (state, name) not in OrderLifecycle.edges and not own:
                    missing.append((state.value, name))

        assert missing == []

    def test_the_last_row_denies_by_default_and_flags(self) -> None:
        """The table ends with a row for any event in any state: refused and flagged."""
        last = ORDER_CASES.cases[-1]

        assert (last.event, last.outcome, last.reason, last.flags) == (
            ANY_EVENT,
            Outcome.REFUSED,
            ReasonCode.VENUE_CONTRADICTION,
            True,
        )
        assert set(last.states) == {s.value for s in OrderState}

    def test_every_row_that_refuses_a_disagreement_flags(self) -> None:
        """Rule 5: every refusing row flags the order, every absorbing row does not."""
        for case in ORDER_CASES.rows():
            if case.outcome is Outcome.REFUSED:
                assert case.flags, case
            if case.outcome is Outcome.DUPLICATE:
                assert not case.flags, case

    @pytest.mark.parametrize("state", sorted(FINAL_ORDER_STATES))
    def test_done_states_answer_every_venue_event_without_raising(self, state: S) -> None:
        """In every done state, every kind of venue event gets an outcome, never an error."""
        kinds = [k for k in EventKind if k not in (EventKind.TRADE_BUST, EventKind.TRADE_CORRECT)]
        for kind in kinds:
            lc = live()
            if state is S.FILLED:
                fill(lc, "f1", "10")
            elif state is S.FAILED:
                lc = OrderLifecycle(order_for(make_intent()), in_memory_audit())
                lc.send("fail", reason_code=ReasonCode.ADAPTER_ERROR)
            else:
                ending = {
                    S.CANCELLED: EventKind.CANCEL_ACK,
                    S.EXPIRED: EventKind.EXPIRE,
                    S.REJECTED: EventKind.REJECT,
                }[state]
                extra = {"reason_code": ReasonCode.ADAPTER_REJECTED} if state is S.REJECTED else {}
                lc.apply(venue_event(lc, ending, **extra))
            fields: dict[str, Any] = {}
            if kind is EventKind.FILL:
                fields["fill"] = Fill("late", "0.5", "100")
            if kind is EventKind.REJECT:
                fields["reason_code"] = ReasonCode.ADAPTER_REJECTED

            outcome = lc.apply(venue_event(lc, kind, **fields))

            assert outcome.outcome in tuple(AuditOutcome)
            assert lc.order.remaining_quantity == 0


class TestExpiryByOurClock:
    def test_an_order_we_expired_keeps_why_and_absorbs_the_venues_cancel(self) -> None:
        """An order expired by our clock keeps EXPIRED_BY_CLOCK as its reason; the venue's
        CANCEL_ACK to the cancel we then sent is absorbed, not a contradiction."""
        lc = live()
        lc.send("expire", reason_code=ReasonCode.EXPIRED_BY_CLOCK)

        outcome = lc.apply(venue_event(lc, EventKind.CANCEL_ACK))

        assert lc.order.reason_code is ReasonCode.EXPIRED_BY_CLOCK
        assert (outcome.outcome, outcome.reason_code) == (
            AuditOutcome.DUPLICATE,
            ReasonCode.EVENT_ABSORBED,
        )
        assert lc.order.recon_flags == ()

    def test_an_intent_id_reused_with_another_expiry_is_a_conflict(self) -> None:
        """A GTD intent resubmitted under the same intent id with another expire_time is an
        idempotency conflict, not a duplicate: nothing is sent."""
        orch = paper_orchestrator()
        first = OrderIntent(
            "BTC/EUR",
            "BUY",
            "1",
            "LIMIT",
            "s",
            limit_price="1",
            time_in_force="GTD",
            expire_time="2026-01-02T00:00:00Z",
            intent_id="gtd",
        )
        orch.submit_intent(first)
        later = first.__class__(**{**_fields(first), "expire_time": "2026-01-03T00:00:00Z"})

        with pytest.raises(IdempotencyConflict, match="expire_time"):
            orch.submit_intent(later)


def _fields(intent: OrderIntent) -> dict[str, Any]:
    return {name: getattr(intent, name) for name in attrs.fields_dict(OrderIntent)}
