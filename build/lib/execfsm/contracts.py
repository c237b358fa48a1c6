"""
The value types that cross every boundary: intents, orders, fills, execution events (the
enums they use live in `execfsm.enums`, and are re-exported here).

An intent's types and representable bounds are checked at construction: a float quantity,
an amount beyond `execfsm.bounds.AMOUNT_BOUND`, or text that is not valid Unicode, holds a
control character or is too long is refused here, naming the field (`bounded_amount`,
`bounded_text`). Business rules such as "quantity > 0" are not: the machines' validators
enforce them, so the pipeline reports them at its validation stage with a reason code.

A venue's `ExecutionEvent` and `Fill` are checked for their types only: an adapter translating
a venue's message must not crash on its numbers. The order machine refuses a fill whose
amounts break the same bounds (a ``FILL_INVALID_*`` refusal, audited) before it computes
anything with them.

The only package imports are the enums, the error tree, `execfsm.bounds` and
`execfsm.validators`, which import nothing else at load time.
"""

from __future__ import annotations

import operator
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

import execfsm._field_rules as rules
from execfsm.enums import (
    FINAL_ORDER_STATES,
    IN_FLIGHT_ORDER_STATES,
    STAGE_NUMBER,
    EventKind,
    ExecutionMode,
    OrderSide,
    OrderState,
    OrderType,
    PipelineState,
    ReasonCode,
    RiskDecision,
    TimeInForce,
)
from execfsm.errors import ContractViolation
from execfsm.validators import (
    Rule,
    aware_datetime,
    instance_of,
    to_decimal,
    to_enum,
    violation,
)

__all__ = [  # the enums and converters are re-exported: `from execfsm.contracts import ...`
    "FINAL_ORDER_STATES",
    "IN_FLIGHT_ORDER_STATES",
    "SCHEMA_VERSION",
    "STAGE_NUMBER",
    "EventKind",
    "ExecutionEvent",
    "ExecutionMode",
    "Fill",
    "LivePolicy",
    "Order",
    "OrderIntent",
    "OrderSide",
    "OrderState",
    "OrderType",
    "PipelineState",
    "ReasonCode",
    "ReplaceRequest",
    "RiskDecision",
    "RiskVerdict",
    "Route",
    "TimeInForce",
    "to_decimal",
    "to_enum",
]

SCHEMA_VERSION = 1
"""Version of the event and record schemas; bumped when a field changes meaning."""


@attrs.frozen
class RiskVerdict:
    """
    A risk hook's answer, with the reason a BLOCK or PAUSE is reported with.
    """

    decision: RiskDecision
    reason: str = ""
    code: ReasonCode | None = attrs.field(
        default=None,
        validator=instance_of(ReasonCode, ReasonCode.VALIDATION_INVALID_FIELD, optional=True),
    )
    """A more specific code than RISK_BLOCKED / RISK_PAUSED (e.g. the kill switch): one of
    execfsm's (a machine's own codes belong to its own records)."""


_APPROVER = Rule(lambda v: isinstance(v, str) and bool(v.strip()), "must be a non-blank str")


@attrs.frozen
class LivePolicy:
    """
    The explicit, expiring approval without which nothing reaches a live venue.

    It is only ever given to the orchestrator as an object: no environment variable, config
    string or default creates one. A blank ``approved_by``, a non-str ``reason`` or a naive
    ``expires_at`` is refused with a `ConfigurationError` (and routing still treats a policy
    without an approver as no policy).
    """

    approved_by: str = attrs.field(validator=_APPROVER)
    reason: str = attrs.field(validator=instance_of(str))
    expires_at: datetime = attrs.field(validator=aware_datetime(reason=None))

    def is_active(self, now: datetime) -> bool:
        """
        True while the approval has not expired and names who gave it.
        """
        return bool(self.approved_by.strip()) and now < self.expires_at


@attrs.frozen
class Route:
    """
    What routing decided for one intent: the mode, whether an adapter serves it, and the
    live policy in force at ``now`` (read from the injected clock).
    """

    mode: ExecutionMode
    adapter_registered: bool
    live_policy: LivePolicy | None
    now: datetime


def _mapping_error(problem: str, data: object) -> ContractViolation:
    return ContractViolation(
        f"intent: {problem}", reason=ReasonCode.VALIDATION_INVALID_FIELD, field="intent", value=data
    )


