"""
Durable intents per second on PostgreSQL (`PostgresStore`), for `bench.py`: one process
(intents one at a time, and in batches), and four processes writing four streams of one
database at once (each in batches). The server is ``EXECFSM_TEST_POSTGRES``'s, else a
private cluster (`execfsm.testing.postgres`, fsync on, on this machine's disk).

Usage (a worker, run by `postgres_figures`): python bench/pg_bench.py URL STREAM N BATCH
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from execfsm import (  # fmt: skip
    AdapterRegistry,
    ExecutionMode,
    ExecutionOrchestrator,
    OrderIntent,
    SimulatedVenue,
    SteppingClock,
)
from execfsm.clock import EPOCH
from execfsm.ledger.postgres import PostgresStore
from execfsm.testing.postgres import PostgresServer, ServerUnavailable

PROCESSES = 4


def _orchestrator(url: str, stream: str) -> ExecutionOrchestrator:
    clock = SteppingClock(EPOCH)
    registry = AdapterRegistry()
    registry.register(ExecutionMode.PAPER, SimulatedVenue(clock, partial_fills=("0.5", "0.5")))
    return ExecutionOrchestrator(
        execution_mode=ExecutionMode.PAPER,
        registry=registry,
        clock=clock,
        store=PostgresStore(url, stream=stream),
    )


def _intents(stream: str, n: int) -> list[OrderIntent]:
    return [
        OrderIntent("BTC/EUR", "BUY", Decimal("0.01"), "MARKET", "bench", intent_id=f"{stream}-{i}")
        for i in range(n)
    ]


def _run(orch: ExecutionOrchestrator, intents: list[OrderIntent], batch: int) -> float:
    start = time.perf_counter()
    if batch <= 1:
        for intent in intents:
            orch.submit_intent(intent)
    else:
        for i in range(0, len(intents), batch):
            orch.submit_intents(intents[i : i + batch])
    return time.perf_counter() - start


def one_process(url: str, n: int, batch: int) -> float:
    """Intents per second, one orchestrator, one stream."""
    orch = _orchestrator(url, f"one-{batch}")
    try:
        return n / _run(orch, _intents(f"one-{batch}", n), batch)
    finally:
        orch.close()


def processes(url: str, n: int, batch: int) -> float:
    """Intents per second, all of `PROCESSES` processes together (each its own stream, `n`
    intents), from the first start to the last end."""
    here = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    workers = [
        subprocess.Popen(  # noqa: S603 - this file
            [sys.executable, str(here / "pg_bench.py"), url, f"p{k}-{batch}", str(n), str(batch)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for k in range(PROCESSES)
    ]
    for worker in workers:  # each has opened its store
        if worker.stdout is None or worker.stdout.readline().strip() != "READY":
            raise RuntimeError("a bench worker did not start")
    for worker in workers:
        if worker.stdin is not None:
            worker.stdin.write("go\n")
            worker.stdin.flush()
    spans = []
    for worker in workers:
        out, _ = worker.communicate(timeout=600)
        start, end = out.split()[-2:]
        spans.append((float(start), float(end)))
    wall = max(end for _, end in spans) - min(start for start, _ in spans)
    return PROCESSES * n / wall


def postgres_figures(n: int, batch: int) -> dict[str, Any]:
    """The figures, or why there are none (``unavailable``)."""
    try:
        server = PostgresServer()
    except ServerUnavailable as exc:
        return {"unavailable": str(exc)}
    print("pipeline, PostgreSQL: measuring (one process, then four)...", flush=True)
    try:
        one_each = one_process(server.database("bench"), max(n // 10, 100), 1)
        batched = one_process(server.database("bench"), n, batch)
        four = processes(server.database("bench"), n // PROCESSES, batch)
    finally:
        server.stop()
    return {
        "one_process_one_at_a_time": one_each,
        "one_process_batches": batched,
        f"{PROCESSES}_processes_batches": four,
        "server": "EXECFSM_TEST_POSTGRES" if os.environ.get("EXECFSM_TEST_POSTGRES") else
        "private cluster (initdb, fsync on)",
    }  # fmt: skip


def _worker(argv: list[str]) -> None:
    url, stream, n, batch = argv[0], argv[1], int(argv[2]), int(argv[3])
    orch = _orchestrator(url, stream)
    intents = _intents(stream, n)
    print("READY", flush=True)
    sys.stdin.readline()
    start = time.time()
    _run(orch, intents, batch)
    end = time.time()
    orch.close()
    print(f"{start} {end}", flush=True)


if __name__ == "__main__":
    _worker(sys.argv[1:])
