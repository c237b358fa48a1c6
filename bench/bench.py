"""
execfsm benchmarks: pipeline throughput (in memory and durable), order-machine throughput,
and the cost of one transition and one refusal. Medians of several runs; a table on stdout
and a JSON file.

Usage: python bench/bench.py [--quick] [--out bench/results.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from execfsm import (
    AdapterRegistry,
    ExecutionEvent,
    ExecutionMode,
    ExecutionOrchestrator,
    Fill,
    IllegalTransition,
    OrderIntent,
    OrderLifecycle,
    SimulatedVenue,
    SteppingClock,
)
from execfsm.clock import EPOCH
from execfsm.ledger.audit import AuditLog
from execfsm.ledger.sqlite import SqliteStore
from execfsm.testing import order_for

RUNS = 3


def _orchestrator(store: SqliteStore | None = None) -> ExecutionOrchestrator:
    clock = SteppingClock(EPOCH)
    registry = AdapterRegistry()
    registry.register(ExecutionMode.PAPER, SimulatedVenue(clock, partial_fills=("0.5", "0.5")))
    return ExecutionOrchestrator(
        execution_mode=ExecutionMode.PAPER, registry=registry, clock=clock, store=store
    )


def _intent(n: int) -> OrderIntent:
    return OrderIntent("BTC/EUR", "BUY", Decimal("0.01"), "MARKET", "bench", intent_id=str(n))


def pipeline(n: int, durable: bool) -> dict[str, float]:
    """Intents per second through all eight stages, and the last-10% / first-10% cost."""
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.db") if durable else None
        orch = _orchestrator(store)
        intents = [_intent(i) for i in range(n)]
        tenth = max(1, n // 10)
        marks = []
        start = time.perf_counter()
        for i, intent in enumerate(intents):
            if i in (0, tenth, n - tenth):
                marks.append(time.perf_counter())
            orch.submit_intent(intent)
        end = time.perf_counter()
        first = marks[1] - marks[0]
        last = end - marks[2]
        return {"intents_per_s": n / (end - start), "last_vs_first": last / first}


def lifecycles(n: int) -> dict[str, float]:
    """Order lifecycles per second: create, submit, acknowledge, fill, all audited."""
    audit = AuditLog(SteppingClock(EPOCH))
    orders = [order_for(_intent(i)) for i in range(n)]
    start = time.perf_counter()
    for order in orders:
        lc = OrderLifecycle(order, audit)
        lc.send("submit")
        lc.apply(ExecutionEvent.ack(lc.order, "a", EPOCH))
        lc.apply(ExecutionEvent.of_fill(lc.order, "f", EPOCH, Fill("f1", "0.01", "100")))
    elapsed = time.perf_counter() - start
    return {"lifecycles_per_s": n / elapsed, "events_per_s": 3 * n / elapsed}


def transition_and_refusal(n: int) -> dict[str, float]:
    """Microseconds for one transition (a partial fill) and one refused event."""
    audit = AuditLog(SteppingClock(EPOCH))
    lc = OrderLifecycle(order_for(_intent(0)), audit)
    lc.send("submit")
    fills = [Fill(f"f{i}", "0.000001", "1") for i in range(n)]
    start = time.perf_counter()
    for fill in fills:
        lc.send("fill", fill=fill)
    transition = (time.perf_counter() - start) / n
    start = time.perf_counter()
    for _ in range(n):
        with contextlib.suppress(IllegalTransition):
            lc.send("submit")
    refusal = (time.perf_counter() - start) / n
    return {"transition_us": transition * 1e6, "refusal_us": refusal * 1e6}


def median_of(runs: int, measure: Callable[[], dict[str, float]]) -> dict[str, float]:
    samples = [measure() for _ in range(runs)]
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--out", type=Path, default=Path("bench/results.json"))
    args = parser.parse_args(argv)
    sizes = [200, 1_000] if args.quick else [1_000, 10_000]
    results: dict[str, object] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "runs": RUNS,
        "engine": "reference (python-statemachine)",
    }
    rows = []
    for n in sizes:
        figure = median_of(RUNS, lambda n=n: pipeline(n, durable=False))
        results[f"pipeline_memory_{n}"] = figure
        rows.append(
            (
                f"pipeline, in memory, N={n}",
                f"{figure['intents_per_s']:.0f} intents/s",
                f"last/first 10% {figure['last_vs_first']:.2f}",
            )
        )
    durable_n = sizes[0]
    figure = median_of(RUNS, lambda: pipeline(durable_n, durable=True))
    results[f"pipeline_sqlite_{durable_n}"] = figure
    rows.append(
        (
            f"pipeline, SQLite FULL, N={durable_n}",
            f"{figure['intents_per_s']:.0f} intents/s",
            f"last/first 10% {figure['last_vs_first']:.2f}",
        )
    )
    figure = median_of(RUNS, lambda: lifecycles(sizes[0]))
    results["order_lifecycles"] = figure
    rows.append(
        (
            "order lifecycles",
            f"{figure['lifecycles_per_s']:.0f} lifecycles/s",
            f"{figure['events_per_s']:.0f} events/s",
        )
    )
    figure = median_of(RUNS, lambda: transition_and_refusal(sizes[0]))
    results["transition"] = figure
    rows.append(
        (
            "one transition / one refusal",
            f"{figure['transition_us']:.1f} us",
            f"{figure['refusal_us']:.1f} us",
        )
    )
    width = max(len(r[0]) for r in rows)
    print(
        f"execfsm bench: Python {results['python']}, {results['cpus']} CPUs, median of {RUNS} runs"
    )
    for name, a, b in rows:
        print(f"  {name:<{width}}  {a:>22}  {b}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
