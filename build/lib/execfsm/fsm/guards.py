"""
Named, documented guards. Validators raise a typed error with a reason; conds return a bool.

Every guard carries a one-line ``description`` that the extracted model, the diagrams and the
governance report show. Guards never have side effects. They take what python-statemachine
injects by name: ``order`` (the order's terms), ``fill``, ``reason_code``, ``resume_state``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from execfsm.bounds import AMOUNT_WRITTEN_DIGITS, amount_problem, bounded_amount, decimal_places
from execfsm.contracts import (
    ExecutionMode,
    Fill,
    OrderIntent,
    OrderState,
    OrderType,
    ReasonCode,
    RiskDecision,
    RiskVerdict,
    Route,
    TimeInForce,
)
from execfsm.errors import ContractViolation, PolicyViolation

F = TypeVar("F", bound=Callable[..., Any])


def describe(description: str) -> Callable[[F], F]:
    """
    Attach the plain-English one-liner that diagrams and reports show for a guard.
    """

    def mark(func: F) -> F:
        func.description = description  # type: ignore[attr-defined]
        return func

    return mark


def description_of(guard: Callable[..., Any]) -> str | None:
    """
    The guard's description, or None if it was never described.
    """
    text = getattr(guard, "description", None)
    return text if isinstance(text, str) else None


class OrderTerms(Protocol):
    """
    What the contract guards read: an `OrderIntent` and an `Order` both qualify.
    """

    @property
    def symbol(self) -> str: ...
    @property
    def strategy_id(self) -> str: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def order_type(self) -> OrderType: ...
    @property
    def limit_price(self) -> Decimal | None: ...


class FilledOrder(OrderTerms, Protocol):
    """
    An order with fills so far.
    """

    @property
    def client_order_id(self) -> str: ...
    @property
    def filled_quantity(self) -> Decimal: ...


# -- contract invariants on the order's terms -------------------------------------------


@describe("symbol is a non-empty printable string, and strategy_id is not blank")
def names_present(order: OrderTerms) -> None:
    """
    Refuse an empty, blank or control-character symbol, and an empty or whitespace-only
    strategy id: every order names what it trades and who decided it.
    """
    symbol = order.symbol
    if not symbol.strip() or not symbol.isprintable():
        raise ContractViolation(
            f"symbol: must be a non-empty printable string, got {symbol!r}",
            reason=ReasonCode.VALIDATION_INVALID_SYMBOL,
            field="symbol",
            value=symbol,
        )
    strategy = order.strategy_id
    if not strategy.strip():
        raise ContractViolation(
            f"strategy_id: must not be empty or blank, got {strategy!r}",
            reason=ReasonCode.VALIDATION_INVALID_FIELD,
            field="strategy_id",
            value=strategy,
        )


@describe("quantity is greater than zero")
def quantity_positive(order: OrderTerms) -> None:
    """
    Refuse a zero or negative quantity (or one that is not a number at all).
    """
    quantity = order.quantity
    if not (quantity.is_finite() and quantity > 0):
        raise ContractViolation(
            f"quantity: must be greater than 0, got {quantity}",
            reason=ReasonCode.VALIDATION_INVALID_QUANTITY,
            field="quantity",
            value=quantity,
        )


@describe("a LIMIT order has a limit_price greater than zero, a MARKET order none")
def price_fits_type(order: OrderTerms) -> None:
    """
    Refuse a LIMIT order without a positive limit price, and a MARKET order that carries a
    limit price: a venue fills it at the market, and a price that is not a limit could be
    taken for one (the simulated venue did).
    """
    price = order.limit_price
    if order.order_type is OrderType.LIMIT:
        if price is None or not (price.is_finite() and price > 0):
            raise ContractViolation(
                f"limit_price: a LIMIT order needs a limit_price greater than 0, got {price}",
                reason=ReasonCode.VALIDATION_INVALID_PRICE,
                field="limit_price",
                value=price,
            )
    elif price is not None:
        raise ContractViolation(
            f"limit_price: a MARKET order carries no limit_price, got {price}",
            reason=ReasonCode.VALIDATION_INVALID_PRICE,
            field="limit_price",
            value=price,
        )


MAX_AMOUNT = Decimal(10) ** 12
"""No quantity or price of a real order reaches this; beyond it an input is garbage."""
_MAX_INTEGER_DIGITS = 12
MAX_DECIMAL_PLACES = 12
"""The most decimal places an order's quantity or limit price has (trailing zeros aside)."""
ORDER_AMOUNT_BOUND = f"below 10^12 with at most {MAX_DECIMAL_PLACES} decimal places"
"""The order contract's bound on quantity and limit price, in words; narrower than
`execfsm.bounds.AMOUNT_BOUND`, which every amount meets from construction on."""


