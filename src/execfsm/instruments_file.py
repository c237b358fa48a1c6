"""
The operator's instrument file, TOML (``.toml``) or JSON (``.json``), read strictly by
`load_instruments`. The same shape in both: a list named ``instrument``, one table per
instrument::

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

import json
import re
import tomllib
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from execfsm.errors import ConfigurationError
from execfsm.instruments import Instrument, InstrumentRegistry, InstrumentStatus

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


_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?", re.ASCII)
"""What a decimal string in the file may be: ASCII digits, one point, an exponent; no
underscores (``"0_01"`` would read as 1), spaces or other scripts' digits."""


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
    if isinstance(value, str) and not _PLAIN_DECIMAL.fullmatch(value):
        raise _refuse(
            path, where, f'must be a plain decimal string such as "0.01", got {value!r}', value
        )
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


def load_instruments(path: Path | str) -> InstrumentRegistry:
    """
    The registry of the operator's file at `path`; every mistake is a `ConfigurationError`
    naming the file, the line (a syntax error) or the entry and key, and the rule.
    """
    return InstrumentRegistry.of(_read_instruments(Path(path)), str(path))


__all__ = ["load_instruments"]
