"""
Reconciliation driven by Hypothesis: a durable paper session on a venue that loses answers,
duplicates, reorders and delays events, and crashes and restarts on the same venue; then one
honest full pass must bring every order, fill and position to the venue's truth, with nothing
sent twice and a trail that verifies and replays to the same books.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from execfsm import (
    ContractViolation,
    ExecutionEvent,
    ExecutionOrchestrator,
    IllegalTransition,
    Order,
    OrderIntent,
    OrderSide,
    OrderState,
    OrderType,
    ReplaceRequest,
    SimulatedVenue,
    SteppingClock,
)
from execfsm.adapters.dispatcher import Dispatcher, RetryPolicy
from execfsm.clock import EPOCH
from execfsm.contracts import IN_FLIGHT_ORDER_STATES
from execfsm.governance.trail import verify_trail
from execfsm.ledger.replay import replay
from execfsm.ledger.sqlite import SqliteStore
from execfsm.reconciliation.findings import ReconPolicy
from execfsm.reconciliation.report import ReconReport
from execfsm.registry import known_machines
from execfsm.testing import Fault, FaultyVenue, paper_orchestrator
from tests.strategies import quantities

SYMBOLS = ["BTC/EUR", "ETH/EUR", "XYZ/EUR"]  # the venue does not list XYZ/EUR: it rejects
SUBMIT_FAULTS = [
    Fault.NONE,
    Fault.NONE,
    Fault.TIMEOUT_AFTER_SEND,  # the venue took it, the answer is lost
    Fault.TIMEOUT_BEFORE_SEND,  # the request never left
    Fault.TRANSIENT,
    Fault.REJECTED,
    Fault.DUPLICATE_EVENTS,
    Fault.FILL_BEFORE_ACK,
    Fault.SLOW,
]
"""Faults that misdeliver the venue's truth, never invent one (no OVERFILL, CONFLICTING_FILL,
FILL_AFTER_CANCEL, PARTIAL_FILL_STORM: their fills the venue itself never made)."""
REPLACE_FAULTS = [Fault.NONE, Fault.TIMEOUT_AFTER_SEND, Fault.TRANSIENT, Fault.DUPLICATE_EVENTS]
POLICY = ReconPolicy(
    not_found_after=2,
    not_found_wait=timedelta(seconds=1),
    in_flight_after=timedelta(seconds=5),
)
STEP = timedelta(milliseconds=50)


class RecordingVenue(SimulatedVenue):
    """A simulated venue that keeps every answer it gave, lost on the way or not, so that a
    rule can deliver it late."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.answered: list[ExecutionEvent] = []

    def submit(self, order: Order, idempotency_key: str) -> Sequence[ExecutionEvent]:
        events = super().submit(order, idempotency_key)
        self.answered.extend(events)
        return events

    def cancel(self, order: Order) -> Sequence[ExecutionEvent]:
        events = super().cancel(order)
        self.answered.extend(events)
        return events

    def replace(self, order: Order, request: ReplaceRequest) -> Sequence[ExecutionEvent]:
        events = super().replace(order, request)
        self.answered.extend(events)
        return events


class LossyVenue(FaultyVenue):
    """A FaultyVenue that can also lose its answer to a cancel the venue carried out."""

    lose_cancel_answer = False

    def cancel(self, order: Order) -> Sequence[ExecutionEvent]:
        events = super().cancel(order)
        if self.lose_cancel_answer:
            self.lose_cancel_answer = False
            raise TimeoutError("read timed out after the cancel was sent")
        return events


def one_attempt() -> Dispatcher:
    """A dispatcher that leaves an unknown outcome unknown (flagged), never retried."""
    return Dispatcher(RetryPolicy(max_attempts=1), sleep=lambda _s: None)


def signed(order: Order | OrderSide, quantity: Decimal) -> Decimal:
    """`quantity` as it moves the position of a BUY or a SELL."""
    side = order if isinstance(order, OrderSide) else order.side
    return quantity if side is OrderSide.BUY else -quantity


