"""
execfsm benchmarks: the speed targets side by side with a peer (nautilus_trader's order state
machine, run in its own interpreter in the same session), other figures, and the speed checks
moved out of the unit suite. Medians of several runs; a table on stdout and a JSON file.

Usage: python bench/bench.py [--quick] [--out bench/results.json]
       [--nautilus-python bench/.venv-nautilus/bin/python] [--reference-n N] [--strict]

Exits non-zero if a speed check fails (or, with --strict, if a target is missed).
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
from typing import Any

from checks import run_checks
from peer import NautilusPeer

from execfsm import (
    AdapterRegistry,
    AuditLog,
    ExecutionEvent,
    ExecutionMode,
    ExecutionOrchestrator,
    Fill,
    FixedClock,
    IllegalTransition,
    OrderIntent,
    OrderLifecycle,
    OrderState,
    SimulatedVenue,
    SteppingClock,
)
from execfsm.clock import EPOCH
from execfsm.testing import order_for

try:  # exported at the top level from issue 16 on
    from execfsm import SqliteStore  # type: ignore[attr-defined]
except ImportError:
    from execfsm.ledger.sqlite import SqliteStore

RUNS = 3
LIFECYCLE_ROUNDS = 5
THREADS = 8
BATCH = 100
NAUTILUS_PYTHON = Path(__file__).with_name(".venv-nautilus") / "bin" / "python"


# --- execfsm's side: the only places that name an engine or build a lifecycle --------------


def engine(name: str) -> Any:
    """The `engine=` argument for "compiled" or "reference": an enum member if this version of
    execfsm has one (`execfsm.Engine`), else the name itself."""
    import execfsm

    enum = getattr(execfsm, "Engine", None)
    return enum[name.upper()] if enum is not None else name


FILL_QTY = Decimal("0.01")
FILL_PX = Decimal("100")
"""Built once, as the peer builds its `Quantity` and `Price` once."""


def lifecycle(order: Any, audit: AuditLog, engine_arg: Any) -> OrderLifecycle:
    """One market order's lifecycle, fully audited: initialize, submit, acknowledge, fill."""
    lc = OrderLifecycle(order, audit, engine=engine_arg)
    lc.send("submit")
    lc.apply(ExecutionEvent.ack(lc.order, "a", EPOCH))
    lc.apply(ExecutionEvent.of_fill(lc.order, "f", EPOCH, Fill("f1", FILL_QTY, FILL_PX)))
    return lc


# --- measurements ----------------------------------------------------------------------------


def _orchestrator(store: SqliteStore | None, engine_name: str) -> ExecutionOrchestrator:
    clock = SteppingClock(EPOCH)
    registry = AdapterRegistry()
    registry.register(ExecutionMode.PAPER, SimulatedVenue(clock, partial_fills=("0.5", "0.5")))
    return ExecutionOrchestrator(
        execution_mode=ExecutionMode.PAPER,
        registry=registry,
        clock=clock,
        store=store,
        engine=engine(engine_name),
    )


def _intent(n: int) -> OrderIntent:
    return OrderIntent("BTC/EUR", "BUY", Decimal("0.01"), "MARKET", "bench", intent_id=str(n))


