"""
Hypothesis strategies shared by the property and stateful tests.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import strategies as st

from execfsm.contracts import OrderIntent, OrderSide, OrderType

# Quantities on a 0.001 grid: exact in Decimal, and small enough that partial fills sum up.
quantities = st.integers(min_value=1, max_value=5_000).map(lambda n: Decimal(n) / 1000)
prices = st.integers(min_value=1, max_value=10_000_000).map(lambda n: Decimal(n) / 100)
fees = st.integers(min_value=0, max_value=1_000).map(lambda n: Decimal(n) / 100)
fill_ids = st.sampled_from([f"f{i}" for i in range(8)])

intents = st.builds(
    OrderIntent,
    symbol=st.sampled_from(["BTC/EUR", "ETH/EUR", "BTC/USD"]),
    side=st.sampled_from(OrderSide),
    quantity=quantities,
    order_type=st.just(OrderType.MARKET),
    strategy_id=st.just("prop"),
    intent_id=st.uuids().map(str),
)
