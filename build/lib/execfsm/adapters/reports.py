"""
What a venue says about its orders when asked: `VenueOrderReport` and `VenueFill`.

Frozen and validated like the order contracts: quantities, prices and fees are `Decimal`
(floats refused), a report's cumulative quantity never exceeds its quantity, and its leaves
quantity is what remains. A report may still contradict *our* order (another side, more
filled than we ordered): that is for reconciliation to find, not for the report to refuse.
A report also says, where the venue knows them, the order's type, limit price, time in force
and the venue's own id: what reconciliation needs to adopt an order placed elsewhere.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from execfsm.enums import OrderSide, OrderState, OrderType, ReasonCode, TimeInForce
from execfsm.validators import aware_datetime, instance_of, to_decimal, to_enum, violation

_QTY = ReasonCode.VALIDATION_INVALID_QUANTITY
_PRICE = ReasonCode.VALIDATION_INVALID_PRICE
_TEXT = instance_of(str, ReasonCode.VALIDATION_INVALID_FIELD)
_OPTIONAL_TEXT = instance_of(str, ReasonCode.VALIDATION_INVALID_FIELD, optional=True)
_WHEN = aware_datetime()


def _amount(value: Any, field: str, *, positive: bool = False) -> Decimal:
    """
    `value` for `field` as a finite `Decimal` (no float), >= 0, or > 0 if `positive`.
    """
    number = to_decimal(value, field)
    if number < 0 or (positive and number == 0):
        rule = "must be greater than 0" if positive else "must be >= 0"
        raise violation(field, rule, value, _PRICE if "price" in field else _QTY)
    return number


def _quantity(value: Any) -> Decimal:
    return _amount(value, "quantity", positive=True)


def _cum_quantity(value: Any) -> Decimal:
    return _amount(value, "cum_quantity")


def _leaves_quantity(value: Any) -> Decimal:
    return _amount(value, "leaves_quantity")


def _avg_price(value: Any) -> Decimal | None:
    return None if value is None else _amount(value, "avg_price", positive=True)


def _fill_quantity(value: Any) -> Decimal:
    return _amount(value, "fill quantity", positive=True)


def _fill_price(value: Any) -> Decimal:
    return _amount(value, "fill price", positive=True)


def _fill_fee(value: Any) -> Decimal:
    return _amount(value, "fill fee")


def _fills(value: Any) -> tuple[Any, ...]:
    return tuple(value)


def _limit_price(value: Any) -> Decimal | None:
    return None if value is None else _amount(value, "limit_price", positive=True)


def _order_type(value: Any) -> OrderType | None:
    return None if value is None else to_enum(OrderType, value, "order_type")


def _time_in_force(value: Any) -> TimeInForce | None:
    return None if value is None else to_enum(TimeInForce, value, "time_in_force")


def _side(value: Any) -> OrderSide:
    return to_enum(OrderSide, value, "side")


def _state(value: Any) -> OrderState:
    return to_enum(OrderState, value, "state")


@attrs.frozen
class VenueFill:
    """
    One execution as the venue reports it, named by the venue's execution id.
    """

    client_order_id: str = attrs.field(validator=_TEXT)
    exec_id: str = attrs.field(validator=_TEXT)
    """The venue's id of the execution (our `Fill.fill_id`)."""
    symbol: str = attrs.field(validator=_TEXT)
    side: OrderSide = attrs.field(converter=_side)
    quantity: Decimal = attrs.field(converter=_fill_quantity)
    price: Decimal = attrs.field(converter=_fill_price)
    fee: Decimal = attrs.field(converter=_fill_fee)
    ts_event: datetime = attrs.field(validator=_WHEN)
    """When the venue executed it."""


@attrs.frozen
class VenueOrderReport:
    """
    One order as the venue holds it, found by our client order id.
    """

    client_order_id: str = attrs.field(validator=_TEXT)
    state: OrderState = attrs.field(converter=_state)
    """ACKNOWLEDGED, PARTIALLY_FILLED, FILLED, CANCELLED, EXPIRED or REJECTED."""
    symbol: str = attrs.field(validator=_TEXT)
    side: OrderSide = attrs.field(converter=_side)
    quantity: Decimal = attrs.field(converter=_quantity)
    """The order's quantity at the venue (after any replace)."""
    cum_quantity: Decimal = attrs.field(converter=_cum_quantity)
    leaves_quantity: Decimal = attrs.field(converter=_leaves_quantity)
    """What may still fill: 0 once the order is final."""
    avg_price: Decimal | None = attrs.field(converter=_avg_price)
    """The fills' quantity-weighted price; None before the first fill."""
    fills: tuple[VenueFill, ...] = attrs.field(default=(), converter=_fills)
    order_type: OrderType | None = attrs.field(default=None, converter=_order_type)
    """MARKET or LIMIT; None when the venue does not say."""
    limit_price: Decimal | None = attrs.field(default=None, converter=_limit_price)
    """A LIMIT order's price at the venue (after any replace); None for a MARKET order."""
    venue_order_id: str | None = attrs.field(default=None, validator=_OPTIONAL_TEXT)
    """The venue's own id of the order (from its ACK); None if it never acknowledged it."""
    time_in_force: TimeInForce | None = attrs.field(default=None, converter=_time_in_force)
    """None when the venue does not say."""

    def __attrs_post_init__(self) -> None:
        order = self.client_order_id
        if self.cum_quantity > self.quantity:
            rule = f"order {order}: must not exceed quantity {self.quantity}"
            raise violation("cum_quantity", rule, self.cum_quantity, _QTY)
        if self.leaves_quantity > self.quantity - self.cum_quantity:
            rule = f"order {order}: must not exceed quantity - cum_quantity"
            raise violation("leaves_quantity", rule, self.leaves_quantity, _QTY)
        for fill in self.fills:
            if not isinstance(fill, VenueFill) or fill.client_order_id != order:
                rule = f"order {order}: must be VenueFills of this order"
                raise violation("fills", rule, fill, ReasonCode.VALIDATION_INVALID_FIELD)
        filled = sum((f.quantity for f in self.fills), Decimal(0))
        if self.fills and filled != self.cum_quantity:
            rule = f"order {order}: fills must sum to cum_quantity {self.cum_quantity}"
            raise violation("fills", rule, filled, _QTY)
