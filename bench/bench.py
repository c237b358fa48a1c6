"""
execfsm benchmarks: pipeline throughput (in memory and durable), order-machine throughput,
and the cost of one transition and one refusal. Medians of several runs; a table on stdout
and a JSON file.

Usage: python bench/bench.py [--quick] [--out bench/results.json]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
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
THREADS = 8
BATCH = 100


def _orchestrator(
    store: SqliteStore | None = None, engine: str = "compiled"
) -> ExecutionOrchestrator:
    clock = SteppingClock(EPOCH)
    registry = AdapterRegistry()
    registry.register(ExecutionMode.PAPER, SimulatedVenue(clock, partial_fills=("0.5", "0.5")))
    return ExecutionOrchestrator(
        execution_mode=ExecutionMode.PAPER,
        registry=registry,
        clock=clock,
        store=store,
        engine=engine,
    )


def _intent(n: int) -> OrderIntent:
    return OrderIntent("BTC/EUR", "BUY", Decimal("0.01"), "MARKET", "bench", intent_id=str(n))


def pipeline(n: int, durable: bool, engine: str = "compiled") -> dict[str, float]:
    """Intents per second through all eight stages, and the last-10% / first-10% cost."""
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.db") if durable else None
        orch = _orchestrator(store, engine)
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


def pipeline_threads(n: int, threads: int, engine: str = "compiled") -> dict[str, float]:
    """Intents per second from `threads` submitters sharing one durable store (group commit)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.db")
        orch = _orchestrator(store, engine)
        per = n // threads
        batches = [[_intent(t * per + i) for i in range(per)] for t in range(threads)]
        done: list[int] = []

        def submit(batch: list[OrderIntent]) -> None:
            for intent in batch:
                orch.submit_intent(intent)
            done.append(len(batch))

        workers = [threading.Thread(target=submit, args=(b,)) for b in batches]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - start
        if sum(done) != per * threads:
            raise RuntimeError(f"only {sum(done)} of {per * threads} intents completed")
        return {
            "intents_per_s": per * threads / elapsed,
            "commits_per_intent": store.commits / (per * threads),
        }


