"""
Reconciliation driven by Hypothesis: a durable paper session on a venue that loses answers,
duplicates, reorders and delays events, and crashes and restarts on the same venue; then one
honest full pass must bring every order, fill and position to the venue's truth, with nothing
sent twice and a trail that verifies and replays to the same books.

Beside it, one deterministic test per resolution rule through the orchestrator: a lost
dispatch answer, the not-found rule, impossible reports, failing and lagging answers, lost
cancel and replace answers, the venue's orders we do not know, positions, startup
reconciliation, and the two engines.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import tempfile
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
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
from execfsm.adapters.query_faults import QueryFaults, WrongReport
from execfsm.clock import EPOCH
from execfsm.contracts import IN_FLIGHT_ORDER_STATES, ReasonCode
from execfsm.fsm.audit import AuditOutcome, AuditRecord
from execfsm.governance.trail import verify_trail
from execfsm.ledger.replay import replay
from execfsm.ledger.sqlite import SqliteStore
from execfsm.reconciliation.findings import FindingKind, ReconPolicy
from execfsm.reconciliation.machine import OrderReconciliation, ReconState
from execfsm.reconciliation.report import ReconReport
from execfsm.registry import known_machines
from execfsm.testing import Fault, FaultyVenue, order_for, paper_orchestrator
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
SCRATCH = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108 - a fast scratch dir
"""Where each example's store lives: in memory when the system has it (no fsync waits)."""


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
    """A FaultyVenue that can also lose its answer to a cancel the venue carried out, and time
    out on a call that never reached the venue (we cannot tell which of the two it was)."""

    lose_cancel_answer = False
    """The next cancel reaches the venue; its answer is lost."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.unsent: set[str] = set()
        """Calls ("submit", "cancel", "replace") whose next one times out before it left."""

    def _lost_before(self, call: str) -> None:
        if call in self.unsent:
            self.unsent.discard(call)
            raise TimeoutError(f"{call} timed out; it never reached the venue")

    def submit(self, order: Order, idempotency_key: str) -> Sequence[ExecutionEvent]:
        self._lost_before("submit")
        return super().submit(order, idempotency_key)

    def cancel(self, order: Order) -> Sequence[ExecutionEvent]:
        self._lost_before("cancel")
        events = super().cancel(order)
        if self.lose_cancel_answer:
            self.lose_cancel_answer = False
            raise TimeoutError("read timed out after the cancel was sent")
        return events

    def replace(self, order: Order, request: ReplaceRequest) -> Sequence[ExecutionEvent]:
        self._lost_before("replace")
        return super().replace(order, request)


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
        self.tmp = Path(tempfile.mkdtemp(prefix="recon-stateful-", dir=SCRATCH))
        self.db = self.tmp / "s.db"
        self.clock = SteppingClock(EPOCH, STEP)
        self.inner = RecordingVenue(self.clock, partial_fills=("0.5", "0.5"), fee_bps=5)
        self.venue = LossyVenue(self.inner, sleep=lambda _s: None)
        self.store: SqliteStore | None = None
        self.orch = self._open()
        self.count = 0
        self.restarts = 0

    def _open(self) -> ExecutionOrchestrator:
        self.store = SqliteStore(self.db, synchronous="NORMAL")  # crashes of the process only
        orch = paper_orchestrator(
            self.venue,
            clock=self.clock,
            store=self.store,
            dispatcher=one_attempt(),
            reconciliation=POLICY,
        )
        self.orch = orch
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
            terms["limit_price"] = (target.limit_price * Decimal("1.01")).quantize(Decimal("0.01"))
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
        sent = list(self.inner.submissions)
        report = self.orch.reconcile(full=True)
        for _ in range(POLICY.not_found_after + 1):
            if report.clean:
                break
            report = self.orch.reconcile(now=self.clock.now() + POLICY.not_found_wait, full=True)
        assert report.clean, report
        assert self.inner.submissions == sent  # reconciliation only asks
        self._assert_the_venues_truth()

    def _assert_the_venues_truth(self) -> None:
        """Every order, its fills and every position as the venue holds them; no key twice
        at the venue; the trail verifies and replays to the same books."""
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


# -- each resolution rule, through the orchestrator ----------------------------------------------

NOT_FOUND_RULE = ReconPolicy(not_found_after=2, not_found_wait=timedelta(seconds=10))


class Session:
    """A paper session on a lossy venue, with a 1-attempt dispatcher (unknown stays unknown)."""

    def __init__(
        self,
        *script: Fault,
        policy: ReconPolicy = NOT_FOUND_RULE,
        store: SqliteStore | None = None,
        engine: str | None = None,
        liquidity: dict[str, str] | None = None,
        **faults: object,
    ) -> None:
        self.clock = SteppingClock(EPOCH, timedelta(milliseconds=1))
        self.inner = RecordingVenue(self.clock, partial_fills=("0.5", "0.5"), liquidity=liquidity)
        self.venue = LossyVenue(self.inner, script, sleep=lambda _s: None, **faults)
        self.policy = policy
        self.engine = engine
        self.orch = self.open(store)

    def open(self, store: SqliteStore | None = None) -> ExecutionOrchestrator:
        """An orchestrator on `store` (in memory if None), the same venue and clock."""
        return paper_orchestrator(
            self.venue,
            clock=self.clock,
            dispatcher=one_attempt(),
            reconciliation=self.policy,
            store=store,
            engine=self.engine,
        )

    def submit(self, intent: OrderIntent, *script: Fault) -> str:
        """Submit `intent` with the venue misbehaving by `script`; its client order id."""
        self.venue.script.extend(script)
        self.orch.submit_intent(intent)
        return order_for(intent).client_order_id

    def order(self, cid: str) -> Order:
        order = self.orch.order(cid)
        assert order is not None
        return order

    def records(self, cid: str, machine: str | None = None) -> list[AuditRecord]:
        """The trail's records of order `cid` (and of its reconciliation), of `machine`."""
        return [
            r
            for r in self.orch.get_audit_log_snapshot()
            if r.client_order_id == cid
            or r.correlation_id == OrderReconciliation.correlation_of(cid)
            if machine is None or r.machine == machine
        ]

    def verified(self) -> None:
        """The trail verifies and replays to the orchestrator's books."""
        records = self.orch.get_audit_log_snapshot()
        verification = verify_trail(records, known_machines())
        assert verification.ok, verification
        rebuilt = replay(records)
        assert rebuilt.positions == self.orch.get_position_ledger_snapshot()
        assert {c: (o.state, o.filled_quantity) for c, o in rebuilt.orders.items()} == {
            o.client_order_id: (o.state, o.filled_quantity)
            for o in self.orch.get_order_ledger_snapshot()
        }