class ReconciliationMachine(RuleBasedStateMachine):
    """One durable paper session on a misbehaving venue, restarted now and then."""

    @initialize()
    def start(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="recon-stateful-"))
        self.db = self.tmp / "s.db"
        self.clock = SteppingClock(EPOCH, STEP)
        self.inner = RecordingVenue(self.clock, partial_fills=("0.5", "0.5"), fee_bps=5)
        self.venue = LossyVenue(self.inner, sleep=lambda _s: None)
        self.store: SqliteStore | None = None
        self.orch = self._open()
        self.count = 0
        self.restarts = 0

    def _open(self) -> ExecutionOrchestrator:
        self.store = SqliteStore(self.db)
        orch = paper_orchestrator(
            self.venue,
            clock=self.clock,
            store=self.store,
            dispatcher=one_attempt(),
            reconciliation=POLICY,
        )
        if orch.startup_reconciliation is not None:
            self._check_pass(orch.startup_reconciliation)
        return orch

    def teardown(self) -> None:
        """Last, the honest passes; then the session ends and its files go."""
        if not hasattr(self, "orch"):
            return
        try:
            self.honest_final_pass()
        finally:
            with contextlib.suppress(Exception):
                self.orch.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _orders(self, *states: OrderState) -> list[Order]:
        return [o for o in self.orch.get_order_ledger_snapshot() if o.state in states]

    def _with(self, fault: Fault) -> None:
        """The next venue call misbehaves by `fault`, and no later call does."""
        self.venue.script.clear()
        self.venue.script.append(fault)

    # -- trading -----------------------------------------------------------------------------

    @rule(
        symbol=st.sampled_from(SYMBOLS),
        side=st.sampled_from(OrderSide),
        qty=quantities,
        limit=st.sampled_from([None, Decimal("0.9"), Decimal("1.1")]),
        fault=st.sampled_from(SUBMIT_FAULTS),
    )
    def submit(
        self, symbol: str, side: OrderSide, qty: Decimal, limit: Decimal | None, fault: Fault
    ) -> None:
        self.count += 1
        price = self.inner.price(symbol) or Decimal(100)
        intent = OrderIntent(
            symbol,
            side,
            qty,
            OrderType.MARKET if limit is None else OrderType.LIMIT,
            "recon-stateful",
            limit_price=None if limit is None else (price * limit).quantize(Decimal("0.01")),
            intent_id=f"i{self.count}",
        )
        self._with(fault)
        self.orch.submit_intent(intent)
        self.venue.script.clear()

    @rule(data=st.data(), lost=st.booleans())
    def cancel(self, data: st.DataObject, lost: bool) -> None:
        orders = self._orders(*IN_FLIGHT_ORDER_STATES)
        if orders:
            target = data.draw(st.sampled_from(orders))
            self._with(Fault.NONE)
            self.venue.lose_cancel_answer = lost
            self.orch.cancel(target.client_order_id)
            self.venue.lose_cancel_answer = False
            self.venue.script.clear()

    @rule(
        data=st.data(),
        how=st.sampled_from(["up", "down", "price"]),
        fault=st.sampled_from(REPLACE_FAULTS),
    )
    def replace(self, data: st.DataObject, how: str, fault: Fault) -> None:
        orders = self._orders(OrderState.ACKNOWLEDGED, OrderState.PARTIALLY_FILLED)
        if not orders:
            return
        target = data.draw(st.sampled_from(orders))
        terms: dict[str, Decimal] = {}
        if how == "up":
            terms["quantity"] = target.quantity + Decimal("0.5")
        elif how == "down":
            terms["quantity"] = target.filled_quantity + Decimal("0.001")
        elif target.limit_price is not None:
            terms["limit_price"] = (target.limit_price * Decimal("1.01")).quantize(
                Decimal("0.01")
            )
        self._with(fault)
        # A replace the order's terms or state refuse is refused before the venue.
        with contextlib.suppress(ContractViolation, IllegalTransition):
            self.orch.replace(target.client_order_id, **terms)
        self.venue.script.clear()

    @rule(
        symbol=st.sampled_from(SYMBOLS[:2]),
        factor=st.sampled_from(["0.85", "0.95", "1.05", "1.15"]),
    )
    def move_price(self, symbol: str, factor: str) -> None:
        price = self.inner.price(symbol)
        assert price is not None
        self.inner.set_price(symbol, price * Decimal(factor))

    @rule(data=st.data())
    def deliver_late(self, data: st.DataObject) -> None:
        """An answer of the venue's (lost, or heard already) arrives late, maybe again."""
        if self.inner.answered:
            self.orch.handle_event(data.draw(st.sampled_from(self.inner.answered)))

    # -- reconciliation and restarts -------------------------------------------------------

    @rule(full=st.booleans(), failures=st.integers(0, 2))
    def reconcile(self, full: bool, failures: int) -> None:
        """A pass mid-session; the venue may fail to answer its first questions."""
        self.venue.query_failures = failures
        self._check_pass(self.orch.reconcile(full=full))
        self.venue.query_failures = 0

    @rule(crash=st.booleans())
    def restart(self, crash: bool) -> None:
        """Close the session, or crash it (its store released, the orchestrator dropped
        unclosed), and open a new one on the same store and the same venue."""
        assert self.store is not None
        if crash:
            self.store.close()
        else:
            self.orch.close()
        self.restarts += 1
        self.orch = self._open()

    def _check_pass(self, report: ReconReport) -> None:
        """A pass in the middle of faults holds nothing: the venue only ever misdelivers."""
        assert not report.held, report.held

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def no_key_becomes_two_orders(self) -> None:
        if hasattr(self, "inner"):
            assert len(set(self.inner.new_orders)) == len(self.inner.new_orders)

    @precondition(lambda self: hasattr(self, "orch"))
    @rule()
    def honest_final_pass(self) -> None:
        """With the venue honest again, full passes bring everything to the venue's truth."""
        self.venue.script.clear()
        self.venue.query_failures = 0
        report = self.orch.reconcile(full=True)
        for _ in range(POLICY.not_found_after + 1):
            if report.clean:
                break
            report = self.orch.reconcile(now=self.clock.now() + POLICY.not_found_wait, full=True)
        assert report.clean, report
        self._assert_the_venues_truth()

    def _assert_the_venues_truth(self) -> None:
        records = self.orch.get_audit_log_snapshot()
        verified = verify_trail(records, known_machines())
        assert verified.ok, verified
        rebuilt = replay(records)
        orders = {o.client_order_id: o for o in self.orch.get_order_ledger_snapshot()}
        venue = self.inner.venue_reports()
        for cid, order in orders.items():
            assert not order.recon_flags, order
            theirs = venue.get(cid)
            counted = rebuilt.orders[cid]
            fill_ids = {f.fill_id for f in (*counted.fills, *counted.late_fills)}
            if theirs is None:  # it never reached the venue
                assert order.state in (OrderState.REJECTED, OrderState.FAILED), order
                assert order.filled_quantity == 0
                assert not fill_ids
                continue
            assert order.state is theirs.state, (order, theirs)
            assert order.filled_quantity == theirs.cum_quantity, (order, theirs)
            assert fill_ids == {f.exec_id for f in theirs.fills}, (order, theirs)
        assert set(venue) <= set(orders), "the venue holds an order we do not know"
        ours = {s: p.quantity for s, p in self.orch.get_position_ledger_snapshot().items()}
        assert {s: q for s, q in ours.items() if q} == {
            s: q for s, q in self.inner.positions().items() if q
        }
        assert rebuilt.positions == self.orch.get_position_ledger_snapshot()
        assert {c: (o.state, o.filled_quantity) for c, o in rebuilt.orders.items()} == {
            c: (o.state, o.filled_quantity) for c, o in orders.items()
        }
        keys = [o.idempotency_key for o in orders.values()]
        assert len(set(self.inner.new_orders)) == len(self.inner.new_orders)
        assert set(self.inner.new_orders) <= set(keys)


ReconciliationMachine.TestCase.settings = settings(
    settings.default, max_examples=200, stateful_step_count=30, deadline=None
)
TestReconciliationStateful = ReconciliationMachine.TestCase
