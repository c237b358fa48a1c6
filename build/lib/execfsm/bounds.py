"""
The bounds every amount and text field of a contract is held to, as reusable validators.

One validator object per rule, in the manner of attrs' validators: `bounded_amount` and
`bounded_text` make objects that are attrs field validators (``validator=...``) and have a
`check` method for the machines' guards. A refusal is a `ContractViolation` that keeps the
field, the value and the bound (`ContractViolation.bound`).

Amounts (quantities, prices, fees) are finite, below 10^14 in magnitude, with at most 14
decimal places (trailing zeros do not count), written in at most 40 digits (`AMOUNT_BOUND`).
Why: every amount is then a multiple of 10^-14 below 10^14,
exact in the default decimal context (28 digits), and so is any sum or difference of amounts
that stays below 10^14 (filled quantities, positions, fee totals). Products and quotients (a
fill's notional, average prices, realized PnL) are rounded to 28 significant digits, half
even, as the default context does; they stay between 10^-28 and 10^28, so no computation of
the ledgers can overflow, underflow or signal. The order contract (stage 2) is narrower still.

Nothing here reads a decimal context: a check cannot itself overflow or signal, whatever it
is given. This module imports nothing from the package but the error tree.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from execfsm.errors import ContractViolation

if TYPE_CHECKING:
    from execfsm.enums import ReasonCode

_SHOWN_LENGTH = 64


def shown(value: Any) -> str:
    """
    `value` for an error message: a Decimal as written, anything else as its repr (which
    escapes control characters and surrogates), cut short past 64 characters; the exception
    keeps the whole value.
    """
    text = str(value) if isinstance(value, Decimal) else repr(value)
    return text if len(text) <= _SHOWN_LENGTH else f"{text[:_SHOWN_LENGTH]}..."


# -- bounds on amounts ---------------------------------------------------------------------

AMOUNT_INTEGER_DIGITS = 14
"""An amount (quantity, price, fee) is below 10^14 in magnitude."""
AMOUNT_DECIMAL_PLACES = 14
"""An amount has at most 14 decimal places; trailing zeros do not count (``1.50`` has one)."""
AMOUNT_SIGNIFICANT_DIGITS = AMOUNT_INTEGER_DIGITS + AMOUNT_DECIMAL_PLACES
"""So an amount has at most 28 significant digits: the default decimal context's precision."""
AMOUNT_WRITTEN_DIGITS = 40
"""An amount is written with at most 40 digits, trailing zeros included: room for 28
significant digits and a feed's padding (``0.100000000000000000``), not for a megabyte of
zeros that every record of the order would carry."""
AMOUNT_BOUND = (
    f"finite, below 10^{AMOUNT_INTEGER_DIGITS} in magnitude, "
    f"with at most {AMOUNT_DECIMAL_PLACES} decimal places, "
    f"written in at most {AMOUNT_WRITTEN_DIGITS} digits"
)
"""The bounds of every amount, in words (what `ContractViolation.bound` says)."""


_PLAIN_AMOUNT = re.compile(
    rf"-?[0-9]{{1,{AMOUNT_INTEGER_DIGITS}}}(?:\.[0-9]{{1,{AMOUNT_DECIMAL_PLACES}}})?"
).fullmatch
"""Whether a Decimal's text is plainly within `AMOUNT_BOUND` (ASCII digits only: ``re``'s
``[0-9]``, unlike ``str.isdigit``, takes no other script's digits)."""


def amount_problem(value: Decimal) -> str | None:
    """
    What breaks `AMOUNT_BOUND` in `value`, in a few words, or None if nothing does.

    Reads only the value's sign, digits and exponent, never a decimal context, so it cannot
    overflow or signal whatever it is given (``9E+999999``, ``1E-2000000``, ``sNaN``).

    >>> amount_problem(Decimal("1E+1000000"))
    'not below 10^14'
    >>> amount_problem(Decimal("0.100000000000000000")) is None
    True
    """
    # The common case from the text, in C: plain notation with at most 14 integer digits
    # (so below 10^14) and at most 14 written places. `as_tuple` builds a named tuple in
    # Python, which every fill's three amounts would pay for.
    if _PLAIN_AMOUNT(str(value)) is not None:
        return None
    _sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):  # "n", "N" or "F": a NaN, an sNaN or an infinity
        return "not a finite number"
    if value and len(digits) + exponent > AMOUNT_INTEGER_DIGITS:
        return f"not below 10^{AMOUNT_INTEGER_DIGITS}"  # the leading digit is at 10^14 or more
    if len(digits) > AMOUNT_WRITTEN_DIGITS:
        return f"written in {len(digits)} digits"
    if exponent >= -AMOUNT_DECIMAL_PLACES:
        return None  # the common case: no more places written than allowed
    places = decimal_places(value)
    if places > AMOUNT_DECIMAL_PLACES:
        return f"{places} decimal places"
    return None


def decimal_places(value: Decimal) -> int:
    """
    The decimal places of a finite `value`, trailing zeros not counted; 0 for a zero.

    Reads the digits and the exponent only (no context, so nothing can overflow).

    >>> [decimal_places(Decimal(text)) for text in ("1.50", "1E-20", "5E+3", "0E-30")]
    [1, 20, 0, 0]
    """
    _sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int) or exponent >= 0:
        return 0
    coefficient = bytes(digits)  # strips the trailing zeros in C, however many there are
    significant = len(coefficient.rstrip(b"\x00"))
    if not significant:
        return 0  # a zero is 0, whatever exponent it was written with
    return max(0, -(exponent + len(coefficient) - significant))


_GRID = Decimal(1).scaleb(-AMOUNT_DECIMAL_PLACES)


