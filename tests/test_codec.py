"""
The store's direct JSON writers are byte-identical to ``canonical_json``, which defines them.
"""

from __future__ import annotations

import json
from decimal import Decimal

import attrs
from hypothesis import given
from hypothesis import strategies as st

from execfsm.contracts import (
    Order,
    OrderSide,
    OrderState,
    OrderType,
    PipelineState,
    ReasonCode,
    TimeInForce,
)
from execfsm.ids import canonical_json
from execfsm.ledger.codec import (
    OrderTexts,
    order_json,
    position_json,
    recon_json,
    result_json,
)
from execfsm.ledger.positions import Position
from execfsm.ledger.recon import ReconRecord
from execfsm.results import PipelineResult

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


class TestWritersEqualCanonicalJson:
    @given(orders)
    def test_order(self, order: Order) -> None:
        """An order snapshot is stored exactly as canonical_json writes it."""
        assert order_json(order) == canonical_json(order)

    @given(positions)
    def test_position(self, position: Position) -> None:
        """A position snapshot is stored exactly as canonical_json writes it."""
        assert position_json(position) == canonical_json(position)

    @given(recons)
    def test_recon(self, recon: ReconRecord) -> None:
        """A hand-off record is stored exactly as canonical_json writes it."""
        assert recon_json(recon) == canonical_json(recon)

    @given(results)
    def test_result_round_trips(self, result: PipelineResult) -> None:
        """A result is stored as canonical_json writes it, and reads back equal."""
        text = result_json(result)

        assert text == canonical_json(result)
        assert PipelineResult.from_json(json.loads(text)) == result

    @given(results, orders)
    def test_a_memo_writes_each_order_object_once(
        self, result: PipelineResult, other: Order
    ) -> None:
        """With an `OrderTexts` memo a result (its order shared with its hand-off, as the
        orchestrator builds them) is written as without it, and the memo knows each object."""
        if result.recon is not None and result.order is not None:
            result = attrs.evolve(result, recon=attrs.evolve(result.recon, order=result.order))
        memo = OrderTexts()

        assert result_json(result, memo) == canonical_json(result)
        assert memo(other) == order_json(other)
        assert len(memo._texts) == 1 + (result.order is not None) + (
            result.recon is not None and result.recon.order is not result.order
        )

    def test_decimal_exponents_are_kept(self) -> None:
        """Decimals keep their exact text (trailing zeros, exponents)."""
        position = Position("X", Decimal("1.10"), Decimal("1E+3"), Decimal("-0"), Decimal("0"))

        assert position_json(position) == canonical_json(position)
