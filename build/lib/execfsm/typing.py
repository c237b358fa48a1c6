"""
Protocols and aliases shared across execfsm, so components depend on shapes, not classes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from execfsm.adapters.reports import VenueFill, VenueOrderReport
    from execfsm.contracts import (
        ExecutionEvent,
        Fill,
        Order,
        OrderIntent,
        ReplaceRequest,
        RiskVerdict,
    )
    from execfsm.fsm.audit import AuditEntry, AuditRecord
    from execfsm.killswitch import KillSwitchStatus


class Clock(Protocol):
    """
    The only source of time for stages and machines; inject a fixed one to replay.
    """

    def now(self) -> datetime:
        """
        The current instant, timezone-aware UTC.
        """
        ...


class AuditSink(Protocol):
    """
    Where audit entries become records: it assigns ``seq``, ``ts`` and the hash chain.

    A sink that raises blocks the transition it was asked to record.
    """

    def append(self, entry: AuditEntry) -> AuditRecord:
        """
        Record `entry` durably (for this sink's meaning of durable) and return the record.
        """
        ...


class EventSink(Protocol):
    """
    Receives execution events an adapter reports after `submit` returned (late fills, venue
    cancels and expiries). The orchestrator registers its `handle_event` as the sink.
    """

    def __call__(self, event: ExecutionEvent, /) -> object: ...


class OrderAdapter(Protocol):
    """
    A venue (real or simulated) as the dispatch stage sees it.

    Adapters raise only `VenueError` subclasses; anything else is treated as an adapter bug
    and fails the order closed.
    """

    @property
    def name(self) -> str:
        """
        A short name for logs and audit details.
        """
        ...

    def submit(self, order: Order, idempotency_key: str) -> Sequence[ExecutionEvent]:
        """
        Send a new order; return the events the venue answered with synchronously. The same
        `idempotency_key` must never create a second order at the venue.
        """
        ...

    def cancel(self, order: Order) -> Sequence[ExecutionEvent]:
        """
        Ask the venue to cancel; return CANCEL_ACK or CANCEL_REJECT (and any racing fills).
        """
        ...

    def set_event_sink(self, sink: EventSink) -> None:
        """
        Where to deliver events that arrive later.
        """
        ...


@runtime_checkable
class ReplacingAdapter(OrderAdapter, Protocol):
    """
    An adapter that can amend a live order (FIX OrderCancelReplaceRequest). Optional: the
    orchestrator checks ``isinstance(adapter, ReplacingAdapter)`` and refuses a replace with
    REPLACE_NOT_SUPPORTED, sending nothing, for an adapter without ``replace``.
    """

    def replace(self, order: Order, request: ReplaceRequest) -> Sequence[ExecutionEvent]:
        """
        Ask the venue for the new terms of `request`, under its ``new_client_order_id``
        (the venue knows the order by ``orig_client_order_id``); return REPLACE_ACK or
        REPLACE_REJECT (and any racing fills), naming the order by its ``client_order_id``.
        Raises only `VenueError` subclasses, as `OrderAdapter.cancel`.
        """
        ...


@runtime_checkable
class QueryingAdapter(OrderAdapter, Protocol):
    """
    An adapter that can tell what the venue holds (for reconciliation). Optional: check
    ``isinstance(adapter, QueryingAdapter)``. Every query raises only `VenueError` subclasses,
    as `OrderAdapter.submit`, and sends nothing to trade.
    """

    def order_report(self, client_order_id: str) -> VenueOrderReport | None:
        """
        The venue's report of the order with `client_order_id` (its fills included), or None
        if the venue does not know it.
        """
        ...

    def open_orders(self) -> Sequence[VenueOrderReport]:
        """
        Every order still working at the venue, ours or not.
        """
        ...

    def fills_since(self, ts: datetime) -> Sequence[VenueFill]:
        """
        Every fill the venue executed at or after `ts`.
        """
        ...

    def positions(self) -> Mapping[str, Decimal]:
        """
        The venue's net position by symbol.
        """
        ...


class RiskHook(Protocol):
    """
    The pre-trade risk gate's question: may this intent trade? Evaluated once per attempt.

    A hook that raises is treated as BLOCK (fail closed).
    """

    def evaluate(self, intent: OrderIntent) -> RiskVerdict:
        """
        ALLOW, BLOCK or PAUSE, with a reason for the latter two.
        """
        ...


class FillSubscriber(Protocol):
    """
    Called by the post-trade stage for every fill booked in the position ledger.
    """

    def __call__(self, order: Order, fill: Fill, /) -> object: ...


class KillSwitch(Protocol):
    """
    An operator control that halts trading. Read at the risk gate for every intent; a switch
    that raises counts as active.
    """

    def status(self) -> KillSwitchStatus:
        """
        Whether trading is halted, and why.
        """
        ...