@attrs.frozen
class OrderIntent:
    """
    A strategy's decision to trade, before any stage has looked at it.

    Two deliberate identical orders need distinct ``intent_id`` values: without one, the
    idempotency key is derived from the content, and the second is treated as a duplicate.
    """

    symbol: str = attrs.field(validator=rules.SYMBOL_TEXT)
    side: OrderSide = attrs.field(converter=rules.side)
    quantity: Decimal = attrs.field(converter=rules.quantity, validator=rules.QUANTITY_BOUNDS)
    order_type: OrderType = attrs.field(converter=rules.order_type)
    strategy_id: str = attrs.field(validator=rules.ID_TEXT)
    limit_price: Decimal | None = attrs.field(
        default=None, converter=rules.limit_price, validator=rules.PRICE_BOUNDS
    )
    time_in_force: TimeInForce = attrs.field(default=TimeInForce.GTC, converter=rules.time_in_force)
    intent_id: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(rules.ID_TEXT)
    )
    """Caller's id for this decision; distinct ids make identical orders distinct."""
    session_id: str = attrs.field(default="default", validator=rules.ID_TEXT)
    """Trading session the intent belongs to; part of the idempotency key."""
    expire_time: datetime | None = attrs.field(
        default=None, converter=rules.expire_time, validator=rules.EXPIRE_TIME
    )
    """When a GTD order expires (required for GTD, refused for any other time in force, by
    the contract validator `execfsm.fsm.guards.expiry_fits_time_in_force`)."""

    @classmethod
    def from_mapping(cls, data: object) -> OrderIntent:
        """
        An intent from plain data (a parsed JSON object): unknown and missing fields are
        refused by name, every value is checked as in the constructor.
        """
        if not isinstance(data, dict):
            kind = type(data).__name__
            raise _mapping_error(
                f"must be a JSON object of field names to values, got {kind}", data
            )
        fields = {a.name: a for a in attrs.fields(cls)}
        unknown = sorted(str(k) for k in data if k not in fields)
        if unknown:
            raise _mapping_error(f"unknown field(s) {', '.join(unknown)}", data)
        required = (n for n, a in fields.items() if a.default is attrs.NOTHING)
        missing = sorted(n for n in required if n not in data)
        if missing:
            raise _mapping_error(f"missing required field(s) {', '.join(missing)}", data)
        return cls(**data)


@attrs.frozen
class Fill:
    """
    One execution at the venue. The same ``fill_id`` is applied at most once per order.
    """

    fill_id: str = attrs.field(validator=rules.VENUE_TEXT)
    quantity: Decimal = attrs.field(converter=rules.fill_quantity)
    """Any Decimal: the order machine refuses one beyond `execfsm.bounds.AMOUNT_BOUND` (so too
    for price and fee)."""
    price: Decimal = attrs.field(converter=rules.fill_price)
    fee: Decimal = attrs.field(default=Decimal(0), converter=rules.fill_fee)

    def same_content(self, other: Fill) -> bool:
        """
        True if `other` reports the same execution (a harmless re-delivery).

        Equal values are the same (``1.0`` and ``1.00``); a NaN or infinity only equals
        itself, and comparing one never signals.
        """
        mine = (self.quantity, self.price, self.fee)
        theirs = (other.quantity, other.price, other.fee)
        if all(v.is_finite() for v in (*mine, *theirs)):
            return mine == theirs
        return all(a.compare_total(b) == 0 for a, b in zip(mine, theirs, strict=True))


_CARRIES_FILL = frozenset({EventKind.FILL, EventKind.TRADE_CORRECT})
_NAMES_FILL = frozenset({EventKind.TRADE_BUST, EventKind.TRADE_CORRECT})
_FILL_OR_NONE = instance_of(Fill, ReasonCode.VALIDATION_INVALID_FIELD, optional=True)
_REASON_OR_NONE = instance_of(ReasonCode, ReasonCode.VALIDATION_INVALID_FIELD, optional=True)


