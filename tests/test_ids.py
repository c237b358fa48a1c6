"""
Deterministic ids and idempotency keys.
"""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

from execfsm import Fill, OrderIntent, OrderSide, OrderType
from execfsm.bounds import text_problem
from execfsm.ids import canonical_json, idempotency_key, sha256_hex, stable_id
from tests.conftest import make_intent, previous_canonical_json


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


_TEXT = st.text(st.characters(blacklist_categories=["Cs"]))
"""Any text UTF-8 can carry (a lone surrogate cannot be hashed, then or now)."""


class TestFillJson:
    @given(
        fill_id=_TEXT,
        quantity=st.decimals(allow_nan=False, allow_infinity=False),
        price=st.decimals(allow_nan=False, allow_infinity=False),
        fee=st.decimals(allow_nan=False, allow_infinity=False),
    )
    def test_fill_json_equals_the_previous_release(
        self, fill_id: str, quantity: Decimal, price: Decimal, fee: Decimal
    ) -> None:
        """A fill's JSON (its audit detail) is byte-identical to the previous release's."""
        fill = Fill(fill_id, quantity, price, fee)

        assert canonical_json(fill) == previous_canonical_json(fill)


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
    def test_intent_json_and_key_equal_the_previous_release(self, **fields: Any) -> None:
        """The intent terms on the intake record, and its idempotency key, are byte-identical
        to the previous release's."""
        if fields["order_type"] is OrderType.LIMIT and fields["limit_price"] is None:
            fields["limit_price"] = Decimal("1")
        intent = OrderIntent(strategy_id='s"x\u00e9', **fields)
        identity: dict[str, Any] = {"session": intent.session_id, "strategy": intent.strategy_id}
        if intent.intent_id is None:
            content = attrs.asdict(intent, recurse=False)
            identity["content"] = {k: v for k, v in content.items() if k != "expire_time"}
        else:
            identity["intent_id"] = intent.intent_id

        assert canonical_json(intent) == previous_canonical_json(intent)
        assert idempotency_key(intent) == sha256_hex(previous_canonical_json(identity))


class TestStableId:
    @given(parts=st.lists(st.one_of(_TEXT, st.integers()), max_size=4))
    def test_equals_the_previous_release(self, parts: list[str | int]) -> None:
        """Ids of strings and ints hash the text the previous release's encoder wrote."""
        expected = f"x-{sha256_hex(previous_canonical_json(tuple(parts)))[:24]}"

        assert stable_id("x", *parts) == expected
