"""
A venue's own record of its orders, from every event it emitted, and the answers to the
query capability (`execfsm.typing.QueryingAdapter`) read from it.

The book is the list of events in the order the venue emitted them, so an answer "as of
``lag`` events ago" (the faulty venue's lagging answers) is the same reading of a shorter list.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from execfsm.adapters.reports import VenueFill, VenueOrderReport
from execfsm.contracts import EventKind, ExecutionEvent, Order
from execfsm.enums import OrderSide, OrderState

_FINAL = {
    EventKind.CANCEL_ACK: OrderState.CANCELLED,
    EventKind.EXPIRE: OrderState.EXPIRED,
    EventKind.REJECT: OrderState.REJECTED,
}
_OPEN = frozenset({OrderState.ACKNOWLEDGED, OrderState.PARTIALLY_FILLED})


class VenueBook:
    """
    Every (order as the venue held it, event) the venue emitted, in emission order.
    """

    def __init__(self, entries: list[tuple[Order, ExecutionEvent]] | None = None) -> None:
        self.entries: list[tuple[Order, ExecutionEvent]] = [] if entries is None else entries
        """The book itself (`entries` given: the list read back from a journal, kept as is)."""
        self._of_order: dict[str, list[int]] = {}
        """Where each order's entries are: one order's report reads only its own."""
        for at, (_order, event) in enumerate(self.entries):
            self._of_order.setdefault(event.client_order_id, []).append(at)

    def record(self, order: Order, event: ExecutionEvent) -> None:
        """
        Keep `event`, emitted for `order` (its terms at the venue at that moment).
        """
        self._of_order.setdefault(event.client_order_id, []).append(len(self.entries))
        self.entries.append((order, event))

    def reports(self, lag: int = 0, only: str | None = None) -> dict[str, VenueOrderReport]:
        """
        Every order the venue knew ``lag`` events ago (or only the one `only` names), by
        client order id, in arrival order.
        """
        known = max(len(self.entries) - lag, 0)
        if only is None:
            entries: Sequence[tuple[Order, ExecutionEvent]] = self.entries[:known]
        else:
            at = self._of_order.get(only, ())
            entries = [self.entries[i] for i in at if i < known]
        terms: dict[str, Order] = {}
        venue_ids: dict[str, str] = {}
        states: dict[str, OrderState] = {}
        fills: dict[str, list[VenueFill]] = {}
        filled: dict[str, Decimal] = {}
        for order, event in entries:
            cid = event.client_order_id
            if only is not None and cid != only:
                continue
            if event.kind is EventKind.REPLACE_ACK or cid not in terms:
                terms[cid] = order
            fills.setdefault(cid, [])
            if event.kind is EventKind.ACK:
                states[cid] = OrderState.ACKNOWLEDGED
                if event.venue_order_id is not None:
                    venue_ids[cid] = event.venue_order_id
            elif event.kind in _FINAL:
                states[cid] = _FINAL[event.kind]
            elif event.kind is EventKind.FILL and event.fill is not None:
                fill = event.fill
                fills[cid].append(
                    VenueFill(
                        cid,
                        fill.fill_id,
                        order.symbol,
                        order.side,
                        fill.quantity,
                        fill.price,
                        fill.fee,
                        event.ts_event,
                    )
                )
                cum = filled[cid] = filled.get(cid, Decimal(0)) + fill.quantity
                full = cum >= terms[cid].quantity
                states[cid] = OrderState.FILLED if full else OrderState.PARTIALLY_FILLED
        return {
            cid: _report(terms[cid], states.get(cid), fills[cid], venue_ids.get(cid))
            for cid in terms
        }


def _report(
    order: Order, state: OrderState | None, fills: Sequence[VenueFill], venue_order_id: str | None
) -> VenueOrderReport:
    """
    The report of `order` as the venue holds it: its terms too (type, limit price, time in
    force, the venue's id), which a replace and an adoption are judged by.
    """
    cum = sum((f.quantity for f in fills), Decimal(0))
    state = state or OrderState.ACKNOWLEDGED
    leaves = order.quantity - cum if state in _OPEN else Decimal(0)
    avg = sum((f.quantity * f.price for f in fills), Decimal(0)) / cum if cum else None
    return VenueOrderReport(
        order.client_order_id,
        state,
        order.symbol,
        order.side,
        order.quantity,
        cum,
        leaves,
        avg,
        tuple(fills),
        order_type=order.order_type,
        limit_price=order.limit_price,
        venue_order_id=venue_order_id,
        time_in_force=order.time_in_force,
    )


def open_orders(reports: Mapping[str, VenueOrderReport]) -> tuple[VenueOrderReport, ...]:
    """
    The reports of orders still working, in arrival order.
    """
    return tuple(r for r in reports.values() if r.state in _OPEN)


def fills_since(reports: Mapping[str, VenueOrderReport], ts: datetime) -> tuple[VenueFill, ...]:
    """
    Every fill at or after `ts`, in execution order (then arrival order).
    """
    fills = [f for r in reports.values() for f in r.fills if f.ts_event >= ts]
    return tuple(sorted(fills, key=lambda f: f.ts_event))


def positions(reports: Mapping[str, VenueOrderReport]) -> dict[str, Decimal]:
    """
    Net filled quantity by symbol (BUY adds, SELL subtracts), for symbols that traded.
    """
    net: dict[str, Decimal] = {}
    for report in reports.values():
        for fill in report.fills:
            sign = 1 if fill.side is OrderSide.BUY else -1
            net[fill.symbol] = net.get(fill.symbol, Decimal(0)) + sign * fill.quantity
    return net


class QueryAnswers:
    """
    The query capability of a venue that keeps a `VenueBook` in ``_book`` under ``_lock``.
    """

    _book: VenueBook
    _lock: threading.RLock

    def venue_reports(self, lag: int = 0, only: str | None = None) -> dict[str, VenueOrderReport]:
        """
        Every order the venue knew ``lag`` events ago (or only the one `only` names, read
        from its own events), by client order id, in arrival order.
        """
        with self._lock:
            return self._book.reports(lag, only)

    def order_report(self, client_order_id: str) -> VenueOrderReport | None:
        """
        The venue's report of the order, or None if it never received it.
        """
        with self._lock:
            return self._book.reports(only=client_order_id).get(client_order_id)

    def open_orders(self) -> Sequence[VenueOrderReport]:
        """
        Orders still working at the venue, in arrival order.
        """
        with self._lock:
            return open_orders(self._book.reports())

    def fills_since(self, ts: datetime) -> Sequence[VenueFill]:
        """
        Fills executed at or after `ts`.
        """
        with self._lock:
            return fills_since(self._book.reports(), ts)

    def positions(self) -> Mapping[str, Decimal]:
        """
        Net filled quantity by symbol.
        """
        with self._lock:
            return positions(self._book.reports())
