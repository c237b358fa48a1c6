"""
Guards for the ways a live or done order is revised: a replace (amend) of its terms, and a
venue's bust or correction of one of its fills.

As in `execfsm.fsm.guards`: validators raise a typed error with a reason, conds return a
bool, none has side effects. They take what the order machine injects by name: ``order``,
``replace`` (a requested `ReplaceRequest`), ``pending_replace`` (the one the venue has),
``ref_fill`` (the applied fill a bust or correction names) and ``fill`` (a correction's
new terms).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from execfsm.contracts import Fill, Order, ReasonCode, ReplaceRequest, TimeInForce
from execfsm.errors import ContractViolation
from execfsm.fsm.guards import amounts_bounded, describe, price_fits_type

_ZERO = Decimal(0)


# -- replace ---------------------------------------------------------------------------------


@describe(
    "the new quantity is above what is already filled, the new terms keep the order "
    "contract, and something changes"
)
def replace_terms_valid(order: Order, replace: ReplaceRequest | None = None) -> None:
    """
    Refuse a replace that would leave the order filled at once or beyond (FIX: the venue
    rejects a replace below the cumulative quantity), one whose terms a new order could not
    have, and one that changes nothing.
    """
    if not isinstance(replace, ReplaceRequest) or replace.client_order_id != order.client_order_id:
        raise ContractViolation(
            f"order {order.client_order_id}: a replace must carry a ReplaceRequest for it, "
            f"got {replace!r}",
            reason=ReasonCode.VALIDATION_INVALID_FIELD,
            field="replace",
            value=replace,
        )
    if order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
        raise ContractViolation(
            f"order {order.client_order_id}: an {order.time_in_force} order is not amended "
            "(it never rests)",
            reason=ReasonCode.VALIDATION_INVALID_FIELD,
            field="time_in_force",
            value=order.time_in_force,
        )
    terms = order.with_changes(quantity=replace.quantity, limit_price=replace.limit_price)
    amounts_bounded(terms)
    price_fits_type(terms)
    if not (replace.quantity.is_finite() and replace.quantity > order.filled_quantity):
        raise ContractViolation(
            f"order {order.client_order_id}: new quantity {replace.quantity} must be greater "
            f"than the {order.filled_quantity} already filled",
            reason=ReasonCode.VALIDATION_INVALID_QUANTITY,
            field="quantity",
            value=replace.quantity,
        )
    if (replace.quantity, replace.limit_price) == (order.quantity, order.limit_price):
        raise ContractViolation(
            f"order {order.client_order_id}: the replace changes neither quantity nor price",
            reason=ReasonCode.VALIDATION_INVALID_FIELD,
            field="replace",
            value=replace,
        )


@describe("a replace is pending")
def replace_pending(order: Order, pending_replace: ReplaceRequest | None = None) -> None:
    """
    Refuse a REPLACE_ACK when no replace was asked for: the venue reports new terms we never
    requested, so the order stays as it is and is flagged.
    """
    if pending_replace is None:
        raise ContractViolation(
            f"order {order.client_order_id}: new terms from the venue with no replace pending",
            reason=ReasonCode.VENUE_CONTRADICTION,
            field="replace",
            value=None,
        )


@describe("what is filled reaches the replaced quantity")
def replace_completes(order: Order, pending_replace: ReplaceRequest | None = None) -> bool:
    """
    Choose FILLED when fills that raced the replace reach or pass its new quantity (FIX
    C.3.c: the venue then amends the quantity to what is filled).
    """
    return pending_replace is not None and pending_replace.quantity <= order.filled_quantity


@describe("what is filled reaches the order quantity")
def fills_complete(order: Order) -> bool:
    """
    Choose FILLED when a refused replace leaves a filled order as it was.
    """
    return order.filled_quantity >= order.quantity


@describe("nothing is filled")
def nothing_filled(order: Order) -> bool:
    """
    Choose ACKNOWLEDGED (the order rests untouched) over PARTIALLY_FILLED.
    """
    return not order.filled_quantity


@describe("nothing is filled yet: a venue cannot reject an order it executed")
def nothing_filled_yet(order: Order) -> None:
    """
    Refuse a REJECT of an order that has fills: the venue executed it, so it cannot have
    refused it; we and the venue disagree.
    """
    if order.filled_quantity:
        raise ContractViolation(
            f"order {order.client_order_id}: a reject after {order.filled_quantity} filled",
            reason=ReasonCode.VENUE_CONTRADICTION,
            field="filled_quantity",
            value=order.filled_quantity,
        )


# -- busts and corrections ---------------------------------------------------------------------


def _filled_after(order: Order, ref_fill: Fill | None, fill: Fill | None) -> Decimal:
    removed = _ZERO if ref_fill is None else ref_fill.quantity
    added = _ZERO if fill is None else fill.quantity
    return order.filled_quantity - removed + added


@describe("the bust or correction names a fill the order counts")
def names_counted_fill(
    order: Order, seen_fills: Mapping[str, Fill], ref_fill: Fill | None = None
) -> None:
    """
    Refuse a bust or correction of a fill the order does not count (`OrderLifecycle.apply`
    declares that case before the machine sees it; this keeps a direct ``send`` as safe).
    """
    if ref_fill is None or seen_fills.get(ref_fill.fill_id) != ref_fill:
        ref = None if ref_fill is None else ref_fill.fill_id
        raise ContractViolation(
            f"order {order.client_order_id}: no counted fill has id {ref}",
            reason=ReasonCode.TRADE_UNKNOWN_FILL,
            field="exec_ref_id",
            value=ref,
        )


@describe("fills remain once the busted one is removed")
def bust_leaves_fills(order: Order, ref_fill: Fill | None = None) -> bool:
    """
    Choose PARTIALLY_FILLED over ACKNOWLEDGED after a bust.
    """
    return _filled_after(order, ref_fill, None) > 0


@describe("the corrected fill keeps the cumulative quantity within the order quantity")
def correction_within_quantity(order: Order, fill: Fill, ref_fill: Fill | None = None) -> None:
    """
    Refuse a correction that would overfill the order (it is `fill_well_formed`'s to refuse
    a correction whose numbers are not amounts; it runs first).
    """
    after = _filled_after(order, ref_fill, fill)
    if after > order.quantity:
        raise ContractViolation(
            f"order {order.client_order_id}: correction {fill.fill_id} would take the filled "
            f"quantity to {after}, beyond {order.quantity}",
            reason=ReasonCode.FILL_OVERFILL,
            field="fill.quantity",
            value=fill.quantity,
        )


@describe("the corrected fill completes the order quantity")
def correction_completes(order: Order, fill: Fill, ref_fill: Fill | None = None) -> bool:
    """
    Choose FILLED over PARTIALLY_FILLED after a correction.
    """
    return _filled_after(order, ref_fill, fill) == order.quantity
