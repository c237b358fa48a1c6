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

from execfsm.contracts import Fill, OrderIntent, OrderSide, OrderState, ReasonCode, ReplaceRequest
from execfsm.errors import AuditChainError
from execfsm.fsm.audit import AuditOutcome, AuditRecord
from execfsm.ids import idempotency_key
from execfsm.ledger.positions import REVERSALS, Position, PositionLedger, reversal


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
    """The fills the order counts, in order (also those after it ended)."""
    late_fills: tuple[Fill, ...] = ()
    """Those of them that arrived after the order had ended."""
    retired_fills: tuple[Fill, ...] = ()
    """Fills a bust or correction took back."""
    pending_replace: ReplaceRequest | None = None
    """The replace the venue had not answered (for a PENDING_REPLACE order)."""
    replace_count: int = 0
    ordered_quantity: Decimal = Decimal(0)
    """The intent's quantity (``quantity`` is the one in force, after replaces)."""
    resume_state: OrderState | None = None
    """Where a rejected cancel would return to (for a PENDING_CANCEL order)."""
    submitted: bool = False
    """The order took ``submit``: it may have reached a venue."""
    cancel_in_doubt: bool = False
    """A cancel was requested and nothing says the venue was told (the process stopped
    inside the adapter's cancel call, or before it)."""
    replace_in_doubt: bool = False
    """Likewise for a replace: requested, and nothing says the venue was told."""


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


def _correction(record: AuditRecord) -> tuple[Fill, Fill]:
    data = _json(record)
    return msgspec.convert(data["corrected"], Fill), msgspec.convert(data["fill"], Fill)


def _without(
    fills: tuple[Fill, ...], fill_id: str, instead: Fill | None = None
) -> tuple[Fill, ...]:
    if instead is None:
        return tuple(f for f in fills if f.fill_id != fill_id)
    return tuple(instead if f.fill_id == fill_id else f for f in fills)


def _adopted(record: AuditRecord) -> ReplayedOrder:
    """The order an ``adopt`` record (reconciliation, `RECON_EXTERNAL_ORDER`) started."""
    terms = _json(record)
    quantity = Decimal(str(terms["quantity"]))
    return ReplayedOrder(
        client_order_id=str(record.client_order_id),
        symbol=str(terms["symbol"]),
        side=OrderSide(str(terms["side"])),
        quantity=quantity,
        ordered_quantity=quantity,
    )


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
                quantity = Decimal(str(terms["quantity"]))
                orders[cid] = ReplayedOrder(
                    client_order_id=cid,
                    symbol=str(terms["symbol"]),
                    side=OrderSide(str(terms["side"])),
                    quantity=quantity,
                    ordered_quantity=quantity,
                )
                key = idempotency_key(OrderIntent.from_mapping(terms))
                intents[record.correlation_id] = ReplayedIntent(
                    record.correlation_id, cid, key, record.target
                )
            elif record.correlation_id in intents:
                intent = intents[record.correlation_id]
                intents[record.correlation_id] = attrs.evolve(intent, state=record.target)
            continue
        if (
            record.machine == "order"
            and record.event == "adopt"
            and record.outcome is AuditOutcome.APPLIED
            and cid not in orders
        ):
            orders[cid] = _adopted(record)  # reconciliation took in the venue's order
            continue
        if record.machine != "order" or cid not in orders:
            continue
        order = orders[cid]
        if record.event == "cancel_attempt":  # the venue was told, or we know it was not
            orders[cid] = order = attrs.evolve(order, cancel_in_doubt=False)
        elif record.event == "replace_attempt":
            orders[cid] = order = attrs.evolve(order, replace_in_doubt=False)
        if record.outcome is AuditOutcome.DUPLICATE:
            if (  # a late refusal after the order ended: the replace is answered
                record.event == "replace_reject" and record.reason_code is ReasonCode.EVENT_ABSORBED
            ):
                orders[cid] = order = attrs.evolve(order, pending_replace=None)
            if (
                record.reason_code is ReasonCode.ACK_ABSORBED
                and order.state is OrderState.PENDING_CANCEL
                and order.resume_state is OrderState.SUBMITTED
            ):
                orders[cid] = attrs.evolve(order, resume_state=OrderState.ACKNOWLEDGED)
            continue
        if record.outcome is not AuditOutcome.APPLIED:
            continue
        if record.event in _REVISIONS:
            order = _revised(order, record, positions, booked)
        if record.event == "submit":
            order = attrs.evolve(order, submitted=True)
        if record.event == "request_cancel" and record.source is not None:
            order = attrs.evolve(
                order, resume_state=OrderState(record.source), cancel_in_doubt=True
            )
        elif record.target != OrderState.PENDING_CANCEL.value:
            order = attrs.evolve(order, cancel_in_doubt=False)
        if record.event == "request_replace":
            order = attrs.evolve(order, replace_in_doubt=True)
        elif record.target != OrderState.PENDING_REPLACE.value:
            order = attrs.evolve(order, replace_in_doubt=False)
        if record.target is not None:
            order = attrs.evolve(order, state=OrderState(record.target))
        orders[cid] = order
    return Replay(orders, positions.snapshot(), intents, frozenset(booked))


