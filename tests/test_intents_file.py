"""
The line format of intents files: what `read_intents` accepts, what it refuses and how it
reports every bad line.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from execfsm.intents_file import (
    MAX_DEPTH,
    MAX_LINE_CHARS,
    MAX_NUMBER_CHARS,
    IntentsFileError,
    LineError,
    read_intents,
)

README = Path(__file__).resolve().parent.parent / "README.md"
GOOD = '{"symbol":"BTC/EUR","side":"BUY","quantity":"1","order_type":"MARKET","strategy_id":"s"}'


def with_field(field: str, raw_value: str) -> str:
    """
    `GOOD` with one more field, its value written as raw JSON text.
    """
    return f'{GOOD[:-1]},"{field}":{raw_value}}}'


def errors_of(text: str) -> tuple[LineError, ...]:
    """
    The bad lines `read_intents` reports for `text` (which must have some).
    """
    with pytest.raises(IntentsFileError) as caught:
        read_intents(text)
    return caught.value.errors


class TestLines:
    def test_crlf_lines_are_read_as_written(self) -> None:
        """A CRLF file gives the same intents as its LF twin."""
        intents = read_intents(f"{GOOD}\r\n{GOOD.replace('BUY', 'SELL')}\r\n")

        assert intents == read_intents(f"{GOOD}\n{GOOD.replace('BUY', 'SELL')}\n")
        assert len(intents) == 2

    def test_byte_order_mark_at_the_start_is_skipped(self) -> None:
        """A UTF-8 BOM before the first line is not part of it."""
        intents = read_intents(f"\ufeff{GOOD}\n")

        assert intents[0].symbol == "BTC/EUR"

    @pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
    def test_unicode_line_separator_inside_a_string_stays_in_its_line(self, separator: str) -> None:
        """U+2028 and its kin are valid inside a JSON string and do not end the line: the
        line is read whole and reaches the intent's own rule (no control characters in a
        symbol), and the next line keeps its number."""
        line = GOOD.replace("BTC/EUR", f"BTC{separator}EUR")

        errors = errors_of(f"{line}\n{GOOD}\n{line}\n")

        assert [e.line for e in errors] == [1, 3]
        assert all(e.problem.startswith("symbol:") for e in errors)

    @pytest.mark.parametrize("control", ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e"])
    def test_control_character_inside_a_string_is_one_bad_line(self, control: str) -> None:
        """A raw control character ends no line: it is one line, invalid JSON."""
        line = GOOD.replace("BTC/EUR", f"BTC{control}EUR")

        errors = errors_of(f"{GOOD}\n{line}\n{GOOD}\n")

        assert [(e.line, e.problem.split(" (")[0]) for e in errors] == [(2, "not valid JSON")]

    def test_blank_lines_are_skipped_and_still_counted(self) -> None:
        """Blank lines give no intent, and the numbers of later lines count them."""
        errors = errors_of(f"\n{GOOD}\n  \t\r\n\n[1]\n")

        assert [e.line for e in errors] == [5]

    def test_line_at_the_length_bound_is_read(self) -> None:
        """A valid line of exactly MAX_LINE_CHARS characters is read."""
        line = GOOD[:-1] + " " * (MAX_LINE_CHARS - len(GOOD)) + "}"

        assert len(read_intents(line)) == 1

    def test_line_over_the_length_bound_is_refused(self) -> None:
        """A line one character over MAX_LINE_CHARS is refused with its length and the bound."""
        line = GOOD[:-1] + " " * (MAX_LINE_CHARS + 1 - len(GOOD)) + "}"

        errors = errors_of(f"{GOOD}\n{line}\n")

        assert [str(e) for e in errors] == ["line 2: 65,537 characters long, more than 65,536"]


class TestJsonRules:
    def test_duplicate_key_is_refused_naming_line_and_key(self) -> None:
        """A repeated top-level key is refused: the last value no longer wins silently."""
        line = with_field("quantity", '"1000"')

        errors = errors_of(f"{GOOD}\n{line}\n")

        assert [str(e) for e in errors] == ['line 2: duplicate key "quantity" in one object']

    def test_duplicate_key_in_a_nested_object_is_refused(self) -> None:
        """Objects at every depth are checked for repeated keys."""
        line = with_field("extra", '[{"a":1,"b":{"c":1,"c":2}}]')

        errors = errors_of(line)

        assert [str(e) for e in errors] == ['line 1: duplicate key "c" in one object']

    def test_huge_integer_is_refused_without_a_traceback(self) -> None:
        """A 5000-digit integer literal is refused by length (Python's int would raise)."""
        line = GOOD.replace('"1"', "9" * 5000)

        errors = errors_of(line)

        assert [str(e) for e in errors] == [
            f"line 1: number {'9' * 24}... (5,000 characters) is longer than "
            f"{MAX_NUMBER_CHARS} characters; write quantities and prices as decimal strings"
        ]

    def test_integer_at_the_number_bound_is_read(self) -> None:
        """An integer literal of MAX_NUMBER_CHARS digits is read, and its value meets the
        intent's own bound (not the file's number rule)."""
        errors = errors_of(GOOD.replace('"1"', "9" * MAX_NUMBER_CHARS))

        assert errors[0].problem.startswith("quantity:")
        assert "not below 10^14" in errors[0].problem
        assert read_intents(GOOD.replace('"1"', "9" * 14))[0].quantity == Decimal("9" * 14)

    def test_long_fraction_is_refused_like_a_long_integer(self) -> None:
        """The number bound covers fractions and exponents too."""
        errors = errors_of(GOOD.replace('"1"', "0." + "1" * MAX_NUMBER_CHARS))

        assert "is longer than 40 characters" in errors[0].problem

    @pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
    def test_non_finite_constant_is_refused(self, constant: str) -> None:
        """NaN and the infinities are not JSON and are refused wherever they stand."""
        errors = errors_of(with_field("extra", f"[{constant}]"))

        assert [e.problem for e in errors] == [
            f"{constant} is not a JSON number; numbers must be finite"
        ]

    @pytest.mark.parametrize(
        ("line", "problem"),
        [
            ("[" * 100_000 + "]" * 100_000, "200,000 characters long, more than 65,536"),
            ("[" * 30_000 + "]" * 30_000, "arrays and objects nest 30,000 deep, more than 8"),
            ("[" * 100_000, "100,000 characters long, more than 65,536"),
            ("{" * 60_000, "arrays and objects nest 60,000 deep, more than 8"),
            (with_field("extra", "[" * MAX_DEPTH + "]" * MAX_DEPTH), "nest 9 deep, more than 8"),
        ],
        ids=["100000 deep", "30000 deep", "100000 unclosed", "60000 objects", "just over"],
    )
    def test_deep_nesting_is_refused_before_parsing(self, line: str, problem: str) -> None:
        """Deep nesting is refused by a scan before the parser, which would hit RecursionError."""
        errors = errors_of(f"{GOOD}\n{line}\n")

        assert [e.line for e in errors] == [2]
        assert problem in errors[0].problem

    def test_brackets_inside_strings_do_not_count_as_nesting(self) -> None:
        """Brackets and escaped quotes inside strings are text, not structure."""
        symbol = '[[[[[\\"{{{{{{' + "[" * 20
        line = GOOD.replace("BTC/EUR", symbol)

        intents = read_intents(line)

        assert intents[0].symbol == json.loads(f'"{symbol}"')

    def test_nesting_at_the_bound_reaches_the_intent_rules(self) -> None:
        """A value nested MAX_DEPTH deep in all is parsed, then refused by the intent's rules."""
        line = with_field("extra", "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1))

        errors = errors_of(line)

        assert [e.problem for e in errors] == ["intent: unknown field(s) extra"]

    def test_line_that_is_not_an_object_is_refused(self) -> None:
        """Each line must be a JSON object."""
        errors = errors_of('"BTC/EUR"\n')

        assert errors[0].problem.startswith("intent: must be a JSON object")

    def test_json_fraction_stays_a_float_the_intent_refuses(self) -> None:
        """An unquoted 0.1 is a float, refused by the intent: amounts are decimal strings."""
        errors = errors_of(GOOD.replace('"1"', "0.1"))

        assert errors[0].problem.startswith("quantity: must be a Decimal, an int or a decimal")


class TestReport:
    def test_every_bad_line_is_reported_in_file_order(self) -> None:
        """All bad lines are reported, not only the first, and no intent is returned."""
        text = "\n".join(
            [
                with_field("quantity", '"1000"'),
                GOOD,
                GOOD.replace('"1"', "NaN"),
                "{oops",
                GOOD,
            ]
        )

        with pytest.raises(IntentsFileError) as caught:
            read_intents(text)

        assert [e.line for e in caught.value.errors] == [1, 3, 4]
        assert str(caught.value).splitlines() == [
            "3 bad lines:",
            '  line 1: duplicate key "quantity" in one object',
            "  line 3: NaN is not a JSON number; numbers must be finite",
            "  line 4: not valid JSON (Expecting property name enclosed in double quotes at "
            "column 2)",
        ]


class TestDocumentation:
    def test_readme_states_the_bounds_in_force(self) -> None:
        """The README's line-format section gives the bounds the module enforces."""
        text = README.read_text(encoding="utf-8")
        section = re.search(r"### The intents file\n(.*?)\n#", text, re.S)

        assert section is not None
        assert f"{MAX_LINE_CHARS:,} characters" in section.group(1)
        assert f"deeper than {MAX_DEPTH}" in section.group(1)
        assert f"more than {MAX_NUMBER_CHARS} characters" in section.group(1)


class TestExpireTime:
    def test_expire_time_with_an_offset_is_an_aware_datetime(self) -> None:
        """A GTD intent's ISO 8601 expire_time with ``Z`` reads as that instant in UTC."""
        line = with_field("time_in_force", '"GTD"')[:-1] + ',"expire_time":"2026-12-01T17:00Z"}'

        (intent,) = read_intents(line)

        assert intent.expire_time is not None
        assert intent.expire_time.isoformat() == "2026-12-01T17:00:00+00:00"

    def test_expire_time_without_an_offset_is_one_bad_line(self) -> None:
        """A naive expire_time is refused, saying that an offset is needed."""
        line = with_field("time_in_force", '"GTD"')[:-1] + ',"expire_time":"2026-12-01T17:00"}'

        (error,) = errors_of(f"{GOOD}\n{line}\n")

        assert error.line == 2
        assert "must be an ISO 8601 time with a UTC offset" in error.problem
        assert error.problem.endswith('got "2026-12-01T17:00" (no offset)')