def on_grid(value: Decimal, rounding: str) -> Decimal:
    """
    `value` with at most `AMOUNT_DECIMAL_PLACES` places, as a venue rounds what it reports
    (a price, a fee in bps, a fraction of a quantity). Left as it is when it has no more places, or
    is too large for the bounds: the order machine then refuses the fill.
    """
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -AMOUNT_DECIMAL_PLACES:
        return value  # the common case: no more places written than allowed
    if value.adjusted() >= AMOUNT_INTEGER_DIGITS or decimal_places(value) <= AMOUNT_DECIMAL_PLACES:
        return value
    return value.quantize(_GRID, rounding=rounding)


@attrs.frozen(repr=False)
class AmountValidator:
    """
    The bounds of an amount as a reusable validator: an attrs field validator, and `check`
    for the machines' guards. The refusal keeps the field, the value and the bound.
    """

    reason: ReasonCode
    """The code a refusal carries (``VALIDATION_INVALID_QUANTITY``, ``FILL_INVALID_FEE``...)."""

    def __call__(self, _instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        # An optional amount may be absent; `check` builds the refusal.
        if value is not None and amount_problem(value) is not None:
            self.check(value, attribute.name)

    def check(self, value: Decimal, field: str, *, subject: str | None = None) -> None:
        """
        Raise `ContractViolation` if `value` breaks `AMOUNT_BOUND`.

        Args:
            value: The amount.
            field: The field named on the error (``quantity``, ``fill.price``).
            subject: What the message names instead of `field` (``fill f1 price``).
        """
        problem = amount_problem(value)
        if problem is not None:
            raise ContractViolation(
                f"{subject or field}: must be {AMOUNT_BOUND}, got {shown(value)} ({problem})",
                reason=self.reason,
                field=field,
                value=value,
                bound=AMOUNT_BOUND,
            )

    def __repr__(self) -> str:
        return f"<bounded_amount validator, {self.reason.value}>"


def bounded_amount(reason: ReasonCode) -> AmountValidator:
    """
    A validator that refuses an amount beyond `AMOUNT_BOUND` with `reason`.
    """
    return AmountValidator(reason)


# -- bounds on text --------------------------------------------------------------------------

SYMBOL_MAX_LENGTH = 64
"""The longest symbol, in characters (code points)."""
ID_MAX_LENGTH = 128
"""The longest ``strategy_id``, ``intent_id`` and ``session_id``, in characters."""

_LINE_AND_BIDI_CONTROLS = frozenset(
    "\u2028\u2029"  # line and paragraph separators: a line break to JavaScript and log viewers
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"  # bidi embeddings, overrides
)


def text_problem(value: str, *, max_length: int | None, controls: bool = False) -> str | None:
    """
    What is wrong with `value` as text, in a few words, or None if nothing is.

    Text is valid Unicode (no surrogate code points, which UTF-8 cannot encode, so no audit
    record could hold them) and at most `max_length` characters. Unless `controls` is True,
    it holds no control character: C0 (``\\x00``-``\\x1f``, so no ``\\n`` or ``\\t``),
    DEL, C1 (``\\x80``-``\\x9f``), the line and paragraph separators U+2028/U+2029, and the
    bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), which
    make a text display as something it is not.
    """
    if max_length is not None and len(value) > max_length:
        return f"{len(value)} characters"
    if value.isprintable():
        return None  # the common case: no control, separator or surrogate at all
    for index, char in enumerate(value):
        category = unicodedata.category(char)
        if category == "Cs":
            return f"lone surrogate U+{ord(char):04X} at index {index}"
        if not controls and (category == "Cc" or char in _LINE_AND_BIDI_CONTROLS):
            return f"control character U+{ord(char):04X} at index {index}"
    return None


@attrs.frozen(repr=False)
class TextValidator:
    """
    The bounds of a text field as a reusable attrs validator: a string, valid Unicode, no
    control characters (unless allowed) and at most `max_length` characters.
    """

    reason: ReasonCode
    max_length: int | None = None
    controls: bool = False
    """True for a venue's free text (an event's detail may hold line breaks)."""

    @property
    def bound(self) -> str:
        """
        The bounds in words (what `ContractViolation.bound` says).
        """
        parts = ["a string of valid Unicode"]
        if not self.controls:
            parts.append("without control characters")
        if self.max_length is not None:
            parts.append(f"at most {self.max_length} characters long")
        return ", ".join(parts)

    def __call__(self, _instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        # The common case first, in one line: a short printable string (no control,
        # separator or surrogate at all). Anything else gets the whole check.
        if type(value) is str and (
            value.isprintable() or (self.controls and value.isascii())  # ASCII: no surrogate
        ):
            limit = self.max_length
            if limit is None or len(value) <= limit:
                return
        self.check(value, attribute.name)

    def check(self, value: Any, field: str) -> None:
        """
        Raise `ContractViolation` naming `field` if `value` is not such a text.
        """
        if not isinstance(value, str):
            raise ContractViolation(
                f"{field}: must be a string, got {shown(value)}",
                reason=self.reason,
                field=field,
                value=value,
            )
        problem = text_problem(value, max_length=self.max_length, controls=self.controls)
        if problem is not None:
            raise ContractViolation(
                f"{field}: must be {self.bound}, got {shown(value)} ({problem})",
                reason=self.reason,
                field=field,
                value=value,
                bound=self.bound,
            )

    def __repr__(self) -> str:
        return f"<bounded_text validator, {self.bound}>"


def bounded_text(
    reason: ReasonCode,
    *,
    max_length: int | None = None,
    controls: bool = False,
) -> TextValidator:
    """
    A validator that refuses anything but a string of valid Unicode, without control
    characters unless `controls`, of at most `max_length` characters.
    """
    return TextValidator(reason, max_length, controls)
