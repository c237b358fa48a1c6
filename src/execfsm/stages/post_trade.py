"""
Stage 7, post-trade: book fills in the position ledger and tell the fill subscribers.
"""

from __future__ import annotations

from collections.abc import Iterable

from execfsm.contracts import Fill
from execfsm.fsm.order import OrderLifecycle
from execfsm.stages._context import RunContext, Services


def book(lifecycle: OrderLifecycle, fills: Iterable[Fill], services: Services) -> list[Exception]:
    """
    Book each fill once; every subscriber hears of each fill the ledger took. A subscriber
    that raises stops neither the booking nor the other subscribers: what it raised is
    returned, for the caller to raise once the unit of work is recorded.
    """
    order = lifecycle.order
    errors: list[Exception] = []
    for fill in fills:
        if services.positions.book(order.client_order_id, order.symbol, order.side, fill):
            for subscriber in services.fill_subscribers:
                try:
                    subscriber(order, fill)
                except Exception as exc:  # noqa: BLE001 - raised by the caller, after recording
                    errors.append(exc)
    return errors


def run(ctx: RunContext, services: Services) -> bool:
    """
    Book the run's fills.
    """
    ctx.subscriber_errors.extend(book(ctx.lifecycle, ctx.booked, services))
    ctx.run.send("booked")
    return True
