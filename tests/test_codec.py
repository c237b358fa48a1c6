"""
The one canonical encoder (`execfsm.ids.encode`) writes every stored snapshot byte-identical
to the previous release's encoder, and every snapshot reads back equal.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given

from execfsm.contracts import Order
from execfsm.ids import canonical_json, decode
from execfsm.ledger.positions import Position
from execfsm.ledger.recon import ReconRecord
from execfsm.results import PipelineResult
from tests.conftest import previous_canonical_json
from tests.strategies import orders, positions, recons, results


class TestCanonicalJson:
    @given(orders)
    def test_order(self, order: Order) -> None:
        """An order snapshot is stored as the previous release stored it, and reads back equal."""
        text = canonical_json(order)

        assert text == previous_canonical_json(order)
        assert decode(Order, text) == order

    @given(positions)
    def test_position(self, position: Position) -> None:
        """A position snapshot is stored as the previous release stored it, and reads back equal."""
        text = canonical_json(position)

        assert text == previous_canonical_json(position)
        assert decode(Position, text) == position

    @given(recons)
    def test_recon(self, recon: ReconRecord) -> None:
        """A hand-off record is stored as the previous release stored it, and reads back equal."""
        text = canonical_json(recon)

        assert text == previous_canonical_json(recon)
        assert decode(ReconRecord, text) == recon

    @given(results)
    def test_result_round_trips(self, result: PipelineResult) -> None:
        """A result is stored as the previous release stored it, and reads back equal."""
        text = canonical_json(result)

        assert text == previous_canonical_json(result)
        assert decode(PipelineResult, text) == result

    def test_decimal_exponents_are_kept(self) -> None:
        """Decimals keep their exact text (trailing zeros, exponents)."""
        position = Position("X", Decimal("1.10"), Decimal("1E+3"), Decimal("-0"), Decimal("0"))

        assert canonical_json(position) == (
            '{"average_cost":"1E+3","fees":"0","fill_count":0,"quantity":"1.10",'
            '"realized_pnl":"-0","symbol":"X"}'
        )