def _check_amount(value: Decimal, field: str, reason: ReasonCode) -> None:
    _sign, digits, exponent = value.as_tuple()
    if (
        isinstance(exponent, int)
        and exponent >= -MAX_DECIMAL_PLACES
        and len(digits) <= AMOUNT_WRITTEN_DIGITS
        and (not value or len(digits) + exponent <= _MAX_INTEGER_DIGITS)
    ):
        return  # the common case: below 10^12, no more places written than allowed
    # Within the amount bounds first: then comparing cannot signal, whatever an Order holds.
    bounded_amount(reason).check(value, field)
    if value >= MAX_AMOUNT or decimal_places(value) > MAX_DECIMAL_PLACES:
        raise ContractViolation(
            f"{field}: must be {ORDER_AMOUNT_BOUND}, got {value}",
            reason=reason,
            field=field,
            value=value,
            bound=ORDER_AMOUNT_BOUND,
        )


@describe("quantity and limit_price are below 10^12 with at most 12 decimal places")
def amounts_bounded(order: OrderTerms) -> None:
    """
    Refuse absurd magnitudes and precisions (a unit mix-up, a corrupted feed).
    """
    _check_amount(order.quantity, "quantity", ReasonCode.VALIDATION_INVALID_QUANTITY)
    if order.limit_price is not None:
        _check_amount(order.limit_price, "limit_price", ReasonCode.VALIDATION_INVALID_PRICE)


class TimedTerms(Protocol):
    """
    What `expiry_fits_time_in_force` reads: an `OrderIntent` and an `Order` both qualify.
    """

    @property
    def time_in_force(self) -> TimeInForce: ...
    @property
    def expire_time(self) -> datetime | None: ...


@describe(
    "a GTD order has an expire_time; GTC, IOC and FOK carry none, nor does a DAY intent "
    "(its order expires at the day end the orchestrator sets)"
)
def expiry_fits_time_in_force(order: TimedTerms) -> None:
    """
    Refuse a GTD order without an expiry time, and an expiry time on any other time in force:
    a GTC order that expires, or an IOC that rests until a date, says two things at once. A
    DAY order gets its expiry (the next day end) from the orchestrator at intake, so only its
    intent must carry none. Whether a GTD time is already past needs the clock: the
    validation stage checks that (`execfsm.stages.validation`).
    """
    expire_time, time_in_force = order.expire_time, order.time_in_force
    if time_in_force is TimeInForce.GTD:
        if expire_time is None:
            raise ContractViolation(
                "expire_time: a GTD order needs an expire_time, got None",
                reason=ReasonCode.VALIDATION_INVALID_FIELD,
                field="expire_time",
                value=None,
            )
    elif expire_time is not None and (
        time_in_force is not TimeInForce.DAY or isinstance(order, OrderIntent)
    ):
        raise ContractViolation(
            f"expire_time: a {time_in_force} order carries no expire_time (only GTD does), "
            f"got {expire_time.isoformat()}",
            reason=ReasonCode.VALIDATION_INVALID_FIELD,
            field="expire_time",
            value=expire_time,
        )


