"""
An orchestrator process on a shared PostgreSQL database, for the multi-process tests; run as
a subprocess and SIGKILLed at random moments.

Usage: python -m tests.pg_worker URL STREAM SEED COUNT [WAIT]

It opens stream STREAM (as a standby when WAIT, seconds, is given: it prints ``WAITING`` and
waits for the owner's lock), prints ``OWNED <unix time>`` once it holds the stream and
``RECOVERED <unix time> <records>`` once recovery is done, then (once a line comes on
stdin) submits intents ``k0`` … ``k{COUNT-1}`` in an order
SEED shuffles, printing ``RESULT <key> <state> <duplicate>`` for each result returned and
``ELSEWHERE <key>`` for each refused as in progress elsewhere (asked again at the end). Its
venue records every order it is sent in the shared table ``test_dispatches`` before it
answers, so the test counts the dispatches of every key across all processes.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Sequence
from decimal import Decimal

import psycopg

from execfsm import ExecutionEvent, Order, OrderIntent, SimulatedVenue, SystemClock
from execfsm.errors import InProgressElsewhere
from execfsm.ledger.postgres import PostgresStore
from execfsm.testing import paper_orchestrator
from tests.recon_settings import RECOVERY_ONLY

DISPATCHES = (
    "CREATE TABLE IF NOT EXISTS test_dispatches "
    "(idempotency_key TEXT NOT NULL, stream TEXT NOT NULL, pid INTEGER NOT NULL)"
)


class CountingVenue(SimulatedVenue):
    """A simulated venue that records each order it is sent in a shared table first."""

    def __init__(self, url: str, stream: str) -> None:
        super().__init__(SystemClock(), name="paper")
        self.stream = stream
        self.conn = psycopg.connect(url, autocommit=True)

    def submit(self, order: Order, idempotency_key: str) -> Sequence[ExecutionEvent]:
        self.conn.execute(
            "INSERT INTO test_dispatches (idempotency_key, stream, pid) VALUES (%s, %s, "
            "pg_backend_pid())",
            (idempotency_key, self.stream),
        )
        return super().submit(order, idempotency_key)


def intent(key: str) -> OrderIntent:
    side = "BUY" if int(key[1:]) % 3 else "SELL"
    return OrderIntent("BTC/EUR", side, Decimal(1), "MARKET", "mp", intent_id=key)


def main(argv: list[str]) -> None:
    url, stream, seed, count = argv[0], argv[1], int(argv[2]), int(argv[3])
    wait = float(argv[4]) if len(argv) > 4 else None
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(DISPATCHES)
    if wait is not None:
        print("WAITING", flush=True)
    store = PostgresStore(url, stream=stream, wait=wait)
    print(f"OWNED {time.time()}", flush=True)
    venue = CountingVenue(url, stream)
    orch = paper_orchestrator(venue, store=store, reconciliation=RECOVERY_ONLY)
    print(f"RECOVERED {time.time()} {orch.recovery.records}", flush=True)
    sys.stdin.readline()  # the test says go
    keys = [f"k{n}" for n in range(count)]
    random.Random(seed).shuffle(keys)
    later: list[str] = []
    for rounds in range(3):
        for key in keys:
            try:
                result = orch.submit_intent(intent(key))
            except InProgressElsewhere:
                print(f"ELSEWHERE {key}", flush=True)
                later.append(key)
                continue
            print(f"RESULT {key} {result.pipeline_state} {result.duplicate}", flush=True)
        if not later or rounds == 2:
            break
        keys, later = later, []
        time.sleep(0.2)
    orch.close()
    print("DONE", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