@attrs.frozen
class ExecutionEvent:
    """
    Something the venue reported about one order. Build it with the classmethod for its kind.
    """

    kind: EventKind = attrs.field(converter=rules.event_kind)
    event_id: str
    client_order_id: str
    correlation_id: str
    ts_event: datetime = attrs.field(validator=aware_datetime())
    fill: Fill | None = None
    reason_code: ReasonCode | None = None
    detail: str = ""
    venue_order_id: str | None = None
    causation_id: str | None = None
    schema_version: int = SCHEMA_VERSION
    exec_ref_id: str | None = None
    """The fill (its ``fill_id``, FIX ExecRefID) a TRADE_BUST or TRADE_CORRECT names."""

    def __attrs_post_init__(self) -> None:
        # The venue's texts, in one look for the common case (all ASCII strings: no lone
        # surrogate can hide there), else each by `rules.VENUE_TEXT`, naming the field.
        try:
            plain = "".join(
                (
                    self.event_id,
                    self.client_order_id,
                    self.correlation_id,
                    self.detail,
                    "" if self.venue_order_id is None else self.venue_order_id,
                    "" if self.causation_id is None else self.causation_id,
                    "" if self.exec_ref_id is None else self.exec_ref_id,
                )
            ).isascii()
        except TypeError:  # not all strings
            plain = False
        if not plain:
            for name in ("event_id", "client_order_id", "correlation_id", "detail"):
                rules.VENUE_TEXT.check(getattr(self, name), name)
            for name in ("venue_order_id", "causation_id", "exec_ref_id"):
                if getattr(self, name) is not None:
                    rules.VENUE_TEXT.check(getattr(self, name), name)
        if (self.kind in _CARRIES_FILL) != (self.fill is not None):
            rule = "a FILL or TRADE_CORRECT event carries a Fill, other kinds carry none"
            raise violation("fill", rule, self.fill, ReasonCode.VALIDATION_INVALID_FIELD)
        if (self.kind in _NAMES_FILL) != (self.exec_ref_id is not None):
            rule = "a TRADE_BUST or TRADE_CORRECT event names a fill id, other kinds none"
            raise violation(
                "exec_ref_id", rule, self.exec_ref_id, ReasonCode.VALIDATION_INVALID_FIELD
            )
        if self.fill is not None and type(self.fill) is not Fill:  # the common case inline
            _FILL_OR_NONE.check(self.fill, "fill")
        if self.fill is not None and self.fill.fill_id == self.exec_ref_id:
            rule = "a TRADE_CORRECT's fill has its own id (FIX ExecID), not the one it corrects"
            raise violation("fill", rule, self.fill, ReasonCode.VALIDATION_INVALID_FIELD)
        if self.reason_code is not None and type(self.reason_code) is not ReasonCode:
            _REASON_OR_NONE.check(self.reason_code, "reason_code")

    @classmethod
    def ack(
        cls, order: Order, event_id: str, ts: datetime, venue_order_id: str | None = None
    ) -> ExecutionEvent:
        """
        The venue accepted the order.
        """
        return cls(
            EventKind.ACK,
            event_id,
            order.client_order_id,
            order.correlation_id,
            ts,
            venue_order_id=venue_order_id,
        )

    @classmethod
    def of_fill(cls, order: Order, event_id: str, ts: datetime, fill: Fill) -> ExecutionEvent:
        """
        The venue executed (part of) the order.
        """
        return cls(
            EventKind.FILL, event_id, order.client_order_id, order.correlation_id, ts, fill=fill
        )

    @classmethod
    def reject(
        cls,
        order: Order,
        event_id: str,
        ts: datetime,
        reason_code: ReasonCode | None,
        detail: str = "",
    ) -> ExecutionEvent:
        """
        The venue refused the order; a reject must carry a reason code.
        """
        return cls(
            EventKind.REJECT,
            event_id,
            order.client_order_id,
            order.correlation_id,
            ts,
            reason_code=reason_code,
            detail=detail,
        )

    @classmethod
    def bust(cls, order: Order, event_id: str, ts: datetime, fill_id: str) -> ExecutionEvent:
        """
        The venue cancelled the execution `fill_id` of the order (FIX Trade Cancel).
        """
        return cls(
            EventKind.TRADE_BUST,
            event_id,
            order.client_order_id,
            order.correlation_id,
            ts,
            exec_ref_id=fill_id,
        )

    @classmethod
    def correction(
        cls, order: Order, event_id: str, ts: datetime, fill_id: str, corrected: Fill
    ) -> ExecutionEvent:
        """
        The venue corrected the execution `fill_id`: `corrected` holds its new terms (under
        the correction's own fill id, which later busts and corrections name).
        """
        return cls(
            EventKind.TRADE_CORRECT,
            event_id,
            order.client_order_id,
            order.correlation_id,
            ts,
            fill=corrected,
            exec_ref_id=fill_id,
        )

    @classmethod
    def of_kind(
        cls, kind: EventKind, order: Order, event_id: str, ts: datetime, detail: str = ""
    ) -> ExecutionEvent:
        """
        An event that carries nothing but its kind (CANCEL_ACK, CANCEL_REJECT, EXPIRE, ACK,
        REPLACE_ACK, REPLACE_REJECT).
        """
        return cls(kind, event_id, order.client_order_id, order.correlation_id, ts, detail=detail)