CONTRACT_GUARDS = (
    names_present,
    quantity_positive,
    price_fits_type,
    amounts_bounded,
    expiry_fits_time_in_force,
)
"""The order contract, checked at validation (stage 2) and again at submit."""


# -- fills ---------------------------------------------------------------------------------

_FILL_QUANTITY = bounded_amount(ReasonCode.FILL_INVALID_QUANTITY)
_FILL_PRICE = bounded_amount(ReasonCode.FILL_INVALID_PRICE)
_FILL_FEE = bounded_amount(ReasonCode.FILL_INVALID_FEE)


@describe(
    "fill quantity > 0, fill price > 0 and fee >= 0, each finite, below 10^14, "
    "with at most 14 decimal places and 40 digits"
)
def fill_well_formed(fill: Fill) -> None:
    """
    Refuse a fill whose numbers cannot describe a real execution, before anything compares
    or adds them: the bounds first (`execfsm.bounds.AMOUNT_BOUND`), then the signs.
    """
    if amount_problem(fill.quantity) is not None:
        _FILL_QUANTITY.check(
            fill.quantity, "fill.quantity", subject=f"fill {fill.fill_id} quantity"
        )
    if amount_problem(fill.price) is not None:
        _FILL_PRICE.check(fill.price, "fill.price", subject=f"fill {fill.fill_id} price")
    if amount_problem(fill.fee) is not None:
        _FILL_FEE.check(fill.fee, "fill.fee", subject=f"fill {fill.fill_id} fee")
    if fill.quantity <= 0:
        raise ContractViolation(
            f"fill {fill.fill_id}: quantity must be greater than 0, got {fill.quantity}",
            reason=ReasonCode.FILL_INVALID_QUANTITY,
            field="fill.quantity",
            value=fill.quantity,
        )
    if fill.price <= 0:
        raise ContractViolation(
            f"fill {fill.fill_id}: price must be greater than 0, got {fill.price}",
            reason=ReasonCode.FILL_INVALID_PRICE,
            field="fill.price",
            value=fill.price,
        )
    if fill.fee < 0:
        raise ContractViolation(
            f"fill {fill.fill_id}: fee must not be negative, got {fill.fee}",
            reason=ReasonCode.FILL_INVALID_FEE,
            field="fill.fee",
            value=fill.fee,
        )


@describe("a fill id is applied at most once per order")
def fill_id_unused(fill: Fill, seen_fills: Mapping[str, Fill]) -> None:
    """
    Refuse a fill id already applied (`OrderLifecycle.apply` turns an identical re-delivery
    into an audited duplicate before the machine sees it).
    """
    seen = seen_fills.get(fill.fill_id)
    if seen is not None:
        same = seen.same_content(fill)
        raise ContractViolation(
            f"fill {fill.fill_id}: already applied"
            + ("" if same else f" with different content ({seen} vs {fill})"),
            reason=ReasonCode.FILL_DUPLICATE if same else ReasonCode.FILL_CONFLICT,
            field="fill.fill_id",
            value=fill.fill_id,
        )


@describe("cumulative filled quantity never exceeds the order quantity")
def fill_within_quantity(order: FilledOrder, fill: Fill) -> None:
    """
    Refuse a fill that would take the order past its quantity. A quantity that is not a
    number is `fill_well_formed`'s to refuse (it runs first on every fill edge).
    """
    remaining = order.quantity - order.filled_quantity
    if fill.quantity.is_finite() and fill.quantity > remaining:
        raise ContractViolation(
            f"order {order.client_order_id}: fill qty {fill.quantity} "
            f"exceeds remaining {remaining}",
            reason=ReasonCode.FILL_OVERFILL,
            field="fill.quantity",
            value=fill.quantity,
        )


