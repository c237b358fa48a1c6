"""
What the stages share: the books (`Services`), and one run's working context.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import attrs

from execfsm.adapters.dispatcher import DispatchResult
from execfsm.clock import SystemClock
from execfsm.contracts import (
    FINAL_ORDER_STATES,
    ExecutionEvent,
    Fill,
    Order,
    OrderIntent,
    ReasonCode,
)
from execfsm.fsm.engine import Engine
from execfsm.fsm.order import EventOutcome, OrderLifecycle
from execfsm.fsm.pipeline import PipelineRun
from execfsm.instruments import SIMULATED_INSTRUMENTS, InstrumentRegistry
from execfsm.ledger.audit import AuditLog
from execfsm.ledger.orders import OrderLedger
from execfsm.ledger.positions import PositionLedger
from execfsm.ledger.recon import ReconLog, ReconRecord
from execfsm.ledger.store import LedgerStore, MemoryStore
from execfsm.typing import Clock, OrderAdapter
from execfsm.validators import Rule, instance_of

DAY_ENDS_AT = time(0, tzinfo=UTC)
"""The default end of the trading day: midnight UTC."""

_DAY_END = Rule(
    lambda v: isinstance(v, time) and (v.tzinfo is None or v.utcoffset() == timedelta(0)),
    "must be a datetime.time in UTC (naive, read as UTC, or with a zero UTC offset)",
)


def _or_simulated(value: InstrumentRegistry | None) -> InstrumentRegistry:
    return SIMULATED_INSTRUMENTS if value is None else value


@attrs.define
class Services:
    """
    The books the machines write to, owned by the orchestrator: the audit log and the store
    that makes it durable, the order and position ledgers, the reconciliation log, and the
    engine every machine runs on. The stages that keep books take this; the others take
    what they read (`RiskControls`, `RoutingPolicy`, the `Dispatcher`).
    """

    audit: AuditLog
    store: LedgerStore = attrs.Factory(MemoryStore)
    engine: Engine = Engine.COMPILED
    """Which engine the machines run on."""
    orders: OrderLedger = attrs.Factory(
        lambda self: OrderLedger(self.audit, self.engine), takes_self=True
    )
    positions: PositionLedger = attrs.Factory(PositionLedger)
    recon: ReconLog = attrs.Factory(ReconLog)
    adapter_of: dict[str, OrderAdapter] = attrs.Factory(dict)
    """The adapter each dispatched order went to (cancels go to the same one)."""
    clock: Clock = attrs.Factory(SystemClock)
    """The orchestrator's clock: DAY orders expire by it, past GTD times are refused by it."""
    day_ends_at: time = attrs.field(default=DAY_ENDS_AT, validator=_DAY_END)
    """When the trading day ends, in UTC: a DAY order expires at the next such time (a
    setting that is not a UTC `datetime.time` is a `ConfigurationError`)."""
    instruments: InstrumentRegistry = attrs.field(
        default=None, converter=_or_simulated, validator=instance_of(InstrumentRegistry)
    )
    """The instruments validation checks intents against (None: the simulated venue's)."""


@attrs.define
class RunContext:
    """
    One intent's run: its ids, its two machines, and what the stages found.
    """

    intent: OrderIntent
    idempotency_key: str
    run: PipelineRun
    lifecycle: OrderLifecycle
    adapter: OrderAdapter | None = None
    events: list[ExecutionEvent] = attrs.Factory(list)
    booked: list[EventOutcome] = attrs.Factory(list)
    """What the run's venue events moved, to book: fills, and fills taken back."""
    reason_code: ReasonCode | None = None
    detail: str = ""
    recon: ReconRecord | None = None
    dispatch: DispatchResult | None = None
    """The venue's answer to the send (stage 5)."""
    heard: list[tuple[Order, Fill]] = attrs.Factory(list)
    """Fills booked by the run, for the fill subscribers once the run is durable."""
    received_at: datetime | None = None
    """The clock's now at intake, read for DAY and GTD intents only: a DAY order expires at
    the next day end after it, a GTD intent must expire after it (checked at validation)."""

    @property
    def correlation_id(self) -> str:
        """
        The run's correlation id.
        """
        return self.run.correlation_id

    def stop(self, event: str, reason: ReasonCode, detail: str) -> None:
        """
        End the run with `event` (``reject``, ``block``, ``fail``, ``abandon``) and fail the
        order if it is still ours to fail.
        """
        self.reason_code, self.detail = reason, detail
        self.run.send(event, reason_code=reason, detail=detail)
        if self.lifecycle.order.state not in FINAL_ORDER_STATES:
            self.lifecycle.send("fail", reason_code=reason, detail=detail)
