"""
The line format of an intents file (``execfsm run FILE``): one JSON object per line, read
strictly, so that what a reviewer reads in the file is what the pipeline gets.

A file is UTF-8 text; a byte-order mark at its start is skipped. Only ``\\n`` ends a line (a
``\\r`` before it is dropped, so CRLF files read as written): U+2028, form feeds and the other
characters `str.splitlines` also splits on stay inside their line, where JSON allows them in
strings. Blank lines are skipped. Every other line is one JSON object with the fields of
`OrderIntent.from_mapping`, and is refused when:

- it is longer than `MAX_LINE_CHARS` characters;
- its arrays and objects nest deeper than `MAX_DEPTH` (an intent is a flat object; checked
  before parsing, so a deep line cannot exhaust the parser's recursion);
- a number in it is written with more than `MAX_NUMBER_CHARS` characters, or is ``NaN``,
  ``Infinity`` or ``-Infinity`` (not JSON; Python's parser accepts them by default);
- an object in it, at any depth, repeats a key (with the last value winning, a file could
  show a reviewer quantity 1 and give the pipeline 1000);
- it is not valid JSON, or not a valid intent (missing or unknown fields, wrong types).

Numbers keep their JSON meaning: ``1`` is an int, ``0.1`` a float, which the intent refuses
(quantities and prices are written as strings, ``"0.1"``, to stay exact).

A GTD intent's ``expire_time`` is an ISO 8601 string with a UTC offset
(``"2026-12-01T17:00:00+00:00"``, or ``Z``); a time without an offset is refused, since it
names no instant.

Every bad line is reported, each as ``line N: what is wrong``, and a file with any bad line
gives no intent at all.

>>> [i.quantity for i in read_intents(
...     '{"symbol":"BTC/EUR","side":"BUY","quantity":"0.5","order_type":"MARKET",'
...     '"strategy_id":"s"}\\r\\n'
... )]
[Decimal('0.5')]
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NoReturn

import attrs

from execfsm.contracts import OrderIntent
from execfsm.errors import ContractViolation, ExecFsmError

MAX_LINE_CHARS = 65_536
"""The longest line read, in characters (64 Ki); an intent needs a few hundred."""

MAX_DEPTH = 8
"""The deepest nesting of arrays and objects in a line; an intent itself is depth 1."""

MAX_NUMBER_CHARS = 40
"""The longest number literal, sign and exponent included; a quantity or price below 10^12
with at most 12 decimal places needs 26. Also keeps Python's limit on int digits (4300) and
its traceback out of reach."""

_BOM = "\ufeff"
_SHOWN_CHARS = 24
"""How much of a long key or number an error message shows."""

# A JSON string, or an unterminated one up to the end of the line (the parser reports that).
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?')
_BRACKET = re.compile(r"[\[\]{}]")


@attrs.frozen
class LineError:
    """
    What is wrong with one line of an intents file.
    """

    line: int
    """The line's number, from 1."""
    problem: str
    """The rule it breaks, with the value received."""

    def __str__(self) -> str:
        return f"line {self.line}: {self.problem}"


class IntentsFileError(ExecFsmError, ValueError):
    """
    An intents file has bad lines; nothing of it is to be run.

    Args:
        errors: Every bad line, in file order.
    """

    def __init__(self, errors: Sequence[LineError]) -> None:
        self.errors = tuple(errors)
        count = len(self.errors)
        listed = "".join(f"\n  {error}" for error in self.errors)
        super().__init__(f"{count} bad line{'' if count == 1 else 's'}:{listed}")


class _Refused(Exception):
    """A parse hook's refusal; its message is the line's problem."""


def _shown(text: str) -> str:
    if len(text) <= _SHOWN_CHARS:
        return text
    return f"{text[:_SHOWN_CHARS]}... ({len(text):,} characters)"


def _number(text: str) -> str:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Refused(
            f"number {_shown(text)} is longer than {MAX_NUMBER_CHARS} characters; write "
            "quantities and prices as decimal strings"
        )
    return text


def _int(text: str) -> int:
    return int(_number(text))


def _float(text: str) -> float:
    return float(_number(text))


def _constant(text: str) -> NoReturn:
    raise _Refused(f"{text} is not a JSON number; numbers must be finite")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"duplicate key {json.dumps(_shown(key))} in one object")
            seen.add(key)
    return data


_DECODER = json.JSONDecoder(
    object_pairs_hook=_object, parse_int=_int, parse_float=_float, parse_constant=_constant
)


def _depth(line: str) -> int:
    """
    How deep the line's arrays and objects nest, outside strings (an upper bound for a line
    that is not valid JSON, which the parser then refuses on its own).
    """
    if line.count("[") + line.count("{") <= MAX_DEPTH:
        return 0  # cannot be too deep: the usual case, without a scan
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub("", line)):
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _intent(line: str) -> OrderIntent:
    """
    One non-blank line as an intent; a broken rule is `_Refused`.
    """
    if len(line) > MAX_LINE_CHARS:
        raise _Refused(f"{len(line):,} characters long, more than {MAX_LINE_CHARS:,}")
    depth = _depth(line)
    if depth > MAX_DEPTH:
        raise _Refused(
            f"arrays and objects nest {depth:,} deep, more than {MAX_DEPTH} "
            "(an intent is one flat object)"
        )
    try:
        data = _DECODER.decode(line)
    except json.JSONDecodeError as exc:
        raise _Refused(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    _offset_given(data)
    try:
        return OrderIntent.from_mapping(data)
    except ContractViolation as exc:
        raise _Refused(str(exc)) from None


def _offset_given(data: object) -> None:
    """
    Refuse an ``expire_time`` string that parses but has no UTC offset (the intent would
    only say its datetime is naive); anything else is the intent's to judge.
    """
    text = data.get("expire_time") if isinstance(data, dict) else None
    if not isinstance(text, str):
        return
    try:
        naive = datetime.fromisoformat(text).tzinfo is None
    except ValueError:
        return
    if naive:
        raise _Refused(
            f"expire_time: must be an ISO 8601 time with a UTC offset (e.g. "
            f"2026-12-01T17:00:00+00:00 or ...Z), got {json.dumps(_shown(text))} (no offset)"
        )


def read_intents(text: str) -> list[OrderIntent]:
    """
    Every intent of an intents file's text, by the rules above.

    Raises:
        IntentsFileError: With every bad line; then no intent is returned.
    """
    return [intent for _, intent in read_numbered_intents(text)]


def read_numbered_intents(text: str) -> list[tuple[int, OrderIntent]]:
    """
    As `read_intents`, each intent with the number of its line in the file (from 1), so
    that a report can point at the line an operator wrote.

    Raises:
        IntentsFileError: With every bad line; then no intent is returned.
    """
    intents: list[tuple[int, OrderIntent]] = []
    errors: list[LineError] = []
    for number, raw in enumerate(text.removeprefix(_BOM).split("\n"), start=1):
        line = raw.removesuffix("\r")
        if not line.strip(" \t\r"):
            continue
        try:
            intents.append((number, _intent(line)))
        except _Refused as exc:
            errors.append(LineError(number, str(exc)))
    if errors:
        raise IntentsFileError(errors)
    return intents
