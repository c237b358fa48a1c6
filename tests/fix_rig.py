"""
A FIX session for tests: the scripted acceptor, a `FixAdapter` logged on to it, and an
orchestrator (PAPER mode routed to the adapter). Short heartbeats, reconnect after 1 s,
bounded waits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from execfsm import (
    Dispatcher,
    ExecutionOrchestrator,
    OrderIntent,
    OrderSide,
    OrderType,
    PipelineResult,
    RetryPolicy,
)
from execfsm.adapters.fix import load_config
from execfsm.adapters.fix.adapter import FixAdapter
from execfsm.adapters.registry import AdapterRegistry
from execfsm.clock import SystemClock
from execfsm.contracts import ExecutionMode, Order
from execfsm.fsm.audit import AuditRecord
from execfsm.ledger.store import LedgerStore
from execfsm.testing.fix_acceptor import FixAcceptor

WAIT = 5.0


def eventually(check: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Poll `check` every 10 ms until it holds or `timeout` passes; whether it held."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.01)
    return check()


class FixRig:
    """The acceptor, the adapter and an orchestrator, all started."""

    def __init__(
        self,
        tmp: Path,
        *,
        partial_fills: tuple[str, ...] = (),
        attempts: int = 1,
        store: LedgerStore | None = None,
        extra: str = "",
        venue: FixAcceptor | None = None,
        start_orchestrator: bool = True,
    ) -> None:
        self.venue = venue or FixAcceptor(tmp / "venue", partial_fills=partial_fills).start()
        self.config_path = tmp / "fix.cfg"
        self.config_path.write_text(self.venue.initiator_config(tmp / "ours", extra=extra))
        self.clock = SystemClock()
        self.adapter = FixAdapter(load_config(self.config_path), self.clock)
        assert self.adapter.start(wait=WAIT)
        assert self.venue.logged_on.wait(WAIT)
        self.registry = AdapterRegistry()
        self.registry.register(ExecutionMode.PAPER, self.adapter)
        self.dispatcher = Dispatcher(
            RetryPolicy(max_attempts=attempts, base_delay=0.01), sleep=lambda s: None
        )
        self.orch: ExecutionOrchestrator = (
            self.orchestrator(store) if start_orchestrator else None  # type: ignore[assignment]
        )

    def orchestrator(self, store: LedgerStore | None = None) -> ExecutionOrchestrator:
        """An orchestrator on the adapter."""
        self.orch = ExecutionOrchestrator(
            execution_mode=ExecutionMode.PAPER,
            registry=self.registry,
            clock=self.clock,
            dispatcher=self.dispatcher,
            store=store,
        )
        return self.orch

    def submit(
        self, qty: str = "1", limit: str | None = None, *, symbol: str = "BTC/EUR", **kw: Any
    ) -> PipelineResult:
        """Submit an intent (a LIMIT one if `limit` is given); its result."""
        kind = OrderType.LIMIT if limit is not None else OrderType.MARKET
        intent = OrderIntent(
            symbol,
            kw.pop("side", OrderSide.BUY),
            Decimal(qty),
            kind,
            "fix-test",
            limit_price=Decimal(limit) if limit is not None else None,
            intent_id=kw.pop("intent_id", f"i{len(self.venue.received)}-{time.monotonic_ns()}"),
            **kw,
        )
        return self.orch.submit_intent(intent)

    def settle(self) -> None:
        """Wait until everything the venue sent reached the orchestrator."""
        assert eventually(lambda: self.adapter.messages_received >= self.venue.sent_count)
        assert self.adapter.drain(WAIT)

    def order(self, result: PipelineResult) -> Order:
        """The order of `result` as it stands now."""
        assert result.order is not None
        order = self.orch.order(result.order.client_order_id)
        assert order is not None
        return order

    def position(self, symbol: str = "BTC/EUR") -> Decimal:
        """Our net position in `symbol`."""
        held = self.orch.get_position_ledger_snapshot().get(symbol)
        return held.quantity if held is not None else Decimal(0)

    def trail(self, order: Order) -> list[AuditRecord]:
        """The order machine's audit records of `order`."""
        return [
            r
            for r in self.orch.get_audit_log_snapshot()
            if r.client_order_id == order.client_order_id and r.machine == "order"
        ]

    def close(self) -> None:
        """Stop both ends."""
        self.adapter.stop(force=True)
        self.venue.stop()
