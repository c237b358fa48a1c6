"""
A durable paper session for the crash test, run as a subprocess and killed with SIGKILL.

Usage: python -m tests.crash_driver DB JOURNAL COUNT PAUSE_AT [BATCH [THREADS]]

It prints ``READY`` once the store is open, ``RESULT <key> <pipeline state>`` as each result
is returned (intents go one at a time, or in `submit_intents` batches of BATCH), and
``DISPATCHING`` (then waits to be killed) when the venue is called for the PAUSE_AT-th new
order (-1: never). With THREADS > 1, that many threads submit the intents one at a time
(thread i takes every THREADS-th; thread 0 in batches of 5), and one more thread cancels
every resting order it sees
while the venue takes its time over each cancel; each cancel that returns prints
``CANCELLED <client order id> <outcome>``.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from execfsm import (
    ExecutionEvent,
    ExecutionOrchestrator,
    Order,
    OrderIntent,
    SimulatedVenue,
    SystemClock,
)
from execfsm.ledger.sqlite import SqliteStore
from execfsm.testing import paper_orchestrator


def intents(count: int) -> list[OrderIntent]:
    """The session's intents: market buys, resting limits, invalid ones and duplicates."""
    made: list[OrderIntent] = []
    for n in range(count):
        if n % 5 == 4 and n >= 3:
            made.append(made[n - 3])  # a deliberate resubmission
        elif n % 7 == 6:
            made.append(
                OrderIntent("ETH/EUR", "BUY", Decimal(0), "MARKET", "crash", intent_id=str(n))
            )
        elif n % 3 == 2:
            made.append(
                OrderIntent(
                    "ETH/EUR",
                    "SELL",
                    Decimal("0.5"),
                    "LIMIT",
                    "crash",
                    limit_price=Decimal(9000),
                    intent_id=str(n),
                )
            )
        else:
            made.append(
                OrderIntent("BTC/EUR", "BUY", Decimal("0.1"), "MARKET", "crash", intent_id=str(n))
            )
    return made


class PausingVenue(SimulatedVenue):
    """Announces the PAUSE_AT-th dispatch and hangs there, so the kill lands inside it."""

    def __init__(self, *args: object, pause_at: int = -1, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.pause_at = pause_at
        self.calls = 0

    def submit(self, order: Order, idempotency_key: str) -> Sequence[ExecutionEvent]:
        events = super().submit(order, idempotency_key)  # journaled: the venue has it now
        if self.calls == self.pause_at:
            print("DISPATCHING", flush=True)
            time.sleep(60)
        self.calls += 1
        return events

    def cancel(self, order: Order) -> Sequence[ExecutionEvent]:
        time.sleep(0.003)  # a slow venue: the other threads go on meanwhile
        return super().cancel(order)


def open_session(
    db: Path, journal: Path, pause_at: int = -1
) -> tuple[ExecutionOrchestrator, PausingVenue]:
    clock = SystemClock()
    venue = PausingVenue(clock, journal=journal, partial_fills=("0.5", "0.5"), pause_at=pause_at)
    orch = paper_orchestrator(venue, clock=clock, store=SqliteStore(db))
    return orch, venue


_PRINT = threading.Lock()


def say(line: str) -> None:
    """One line to the test, whole, from any thread."""
    with _PRINT:
        print(line, flush=True)


def run_threads(orch: ExecutionOrchestrator, todo: list[OrderIntent], threads: int) -> None:
    """`threads` submitting threads and one cancelling thread, until every intent is in."""
    done = threading.Event()
    cancelled: set[str] = set()

    def submit(first: int) -> None:
        mine = todo[first::threads]
        if first == 0:  # one thread submits in batches: long units among the short ones
            for start in range(0, len(mine), 5):
                for result in orch.submit_intents(mine[start : start + 5]):
                    say(f"RESULT {result.idempotency_key} {result.pipeline_state}")
            return
        for intent in mine:
            result = orch.submit_intent(intent)
            say(f"RESULT {result.idempotency_key} {result.pipeline_state}")

    def cancel() -> None:
        while not done.is_set():
            for order in orch.get_order_ledger_snapshot():
                if order.state == "ACKNOWLEDGED" and order.client_order_id not in cancelled:
                    cancelled.add(order.client_order_id)
                    outcome = orch.cancel(order.client_order_id)
                    say(f"CANCELLED {order.client_order_id} {outcome.outcome}")
            time.sleep(0.001)

    workers = [threading.Thread(target=submit, args=(i,)) for i in range(threads)]
    canceller = threading.Thread(target=cancel)
    for worker in [*workers, canceller]:
        worker.start()
    for worker in workers:
        worker.join()
    done.set()
    canceller.join()


def main(argv: list[str]) -> None:
    db, journal, count, pause_at = Path(argv[0]), Path(argv[1]), int(argv[2]), int(argv[3])
    batch = int(argv[4]) if len(argv) > 4 else 1
    threads = int(argv[5]) if len(argv) > 5 else 1
    orch, _ = open_session(db, journal, pause_at)
    print("READY", flush=True)
    todo = intents(count)
    if threads > 1:
        run_threads(orch, todo, threads)
        return
    for start in range(0, count, batch):
        chunk = todo[start : start + batch]
        results = [orch.submit_intent(chunk[0])] if batch == 1 else orch.submit_intents(chunk)
        for result in results:
            print(f"RESULT {result.idempotency_key} {result.pipeline_state}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
