"""
Stage 7, post-trade: book fills in the position ledger and tell the fill subscribers.
"""

from __future__ import annotations

from collections.abc import Iterable

from execfsm.contracts import Fill
from execfsm.fsm.order import OrderLifecycle
from execfsm.stages._context import RunContext, Services


def book(lifecycle: OrderLifecycle, fills: Iterable[Fill], services: Services) -> None:
    """
    Book each fill once; subscribers hear of each fill the ledger took.
    """
    order = lifecycle.order
    for fill in fills:
        if services.positions.book(order.client_order_id, order.symbol, order.side, fill):
            for subscriber in services.fill_subscribers:
                subscriber(order, fill)


def run(ctx: RunContext, services: Services) -> bool:
    """
    Book the run's fills.
    """
    book(ctx.lifecycle, ctx.booked, services)
    ctx.run.send("booked")
    return True