def intent(
    intent_id: str = "a",
    quantity: str = "1",
    limit: str | None = None,
    side: OrderSide = OrderSide.BUY,
    symbol: str = "BTC/EUR",
) -> OrderIntent:
    """A MARKET order, or a LIMIT one at `limit` (1 rests below any BTC price)."""
    return OrderIntent(
        symbol,
        side,
        Decimal(quantity),
        OrderType.MARKET if limit is None else OrderType.LIMIT,
        "recon",
        limit_price=None if limit is None else Decimal(limit),
        intent_id=intent_id,
    )


def applies_precede_order_records(records: Sequence[AuditRecord], cid: str) -> int:
    """How many ``apply`` records `records` hold, each checked to come just before the order
    record it marks."""
    applies = 0
    for record, after in itertools.pairwise(records):
        if record.machine == "reconciliation" and record.event == "apply":
            applies += 1
            assert after.machine == "order", (record, after)
            assert after.client_order_id == cid
            assert after.outcome is AuditOutcome.APPLIED
    assert records[-1].event != "apply"
    return applies


class TestLostDispatchAnswer:
    """An order the venue took, whose answer was lost."""

    @pytest.mark.parametrize(
        ("limit", "state", "filled", "applied"),
        [
            (None, OrderState.FILLED, Decimal(1), 3),  # ACK and two fills
            ("1", OrderState.ACKNOWLEDGED, Decimal(0), 1),  # it rests
        ],
    )
    def test_is_brought_to_the_venues_state_through_its_own_events(
        self, limit: str | None, state: OrderState, filled: Decimal, applied: int
    ) -> None:
        """A pass applies the venue's ACK and fills, clears the flags, and marks each
        applied event by an apply record just before the order's own record."""
        s = Session()
        cid = s.submit(intent(limit=limit), Fault.TIMEOUT_AFTER_SEND)
        before = s.order(cid)

        report = s.orch.reconcile()

        order = s.order(cid)
        assert (before.state, before.recon_flags) == (
            OrderState.SUBMITTED,
            (ReasonCode.DISPATCH_OUTCOME_UNKNOWN,),
        )
        assert (order.state, order.filled_quantity, order.recon_flags) == (state, filled, ())
        assert [(c.client_order_id, c.finding, c.state, c.applied) for c in report.checks] == [
            (cid, FindingKind.DIFFERS, ReconState.AGREED, applied)
        ]
        assert report.clean
        records = s.records(cid)
        assert applies_precede_order_records(records, cid) == applied
        assert [r.event for r in records if r.reason_code is ReasonCode.RECON_AGREED] == [
            "agree",
            "reconciled",
        ]
        assert {
            s: p.quantity for s, p in s.orch.get_position_ledger_snapshot().items() if p.quantity
        } == {sym: q for sym, q in s.inner.positions().items() if q}
        assert s.inner.new_orders == [before.idempotency_key]
        s.verified()

    def test_a_second_pass_finds_nothing_to_do(self) -> None:
        """Once agreed and unflagged, an order is not asked again by a plain pass."""
        s = Session()
        s.submit(intent(), Fault.TIMEOUT_AFTER_SEND)
        s.orch.reconcile()

        again = s.orch.reconcile()

        assert again.checks == ()
        assert again.clean


