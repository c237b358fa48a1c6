"""
Construction-time type checks of the contract types.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from execfsm import (
    ContractViolation,
    EventKind,
    ExecutionEvent,
    Fill,
    OrderSide,
    OrderType,
    ReasonCode,
)
from execfsm.clock import EPOCH
from tests.conftest import make_intent


class TestOrderIntent:
    def test_float_quantity_is_refused_naming_the_field(self) -> None:
        """A float quantity raises ContractViolation that names `quantity` and the value."""
        with pytest.raises(ContractViolation, match="quantity") as caught:
            make_intent(quantity=0.1)

        assert caught.value.field == "quantity"
        assert caught.value.value == 0.1
        assert caught.value.reason is ReasonCode.VALIDATION_INVALID_QUANTITY

    @pytest.mark.parametrize("bad", ["NaN", "nan", "Infinity", "-Infinity", "sNaN"])
    def test_non_finite_quantity_is_refused(self, bad: str) -> None:
        """NaN and infinities are refused whatever their spelling."""
        with pytest.raises(ContractViolation, match="quantity: must be a finite number"):
            make_intent(quantity=bad)

    @pytest.mark.parametrize("bad", [float("nan"), float("inf"), 1.5, True, None, [1], "abc", ""])
    def test_limit_price_of_wrong_type_is_refused(self, bad: object) -> None:
        """A limit price that is not an exact decimal is refused naming `limit_price`."""
        with pytest.raises(ContractViolation) as caught:
            make_intent(limit_price=bad) if bad is not None else make_intent(quantity=bad)

        assert caught.value.field in {"limit_price", "quantity"}

    @pytest.mark.parametrize(
        ("given", "stored"),
        [(Decimal("0.10"), Decimal("0.10")), (3, Decimal(3)), (" 2.5 ", Decimal("2.5"))],
    )
    def test_exact_quantities_are_stored_as_decimal(self, given: object, stored: Decimal) -> None:
        """Decimal, int and decimal strings are accepted and stored as Decimal."""
        intent = make_intent(quantity=given)

        assert isinstance(intent.quantity, Decimal)
        assert intent.quantity == stored

    def test_business_rules_are_not_constructor_checks(self) -> None:
        """Zero quantity and a missing limit price construct: the validation stage reports them."""
        intent = make_intent(quantity=0, limit_price=None)

        assert intent.quantity == 0
        assert intent.limit_price is None

    def test_enum_fields_accept_their_string_values(self) -> None:
        """Side and order type accept their values as strings, case-insensitively."""
        intent = make_intent(side="sell", order_type="MARKET", limit_price=None)

        assert intent.side is OrderSide.SELL
        assert intent.order_type is OrderType.MARKET

    def test_unknown_enum_string_names_field_and_allowed_values(self) -> None:
        """An unknown side says which values are allowed."""
        with pytest.raises(ContractViolation, match=r"side: must be one of BUY, SELL, got 'HOLD'"):
            make_intent(side="HOLD")

    def test_symbol_of_wrong_type_is_refused(self) -> None:
        """A non-string symbol is refused naming `symbol`."""
        with pytest.raises(ContractViolation, match="symbol: must be a string"):
            make_intent(symbol=42)

    def test_intents_are_frozen(self) -> None:
        """An intent cannot be edited in place."""
        intent = make_intent()

        with pytest.raises(AttributeError):
            intent.quantity = Decimal(2)  # type: ignore[misc]


class TestFillAndEvent:
    def test_fill_float_price_is_refused(self) -> None:
        """A fill price given as float is refused naming `price`."""
        with pytest.raises(ContractViolation, match="price"):
            Fill("f1", "1", 10.5)

    def test_fill_event_must_carry_a_fill(self) -> None:
        """A FILL event without a Fill is refused at construction."""
        with pytest.raises(ContractViolation, match="fill"):
            ExecutionEvent(EventKind.FILL, "e1", "ord-1", "cor-1", EPOCH)

    def test_event_needs_an_aware_timestamp(self) -> None:
        """A naive timestamp is refused: audit time is always UTC."""
        naive = EPOCH.replace(tzinfo=None)

        with pytest.raises(ContractViolation, match="ts_event"):
            ExecutionEvent(EventKind.ACK, "e1", "ord-1", "cor-1", naive)

    def test_events_carry_schema_version(self) -> None:
        """Every event states the schema version it was written in."""
        event = ExecutionEvent(EventKind.ACK, "e1", "ord-1", "cor-1", EPOCH)

        assert event.schema_version == 1