@attrs.frozen
class ReplaceRequest:
    """
    New terms asked of the venue for a live order (FIX OrderCancelReplaceRequest): the
    quantity and limit price in force once the venue accepts, under a new client order id
    chained to the one it replaces.
    """

    client_order_id: str
    """The order's own id: events and ledgers keep naming the order by it."""
    new_client_order_id: str
    """The id the venue knows the order by once it accepts (FIX ClOrdID)."""
    orig_client_order_id: str
    """The id the venue knows it by now (FIX OrigClOrdID)."""
    quantity: Decimal
    limit_price: Decimal | None


@attrs.frozen
class Order:
    """
    A snapshot of one order. `OrderLifecycle` replaces it (`Order.with_changes`) on every change.
    """

    client_order_id: str
    correlation_id: str
    idempotency_key: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    quantity: Decimal
    strategy_id: str
    limit_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    state: OrderState = OrderState.CREATED
    filled_quantity: Decimal = Decimal(0)
    average_fill_price: Decimal | None = None
    fees: Decimal = Decimal(0)
    venue_order_id: str | None = None
    reason_code: ReasonCode | None = None
    """Why the order ended REJECTED or FAILED (or EXPIRED by our clock: EXPIRED_BY_CLOCK)."""
    recon_flags: tuple[ReasonCode, ...] = ()
    """Why reconciliation must look at this order (e.g. a fill after it was final)."""
    expire_time: datetime | None = None
    """When a GTD order (the intent's ``expire_time``) or a DAY order (the end of the day it
    was taken in, by the orchestrator's clock) expires; None for GTC, IOC and FOK."""
    venue_client_order_id: str | None = None
    """The client order id the venue knows the order by since its last accepted replace (FIX
    ClOrdID chaining); None until then, when it is ``client_order_id``."""

    @classmethod
    def from_intent(
        cls,
        intent: OrderIntent,
        *,
        client_order_id: str,
        correlation_id: str,
        idempotency_key: str,
    ) -> Order:
        """
        A new CREATED order carrying the intent's terms.
        """
        return cls(
            client_order_id=client_order_id,
            correlation_id=correlation_id,
            idempotency_key=idempotency_key,
            symbol=intent.symbol,
            side=intent.side,
            order_type=intent.order_type,
            quantity=intent.quantity,
            strategy_id=intent.strategy_id,
            limit_price=intent.limit_price,
            time_in_force=intent.time_in_force,
            expire_time=intent.expire_time,
        )

    def with_changes(self, **changes: Any) -> Order:
        """
        A copy with `changes` applied: `attrs.evolve` without its per-call walk over the
        fields, because `OrderLifecycle` replaces its snapshot on every event.
        """
        values = list(_ORDER_VALUES(self))
        for name, value in changes.items():
            index = _ORDER_FIELD_INDEX.get(name)
            if index is None:
                raise TypeError(f"Order has no field {name!r}")
            values[index] = value
        return Order(*values)

    @property
    def remaining_quantity(self) -> Decimal:
        """
        Quantity still open at the venue (FIX LeavesQty): 0 once the order is done.
        """
        if self.state in FINAL_ORDER_STATES:
            return Decimal(0)
        return self.quantity - self.filled_quantity

    @property
    def current_client_order_id(self) -> str:
        """
        The client order id the venue knows the order by now (FIX ClOrdID; a replace
        request names it as OrigClOrdID).
        """
        return self.venue_client_order_id or self.client_order_id

    @property
    def needs_reconciliation(self) -> bool:
        """
        True once anything happened that the order's state alone cannot explain.
        """
        return bool(self.recon_flags)


_ORDER_FIELDS = tuple(a.name for a in attrs.fields(Order))
_ORDER_VALUES = operator.attrgetter(*_ORDER_FIELDS)
_ORDER_FIELD_INDEX = {name: i for i, name in enumerate(_ORDER_FIELDS)}