def pipeline_batches(n: int, batch: int, engine: str = "compiled") -> dict[str, float]:
    """Intents per second from one caller submitting batches to a durable store (two commits
    per batch: the write-ahead and the results)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.db")
        orch = _orchestrator(store, engine)
        intents = [_intent(i) for i in range(n)]
        batches = [intents[i : i + batch] for i in range(0, n, batch)]
        commits = store.commits
        start = time.perf_counter()
        for chunk in batches:
            orch.submit_intents(chunk)
        elapsed = time.perf_counter() - start
        return {
            "intents_per_s": n / elapsed,
            "commits_per_intent": (store.commits - commits) / n,
        }


def lifecycles(n: int, engine: str = "compiled") -> dict[str, float]:
    """Order lifecycles per second: create, submit, acknowledge, fill, all audited."""
    audit = AuditLog(SteppingClock(EPOCH))
    orders = [order_for(_intent(i)) for i in range(n)]
    start = time.perf_counter()
    for order in orders:
        lc = OrderLifecycle(order, audit, engine=engine)
        lc.send("submit")
        lc.apply(ExecutionEvent.ack(lc.order, "a", EPOCH))
        lc.apply(ExecutionEvent.of_fill(lc.order, "f", EPOCH, Fill("f1", "0.01", "100")))
    elapsed = time.perf_counter() - start
    return {"lifecycles_per_s": n / elapsed, "events_per_s": 3 * n / elapsed}


def transition_and_refusal(n: int, engine: str = "compiled") -> dict[str, float]:
    """Microseconds for one transition (a partial fill) and one refused event."""
    audit = AuditLog(SteppingClock(EPOCH))
    lc = OrderLifecycle(order_for(_intent(0)), audit, engine=engine)
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


def measured(measure: Callable[[], dict[str, float]]) -> dict[str, float]:
    """One run, after collecting what earlier runs left behind, so that their garbage (an
    orchestrator's object graph is freed only by the cyclic GC) is not charged to this one."""
    gc.collect()
    return measure()


def median_of(runs: int, measure: Callable[[], dict[str, float]]) -> dict[str, float]:
    samples = [measured(measure) for _ in range(runs)]
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--out", type=Path, default=Path("bench/results.json"))
    parser.add_argument(
        "--reference-max",
        type=int,
        default=10_000,
        help="largest N run on the reference engine (100,000 takes it ~15 min a run)",
    )
    parser.add_argument(
        "--engine",
        choices=("both", "compiled", "reference"),
        default="both",
        help="which engines to measure",
    )
    parser.add_argument(
        "--gc-threshold",
        type=int,
        default=None,
        help="set the cyclic GC's generation-0 threshold first (a process setting that "
        "execfsm itself never changes; backtests may)",
    )
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(n) for n in text.split(",")],
        default=None,
        help="comma-separated pipeline sizes (default 1000,10000,100000)",
    )
    parser.add_argument(
        "--pipeline-only",
        action="store_true",
        help="only the in-memory pipeline figures (e.g. the reference engine at N=100,000)",
    )
    args = parser.parse_args(argv)
    if args.gc_threshold is not None:
        gc.set_threshold(args.gc_threshold, *gc.get_threshold()[1:])
    sizes = [200, 1_000, 2_000] if args.quick else [1_000, 10_000, 100_000]
    sizes = args.sizes or sizes
    durable_n = 500 if args.quick else 10_000
    small = 1_000 if args.quick else 5_000
    results: dict[str, object] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "runs": RUNS,
        "command": " ".join(["python bench/bench.py", *argv]),
        "gc_threshold": list(gc.get_threshold()),
    }
    rows: list[tuple[str, str, str, str]] = []
    print(
        f"execfsm bench: Python {results['python']}, {results['cpus']} CPUs, median of {RUNS} runs"
    )
    engines = ("compiled", "reference") if args.engine == "both" else (args.engine,)
    for engine in engines:
        figures: dict[str, object] = {}
        for n in sizes:
            if engine == "reference" and n > args.reference_max:
                figures[f"pipeline_memory_{n}"] = None
                rows.append((engine, f"pipeline, in memory, N={n}", "not run", "--reference-max"))
                continue
            f = median_of(RUNS, lambda n=n, e=engine: pipeline(n, False, e))
            figures[f"pipeline_memory_{n}"] = f
            rows.append(
                (
                    engine,
                    f"pipeline, in memory, N={n}",
                    f"{f['intents_per_s']:,.0f} intents/s",
                    f"last/first 10%: {f['last_vs_first']:.2f}",
                )
            )
            print("  " + "  ".join(rows[-1]), flush=True)
        if args.pipeline_only:
            results[engine] = figures
            continue
        f = median_of(RUNS, lambda e=engine: pipeline(durable_n, True, e))
        figures[f"pipeline_sqlite_{durable_n}"] = f
        rows.append(
            (
                engine,
                f"pipeline, SQLite FULL, N={durable_n}",
                f"{f['intents_per_s']:,.0f} intents/s",
                f"last/first 10%: {f['last_vs_first']:.2f}",
            )
        )
        f = median_of(RUNS, lambda e=engine: pipeline_threads(durable_n, THREADS, e))
        figures[f"pipeline_sqlite_{THREADS}_threads_{durable_n}"] = f
        rows.append(
            (
                engine,
                f"pipeline, SQLite FULL, {THREADS} threads, N={durable_n}",
                f"{f['intents_per_s']:,.0f} intents/s",
                f"commits/intent: {f['commits_per_intent']:.2f}",
            )
        )
        print("  " + "  ".join(rows[-1]), flush=True)
        f = median_of(RUNS, lambda e=engine: pipeline_batches(durable_n, BATCH, e))
        figures[f"pipeline_sqlite_batches_of_{BATCH}_{durable_n}"] = f
        rows.append(
            (
                engine,
                f"pipeline, SQLite FULL, batches of {BATCH}, N={durable_n}",
                f"{f['intents_per_s']:,.0f} intents/s",
                f"commits/intent: {f['commits_per_intent']:.2f}",
            )
        )
        print("  " + "  ".join(rows[-1]), flush=True)
        f = median_of(RUNS, lambda e=engine: lifecycles(small, e))
        figures["order_lifecycles"] = f
        rows.append(
            (
                engine,
                "order lifecycles (3 events each)",
                f"{f['lifecycles_per_s']:,.0f} lifecycles/s",
                f"{f['events_per_s']:,.0f} events/s",
            )
        )
        f = median_of(RUNS, lambda e=engine: transition_and_refusal(small, e))
        figures["transition"] = f
        rows.append(
            (
                engine,
                "one transition / one refusal",
                f"{f['transition_us']:.1f} us",
                f"{f['refusal_us']:.1f} us",
            )
        )
        results[engine] = figures
    print()
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