class TestNotFound:
    """An order the venue never had: the not-found rule."""

    @staticmethod
    def never_reached() -> tuple[Session, str]:
        s = Session()
        s.venue.unsent.add("submit")
        cid = s.submit(intent(limit="1"))
        return s, cid

    @pytest.mark.parametrize(
        ("policy", "short_passes", "last"),
        [
            # one pass short: the time is met, the count is not
            (ReconPolicy(not_found_after=3, not_found_wait=timedelta(seconds=10)), (0, 20), 30),
            # time short: the count is met, the time is not
            (ReconPolicy(not_found_after=2, not_found_wait=timedelta(seconds=10)), (0, 5, 9), 10),
        ],
        ids=["one-pass-short", "time-short"],
    )
    def test_is_rejected_only_once_count_and_time_are_both_met(
        self, policy: ReconPolicy, short_passes: tuple[int, ...], last: int
    ) -> None:
        """Until the count and the time are both met the order stays SUBMITTED and flagged;
        then it ends REJECTED with RECON_ORDER_NOT_FOUND and is never sent again."""
        s = Session(policy=policy)
        s.venue.unsent.add("submit")
        cid = s.submit(intent(limit="1"))
        t0 = s.clock.now() + timedelta(minutes=1)
        sent = list(s.inner.submissions)

        for seconds in short_passes:
            report = s.orch.reconcile(t0 + timedelta(seconds=seconds))
            assert report.unresolved[0].client_order_id == cid
            assert s.order(cid).state is OrderState.SUBMITTED
            assert s.order(cid).recon_flags == (ReasonCode.DISPATCH_OUTCOME_UNKNOWN,)
        report = s.orch.reconcile(t0 + timedelta(seconds=last))

        order = s.order(cid)
        assert sent == []
        assert s.inner.submissions == sent
        assert (order.state, order.reason_code, order.recon_flags) == (
            OrderState.REJECTED,
            ReasonCode.RECON_ORDER_NOT_FOUND,
            (),
        )
        assert [(c.finding, c.state) for c in report.checks] == [
            (FindingKind.UNKNOWN, ReconState.NOT_FOUND)
        ]
        events = [r.event for r in s.records(cid, "reconciliation")]
        assert events == ["unknown"] * len(short_passes) + ["give_up"]
        assert s.orch.reconcile(t0 + timedelta(seconds=last + 1)).checks == ()
        s.verified()

    def test_a_forgetful_venue_is_taken_at_its_word_only_by_the_rule(self) -> None:
        """A venue that reports the order unknown (forget_orders) resolves it by the same
        rule, without re-sending it."""
        first = intent(limit="1")
        cid = order_for(first).client_order_id
        s = Session(forget_orders=[cid])
        s.submit(first, Fault.TIMEOUT_AFTER_SEND)
        t0 = s.clock.now()
        sent = list(s.inner.submissions)

        s.orch.reconcile(t0)
        held = s.order(cid).state
        s.orch.reconcile(t0 + timedelta(seconds=10))

        assert held is OrderState.SUBMITTED
        assert s.order(cid).state is OrderState.REJECTED
        assert s.order(cid).reason_code is ReasonCode.RECON_ORDER_NOT_FOUND
        assert s.inner.submissions == sent

    def test_an_acknowledged_order_the_venue_hides_is_held_only_by_the_rule(self) -> None:
        """A venue that stops showing an order it acknowledged (a lagging or forgetful
        answer) is not taken at its first word either: the order stays as it was until the
        rule's answers and time are met, then it is held for an operator (never rejected:
        the venue had it)."""
        first = intent(limit="1")
        cid = order_for(first).client_order_id
        s = Session()
        s.submit(first)
        s.venue.query_faults = QueryFaults(forget=frozenset({cid}))
        t0 = s.clock.now()

        early = s.orch.reconcile(t0, full=True)
        waiting = s.order(cid)
        late = s.orch.reconcile(t0 + timedelta(seconds=10), full=True)

        assert [(c.finding, c.state) for c in early.checks] == [
            (FindingKind.UNKNOWN, ReconState.NEEDED)
        ]
        assert (waiting.state, waiting.recon_flags) == (OrderState.ACKNOWLEDGED, ())
        assert [c.state for c in late.checks] == [ReconState.HELD]
        assert s.order(cid).state is OrderState.ACKNOWLEDGED
        assert s.order(cid).recon_flags == (ReasonCode.RECON_REPORT_IMPOSSIBLE,)
        s.verified()

    def test_the_count_survives_a_restart(self, tmp_path: Path) -> None:
        """The not-found count and its start are re-read from the trail after a restart."""
        policy = ReconPolicy(
            not_found_after=2, not_found_wait=timedelta(seconds=10), on_start=False
        )
        s = Session(policy=policy, store=SqliteStore(tmp_path / "s.db"))
        s.venue.unsent.add("submit")
        cid = s.submit(intent(limit="1"))
        s.orch.reconcile()
        first = s.records(cid, "reconciliation")[0]
        s.orch.close()
        s.orch = s.open(SqliteStore(tmp_path / "s.db"))

        s.orch.reconcile(first.ts + timedelta(seconds=10))

        assert s.order(cid).state is OrderState.REJECTED
        s.verified()