@describe("the fill completes the order quantity")
def fill_completes(order: FilledOrder, fill: Fill) -> bool:
    """
    Choose FILLED over PARTIALLY_FILLED by cumulative quantity: the fill takes exactly what
    remains (a subtraction of the order's own bounded amounts, so it is exact and the fill's
    quantity, whatever it is, is only compared).
    """
    quantity = fill.quantity
    return quantity.is_finite() and quantity == order.quantity - order.filled_quantity


# -- reasons and cancel bookkeeping -----------------------------------------------------------


@describe("the event carries a reason code")
def reason_given(reason_code: ReasonCode | None = None) -> None:
    """
    Refuse a REJECT or a failure that does not say why.
    """
    if not isinstance(reason_code, ReasonCode):
        raise ContractViolation(
            f"reason_code: a reject or failure must carry a ReasonCode, got {reason_code!r}",
            reason=ReasonCode.REASON_MISSING,
            field="reason_code",
            value=reason_code,
        )


def resumes(state: OrderState) -> Callable[..., bool]:
    """
    A cond that is true when a cancel was requested from `state` (for CANCEL_REJECT).
    """

    @describe(f"the cancel was requested from {state.value}")
    def cond(resume_state: OrderState | None = None) -> bool:
        return resume_state is state

    cond.__name__ = f"resumes_{state.value.lower()}"
    cond.__qualname__ = cond.__name__
    return cond


resumes_submitted = resumes(OrderState.SUBMITTED)
resumes_acknowledged = resumes(OrderState.ACKNOWLEDGED)
resumes_partially = resumes(OrderState.PARTIALLY_FILLED)
resumes_replace = resumes(OrderState.PENDING_REPLACE)


# -- pipeline policy -------------------------------------------------------------------------

LIVE_BLOCKED_DETAIL = "Live execution is governance-blocked"
"""The detail every LIVE_BLOCKED stop carries (the seed's wording)."""


@describe("leaving the risk gate needs an ALLOW decision")
def risk_allows(verdict: RiskVerdict | None = None) -> None:
    """
    Refuse to route an intent the risk hook did not explicitly allow.
    """
    if verdict is None or verdict.decision is not RiskDecision.ALLOW:
        decision = None if verdict is None else verdict.decision.value
        raise PolicyViolation(
            f"risk gate: routing needs an ALLOW decision, got {decision}",
            reason=ReasonCode.RISK_BLOCKED,
        )


@describe(
    "dispatch to a live venue needs mode LIVE, an unexpired LivePolicy and a live adapter; "
    "LIVE_BLOCKED never dispatches"
)
def live_execution_permitted(route: Route | None = None) -> None:
    """
    The live-blocked safety policy, on the only edge into DISPATCH.
    """
    if route is None or route.mode is ExecutionMode.LIVE_BLOCKED:
        raise PolicyViolation(LIVE_BLOCKED_DETAIL, reason=ReasonCode.POLICY_LIVE_NOT_ENABLED)
    if route.mode is ExecutionMode.LIVE:
        if route.live_policy is None:
            problem = "no LivePolicy was given to the orchestrator"
        elif not route.live_policy.is_active(route.now):
            problem = f"the LivePolicy expired at {route.live_policy.expires_at.isoformat()}"
        elif not route.adapter_registered:
            problem = "no live adapter is registered"
        else:
            return
        raise PolicyViolation(
            f"{LIVE_BLOCKED_DETAIL}: {problem}", reason=ReasonCode.POLICY_LIVE_NOT_ENABLED
        )


@describe("an adapter is registered for the execution mode")
def adapter_registered(route: Route | None = None) -> None:
    """
    Refuse to dispatch where no adapter serves the mode.
    """
    if route is None or not route.adapter_registered:
        mode = None if route is None else route.mode.value
        raise PolicyViolation(
            f"routing: no adapter is registered for mode {mode}",
            reason=ReasonCode.POLICY_NO_ADAPTER,
        )
