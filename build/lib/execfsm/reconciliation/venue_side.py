"""
A full pass's questions about the venue's side: its working orders we have no record of,
the orders adopted from them, and positions that differ. Plain reads of the venue's answers
and our ledgers; the reconciler writes what they find.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from execfsm.adapters.reports import VenueOrderReport
from execfsm.contracts import Order, OrderType, TimeInForce
from execfsm.errors import ContractViolation, IllegalTransition
from execfsm.fsm.engine import Engine
from execfsm.fsm.order import OrderLifecycle
from execfsm.ids import canonical_json
from execfsm.ledger.audit import AuditLog
from execfsm.ledger.positions import Position
from execfsm.reconciliation.findings import ADOPTED
from execfsm.reconciliation.report import PositionDifference
from execfsm.typing import Clock, QueryingAdapter


def external_orders(
    adapter: QueryingAdapter, ours: Iterable[Order]
) -> tuple[VenueOrderReport, ...]:
    """
    The venue's working orders none of `ours` is known by (its id, or its id since a
    replace), each once (by client order id and the venue's id).
    """
    known: set[str] = set()
    for order in ours:
        known.add(order.client_order_id)
        if order.venue_client_order_id is not None:
            known.add(order.venue_client_order_id)
    found: dict[tuple[str, str | None], VenueOrderReport] = {}
    for report in adapter.open_orders():  # once each, if a venue lists one twice
        if report.client_order_id not in known:
            found.setdefault((report.client_order_id, report.venue_order_id), report)
    return tuple(found.values())


def position_differences(
    adapter: QueryingAdapter, ours: Mapping[str, Position]
) -> tuple[PositionDifference, ...]:
    """Every symbol whose net position at the venue differs from ours, by symbol."""
    venue = dict(adapter.positions())
    held = {symbol: position.quantity for symbol, position in ours.items()}
    zero = Decimal(0)
    return tuple(
        PositionDifference(symbol, held.get(symbol, zero), venue.get(symbol, zero))
        for symbol in sorted(set(venue) | set(held))
        if held.get(symbol, zero) != venue.get(symbol, zero)
    )


def adoption(report: VenueOrderReport, clock: Clock, engine: Engine) -> tuple[Order, str] | None:
    """
    The order that adopts the venue's `report` (correlation id and idempotency key
    ``external:<client order id>``, strategy ``external``) and the terms its ``adopt`` record
    carries; None if the order machine would refuse to submit those terms (tried on a log of
    its own: a refusal inside a unit of work would stop the store).
    """
    key = ADOPTED + report.client_order_id
    order_type = report.order_type or (
        OrderType.LIMIT if report.limit_price is not None else OrderType.MARKET
    )
    order = Order(
        client_order_id=report.client_order_id,
        correlation_id=key,
        idempotency_key=key,
        symbol=report.symbol,
        side=report.side,
        order_type=order_type,
        quantity=report.quantity,
        strategy_id="external",
        limit_price=report.limit_price,
        time_in_force=report.time_in_force or TimeInForce.GTC,
    )
    try:
        OrderLifecycle(order, AuditLog(clock), engine=engine).send("submit")
    except (ContractViolation, IllegalTransition):
        return None
    terms = {
        "symbol": order.symbol,
        "side": str(order.side),
        "quantity": str(order.quantity),
        "order_type": str(order.order_type),
        "limit_price": None if order.limit_price is None else str(order.limit_price),
        "time_in_force": str(order.time_in_force),
    }
    return order, canonical_json(terms)
