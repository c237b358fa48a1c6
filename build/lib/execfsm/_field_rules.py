"""
The field rules and named converters of the contracts' attrs classes (`execfsm.contracts`):
attrs' mypy plugin reads only named converter functions, and the field name in each keeps
the error message precise. A value already of the field's type returns at once (the common
case: an adapter passes Decimals and members).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from execfsm.bounds import ID_MAX_LENGTH, SYMBOL_MAX_LENGTH, bounded_amount, bounded_text
from execfsm.enums import EventKind, OrderSide, OrderType, ReasonCode, TimeInForce
from execfsm.validators import Rule, to_decimal, to_enum, violation

QUANTITY_BOUNDS = bounded_amount(ReasonCode.VALIDATION_INVALID_QUANTITY)
PRICE_BOUNDS = bounded_amount(ReasonCode.VALIDATION_INVALID_PRICE)
SYMBOL_TEXT = bounded_text(ReasonCode.VALIDATION_INVALID_SYMBOL, max_length=SYMBOL_MAX_LENGTH)
ID_TEXT = bounded_text(ReasonCode.VALIDATION_INVALID_FIELD, max_length=ID_MAX_LENGTH)
VENUE_TEXT = bounded_text(ReasonCode.VALIDATION_INVALID_FIELD, controls=True)
"""Ids and texts a venue reports: only what no audit record could hold is refused."""


def quantity(value: Any) -> Decimal:
    return to_decimal(value, "quantity")


def limit_price(value: Any) -> Decimal | None:
    return None if value is None else to_decimal(value, "limit_price")


def fill_quantity(value: Any) -> Decimal:
    return value if type(value) is Decimal else to_decimal(value, "quantity", finite=False)


def fill_price(value: Any) -> Decimal:
    return value if type(value) is Decimal else to_decimal(value, "price", finite=False)


def fill_fee(value: Any) -> Decimal:
    return value if type(value) is Decimal else to_decimal(value, "fee", finite=False)


def side(value: Any) -> OrderSide:
    return value if type(value) is OrderSide else to_enum(OrderSide, value, "side")


def order_type(value: Any) -> OrderType:
    return value if type(value) is OrderType else to_enum(OrderType, value, "order_type")


def time_in_force(value: Any) -> TimeInForce:
    return value if type(value) is TimeInForce else to_enum(TimeInForce, value, "time_in_force")


def expire_time(value: Any) -> datetime | None:
    if isinstance(value, str):  # as a JSON intent writes it: ISO 8601 with an offset
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            rule = "must be an ISO 8601 time with a UTC offset"
            raise violation(
                "expire_time", rule, value, ReasonCode.VALIDATION_INVALID_FIELD
            ) from None
    return value  # type: ignore[no-any-return]


EXPIRE_TIME = Rule(
    lambda v: v is None or (isinstance(v, datetime) and v.tzinfo is not None),
    "must be None or a timezone-aware datetime",
    ReasonCode.VALIDATION_INVALID_FIELD,
)


def event_kind(value: Any) -> EventKind:
    return value if type(value) is EventKind else to_enum(EventKind, value, "kind")
