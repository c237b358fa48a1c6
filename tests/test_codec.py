"""
The store's direct JSON writers are byte-identical to ``canonical_json``, which defines them.
"""

from __future__ import annotations

import json
from decimal import Decimal

import attrs
from hypothesis import given

from execfsm.contracts import Order
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
from tests.strategies import orders, positions, recons, results


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
