"""
Reusable validators, one factory per rule, in the attrs style: each is an attrs field
validator (``validator=aware_datetime()``) and has a `check(value, field)` for code that
validates outside a constructor. A refusal keeps the field and the value on the error.

Order-contract rules refuse with `ContractViolation` and a `ReasonCode`; rules on settings
(retry counts, timeouts, venue parameters) refuse with `ConfigurationError`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import attrs

from execfsm.bounds import shown
from execfsm.enums import ReasonCode
from execfsm.errors import ConfigurationError, ContractViolation

E = TypeVar("E")


def violation(field: str, rule: str, value: Any, reason: ReasonCode) -> ContractViolation:
    """
    The refusal of `value` for `field`: ``"<field>: <rule>, got <value>"``.
    """
    return ContractViolation(
        f"{field}: {rule}, got {shown(value)}", reason=reason, field=field, value=value
    )


def misconfigured(field: str, rule: str, value: Any) -> ConfigurationError:
    """
    The refusal of a setting: ``"<field>: <rule>, got <value>"``.
    """
    return ConfigurationError(f"{field}: {rule}, got {shown(value)}", field=field, value=value)


@attrs.frozen(repr=False)
class Rule:
    """
    One rule as a validator: `holds(value)` says whether `value` keeps it; a value that does
    not is refused as a contract violation with `reason`, or (no reason) as a bad setting.
    """

    holds: Any
    """``(value) -> bool``."""
    rule: str
    """The rule in words, as the message says it (``must be a number >= 0``)."""
    reason: ReasonCode | None = None

    def __call__(self, _instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not self.holds(value):
            self.refuse(value, attribute.name)

    def check(self, value: Any, field: str) -> None:
        """
        Raise if `value` breaks the rule, naming `field`.
        """
        if not self.holds(value):
            self.refuse(value, field)

    def refuse(self, value: Any, field: str) -> None:
        """
        Raise the refusal of `value` for `field`.
        """
        if self.reason is None:
            raise misconfigured(field, self.rule, value)
        raise violation(field, self.rule, value, self.reason)

    def __repr__(self) -> str:
        return f"<validator {self.rule}>"


def _is_aware(value: Any) -> bool:
    return isinstance(value, datetime) and value.tzinfo is not None


def aware_datetime(reason: ReasonCode | None = ReasonCode.VALIDATION_INVALID_FIELD) -> Rule:
    """
    A timezone-aware `datetime` (a naive one cannot be ordered against the clock's).
    """
    return Rule(_is_aware, "must be a timezone-aware datetime", reason)


def instance_of(
    kind: type[Any], reason: ReasonCode | None = None, *, optional: bool = False
) -> Rule:
    """
    An instance of `kind` (or None, if `optional`).
    """
    rule = f"must be {'None or ' if optional else ''}of type {kind.__name__}"
    if optional:
        return Rule(lambda v: v is None or isinstance(v, kind), rule, reason)
    return Rule(lambda v: isinstance(v, kind), rule, reason)


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float)


def number_between(
    minimum: float,
    maximum: float,
    *,
    integer: bool = False,
    decimal: bool = False,
    strict_minimum: bool = False,
    strict_maximum: bool = False,
) -> Rule:
    """
    A setting that is a finite int or float (an int if `integer`; a `Decimal` too if
    `decimal`) within ``[minimum, maximum]`` (an open end if `strict_minimum`/`strict_maximum`),
    so an infinity, a NaN or a huge int (``10**400``, past any float) is refused.
    """
    kind = "an integer" if integer else "a number"
    low, high = "(" if strict_minimum else "[", ")" if strict_maximum else "]"
    rule = f"must be {kind} in {low}{minimum}, {maximum}{high}"

    def holds(value: Any) -> bool:
        if isinstance(value, Decimal):
            if not decimal or not value.is_finite():
                return False
        elif not _is_number(value) or (integer and not isinstance(value, int)):
            return False
        above = value > minimum if strict_minimum else value >= minimum
        below = value < maximum if strict_maximum else value <= maximum
        return bool(above and below)

    return Rule(holds, rule)


def callable_setting(*, optional: bool = False) -> Rule:
    """
    A setting that is called (a sleeper, a callback), or None if `optional`.
    """
    rule = f"must be {'None or ' if optional else ''}callable"
    return Rule(lambda v: (optional and v is None) or callable(v), rule)


def has_methods(*names: str, optional: bool = False) -> Rule:
    """
    A collaborator with the methods `names` (a structural check, so that any object of the
    protocol's shape, such as a user's fake, passes), or None if `optional`.
    """
    shown_names = ", ".join(f"{name}()" for name in names)
    rule = f"must be {'None or ' if optional else ''}an object with the methods {shown_names}"

    def holds(value: Any) -> bool:
        if value is None:
            return optional
        return all(callable(getattr(value, name, None)) for name in names)

    return Rule(holds, rule)


def one_of_enum(enum_type: type[E], value: Any, field: str) -> E:
    """
    `value` as a member of `enum_type` (a member or its exact value), else a
    `ConfigurationError` naming `field`.
    """
    try:
        return enum_type(value)  # type: ignore[call-arg]
    except (ValueError, TypeError):
        allowed = ", ".join(str(m.value) for m in enum_type)  # type: ignore[attr-defined]
        raise misconfigured(field, f"must be one of {allowed}", value) from None


def _reason_for(field: str) -> ReasonCode:
    if "quantity" in field:
        return ReasonCode.VALIDATION_INVALID_QUANTITY
    if "price" in field:
        return ReasonCode.VALIDATION_INVALID_PRICE
    return ReasonCode.VALIDATION_INVALID_FIELD


def to_decimal(value: Any, field: str, *, finite: bool = True) -> Decimal:
    """
    Convert a quantity or price to `Decimal`, refusing anything that could lose precision.

    Accepts `Decimal`, `int` and decimal strings; refuses `float` and `bool`, and NaN and
    infinities unless `finite` is False (a venue's fill: the order machine refuses it then,
    audited, instead of the adapter crashing).

    >>> to_decimal("0.1", "quantity")
    Decimal('0.1')
    """
    if type(value) is Decimal and (value.is_finite() or not finite):
        return value  # the common case, first
    reason = _reason_for(field)
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        rule = "must be a Decimal, an int or a decimal string (floats lose precision)"
        raise violation(field, rule, value, reason)
    try:
        result = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, ValueError):
        raise violation(field, "must be a decimal number", value, reason) from None
    if finite and not result.is_finite():
        raise violation(field, "must be a finite number", value, reason)
    return result


def to_enum(enum_type: type[E], value: Any, field: str) -> E:
    """
    Convert a member or its value (e.g. ``"BUY"``, case-insensitive) to a member of `enum_type`.
    """
    if isinstance(value, enum_type):
        return value
    if isinstance(value, str):
        for member in enum_type:  # type: ignore[attr-defined]
            if member.value == value.strip().upper():
                return member  # type: ignore[no-any-return]
    allowed = ", ".join(str(m.value) for m in enum_type)  # type: ignore[attr-defined]
    raise violation(field, f"must be one of {allowed}", value, ReasonCode.VALIDATION_INVALID_FIELD)
