"""
Stage 7, post-trade: book fills in the position ledger and tell the fill subscribers.
"""

from __future__ import annotations

from collections.abc import Iterable

from execfsm.contracts import Fill, Order
from execfsm.fsm.order import EventOutcome, OrderLifecycle
from execfsm.ledger.positions import reversal
from execfsm.stages._context import RunContext, Services
from execfsm.typing import FillSubscriber


def book(
    lifecycle: OrderLifecycle, fills: Iterable[tuple[int | None, Fill]], services: Services
) -> list[tuple[Order, Fill]]:
    """
    Book each fill once, and stage each booking with the unit of work (the store books
    its positions from them in the order of the fills' audit records, as a replay would);
    returns the fills the ledger took, for `notify` once the unit is durable.
    """
    order = lifecycle.order
    heard = []
    for seq, fill in fills:
        change = services.positions.book(order.client_order_id, order.symbol, order.side, fill)
        if change is not None:
            services.store.stage_booking((seq or 0, order.side, fill, *change))
            heard.append((order, fill))
    return heard


def book_outcome(
    lifecycle: OrderLifecycle, outcome: EventOutcome, services: Services
) -> list[tuple[Order, Fill]]:
    """
    Book what one applied venue event moved: the reverse of a fill a bust or correction
    took back (not told to fill subscribers: it is no execution), then a fill (a correction's
    new terms too), both at the event's record.
    """
    seq = outcome.booked_seq
    if outcome.reversed_fill is not None:
        order = lifecycle.order
        side, taken_back = reversal(order.side, outcome.reversed_fill)
        change = services.positions.book(
            order.client_order_id, order.symbol, side, taken_back, reversal=True
        )
        if change is not None:
            services.store.stage_booking((seq or 0, side, taken_back, *change))
    if outcome.booked_fill is None:
        return []
    return book(lifecycle, [(seq, outcome.booked_fill)], services)


def notify(
    heard: Iterable[tuple[Order, Fill]], subscribers: Iterable[FillSubscriber]
) -> list[Exception]:
    """
    Tell every fill subscriber of every booked fill. Called once the fills are durable and
    outside any unit of work, so a subscriber may submit intents of its own. A subscriber
    that raises stops neither the others nor the later fills: what it raised is returned,
    for the caller to raise.
    """
    errors: list[Exception] = []
    for order, fill in heard:
        for subscriber in subscribers:
            try:
                subscriber(order, fill)
            except Exception as exc:  # noqa: BLE001 - raised by the caller, after recording
                errors.append(exc)
    return errors


def run(ctx: RunContext, *, services: Services) -> bool:
    """
    Book the run's fills.
    """
    for outcome in ctx.booked:
        ctx.heard.extend(book_outcome(ctx.lifecycle, outcome, services))
    ctx.run.send("booked")
    return True