def pipeline(n: int, durable: bool, engine_name: str = "compiled") -> dict[str, float]:
    """Intents per second through all eight stages (wall clock, and per CPU-second of this
    process), and the cost of the last 10% of the intents against the first 10%: in CPU time,
    which another process sharing the machine does not move (GC pauses are CPU time too), and
    in wall-clock time."""
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.db") if durable else None
        orch = _orchestrator(store, engine_name)
        intents = [_intent(i) for i in range(n)]
        tenth = max(1, n // 10)
        marks: list[tuple[float, float]] = []
        clocks = time.perf_counter, time.process_time
        start = [c() for c in clocks]
        for i, intent in enumerate(intents):
            if i in (0, tenth, n - tenth):
                marks.append((time.perf_counter(), time.process_time()))
            orch.submit_intent(intent)
        end = [c() for c in clocks]
        ratio = [(end[k] - marks[2][k]) / (marks[1][k] - marks[0][k]) for k in (0, 1)]
        return {
            "intents_per_s": n / (end[0] - start[0]),
            "intents_per_cpu_s": n / (end[1] - start[1]),
            "last_vs_first": ratio[1],
            "last_vs_first_wall": ratio[0],
        }


def pipeline_threads(n: int, threads: int) -> dict[str, float]:
    """Intents per second from `threads` submitters sharing one durable store (group commit)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.db")
        orch = _orchestrator(store, "compiled")
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
        return {"intents_per_s": per * threads / elapsed}


def pipeline_batches(n: int, batch: int) -> dict[str, float]:
    """Intents per second from one caller submitting batches to a durable store."""
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.db")
        orch = _orchestrator(store, "compiled")
        intents = [_intent(i) for i in range(n)]
        batches = [intents[i : i + batch] for i in range(0, n, batch)]
        start = time.perf_counter()
        for chunk in batches:
            orch.submit_intents(chunk)
        return {"intents_per_s": n / (time.perf_counter() - start)}


def postgres(n: int) -> dict[str, Any]:
    """Durable intents per second on PostgreSQL (`pg_bench`), or why not measured."""
    try:
        from pg_bench import postgres_figures
    except ImportError as exc:  # psycopg is the `postgres` extra
        return {"unavailable": f"psycopg not installed ({exc})"}
    figures = postgres_figures(n, BATCH)
    if "unavailable" not in figures:
        figures["n_one_at_a_time"] = max(n // 10, 100)
    return figures


def lifecycles_seconds(n: int, engine_name: str = "compiled") -> float:
    """Seconds for `n` order lifecycles on one audit log; orders (ids by sha256) are built
    before the clock starts, as the peer builds its identifiers before."""
    audit = AuditLog(FixedClock(EPOCH))
    orders = [order_for(_intent(i)) for i in range(n)]
    engine_arg = engine(engine_name)
    gc.collect()
    start = time.perf_counter()
    kept = [lifecycle(order, audit, engine_arg) for order in orders]
    elapsed = time.perf_counter() - start
    if any(lc.order.state is not OrderState.FILLED for lc in kept):
        raise RuntimeError("an execfsm order did not end FILLED")
    return elapsed


def transition_and_refusal(n: int, engine_name: str = "compiled") -> dict[str, float]:
    """Microseconds for one transition (a partial fill) and one refused event."""
    lc = OrderLifecycle(
        order_for(_intent(0)), AuditLog(FixedClock(EPOCH)), engine=engine(engine_name)
    )
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
    """Medians over `runs`, each after collecting what earlier runs left behind (an
    orchestrator's object graph is freed only by the cyclic GC)."""
    samples = []
    for _ in range(runs):
        gc.collect()
        samples.append(measure())
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]}


def side_by_side(n: int, rounds: int, nautilus: NautilusPeer) -> dict[str, Any]:
    """Ours and the peer's lifecycles/s, interleaved round by round (who goes first
    alternates), after one warm-up each; medians, the ratio of the medians, every round."""
    lifecycles_seconds(min(n, 1_000))
    if nautilus.unavailable is None:
        nautilus.seconds(min(n, 1_000))
    ours: list[float] = []
    theirs: list[float] = []
    for r in range(rounds):
        steps = [lambda: ours.append(n / lifecycles_seconds(n))]
        if nautilus.unavailable is None:
            steps.append(lambda: theirs.append(n / nautilus.seconds(n)))
        for step in steps if r % 2 == 0 else reversed(steps):
            step()
    out: dict[str, Any] = {"n": n, "rounds": rounds, "execfsm_per_s": ours}
    out["execfsm_median"] = statistics.median(ours)
    if theirs:
        out["nautilus_per_s"] = theirs
        out["nautilus_median"] = statistics.median(theirs)
        out["ratio"] = out["execfsm_median"] / out["nautilus_median"]
        out["ratio_per_round"] = [a / b for a, b in zip(ours, theirs, strict=True)]
    return out


# --- report ------------------------------------------------------------------------------------


