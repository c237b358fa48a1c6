"""
Instrument reference data: what a venue lists and the terms it accepts an order on (price
and size increments, quantity limits, minimum notional, trading status). Validation (stage 2)
checks every intent against the `InstrumentRegistry` the orchestrator is given
(`execfsm.fsm.instrument_guards`); an operator writes one as a TOML or JSON file
(`execfsm.instruments_file.load_instruments`).

Symbols are matched exactly as the registry spells them: ``btc/eur`` is not ``BTC/EUR``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs

from execfsm.bounds import decimal_places
from execfsm.validators import Rule, misconfigured

_MAX = Decimal(10) ** 12
_PLACES = 12


class InstrumentStatus(enum.StrEnum):
    """
    Whether the venue accepts orders in an instrument now.
    """

    TRADABLE = "TRADABLE"
    HALTED = "HALTED"


def _is_amount(value: Any, *, zero: bool = False) -> bool:
    return (
        isinstance(value, Decimal)
        and value.is_finite()
        and (value >= 0 if zero else value > 0)
        and value < _MAX
        and decimal_places(value) <= _PLACES
    )


_NAME = Rule(
    lambda v: isinstance(v, str) and bool(v.strip()) and v.isprintable(),
    "must be a non-empty printable string",
)
_POSITIVE = Rule(
    _is_amount, f"must be a Decimal greater than 0, below 10^12, with at most {_PLACES} places"
)
_NON_NEGATIVE = Rule(
    lambda v: _is_amount(v, zero=True),
    f"must be a Decimal >= 0, below 10^12, with at most {_PLACES} places",
)
_OPTIONAL_POSITIVE = Rule(lambda v: v is None or _is_amount(v), "must be None or a Decimal > 0")
_STATUS = Rule(lambda v: isinstance(v, InstrumentStatus), "must be an InstrumentStatus")


@attrs.frozen
class Instrument:
    """
    One listed instrument and the terms an order in it must meet.

    A setting that breaks a rule (an increment that is not a positive Decimal, a minimum
    quantity off the size increment or above the maximum) is a `ConfigurationError` naming it.

    >>> btc = Instrument("BTC/EUR", "simulated", "BTC", "EUR", Decimal("0.01"),
    ...                  Decimal("0.0001"), Decimal("0.0001"), Decimal(100))
    >>> btc.status
    <InstrumentStatus.TRADABLE: 'TRADABLE'>
    """

    symbol: str = attrs.field(validator=_NAME)
    """The symbol, spelled as intents must spell it (no case folding)."""
    venue: str = attrs.field(validator=_NAME)
    """The venue that lists it."""
    base: str = attrs.field(validator=_NAME)
    """What is bought or sold (``BTC``)."""
    quote: str = attrs.field(validator=_NAME)
    """What prices and notionals are in (``EUR``)."""
    price_increment: Decimal = attrs.field(validator=_POSITIVE)
    """The tick: a limit price is a whole multiple of it."""
    size_increment: Decimal = attrs.field(validator=_POSITIVE)
    """The lot: a quantity is a whole multiple of it."""
    min_quantity: Decimal = attrs.field(validator=_POSITIVE)
    """The smallest quantity accepted (a multiple of the lot)."""
    max_quantity: Decimal = attrs.field(validator=_POSITIVE)
    """The largest quantity accepted (at least `min_quantity`)."""
    min_notional: Decimal = attrs.field(default=Decimal(0), validator=_NON_NEGATIVE)
    """The smallest quantity x price accepted (0: no minimum)."""
    status: InstrumentStatus = attrs.field(default=InstrumentStatus.TRADABLE, validator=_STATUS)
    """TRADABLE, or HALTED: then every intent in it is refused."""
    reference_price: Decimal | None = attrs.field(default=None, validator=_OPTIONAL_POSITIVE)
    """A price to check a MARKET order's notional with; without one a MARKET order's
    notional is not checked (it has no price of its own)."""

    def __attrs_post_init__(self) -> None:
        if self.min_quantity % self.size_increment:
            raise misconfigured(
                f"{self.symbol}: min_quantity",
                f"must be a multiple of size_increment {self.size_increment}",
                self.min_quantity,
            )
        if self.max_quantity < self.min_quantity:
            raise misconfigured(
                f"{self.symbol}: max_quantity",
                f"must be at least min_quantity {self.min_quantity}",
                self.max_quantity,
            )


def _listed_by_symbol(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """Every entry an `Instrument` listed under its own symbol (`InstrumentRegistry.of` builds
    one so); anything else would validate one symbol's intents by another's rules."""
    if not isinstance(value, Mapping):
        raise misconfigured("instruments", "must map symbols to Instruments", value)
    for symbol, instrument in value.items():
        if not isinstance(instrument, Instrument) or instrument.symbol != symbol:
            raise misconfigured(
                f"instruments[{symbol!r}]", "must be an Instrument with that symbol", instrument
            )


@attrs.frozen
class InstrumentRegistry:
    """
    The instruments validation knows, by exact symbol; `get` is one dict lookup.

    Args:
        instruments: The instruments; a symbol twice is a `ConfigurationError`.
        source: Where they came from (a file's path), shown in messages.
    """

    _by_symbol: Mapping[str, Instrument] = attrs.field(validator=_listed_by_symbol)
    source: str = "<given>"

    @classmethod
    def of(cls, instruments: Iterable[Instrument], source: str = "<given>") -> InstrumentRegistry:
        """
        A registry of `instruments`; anything but an `Instrument`, or a symbol listed twice,
        is a `ConfigurationError`.
        """
        by_symbol: dict[str, Instrument] = {}
        for n, instrument in enumerate(instruments):
            if not isinstance(instrument, Instrument):
                raise misconfigured(
                    f"{source}: instruments[{n}]", "must be an Instrument", instrument
                )
            if instrument.symbol in by_symbol:
                raise misconfigured(
                    f"{source}: instruments[{n}].symbol", "must be unique", instrument.symbol
                )
            by_symbol[instrument.symbol] = instrument
        return cls(MappingProxyType(by_symbol), source)

    def get(self, symbol: str) -> Instrument | None:
        """
        The instrument listed as exactly `symbol`, or None.
        """
        return self._by_symbol.get(symbol)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._by_symbol

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self._by_symbol.values())

    def __len__(self) -> int:
        return len(self._by_symbol)


def _simulated(symbol: str, tick: str, lot: str, price: str) -> Instrument:
    base, quote = symbol.split("/")
    return Instrument(
        symbol,
        "simulated",
        base,
        quote,
        price_increment=Decimal(tick),
        size_increment=Decimal(lot),
        min_quantity=Decimal(lot),
        max_quantity=Decimal(100_000),
        reference_price=Decimal(price),
    )


SIMULATED_INSTRUMENTS = InstrumentRegistry.of(
    (
        _simulated("BTC/EUR", "0.01", "0.00001", "60000"),
        _simulated("ETH/EUR", "0.01", "0.0001", "3000"),
        _simulated("BTC/USD", "0.01", "0.00001", "65000"),
        _simulated("ETH/USD", "0.01", "0.0001", "3200"),
    ),
    "the simulated venue",
)
"""The simulated venue's instruments (its reference prices are `SimulatedVenue`'s defaults):
ticks of 0.01, lots of 0.00001 BTC and 0.0001 ETH, up to 100000 per order, no minimum
notional. The registry an orchestrator validates against unless it is given another."""
