"""
`submit_intent` from many threads at once, on the durable store.

8 threads x 2,000 intents by default (``THREAD_INTENTS`` changes the size).
"""

from __future__ import annotations

import os
import sys
import threading
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from execfsm import (
    ExecutionEvent,
    ExecutionOrchestrator,
    Fill,
    OrderIntent,
    OrderSide,
    ReasonCode,
    SimulatedVenue,
    SteppingClock,
)
from execfsm.clock import EPOCH
from execfsm.governance import MACHINES
from execfsm.governance.trail import verify_trail
from execfsm.ledger.replay import replay
from execfsm.ledger.sqlite import SqliteStore
from execfsm.testing import paper_orchestrator

THREADS = 8
PER_THREAD = int(os.environ.get("THREAD_INTENTS", "2000"))


def run_threads(target: object, count: int = THREADS) -> None:
    errors: list[BaseException] = []

    def guarded(index: int) -> None:
        try:
            target(index)  # type: ignore[operator]
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def rig(tmp_path: Path) -> tuple[ExecutionOrchestrator, SimulatedVenue, SqliteStore]:
    clock = SteppingClock(EPOCH, timedelta(microseconds=10))
    venue = SimulatedVenue(clock, partial_fills=("0.5", "0.5"))
    store = SqliteStore(tmp_path / "threads.db")
    orch = paper_orchestrator(venue, clock=clock, store=store)
    return orch, venue, store


class TestThreads:
    def test_many_threads_many_intents(self, tmp_path: Path) -> None:
        """Distinct intents from 8 threads: gapless audit seq, a verifying trail, positions
        equal to the sum of their fills, every key sent once, and fewer commits than flushes
        asked for (group commit)."""
        orch, venue, store = rig(tmp_path)

        def work(thread: int) -> None:
            for n in range(PER_THREAD):
                side = OrderSide.BUY if n % 3 else OrderSide.SELL
                orch.submit_intent(
                    OrderIntent(
                        "BTC/EUR" if n % 2 else "ETH/EUR",
                        side,
                        Decimal("0.01"),
                        "MARKET",
                        "t",
                        intent_id=f"{thread}-{n}",
                    )
                )

        run_threads(work)

        records = orch.get_audit_log_snapshot()
        assert [r.seq for r in records] == list(range(1, len(records) + 1))
        assert verify_trail(records, MACHINES).ok
        assert len(venue.new_orders) == len(set(venue.new_orders)) == THREADS * PER_THREAD
        rebuilt = replay(records)
        assert rebuilt.positions == orch.get_position_ledger_snapshot()
        for symbol, position in orch.get_position_ledger_snapshot().items():
            signed = sum(
                (o.filled_quantity if o.side is OrderSide.BUY else -o.filled_quantity)
                for o in orch.get_order_ledger_snapshot()
                if o.symbol == symbol
            )
            assert position.quantity == signed
        # Unshared, every intent would cost two commits; waiting flushes share them.
        assert store.commits < THREADS * PER_THREAD

    def test_threads_racing_on_the_same_intents_dispatch_once(self, tmp_path: Path) -> None:
        """8 threads submitting the same intents: each key reaches the venue once, and every
        thread gets the same result for it."""
        orch, venue, _ = rig(tmp_path)
        intents = [
            OrderIntent("BTC/EUR", "BUY", Decimal("0.01"), "MARKET", "race", intent_id=str(n))
            for n in range(max(20, PER_THREAD // 5))
        ]
        seen: dict[int, list[object]] = {}

        def work(thread: int) -> None:
            seen[thread] = [orch.submit_intent(i).correlation_id for i in intents]

        run_threads(work)

        assert len(venue.new_orders) == len(set(venue.new_orders)) == len(intents)
        assert all(seen[t] == seen[0] for t in seen)
        assert verify_trail(orch.get_audit_log_snapshot(), MACHINES).ok

    def test_late_fills_from_many_threads_on_packed_orders_are_all_kept(
        self, tmp_path: Path
    ) -> None:
        """Final orders are kept packed and re-opened per event: 8 threads delivering late
        fills for the same cancelled orders lose none (each order keeps all 8, booked,
        counted and flagged)."""
        orch, _, _ = rig(tmp_path)
        orders = []
        for n in range(20):
            resting = OrderIntent(
                "BTC/EUR", "BUY", "0.01", "LIMIT", "late", limit_price="1", intent_id=str(n)
            )
            order = orch.submit_intent(resting).order
            assert order is not None
            orders.append(orch.cancel(order.client_order_id).order)
        held = orch.get_position_ledger_snapshot().get("BTC/EUR")
        before = Decimal(0) if held is None else held.quantity
        switch = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # interleave the threads as often as the GIL allows

        def work(thread: int) -> None:
            for order in orders:
                assert order is not None
                fill = Fill(f"late-{thread}", "0.001", "100")
                orch.handle_event(ExecutionEvent.of_fill(order, f"e-{thread}", EPOCH, fill))

        try:
            run_threads(work)
        finally:
            sys.setswitchinterval(switch)

        for order in orders:
            assert order is not None
            lifecycle = orch._services.orders.get(order.client_order_id)
            assert lifecycle is not None
            assert sorted(f.fill_id for f in lifecycle.late_fills) == [
                f"late-{t}" for t in range(THREADS)
            ]
            assert lifecycle.order.recon_flags == (ReasonCode.FILL_AFTER_FINAL,)
        booked = orch.get_position_ledger_snapshot()["BTC/EUR"].quantity - before
        assert booked == Decimal("0.001") * THREADS * len(orders)
        assert verify_trail(orch.get_audit_log_snapshot(), MACHINES).ok