class TestImpossibleReports:
    """A report that cannot be true of the order holds it for an operator."""

    @pytest.mark.parametrize("how", list(WrongReport))
    def test_is_held_until_released(self, how: WrongReport) -> None:
        """The order is HELD and flagged RECON_REPORT_IMPOSSIBLE; passes do not ask again
        until an operator releases it; then a true report resolves it."""
        first = intent(limit="1")
        cid = order_for(first).client_order_id
        s = Session(wrong_reports={cid: how})
        s.submit(first, Fault.TIMEOUT_AFTER_SEND)

        report = s.orch.reconcile()
        held = s.order(cid)
        again = s.orch.reconcile()
        s.venue.query_faults = QueryFaults()  # the venue answers truly again
        still = s.orch.reconcile()
        s.orch.release_held(cid, "looked at it")
        resolved = s.orch.reconcile()

        assert [(c.finding, c.state) for c in report.checks] == [
            (FindingKind.IMPOSSIBLE, ReconState.HELD)
        ]
        assert report.held
        assert not report.clean
        assert held.state is OrderState.SUBMITTED
        assert ReasonCode.RECON_REPORT_IMPOSSIBLE in held.recon_flags
        assert [(c.finding, c.state) for c in again.checks + still.checks] == [
            (None, ReconState.HELD),
            (None, ReconState.HELD),
        ]
        assert [(c.finding, c.state) for c in resolved.checks] == [
            (FindingKind.DIFFERS, ReconState.AGREED)
        ]
        assert (s.order(cid).state, s.order(cid).recon_flags) == (OrderState.ACKNOWLEDGED, ())
        events = [r.event for r in s.records(cid, "reconciliation")]
        assert events == ["hold", "release", "differ", "apply", "agree"]
        s.verified()

    def test_release_of_an_order_not_held_is_refused(self) -> None:
        """Only a held order can be released."""
        s = Session()
        cid = s.submit(intent(limit="1"))

        with pytest.raises(ContractViolation, match="not held"):
            s.orch.release_held(cid)


