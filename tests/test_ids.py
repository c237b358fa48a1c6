"""
Deterministic ids and idempotency keys.
"""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from execfsm import Fill, OrderIntent, OrderSide, OrderType
from execfsm.bounds import text_problem
from execfsm.ids import (
    canonical_json,
    fill_json,
    idempotency_key,
    intent_json,
    sha256_hex,
    stable_id,
)
from tests.conftest import make_intent


class TestCanonicalJson:
    def test_keys_sorted_and_decimals_kept_exact(self) -> None:
        """Canonical JSON sorts keys and writes Decimals as their exact strings."""
        text = canonical_json({"z": Decimal("0.10"), "a": {"y": 1, "b": None}})

        assert text == '{"a":{"b":null,"y":1},"z":"0.10"}'


class TestIdempotencyKey:
    def test_same_intent_same_key(self) -> None:
        """Two equal intents give the same key."""
        assert idempotency_key(make_intent()) == idempotency_key(make_intent())

    def test_different_content_different_key(self) -> None:
        """Intents differing in any field (without intent ids) get different keys."""
        base = make_intent(intent_id=None)
        other = make_intent(intent_id=None, quantity=Decimal("2"))

        assert idempotency_key(base) != idempotency_key(other)

    def test_intent_id_separates_identical_orders(self) -> None:
        """Two deliberate identical orders are distinct when their intent ids differ."""
        first = make_intent(intent_id="a")
        second = make_intent(intent_id="b")

        assert idempotency_key(first) != idempotency_key(second)

    def test_session_is_part_of_the_key(self) -> None:
        """The same intent in another session is another order."""
        assert idempotency_key(make_intent(session_id="s1")) != idempotency_key(
            make_intent(session_id="s2")
        )

    def test_key_is_identical_in_another_process(self) -> None:
        """A fresh interpreter (other hash seed) derives the same key and id."""
        code = (
            "from tests.conftest import make_intent;"
            "from execfsm.ids import idempotency_key, stable_id;"
            "k = idempotency_key(make_intent(intent_id=None));"
            "print(k, stable_id('ord', k))"
        )
        env = {"PYTHONHASHSEED": "12345", "PATH": ""}
        out = subprocess.run(  # noqa: S603 - fixed argv, our own interpreter
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
        ).stdout.split()
        key = idempotency_key(make_intent(intent_id=None))

        assert out == [key, stable_id("ord", key)]


class TestFillJson:
    @given(
        fill_id=st.text(),
        quantity=st.decimals(allow_nan=False, allow_infinity=False),
        price=st.decimals(allow_nan=False, allow_infinity=False),
        fee=st.decimals(allow_nan=False, allow_infinity=False),
    )
    def test_fast_fill_json_equals_canonical_json(
        self, fill_id: str, quantity: Decimal, price: Decimal, fee: Decimal
    ) -> None:
        """The hot-path fill JSON is byte-identical to canonical_json of the fill."""
        fill = Fill(fill_id, quantity, price, fee)

        assert fill_json(fill) == canonical_json(fill)


class TestIntentJson:
    @given(
        symbol=st.text(min_size=1, max_size=64).filter(lambda t: t.strip() and t.isprintable()),
        side=st.sampled_from(OrderSide),
        quantity=st.decimals(min_value=Decimal("0.001"), max_value=Decimal(10**6), places=3),
        order_type=st.sampled_from(OrderType),
        limit_price=st.none() | st.decimals(min_value=Decimal("0.01"), max_value=10**6, places=2),
        # Any text an intent may hold: quotes, backslashes, non-ASCII; no control characters.
        intent_id=st.none()
        | st.text(max_size=128).filter(lambda t: text_problem(t, max_length=128) is None),
        session_id=st.text(min_size=1, max_size=128).filter(
            lambda t: t.strip() and t.isprintable()
        ),
    )
    def test_fast_intent_json_equals_canonical_json(self, **fields: Any) -> None:
        """The intent terms on the intake record are byte-identical to canonical_json."""
        if fields["order_type"] is OrderType.LIMIT and fields["limit_price"] is None:
            fields["limit_price"] = Decimal("1")
        intent = OrderIntent(strategy_id='s"x\u00e9', **fields)

        assert intent_json(intent) == canonical_json(intent)


class TestStableId:
    @given(parts=st.lists(st.one_of(st.text(), st.integers()), max_size=4))
    def test_fast_path_equals_canonical_json(self, parts: list[str | int]) -> None:
        """Ids of strings and ints hash the same text canonical_json would produce."""
        expected = f"x-{sha256_hex(canonical_json(tuple(parts)))[:24]}"

        assert stable_id("x", *parts) == expected
