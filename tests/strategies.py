"""
Hypothesis strategies shared by the property and stateful tests.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import strategies as st

from execfsm.contracts import (
    Fill,
    Order,
    OrderIntent,
    OrderSide,
    OrderState,
    OrderType,
    PipelineState,
    ReasonCode,
    TimeInForce,
)
from execfsm.ledger.positions import Position
from execfsm.ledger.recon import ReconRecord
from execfsm.results import PipelineResult

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
limit_intents = st.builds(
    OrderIntent,
    symbol=st.sampled_from(["BTC/EUR", "ETH/EUR", "BTC/USD"]),
    side=st.sampled_from(OrderSide),
    quantity=quantities,
    order_type=st.just(OrderType.LIMIT),
    strategy_id=st.just("prop"),
    limit_price=prices,
    intent_id=st.uuids().map(str),
)

# Any value each field of the ledgers' records can hold, for codec and round-trip tests.
decimals = st.decimals(allow_nan=False, allow_infinity=False)
texts = st.text()  # quotes, backslashes, control characters and non-ASCII included
reasons = st.sampled_from(ReasonCode)

orders = st.builds(
    Order,
    client_order_id=texts,
    correlation_id=texts,
    idempotency_key=texts,
    symbol=texts,
    side=st.sampled_from(OrderSide),
    order_type=st.sampled_from(OrderType),
    quantity=decimals,
    strategy_id=texts,
    limit_price=st.none() | decimals,
    time_in_force=st.sampled_from(TimeInForce),
    state=st.sampled_from(OrderState),
    filled_quantity=decimals,
    average_fill_price=st.none() | decimals,
    fees=decimals,
    venue_order_id=st.none() | texts,
    reason_code=st.none() | reasons,
    recon_flags=st.lists(reasons, max_size=3).map(tuple),
)
fills = st.builds(Fill, fill_id=texts, quantity=decimals, price=decimals, fee=decimals)
positions = st.builds(
    Position,
    symbol=texts,
    quantity=decimals,
    average_cost=st.none() | decimals,
    realized_pnl=decimals,
    fees=decimals,
    fill_count=st.integers(min_value=0),
)
recons = st.builds(
    ReconRecord,
    correlation_id=texts,
    client_order_id=texts,
    order=orders,
    position=positions,
    audit_seq_first=st.integers(min_value=1),
    audit_seq_last=st.integers(min_value=1),
    recon_flags=st.lists(reasons, max_size=3).map(tuple),
    trigger=texts,
)
results = st.builds(
    PipelineResult,
    success=st.booleans(),
    correlation_id=texts,
    idempotency_key=texts,
    order=st.none() | orders,
    stage_reached=st.integers(min_value=1, max_value=8),
    pipeline_state=st.sampled_from(PipelineState),
    reason_code=st.none() | reasons,
    reason_detail=texts,
    recon=st.none() | recons,
)