class TestUnusableAnswers:
    """Failing and lagging answers change nothing."""

    def test_a_query_failure_leaves_the_order_flagged_for_the_next_pass(self) -> None:
        """The order stays flagged and named unresolved; the next pass resolves it."""
        s = Session(query_failures=1)
        cid = s.submit(intent(), Fault.TIMEOUT_AFTER_SEND)

        failed = s.orch.reconcile()
        flagged = s.order(cid)
        resolved = s.orch.reconcile()

        assert [(c.client_order_id, c.finding, c.state) for c in failed.unresolved] == [
            (cid, FindingKind.UNANSWERED, ReconState.NEEDED)
        ]
        assert (flagged.state, flagged.recon_flags) == (
            OrderState.SUBMITTED,
            (ReasonCode.DISPATCH_OUTCOME_UNKNOWN,),
        )
        assert s.venue.failed_queries == ["order_report"]
        assert resolved.clean
        assert (s.order(cid).state, s.order(cid).recon_flags) == (OrderState.FILLED, ())

    def test_a_lagging_venue_is_behind_and_nothing_changes(self) -> None:
        """A report lacking a fill we hold is BEHIND: no event applied, the books unchanged."""
        s = Session(liquidity={"BTC/EUR": "1"})
        cid = s.submit(intent(quantity="2", limit="59000"))
        s.inner.set_price("BTC/EUR", "58000")  # 1 of 2 fills (two fills), its events reach us
        before = (s.order(cid), s.orch.get_position_ledger_snapshot())
        s.venue.query_faults = QueryFaults(lag=1)  # the last fill is not in the answers yet

        report = s.orch.reconcile(full=True)

        assert (before[0].state, before[0].filled_quantity) == (
            OrderState.PARTIALLY_FILLED,
            Decimal(1),
        )
        assert [(c.finding, c.state, c.applied) for c in report.checks] == [
            (FindingKind.BEHIND, ReconState.NEEDED, 0)
        ]
        assert not report.clean
        assert (s.order(cid), s.orch.get_position_ledger_snapshot()) == before
        assert [r.reason_code for r in s.records(cid, "reconciliation")] == [
            ReasonCode.RECON_VENUE_BEHIND
        ]
        s.venue.query_faults = QueryFaults()
        assert s.orch.reconcile(full=True).clean


class TestLostCancelAndReplaceAnswers:
    """A cancel or replace whose answer was lost is answered by the venue's report."""

    @pytest.mark.parametrize(
        ("reached", "state", "event"),
        [
            (True, OrderState.CANCELLED, "cancel_ack"),
            (False, OrderState.ACKNOWLEDGED, "cancel_reject"),
        ],
        ids=["venue-cancelled", "never-reached"],
    )
    def test_pending_cancel(self, reached: bool, state: OrderState, event: str) -> None:
        """PENDING_CANCEL ends CANCELLED if the venue cancelled, else back where it was."""
        s = Session()
        cid = s.submit(intent(limit="1"))
        if reached:
            s.venue.lose_cancel_answer = True
        else:
            s.venue.unsent.add("cancel")
        s.orch.cancel(cid)
        pending = s.order(cid)

        report = s.orch.reconcile()

        assert pending.state is OrderState.PENDING_CANCEL
        assert pending.recon_flags
        assert report.clean
        assert (s.order(cid).state, s.order(cid).recon_flags) == (state, ())
        assert event in [r.event for r in s.records(cid, "order")]
        assert s.inner.order_report(cid) is not None
        assert s.inner.venue_reports()[cid].state is state
        s.verified()

    @pytest.mark.parametrize(
        ("reached", "quantity", "event"),
        [(True, Decimal(2), "replace_ack"), (False, Decimal(1), "replace_reject")],
        ids=["venue-replaced", "never-reached"],
    )
    def test_pending_replace(self, reached: bool, quantity: Decimal, event: str) -> None:
        """PENDING_REPLACE takes the venue's terms: REPLACE_ACK or REPLACE_REJECT."""
        s = Session()
        cid = s.submit(intent(limit="1"))
        if reached:
            s.venue.script.append(Fault.TIMEOUT_AFTER_SEND)
        else:
            s.venue.unsent.add("replace")
        s.orch.replace(cid, quantity=Decimal(2))
        pending = s.order(cid)

        report = s.orch.reconcile()

        order = s.order(cid)
        assert pending.state is OrderState.PENDING_REPLACE
        assert pending.recon_flags == (ReasonCode.REPLACE_OUTCOME_UNKNOWN,)
        assert report.clean
        assert (order.state, order.quantity, order.recon_flags) == (
            OrderState.ACKNOWLEDGED,
            quantity,
            (),
        )
        assert s.inner.venue_reports()[cid].quantity == quantity
        assert event in [r.event for r in s.records(cid, "order")]
        s.verified()

    def test_a_price_only_replace_that_never_reached_the_venue_is_rejected(self) -> None:
        """A lost replace of the price alone keeps the venue's price: REPLACE_REJECT (the
        venue's report carries the order's limit price, not None)."""
        s = Session()
        cid = s.submit(intent(limit="1"))
        s.venue.unsent.add("replace")
        s.orch.replace(cid, limit_price=Decimal(2))

        s.orch.reconcile()

        order = s.order(cid)
        assert (order.state, order.limit_price, order.recon_flags) == (
            OrderState.ACKNOWLEDGED,
            Decimal(1),
            (),
        )
        assert "replace_reject" in [r.event for r in s.records(cid, "order")]
        s.verified()

    def test_a_replace_lost_before_its_order_ended_is_moot(self) -> None:
        """A replace whose answer was lost, then a cancel the venue took: the order agrees
        as CANCELLED (no REPLACE_ACK is proposed for an ended order, which would refuse it
        and be held for an operator)."""
        s = Session()
        cid = s.submit(intent(limit="1"))
        s.venue.script.append(Fault.TIMEOUT_AFTER_SEND)
        s.orch.replace(cid, quantity=Decimal(2))
        s.orch.cancel(cid)
        cancelled = s.order(cid)

        report = s.orch.reconcile()

        assert cancelled.state is OrderState.CANCELLED
        assert cancelled.recon_flags == (ReasonCode.REPLACE_OUTCOME_UNKNOWN,)
        assert [(c.finding, c.state) for c in report.checks] == [
            (FindingKind.AGREES, ReconState.AGREED)
        ]
        assert (s.order(cid).state, s.order(cid).recon_flags) == (OrderState.CANCELLED, ())
        assert s.inner.venue_reports()[cid].state is OrderState.CANCELLED
        s.verified()


