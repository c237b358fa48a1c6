"""
Rebuild the ledgers from the audit trail alone: the trail is the source of truth.

The pipeline's ``intake_done`` record carries the intent's terms; every applied ``fill``
record of an order carries its fill. Replaying them in ``seq`` order gives each order's state
and filled quantity and every position, exactly as the live ledgers hold them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal

import attrs
import msgspec

from execfsm.contracts import Fill, OrderIntent, OrderSide, OrderState, ReasonCode
from execfsm.errors import AuditChainError
from execfsm.fsm.audit import AuditOutcome, AuditRecord
from execfsm.ids import idempotency_key
from execfsm.ledger.positions import Position, PositionLedger


@attrs.frozen
class ReplayedOrder:
    """
    One order as the trail describes it.
    """

    client_order_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    state: OrderState = OrderState.CREATED
    filled_quantity: Decimal = Decimal(0)
    fills: tuple[Fill, ...] = ()
    """Fills applied while the order was live, in order."""
    late_fills: tuple[Fill, ...] = ()
    resume_state: OrderState | None = None
    """Where a rejected cancel would return to (for a PENDING_CANCEL order)."""
    submitted: bool = False
    """The order took ``submit``: it may have reached a venue."""
    cancel_in_doubt: bool = False
    """A cancel was requested and nothing says the venue was told (the process stopped
    inside the adapter's cancel call, or before it)."""


@attrs.frozen
class ReplayedIntent:
    """
    One intent as the trail describes it: what its idempotency-index row must say.
    """

    correlation_id: str
    client_order_id: str
    idempotency_key: str
    state: str
    """The pipeline state its last applied record left it in."""


@attrs.frozen
class Replay:
    """
    The ledgers rebuilt from a trail.
    """

    orders: dict[str, ReplayedOrder]
    positions: dict[str, Position]
    intents: dict[str, ReplayedIntent] = attrs.Factory(dict)
    """By correlation id."""
    booked: frozenset[tuple[str, str]] = frozenset()
    """Every (client order id, fill id) booked in a position."""


def _json(record: AuditRecord) -> dict[str, object]:
    try:
        data = json.loads(record.detail)
    except json.JSONDecodeError:
        raise AuditChainError(
            f"record seq {record.seq}: {record.event} detail is not JSON", seq=record.seq
        ) from None
    if not isinstance(data, dict):
        raise AuditChainError(f"record seq {record.seq}: detail is not an object", seq=record.seq)
    return data


def _fill(record: AuditRecord) -> Fill:
    return msgspec.convert(_json(record), Fill)


def replay(records: Iterable[AuditRecord]) -> Replay:
    """
    Replay `records` (in ``seq`` order) into order and position ledgers.
    """
    orders: dict[str, ReplayedOrder] = {}
    intents: dict[str, ReplayedIntent] = {}
    positions = PositionLedger()
    booked: set[tuple[str, str]] = set()
    for record in records:
        cid = record.client_order_id
        if cid is None:
            continue
        if record.machine == "pipeline":
            if record.outcome is not AuditOutcome.APPLIED or record.target is None:
                continue
            if record.event == "intake_done":
                terms = _json(record)
                orders[cid] = ReplayedOrder(
                    client_order_id=cid,
                    symbol=str(terms["symbol"]),
                    side=OrderSide(str(terms["side"])),
                    quantity=Decimal(str(terms["quantity"])),
                )
                key = idempotency_key(OrderIntent.from_mapping(terms))
                intents[record.correlation_id] = ReplayedIntent(
                    record.correlation_id, cid, key, record.target
                )
            elif record.correlation_id in intents:
                intent = intents[record.correlation_id]
                intents[record.correlation_id] = attrs.evolve(intent, state=record.target)
            continue
        if record.machine != "order" or cid not in orders:
            continue
        order = orders[cid]
        if record.event == "cancel_attempt":  # the venue was told, or we know it was not
            orders[cid] = order = attrs.evolve(order, cancel_in_doubt=False)
        if record.outcome is AuditOutcome.DUPLICATE:
            if (
                record.reason_code is ReasonCode.ACK_ABSORBED
                and order.state is OrderState.PENDING_CANCEL
                and order.resume_state is OrderState.SUBMITTED
            ):
                orders[cid] = attrs.evolve(order, resume_state=OrderState.ACKNOWLEDGED)
            continue
        if record.outcome is not AuditOutcome.APPLIED:
            continue
        if record.event == "fill":
            fill = _fill(record)
            positions.book(cid, order.symbol, order.side, fill)
            booked.add((cid, fill.fill_id))
            if record.reason_code is ReasonCode.FILL_AFTER_FINAL:
                order = attrs.evolve(order, late_fills=(*order.late_fills, fill))
            else:
                order = attrs.evolve(
                    order,
                    filled_quantity=order.filled_quantity + fill.quantity,
                    fills=(*order.fills, fill),
                )
                if record.source == OrderState.PENDING_CANCEL.value:
                    order = attrs.evolve(order, resume_state=OrderState.PARTIALLY_FILLED)
        if record.event == "submit":
            order = attrs.evolve(order, submitted=True)
        if record.event == "request_cancel" and record.source is not None:
            order = attrs.evolve(
                order, resume_state=OrderState(record.source), cancel_in_doubt=True
            )
        elif record.target != OrderState.PENDING_CANCEL.value:
            order = attrs.evolve(order, cancel_in_doubt=False)
        if record.target is not None:
            order = attrs.evolve(order, state=OrderState(record.target))
        orders[cid] = order
    return Replay(orders, positions.snapshot(), intents, frozenset(booked))
