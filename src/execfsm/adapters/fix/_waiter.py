"""
A request waiting for the venue's answer, a venue message the adapter refused, and the
executions received per order (what a status answer needs).
"""

from __future__ import annotations

import threading
from datetime import datetime
from decimal import Decimal

import attrs

from execfsm.adapters.fix import mapping as m
from execfsm.adapters.reports import VenueFill
from execfsm.contracts import EventKind, ExecutionEvent, Fill
from execfsm.errors import VenueError


@attrs.frozen
class FixRefusal:
    """A venue message the adapter could not read, and why: logged, kept, never applied."""

    msg_seq_num: str
    cl_ord_id: str
    reason: str


class Waiter:
    """One request waiting for its answer(s)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.done = threading.Event()
        self.events: list[ExecutionEvent] = []
        self.reports: list[m.Fields] = []
        self.error: VenueError | None = None

    def fail(self, error: VenueError) -> None:
        """End the wait with `error`."""
        self.error = error
        self.done.set()


class FillBook:
    """The executions the venue reported per order (by ExecID, after busts and corrections),
    as a status answer needs them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fills: dict[str, dict[str, tuple[Fill, datetime]]] = {}

    def add(self, event: ExecutionEvent, ref: m.OrderRef) -> None:
        """Book `event` (a fill, a bust, a correction) for the order `ref`."""
        with self._lock:
            book = self._fills.setdefault(ref.client_order_id, {})
            if event.kind in (EventKind.TRADE_BUST, EventKind.TRADE_CORRECT):
                book.pop(event.exec_ref_id or "", None)
            if event.fill is not None:
                book.setdefault(event.fill.fill_id, (event.fill, event.ts_event))

    def received(self, ref: m.OrderRef, event: ExecutionEvent) -> Decimal | None:
        """The quantity the executions booked for `ref` add up to, before `event`; None if
        `event` is an execution booked already (a duplicate: its CumQty may be older)."""
        with self._lock:
            book = self._fills.get(ref.client_order_id, {})
            if event.fill is not None and event.fill.fill_id in book:
                return None
            return sum((f.quantity for f, _ in book.values()), Decimal(0))

    def of(self, ref: m.OrderRef, client_order_id: str) -> tuple[VenueFill, ...]:
        """The executions booked for the order `ref`, as the venue's, under `client_order_id`."""
        with self._lock:
            held = list(self._fills.get(ref.client_order_id, {}).values())
        return tuple(
            VenueFill(
                client_order_id, f.fill_id, ref.symbol, ref.side, f.quantity, f.price, f.fee, ts
            )
            for f, ts in held
        )