def _table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _loud(lines: list[str]) -> None:
    bar = "!" * 78
    print(bar, *(f"!! {line}" for line in lines), bar, sep="\n", flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--out", type=Path, default=Path("bench/results.json"))
    parser.add_argument(
        "--nautilus-python",
        type=Path,
        default=NAUTILUS_PYTHON,
        help="interpreter with nautilus_trader installed (`make bench` makes it)",
    )
    parser.add_argument(
        "--reference-n",
        type=int,
        default=None,
        help="intents for the reference (python-statemachine) engine's pipeline run; 0 skips "
        "it (default 500: at ~200 intents/s, 100,000 takes ~10 minutes a run)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit non-zero when a target is missed too"
    )
    parser.add_argument(
        "--gc-threshold",
        type=int,
        default=None,
        help="set the cyclic GC's generation-0 threshold first (a process setting that "
        "execfsm itself never changes; backtests may)",
    )
    args = parser.parse_args(argv)
    started, cpu_started = time.perf_counter(), time.process_time()
    if args.gc_threshold is not None:
        gc.set_threshold(args.gc_threshold, *gc.get_threshold()[1:])
    big_n = 5_000 if args.quick else 100_000
    durable_n = 1_000 if args.quick else 10_000
    other_n = 500 if args.quick else 1_000  # durable figures that are not targets
    life_n = 2_000 if args.quick else 20_000
    small = 1_000 if args.quick else 5_000
    ref_n = args.reference_n if args.reference_n is not None else (200 if args.quick else 500)

    print(
        f"execfsm bench: Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"medians of {RUNS} runs ({LIFECYCLE_ROUNDS} interleaved rounds against the peer)",
        flush=True,
    )
    checks = run_checks()
    print("\nspeed checks (moved from the unit suite):")
    _table([(c["verdict"], c["check"], c["detail"]) for c in checks])  # type: ignore[misc]

    nautilus = NautilusPeer(args.nautilus_python)
    if nautilus.unavailable is not None:
        _loud(
            [
                "nautilus_trader NOT MEASURED: the peer could not be run.",
                nautilus.unavailable,
                "The ratio below is missing, not remembered. `make bench-peer` makes its venv.",
            ]
        )
    else:
        print(
            f"\npeer: nautilus_trader {nautilus.version['nautilus_trader']} on Python "
            f"{nautilus.version['python']} ({args.nautilus_python})",
            flush=True,
        )
    try:
        side = side_by_side(life_n, LIFECYCLE_ROUNDS, nautilus)
    finally:
        nautilus.close()
    print(
        f"order lifecycles, N={life_n}: execfsm {side['execfsm_median']:,.0f}/s, nautilus "
        + (f"{side['nautilus_median']:,.0f}/s" if "ratio" in side else "not measured"),
        flush=True,
    )
    memory = median_of(RUNS, lambda: pipeline(big_n, False))
    print(f"pipeline, in memory, N={big_n}: {memory['intents_per_s']:,.0f} intents/s", flush=True)
    batches = median_of(RUNS, lambda: pipeline_batches(durable_n, BATCH))
    print(f"pipeline, SQLite FULL, batches of {BATCH}: {batches['intents_per_s']:,.0f}/s")

    targets: list[dict[str, Any]] = [
        {
            "figure": "order lifecycles with full audit, ours / nautilus",
            "value": side.get("ratio"),
            "shown": f"{side['ratio']:.2f}x" if "ratio" in side else "NOT MEASURED",
            "note": f"execfsm {side['execfsm_median']:,.0f}/s, nautilus "
            + (
                f"{side['nautilus_median']:,.0f}/s; rounds {min(side['ratio_per_round']):.2f}"
                f"-{max(side['ratio_per_round']):.2f}x"
                if "ratio" in side
                else "not run"
            ),
            "target": ">= 0.5x",
            "met": side["ratio"] >= 0.5 if "ratio" in side else None,
        },
        {
            "figure": f"pipeline in memory, full audit, N={big_n:,}",
            "value": memory["intents_per_s"],
            "shown": f"{memory['intents_per_s']:,.0f} intents/s",
            "note": f"{memory['intents_per_cpu_s']:,.0f} per CPU-second",
            "target": ">= 10,000 intents/s",
            "met": memory["intents_per_s"] >= 10_000,
        },
        {
            "figure": f"  cost flatness, last 10% / first 10%, N={big_n:,}",
            "value": memory["last_vs_first"],
            "shown": f"{memory['last_vs_first']:.2f}x",
            "note": f"CPU time; wall-clock {memory['last_vs_first_wall']:.2f}x",
            "target": "<= 1.25x",
            "met": memory["last_vs_first"] <= 1.25,
        },
        {
            "figure": f"durable, SQLite FULL, batches of {BATCH}, N={durable_n:,}",
            "value": batches["intents_per_s"],
            "shown": f"{batches['intents_per_s']:,.0f} intents/s",
            "note": "",
            "target": ">= 4,000 intents/s",
            "met": batches["intents_per_s"] >= 4_000,
        },
    ]

    figures: dict[str, Any] = {}
    rows: list[tuple[str, ...]] = []
    f = median_of(RUNS, lambda: pipeline(other_n, True))
    figures[f"compiled pipeline, SQLite FULL, one at a time, N={other_n}"] = f
    rows.append(("compiled", f"pipeline, SQLite FULL, one at a time, N={other_n:,}",
                 f"{f['intents_per_s']:,.0f} intents/s"))  # fmt: skip
    f = median_of(RUNS, lambda: pipeline_threads(other_n, THREADS))
    figures[f"compiled pipeline, SQLite FULL, {THREADS} threads, N={other_n}"] = f
    rows.append(("compiled", f"pipeline, SQLite FULL, {THREADS} threads, N={other_n:,}",
                 f"{f['intents_per_s']:,.0f} intents/s"))  # fmt: skip
    f = median_of(RUNS, lambda: transition_and_refusal(small))
    figures["compiled one transition / one refusal"] = f
    rows.append(("compiled", "one transition / one refusal",
                 f"{f['transition_us']:.1f} us / {f['refusal_us']:.1f} us"))  # fmt: skip
    if ref_n:
        f = median_of(RUNS, lambda: pipeline(ref_n, False, "reference"))
        figures[f"reference pipeline, in memory, N={ref_n}"] = f
        rows.append(("reference", f"pipeline, in memory, N={ref_n:,}",
                     f"{f['intents_per_s']:,.0f} intents/s"))  # fmt: skip
        f = median_of(RUNS, lambda: {"per_s": ref_n / lifecycles_seconds(ref_n, "reference")})
        figures[f"reference order lifecycles, N={ref_n}"] = f
        rows.append(("reference", f"order lifecycles, full audit, N={ref_n:,}",
                     f"{f['per_s']:,.0f} lifecycles/s"))  # fmt: skip
        f = median_of(RUNS, lambda: transition_and_refusal(ref_n, "reference"))
        figures["reference one transition / one refusal"] = f
        rows.append(("reference", "one transition / one refusal",
                     f"{f['transition_us']:.1f} us / {f['refusal_us']:.1f} us"))  # fmt: skip

    pg_n = 1_000 if args.quick else 4_000
    pg = postgres(pg_n)
    figures[f"compiled pipeline, PostgreSQL, N={pg_n}"] = pg
    if "unavailable" in pg:
        rows.append(("compiled", "pipeline, PostgreSQL", "NOT MEASURED: " + pg["unavailable"]))
    else:
        for label, key in (
            (
                f"one process, one at a time, N={pg['n_one_at_a_time']:,}",
                "one_process_one_at_a_time",
            ),
            (f"one process, batches of {BATCH}, N={pg_n:,}", "one_process_batches"),
            (f"4 processes (4 streams), batches of {BATCH}, N={pg_n:,}", "4_processes_batches"),
        ):
            rows.append(("compiled", f"pipeline, PostgreSQL, {label}",
                         f"{pg[key]:,.0f} intents/s"))  # fmt: skip

    print("\ntargets (compiled engine, medians on this machine):")
    verdict = {True: "PASS", False: "MISS", None: "NOT MEASURED"}
    _table(
        [("figure", "measured", "target", "", "")]
        + [(t["figure"], t["shown"], t["target"], verdict[t["met"]], t["note"]) for t in targets]
    )
    print("\nother figures:")
    _table(rows)
    if nautilus.unavailable is not None:
        _loud(["nautilus_trader NOT MEASURED: " + nautilus.unavailable])
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(f"\nwall time {wall:.0f} s; this process's CPU time {cpu:.0f} s", end="")
    print(f" (load average {os.getloadavg()[0]:.1f} at the end)")

    results = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "runs": RUNS,
        "command": " ".join(["python bench/bench.py", *argv]),
        "gc_threshold": list(gc.get_threshold()),
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "load_average_at_end": os.getloadavg()[0],
        "nautilus": nautilus.version or {"unavailable": nautilus.unavailable},
        "order_lifecycles_side_by_side": side,
        "pipeline_memory": {"n": big_n, **memory},
        "pipeline_sqlite_batches": {"n": durable_n, "batch": BATCH, **batches},
        "targets": [{k: t[k] for k in ("figure", "value", "target", "met")} for t in targets],
        "figures": figures,
        "checks": checks,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    failed = [c["check"] for c in checks if c["verdict"] == "FAIL"]
    if failed:
        print(f"FAILED speed checks: {', '.join(map(str, failed))}", file=sys.stderr)
        return 1
    if args.strict and not all(t["met"] for t in targets):
        print("targets missed (--strict)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
