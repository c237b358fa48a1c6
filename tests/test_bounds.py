"""
The bounds of amounts and texts, and the reusable validators that hold contracts to them.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from execfsm import ContractViolation, ReasonCode
from execfsm.bounds import (
    AMOUNT_BOUND,
    AMOUNT_SIGNIFICANT_DIGITS,
    ID_MAX_LENGTH,
    SYMBOL_MAX_LENGTH,
    amount_problem,
    bounded_amount,
    bounded_text,
    decimal_places,
    text_problem,
)
from tests.conftest import make_intent


class TestAmountBounds:
    @pytest.mark.parametrize(
        "value",
        [
            "0",
            "0E-2000000",
            "0E+2000000",
            "1",
            "-1",
            "99999999999999.99999999999999",
            "-99999999999999.99999999999999",
            "0.00000000000001",
            "1E+13",
            "1.5000000000000000000000000000000000",
        ],
    )
    def test_values_within_the_bounds_pass(self, value: str) -> None:
        """Zeros, the extremes of the range and trailing zeros past 14 places are within."""
        assert amount_problem(Decimal(value)) is None

    @pytest.mark.parametrize(
        ("value", "problem"),
        [
            ("1E+14", "not below 10^14"),
            ("-100000000000000", "not below 10^14"),
            ("9E+999999", "not below 10^14"),
            ("1E+1000000", "not below 10^14"),
            ("1E-15", "15 decimal places"),
            ("1E-2000000", "2000000 decimal places"),
            ("0.123456789012345", "15 decimal places"),
            ("1." + "0" * 40, "written in 41 digits"),
            ("0.1" + "0" * 40, "written in 41 digits"),
            ("NaN", "not a finite number"),
            ("-sNaN", "not a finite number"),
            ("Infinity", "not a finite number"),
        ],
    )
    def test_values_beyond_the_bounds_say_which_bound(self, value: str, problem: str) -> None:
        """A value beyond the bounds is described by the bound it breaks, without signalling."""
        assert amount_problem(Decimal(value)) == problem

    def test_bounds_fill_the_default_context_exactly(self) -> None:
        """The widest amount has as many digits as the default context keeps."""
        widest = Decimal("99999999999999.99999999999999")

        assert len(widest.as_tuple().digits) == AMOUNT_SIGNIFICANT_DIGITS == 28
        assert +widest == widest

    def test_sums_of_amounts_within_the_bounds_are_exact(self) -> None:
        """Adding the largest and the finest amount loses nothing."""
        total = Decimal("99999999999998") + Decimal("0.00000000000001")

        assert total == Decimal("99999999999998.00000000000001")

    @pytest.mark.parametrize(
        ("value", "places"),
        [("1.50", 1), ("1E-20", 20), ("5E+3", 0), ("0E-30", 0), ("-0.001000", 3), ("7", 0)],
    )
    def test_decimal_places_ignore_trailing_zeros(self, value: str, places: int) -> None:
        """Decimal places are counted on the value: trailing zeros do not count."""
        assert decimal_places(Decimal(value)) == places

    def test_validator_keeps_field_value_and_bound(self) -> None:
        """The validator's refusal carries the reason, field, value and bound it was given."""
        huge = Decimal("1e1000000")

        with pytest.raises(ContractViolation) as caught:
            bounded_amount(ReasonCode.FILL_INVALID_FEE).check(huge, "fill.fee")

        error = caught.value
        assert (error.reason, error.field, error.value, error.bound) == (
            ReasonCode.FILL_INVALID_FEE,
            "fill.fee",
            huge,
            AMOUNT_BOUND,
        )
        assert str(error) == f"fill.fee: must be {AMOUNT_BOUND}, got 1E+1000000 (not below 10^14)"

    def test_a_long_value_is_cut_short_in_the_message(self) -> None:
        """A value with thousands of digits is shortened in the message, kept whole on the
        error."""
        long = Decimal("1" * 5000)

        with pytest.raises(ContractViolation) as caught:
            make_intent(quantity=long)

        assert len(str(caught.value)) < 300
        assert caught.value.value == long


class TestTextBounds:
    @pytest.mark.parametrize(
        ("text", "problem"),
        [
            ("BTC/EUR", None),
            ("Ünïcødé €-日本-\U0001f600", None),
            ("a\u00a0b", None),  # a no-break space is not a control character
            ("a\ud800", "lone surrogate U+D800 at index 1"),
            ("\udc00z", "lone surrogate U+DC00 at index 0"),
            ("a\nb", "control character U+000A at index 1"),
            ("a\x9fb", "control character U+009F at index 1"),
            ("\u2066x", "control character U+2066 at index 0"),
        ],
    )
    def test_text_problems_name_the_character_and_where(
        self, text: str, problem: str | None
    ) -> None:
        """A surrogate or control character is named by code point and index."""
        assert text_problem(text, max_length=None) == problem

    def test_venue_text_may_hold_line_breaks_but_not_surrogates(self) -> None:
        """With control characters allowed, only what UTF-8 cannot encode is refused."""
        assert text_problem("line 1\nline 2\t", max_length=None, controls=True) is None
        assert text_problem("x\ud800", max_length=None, controls=True) is not None

    def test_length_is_counted_in_characters(self) -> None:
        """The length bound counts code points, not bytes."""
        assert text_problem("€" * SYMBOL_MAX_LENGTH, max_length=SYMBOL_MAX_LENGTH) is None
        assert text_problem("€" * 65, max_length=SYMBOL_MAX_LENGTH) == "65 characters"

    def test_validator_keeps_field_value_and_bound(self) -> None:
        """The text validator's refusal carries reason, field, value and bound."""
        validator = bounded_text(ReasonCode.VALIDATION_INVALID_FIELD, max_length=ID_MAX_LENGTH)

        with pytest.raises(ContractViolation) as caught:
            validator.check("s\ud800", "strategy_id")

        error = caught.value
        assert (error.reason, error.field, error.value, error.bound) == (
            ReasonCode.VALIDATION_INVALID_FIELD,
            "strategy_id",
            "s\ud800",
            "a string of valid Unicode, without control characters, at most 128 characters long",
        )