class TestVenueSide:
    """A full pass looks at what the venue holds that we do not."""

    @staticmethod
    def external(s: Session) -> str:
        """An order placed at the venue directly: 2 at the market, 1 of it fills at once."""
        order = order_for(intent("outside", quantity="2", limit="60000"))
        s.inner.submit(order, "placed-by-hand")
        return order.client_order_id

    def test_an_unknown_order_is_reported_with_the_position_difference(self) -> None:
        """Not adopted, the order is listed and the position difference recorded with its
        size; the pass is not clean."""
        s = Session(liquidity={"BTC/EUR": "1"})
        cid = self.external(s)

        report = s.orch.reconcile(full=True)

        assert [r.client_order_id for r in report.external] == [cid]
        assert report.adopted == ()
        assert [(d.symbol, d.ours, d.venue, d.size) for d in report.positions] == [
            ("BTC/EUR", Decimal(0), Decimal(1), Decimal(1))
        ]
        assert not report.clean
        assert s.orch.order(cid) is None
        noted = [
            (r.event, r.reason_code)
            for r in s.orch.get_audit_log_snapshot()
            if r.machine == "reconciliation_pass" and r.event != "finish"
        ]
        assert noted == [
            ("external_order", ReasonCode.RECON_EXTERNAL_ORDER),
            ("position_differs", ReasonCode.RECON_POSITION_DIFFERS),
        ]
        differs = [r for r in s.orch.get_audit_log_snapshot() if r.event == "position_differs"]
        assert "BTC/EUR" in differs[0].detail
        assert "1" in differs[0].detail

    def test_an_adopted_order_keeps_its_fills_and_survives_a_restart(self, tmp_path: Path) -> None:
        """Adopted with its fill and position, the pass is clean; a restart re-opens it and
        the trail verifies."""
        policy = ReconPolicy(adopt_external=True)
        s = Session(policy=policy, liquidity={"BTC/EUR": "1"}, store=SqliteStore(tmp_path / "s.db"))
        s.submit(intent(limit="1"))  # a session of our own first
        cid = self.external(s)

        report = s.orch.reconcile(full=True)
        adopted = s.order(cid)
        s.orch.close()
        s.orch = s.open(SqliteStore(tmp_path / "s.db"))

        assert report.adopted == (cid,)
        assert report.clean
        assert (adopted.state, adopted.filled_quantity, adopted.quantity) == (
            OrderState.PARTIALLY_FILLED,
            Decimal(1),
            Decimal(2),
        )
        assert s.orch.get_position_ledger_snapshot()["BTC/EUR"].quantity == Decimal(1)
        assert s.order(cid) == adopted
        assert s.orch.startup_reconciliation is not None
        assert s.orch.startup_reconciliation.clean
        s.verified()
        assert (adopted.order_type, adopted.limit_price) == (OrderType.LIMIT, Decimal(60000))
        s.inner.set_price("BTC/EUR", "59000")  # the rest fills at the venue
        # The venue's event names the adopted order by its id (and the correlation id of
        # whoever placed it): applied, not refused as another order's.
        assert s.order(cid).state is OrderState.FILLED
        assert s.order(cid).recon_flags == ()
        assert s.orch.reconcile(full=True).clean
        assert s.orch.get_position_ledger_snapshot()["BTC/EUR"].quantity == Decimal(2)
        s.verified()