_REVISIONS = frozenset(
    {"fill", "trade_bust", "trade_correct", "request_replace", "replace_ack", "replace_reject"}
)
"""Applied events whose record carries (or settles) what the ledgers need."""


def _revised(
    order: ReplayedOrder,
    record: AuditRecord,
    positions: PositionLedger,
    booked: set[tuple[str, str]],
) -> ReplayedOrder:
    """
    `order` after one applied record of `_REVISIONS`, booking what it moved as the live
    ledgers did (`execfsm.stages.post_trade.book_outcome`).
    """
    cid = order.client_order_id

    def book(side: OrderSide, fill: Fill, reversed_fill: bool = False) -> None:
        positions.book(cid, order.symbol, side, fill, reversal=reversed_fill)
        booked.add((REVERSALS + cid if reversed_fill else cid, fill.fill_id))

    event = record.event
    if event == "fill":
        fill = _fill(record)
        book(order.side, fill)
        order = attrs.evolve(
            order,
            filled_quantity=order.filled_quantity + fill.quantity,
            fills=(*order.fills, fill),
        )
        if record.reason_code is ReasonCode.FILL_AFTER_FINAL:
            order = attrs.evolve(order, late_fills=(*order.late_fills, fill))
        if (
            record.source == OrderState.PENDING_CANCEL.value
            and order.resume_state is not OrderState.PENDING_REPLACE
        ):
            order = attrs.evolve(order, resume_state=OrderState.PARTIALLY_FILLED)
    elif event in ("trade_bust", "trade_correct"):
        if event == "trade_bust":
            old, new = _fill(record), None
        else:
            old, new = _correction(record)
        book(*reversal(order.side, old), reversed_fill=True)
        added = Decimal(0)
        if new is not None:
            book(order.side, new)
            added = new.quantity
        late = order.late_fills
        if any(f.fill_id == old.fill_id for f in late):
            late = _without(late, old.fill_id, new)
        order = attrs.evolve(
            order,
            filled_quantity=order.filled_quantity - old.quantity + added,
            fills=_without(order.fills, old.fill_id, new),
            late_fills=late,
            retired_fills=(*order.retired_fills, old),
        )
        if not order.fills and order.resume_state is OrderState.PARTIALLY_FILLED:
            order = attrs.evolve(order, resume_state=OrderState.ACKNOWLEDGED)
    elif event == "request_replace":
        replace = msgspec.convert(_json(record), ReplaceRequest)
        order = attrs.evolve(order, pending_replace=replace, replace_count=order.replace_count + 1)
    else:  # replace_ack, replace_reject
        if event == "replace_ack" and order.pending_replace is not None:
            quantity = max(order.pending_replace.quantity, order.filled_quantity)  # FIX C.3.c
            order = attrs.evolve(order, quantity=quantity)
        order = attrs.evolve(order, pending_replace=None)
        if order.resume_state is OrderState.PENDING_REPLACE:  # a cancel asked meanwhile
            back = OrderState.PARTIALLY_FILLED if order.filled_quantity else OrderState.ACKNOWLEDGED
            order = attrs.evolve(order, resume_state=back)
    return order
