"""
The instrument rules, checked at validation (stage 2) after the order contract
(`execfsm.fsm.guards.CONTRACT_GUARDS`): validators on VALIDATION → RISK_GATE that read the
intent's terms as ``order`` and its listed `Instrument` as ``instrument`` (None when the
registry does not list the symbol; `PipelineRun` looks it up once, when the run is made).

The contract guards run first, so every amount here is finite, below 10^12 and has at most
12 decimal places: the remainders and the product below are exact and cannot signal.
"""

from __future__ import annotations

from decimal import Context, Decimal

from execfsm.contracts import OrderType, ReasonCode
from execfsm.errors import ContractViolation
from execfsm.fsm.guards import OrderTerms, describe
from execfsm.instruments import Instrument, InstrumentStatus

_EXACT = Context(prec=60)
"""The context of the rules' arithmetic, whatever the caller's: 60 digits hold every quotient
and product of the bounded amounts exactly, so a check never rounds or signals."""


@describe("the symbol is a listed instrument, spelled exactly as the registry spells it")
def instrument_listed(order: OrderTerms, instrument: Instrument | None = None) -> None:
    """
    Refuse a symbol the instrument registry does not list (no case folding: ``btc/eur`` is
    not ``BTC/EUR``).
    """
    if instrument is None:
        raise ContractViolation(
            f"symbol: {order.symbol!r} is not a listed instrument "
            f"(symbols must match the instrument registry exactly)",
            reason=ReasonCode.VALIDATION_INVALID_SYMBOL,
            field="symbol",
            value=order.symbol,
        )


@describe("the instrument is TRADABLE, not HALTED")
def instrument_tradable(instrument: Instrument | None = None) -> None:
    """
    Refuse any intent in a halted instrument.
    """
    if instrument is not None and instrument.status is not InstrumentStatus.TRADABLE:
        raise ContractViolation(
            f"symbol: {instrument.symbol} is {instrument.status}, it must be TRADABLE",
            reason=ReasonCode.VALIDATION_INSTRUMENT_HALTED,
            field="symbol",
            value=instrument.symbol,
        )


@describe("a limit price is a whole multiple of the instrument's price increment (tick)")
def price_on_tick(order: OrderTerms, instrument: Instrument | None = None) -> None:
    """
    Refuse a limit price between two ticks.
    """
    price = order.limit_price
    if (
        instrument is not None
        and price is not None
        and _EXACT.remainder(price, instrument.price_increment)
    ):
        raise ContractViolation(
            f"limit_price: {price} is not a multiple of {instrument.symbol}'s price "
            f"increment {instrument.price_increment}",
            reason=ReasonCode.VALIDATION_PRICE_OFF_TICK,
            field="limit_price",
            value=price,
        )


@describe("quantity is a whole multiple of the instrument's size increment (lot)")
def quantity_on_lot(order: OrderTerms, instrument: Instrument | None = None) -> None:
    """
    Refuse a quantity between two lots.
    """
    quantity = order.quantity
    if instrument is not None and _EXACT.remainder(quantity, instrument.size_increment):
        raise ContractViolation(
            f"quantity: {quantity} is not a multiple of {instrument.symbol}'s size "
            f"increment {instrument.size_increment}",
            reason=ReasonCode.VALIDATION_QUANTITY_OFF_LOT,
            field="quantity",
            value=quantity,
        )


@describe("quantity is at least the instrument's min_quantity and at most its max_quantity")
def quantity_within_limits(order: OrderTerms, instrument: Instrument | None = None) -> None:
    """
    Refuse a quantity below the minimum or above the maximum, each with its own code.
    """
    if instrument is None:
        return
    quantity = order.quantity
    if quantity < instrument.min_quantity:
        raise ContractViolation(
            f"quantity: {quantity} is below {instrument.symbol}'s min_quantity "
            f"{instrument.min_quantity}",
            reason=ReasonCode.VALIDATION_QUANTITY_BELOW_MIN,
            field="quantity",
            value=quantity,
        )
    if quantity > instrument.max_quantity:
        raise ContractViolation(
            f"quantity: {quantity} is above {instrument.symbol}'s max_quantity "
            f"{instrument.max_quantity}",
            reason=ReasonCode.VALIDATION_QUANTITY_ABOVE_MAX,
            field="quantity",
            value=quantity,
        )


@describe(
    "quantity x price is at least the instrument's min_notional (a MARKET order at the "
    "instrument's reference price; without one its notional is not checked)"
)
def notional_at_least_min(order: OrderTerms, instrument: Instrument | None = None) -> None:
    """
    Refuse an order worth less than the instrument's minimum notional. A LIMIT order is
    priced at its limit price; a MARKET order has no price of its own, so it is priced at
    the instrument's ``reference_price`` and, where the registry gives none, its notional
    is not checked (the venue's own check is then the only one).
    """
    if instrument is None or not instrument.min_notional:
        return
    if order.order_type is OrderType.LIMIT:
        price, priced_by = order.limit_price, "limit price"
    else:
        price, priced_by = instrument.reference_price, "reference price"
    if price is None:
        return
    notional: Decimal = _EXACT.multiply(order.quantity, price)
    if notional < instrument.min_notional:
        raise ContractViolation(
            f"notional: {order.quantity} x {priced_by} {price} = {notional} is below "
            f"{instrument.symbol}'s min_notional {instrument.min_notional}",
            reason=ReasonCode.VALIDATION_NOTIONAL_BELOW_MIN,
            field="notional",
            value=notional,
        )


INSTRUMENT_GUARDS = (
    instrument_listed,
    instrument_tradable,
    price_on_tick,
    quantity_on_lot,
    quantity_within_limits,
    notional_at_least_min,
)
"""The instrument rules, in the order validation checks them (stage 2 only: an `Order`
already passed them as an intent)."""


def check_intent(order: OrderTerms, instrument: Instrument | None) -> None:
    """
    Every rule of `INSTRUMENT_GUARDS` on `order`, in its order, outside a machine: a held
    contingent leg is checked when its group is submitted (refused only once its entry had
    filled, it would leave the position without its exit).
    """
    instrument_listed(order, instrument)
    instrument_tradable(instrument)
    price_on_tick(order, instrument)
    quantity_on_lot(order, instrument)
    quantity_within_limits(order, instrument)
    notional_at_least_min(order, instrument)
