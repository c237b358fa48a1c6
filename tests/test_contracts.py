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
from execfsm.bounds import AMOUNT_BOUND
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

    @pytest.mark.parametrize("quantity", ["1e1000000", "1e-2000000", Decimal("9e999999")])
    def test_extreme_quantity_is_refused_at_construction(self, quantity: object) -> None:
        """A quantity no ledger can hold is refused when the intent is built, naming the bound."""
        with pytest.raises(ContractViolation) as caught:
            make_intent(quantity=quantity)

        assert (caught.value.reason, caught.value.field, caught.value.bound) == (
            ReasonCode.VALIDATION_INVALID_QUANTITY,
            "quantity",
            AMOUNT_BOUND,
        )

    @pytest.mark.parametrize("field", ["symbol", "strategy_id", "intent_id", "session_id"])
    def test_lone_surrogate_in_text_is_refused_at_construction(self, field: str) -> None:
        """A lone surrogate in any text field is refused when the intent is built."""
        with pytest.raises(ContractViolation) as caught:
            make_intent(**{field: "x\ud800"})

        assert caught.value.field == field
        assert "lone surrogate U+D800" in str(caught.value)

    def test_market_with_a_price_and_blank_strategy_construct(self) -> None:
        """A MARKET order with a price and a blank strategy construct: stage 2 refuses them."""
        intent = make_intent(order_type="MARKET", limit_price=1, strategy_id=" ")

        assert (intent.limit_price, intent.strategy_id) == (Decimal(1), " ")

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

    @pytest.mark.parametrize(
        ("field", "value"),
        [("quantity", "1e-2000000"), ("price", "9e999999"), ("price", "NaN"), ("fee", "sNaN")],
    )
    def test_fill_takes_any_decimal_a_venue_sends(self, field: str, value: str) -> None:
        """A fill holds any decimal number, so an adapter translating a venue's message never
        crashes on it; the order machine refuses it."""
        fields = {"quantity": "1", "price": "1", "fee": "0", field: value}

        fill = Fill("f1", **fields)

        assert str(getattr(fill, field)) == str(Decimal(value))

    def test_fills_with_a_nan_compare_without_signalling(self) -> None:
        """Comparing fills that hold a NaN or sNaN never raises."""
        assert Fill("f", "sNaN", "1").same_content(Fill("f", "sNaN", "1"))
        assert not Fill("f", "1", "1").same_content(Fill("f", "sNaN", "1"))
        assert Fill("f", "1.0", "1").same_content(Fill("f", "1.00", "1"))

    def test_event_text_with_a_lone_surrogate_is_refused(self) -> None:
        """An event id no audit record can hold is refused when the event is built."""
        with pytest.raises(ContractViolation) as caught:
            ExecutionEvent(EventKind.ACK, "e\udfff", "ord-1", "cor-1", EPOCH)

        assert caught.value.field == "event_id"

    def test_event_detail_may_hold_line_breaks(self) -> None:
        """A venue's free text keeps its line breaks."""
        event = ExecutionEvent(EventKind.ACK, "e1", "ord-1", "cor-1", EPOCH, detail="a\nb")

        assert event.detail == "a\nb"

    def test_events_carry_schema_version(self) -> None:
        """Every event states the schema version it was written in."""
        event = ExecutionEvent(EventKind.ACK, "e1", "ord-1", "cor-1", EPOCH)

        assert event.schema_version == 1
