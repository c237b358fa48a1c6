"""
The process `test_fix_crash` kills: a durable SQLite session on a FIX adapter that submits
one intent the venue holds unanswered, and says where it is on stdout.

Usage: ``python -m tests.fix_crash_driver DB CONFIG``.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

from execfsm import ExecutionOrchestrator, OrderIntent, OrderSide, OrderType
from execfsm.adapters.fix import load_config
from execfsm.adapters.fix.adapter import FixAdapter
from execfsm.adapters.registry import AdapterRegistry
from execfsm.clock import SystemClock
from execfsm.contracts import ExecutionMode
from execfsm.ledger.sqlite import SqliteStore

INTENT = OrderIntent(
    "BTC/EUR",
    OrderSide.BUY,
    Decimal("0.25"),
    OrderType.LIMIT,
    "crash",
    limit_price=Decimal("50000"),
    intent_id="in-flight",
)


def session(db: Path, config: Path) -> tuple[ExecutionOrchestrator, FixAdapter]:
    """The adapter (logged on) and an orchestrator on the store at `db`."""
    clock = SystemClock()
    adapter = FixAdapter(load_config(config), clock)
    if not adapter.start(wait=10):
        raise SystemExit("no logon")
    registry = AdapterRegistry()
    registry.register(ExecutionMode.PAPER, adapter)
    orch = ExecutionOrchestrator(
        execution_mode=ExecutionMode.PAPER, registry=registry, clock=clock, store=SqliteStore(db)
    )
    return orch, adapter


def main() -> None:
    orch, _ = session(Path(sys.argv[1]), Path(sys.argv[2]))
    print("DISPATCHING", flush=True)
    result = orch.submit_intent(INTENT)
    print(f"RESULT {result.pipeline_state}", flush=True)  # never reached: killed before


if __name__ == "__main__":
    main()
