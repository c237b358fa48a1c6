"""
Instrument reference data: what a venue lists and the terms it accepts an order on (price
and size increments, quantity limits, minimum notional, trading status). Validation (stage 2)
checks every intent against the `InstrumentRegistry` the orchestrator is given
(`execfsm.fsm.instrument_guards`); an operator writes one as a TOML or JSON file
(`InstrumentRegistry.from_file`; the file's format is below).

Symbols are matched exactly as the registry spells them: ``btc/eur`` is not ``BTC/EUR``.

The operator's instrument file, TOML (``.toml``) or JSON (``.json``), is read strictly. The
same shape in both: a list named ``instrument``, one table per instrument::

    [[instrument]]
    symbol = "BTC/EUR"
    venue = "simulated"
    base = "BTC"
    quote = "EUR"
    price_increment = "0.01"      # decimals as strings (or integers), never floats
    size_increment = "0.00001"
    min_quantity = "0.00001"
    max_quantity = "100"
    min_notional = "10"           # optional, default 0 (no minimum)
    status = "TRADABLE"           # optional: TRADABLE (default) or HALTED
    reference_price = "60000"     # optional: checks a MARKET order's notional

Refused, each as a `ConfigurationError` naming the file, the line (for a syntax error) or
the entry and key, and the rule: a file that does not parse, an unknown or missing key, a
float (``0.01`` written bare would be read in binary), a decimal string that is not a
finite number, an unknown status, a symbol listed twice, and whatever `Instrument` refuses.
"""

from __future__ import annotations

import enum
import json
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs

from execfsm.bounds import decimal_places
from execfsm.errors import ConfigurationError
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


@attrs.frozen
class InstrumentRegistry:
    """
    The instruments validation knows, by exact symbol; `get` is one dict lookup.

    Args:
        instruments: The instruments; a symbol twice is a `ConfigurationError`.
        source: Where they came from (a file's path), shown in messages.
    """

    _by_symbol: Mapping[str, Instrument]
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

    @classmethod
    def from_file(cls, path: Path | str) -> InstrumentRegistry:
        """
        Read an operator's instrument file (``.toml`` or ``.json``, the format in the
        module's docstring). Every mistake is a `ConfigurationError` naming the file,
        the entry and key, and the rule.
        """
        return cls.of(_read_instruments(Path(path)), str(path))

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


# -- the operator's file ------------------------------------------------------------------

_REQUIRED = (
    "symbol",
    "venue",
    "base",
    "quote",
    "price_increment",
    "size_increment",
    "min_quantity",
    "max_quantity",
)
_OPTIONAL = ("min_notional", "status", "reference_price")
_TEXT = frozenset({"symbol", "venue", "base", "quote"})
_KEYS = frozenset(_REQUIRED + _OPTIONAL)


class _Float:
    """A JSON number with a fraction or exponent: kept so that it can be refused by key."""

    def __init__(self, text: str) -> None:
        self.text = text


def _refuse(path: Path, where: str, rule: str, value: Any = None) -> ConfigurationError:
    return ConfigurationError(f"{path}: {where}: {rule}", field=where, value=value)


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"key {key!r} appears twice in one object")
        seen[key] = value
    return seen


def _parse(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _refuse(path, "file", f"cannot be read: {exc}") from None
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:  # its message names line and column
            raise _refuse(path, "TOML", f"does not parse: {exc}") from None
    if suffix == ".json":
        try:
            return json.loads(text, parse_float=_Float, object_pairs_hook=_json_object)
        except json.JSONDecodeError as exc:
            raise _refuse(path, f"line {exc.lineno}", f"JSON does not parse: {exc.msg}") from None
        except ValueError as exc:
            raise _refuse(path, "JSON", str(exc)) from None
    raise _refuse(path, "file", f"must end in .toml or .json, got {path.suffix or 'none'!r}")


def _decimal(path: Path, where: str, value: Any) -> Decimal:
    if isinstance(value, float | _Float):
        shown = value.text if isinstance(value, _Float) else repr(value)
        raise _refuse(
            path, where, f'must be a decimal string such as "{shown}", not a float {shown}', value
        )
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _refuse(path, where, f"must be a decimal string, got {value!r}", value)
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise _refuse(path, where, f"must be a decimal number, got {value!r}", value) from None
    if not number.is_finite():
        raise _refuse(path, where, f"must be a finite decimal number, got {value!r}", value)
    return number


def _instrument(path: Path, n: int, entry: Any) -> Instrument:
    where = f"instrument[{n}]"
    if not isinstance(entry, dict):
        raise _refuse(path, where, f"must be a table of keys, got {entry!r}", entry)
    symbol = entry.get("symbol")
    if isinstance(symbol, str):
        where = f"instrument[{n}] ({symbol})"
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise _refuse(
            path, f"{where}.{unknown[0]}", f"unknown key (known: {', '.join(sorted(_KEYS))})"
        )
    missing = [key for key in _REQUIRED if key not in entry]
    if missing:
        raise _refuse(path, f"{where}.{missing[0]}", "is required")
    terms: dict[str, Any] = {}
    for key, value in entry.items():
        if key in _TEXT:
            if not isinstance(value, str):
                raise _refuse(path, f"{where}.{key}", f"must be a string, got {value!r}", value)
            terms[key] = value
        elif key == "status":
            try:
                terms[key] = InstrumentStatus(value)
            except ValueError:
                known = " or ".join(InstrumentStatus)
                raise _refuse(path, f"{where}.status", f"must be {known}, got {value!r}") from None
        else:
            terms[key] = _decimal(path, f"{where}.{key}", value)
    try:
        return Instrument(**terms)
    except ConfigurationError as exc:
        raise _refuse(path, where, str(exc), exc.value) from None


def _read_instruments(path: Path) -> list[Instrument]:
    """
    The instruments of the file at `path`, in file order; a symbol twice is refused naming
    both entries.
    """
    data = _parse(path)
    if not isinstance(data, dict):
        raise _refuse(path, "top level", "must be a table with an 'instrument' list")
    unknown = sorted(set(data) - {"instrument"})
    if unknown:
        raise _refuse(path, unknown[0], "unknown key (the file holds an 'instrument' list only)")
    entries = data.get("instrument")
    if not isinstance(entries, list) or not entries:
        raise _refuse(path, "instrument", "must be a non-empty list of instrument tables")
    instruments: list[Instrument] = []
    first: dict[str, int] = {}
    for n, entry in enumerate(entries):
        instrument = _instrument(path, n, entry)
        earlier = first.get(instrument.symbol)
        if earlier is not None:
            raise _refuse(
                path,
                f"instrument[{n}].symbol",
                f"symbol {instrument.symbol!r} is already listed by instrument[{earlier}]",
                instrument.symbol,
            )
        first[instrument.symbol] = n
        instruments.append(instrument)
    return instruments