class TestStartup:
    """A session re-opened on a store reconciles before it takes new work."""

    def test_runs_before_new_work(self, tmp_path: Path) -> None:
        """The lost answer is resolved by the startup pass, whose records come before the
        next intent's."""
        s = Session(store=SqliteStore(tmp_path / "s.db"))
        cid = s.submit(intent(), Fault.TIMEOUT_AFTER_SEND)
        s.orch.close()
        s.orch = s.open(SqliteStore(tmp_path / "s.db"))
        startup = s.orch.startup_reconciliation
        resolved = s.order(cid)
        second = s.submit(intent("b"))

        assert startup is not None
        assert startup.clean
        assert [c.client_order_id for c in startup.checks] == [cid]
        assert (resolved.state, resolved.recon_flags) == (OrderState.FILLED, ())
        records = s.orch.get_audit_log_snapshot()
        last_recon = max(r.seq for r in records if r.machine.startswith("reconciliation"))
        first_new = min(r.seq for r in records if r.client_order_id == second)
        assert last_recon < first_new
        s.verified()

    def test_on_start_false_turns_it_off(self, tmp_path: Path) -> None:
        """With ``on_start=False`` no pass runs: the order stays flagged."""
        policy = ReconPolicy(on_start=False)
        s = Session(policy=policy, store=SqliteStore(tmp_path / "s.db"))
        cid = s.submit(intent(), Fault.TIMEOUT_AFTER_SEND)
        s.orch.close()
        s.orch = s.open(SqliteStore(tmp_path / "s.db"))

        assert s.orch.startup_reconciliation is None
        assert s.order(cid).state is OrderState.SUBMITTED
        assert s.order(cid).recon_flags == (ReasonCode.DISPATCH_OUTCOME_UNKNOWN,)


def scenario(engine: str | None) -> tuple[tuple[object, ...], ...]:
    """One session through every rule; its records, whole but for the engine-free fields."""
    wrong = order_for(intent("c", limit="1")).client_order_id
    s = Session(engine=engine, wrong_reports={wrong: WrongReport.OTHER_SIDE})
    s.submit(intent("a"), Fault.TIMEOUT_AFTER_SEND)
    s.venue.unsent.add("submit")
    s.submit(intent("b", limit="1"))
    s.submit(intent("c", limit="1"), Fault.TIMEOUT_AFTER_SEND)
    cancelled = s.submit(intent("d", limit="1"))
    s.venue.lose_cancel_answer = True
    s.orch.cancel(cancelled)
    t0 = s.clock.now()
    for seconds in (0, 5, 10):
        s.orch.reconcile(t0 + timedelta(seconds=seconds), full=True)
    s.orch.release_held(wrong)
    s.venue.query_faults = QueryFaults()
    s.orch.reconcile(full=True)
    return tuple(
        (
            r.seq,
            r.ts,
            r.correlation_id,
            r.client_order_id,
            r.machine,
            r.event,
            r.source,
            r.target,
            r.outcome,
            r.reason_code,
            r.detail,
            r.hash,
        )
        for r in s.orch.get_audit_log_snapshot()
    )


def test_both_engines_write_the_same_records() -> None:
    """The reference engine and the compiled one write the same trail for one scenario."""
    compiled = scenario(None)

    assert scenario("reference") == compiled
    assert {r[5] for r in compiled} >= {
        "differ",
        "apply",
        "agree",
        "unknown",
        "give_up",
        "hold",
        "release",
    }
