"""
The named guards: a rule that refuses raises a typed error with a reason, never an arithmetic
error, whatever number it is shown.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs
import pytest

from execfsm import ContractViolation, Fill, Order, OrderType, ReasonCode
from execfsm.bounds import AMOUNT_BOUND
from execfsm.fsm import guards as g
from execfsm.testing import order_for
from tests.conftest import make_intent

# Numbers an Order (built without validation) or a venue's Fill may hold.
EXTREME = [
    "1e1000000",
    "9e999999",
    "-9e999999",
    "1e-2000000",
    "0E-2000000",
    "NaN",
    "sNaN",
    "-Infinity",
]


def terms(**changes: Any) -> Order:
    """A valid LIMIT order's terms with `changes` (an Order checks none of its fields)."""
    return attrs.evolve(order_for(make_intent()), **changes)


def refusal(guard: Callable[..., Any], *args: Any) -> ContractViolation | None:
    """The ContractViolation `guard` raises, or None; any other exception propagates."""
    try:
        guard(*args)
    except ContractViolation as exc:
        return exc
    return None


class TestContractGuards:
    @pytest.mark.parametrize("guard", g.CONTRACT_GUARDS, ids=lambda f: f.__name__)
    @pytest.mark.parametrize("field", ["quantity", "limit_price"])
    @pytest.mark.parametrize("value", EXTREME)
    def test_no_arithmetic_error_escapes(
        self, guard: Callable[[Order], None], field: str, value: str
    ) -> None:
        """Whatever number an order's terms hold, a contract guard passes or raises a
        ContractViolation naming that field."""
        order = terms(**{field: Decimal(value)})

        error = refusal(guard, order)

        assert error is None or error.field == field

    @pytest.mark.parametrize("value", ["1e1000000", "1e-2000000", "NaN"])
    def test_amounts_bounded_names_the_amount_bound_beyond_it(self, value: str) -> None:
        """Beyond what any amount may be, the refusal names the amount bound."""
        error = refusal(g.amounts_bounded, terms(quantity=Decimal(value)))

        assert error is not None
        assert (error.reason, error.bound) == (ReasonCode.VALIDATION_INVALID_QUANTITY, AMOUNT_BOUND)

    @pytest.mark.parametrize("value", ["1e12", "1e13", "0.0000000000001"])
    def test_amounts_bounded_names_the_order_bound_within_it(self, value: str) -> None:
        """Within the amount bound but beyond the order contract's, it names the narrower one."""
        error = refusal(g.amounts_bounded, terms(limit_price=Decimal(value)))

        assert error is not None
        assert (error.reason, error.field, error.bound) == (
            ReasonCode.VALIDATION_INVALID_PRICE,
            "limit_price",
            g.ORDER_AMOUNT_BOUND,
        )

    @pytest.mark.parametrize(
        ("order_type", "price", "refused"),
        [
            (OrderType.MARKET, Decimal(1), True),
            (OrderType.MARKET, Decimal("60000"), True),
            (OrderType.MARKET, None, False),
            (OrderType.LIMIT, Decimal(1), False),
        ],
    )
    def test_a_market_order_carries_no_price(
        self, order_type: OrderType, price: Decimal | None, refused: bool
    ) -> None:
        """Only a MARKET order with a limit price is refused, naming limit_price."""
        error = refusal(g.price_fits_type, terms(order_type=order_type, limit_price=price))

        assert (error is not None) == refused
        if error is not None:
            assert (error.reason, error.field, error.value) == (
                ReasonCode.VALIDATION_INVALID_PRICE,
                "limit_price",
                price,
            )

    @pytest.mark.parametrize(
        ("strategy", "refused"), [("", True), ("   ", True), ("\u3000", True), ("s", False)]
    )
    def test_a_strategy_id_is_not_blank(self, strategy: str, refused: bool) -> None:
        """An empty or blank strategy id is refused naming strategy_id."""
        error = refusal(g.names_present, terms(strategy_id=strategy))

        assert (error is not None) == refused
        if error is not None:
            assert (error.reason, error.field) == (
                ReasonCode.VALIDATION_INVALID_FIELD,
                "strategy_id",
            )


class TestFillGuards:
    @pytest.mark.parametrize(
        ("field", "reason"),
        [
            ("quantity", ReasonCode.FILL_INVALID_QUANTITY),
            ("price", ReasonCode.FILL_INVALID_PRICE),
            ("fee", ReasonCode.FILL_INVALID_FEE),
        ],
    )
    @pytest.mark.parametrize("value", [v for v in EXTREME if v != "0E-2000000"])
    def test_fill_well_formed_refuses_every_extreme_value(
        self, field: str, reason: ReasonCode, value: str
    ) -> None:
        """A fill amount beyond the bounds is refused with its FILL_INVALID_* code, the field,
        the value and the bound."""
        fill = Fill("f1", **{"quantity": "1", "price": "1", "fee": "0", field: value})

        error = refusal(g.fill_well_formed, fill)

        assert error is not None
        assert (error.reason, error.field, error.bound) == (reason, f"fill.{field}", AMOUNT_BOUND)
        assert error.value is getattr(fill, field)

    @pytest.mark.parametrize("field", ["quantity", "price", "fee"])
    @pytest.mark.parametrize("value", EXTREME)
    def test_no_fill_guard_signals(self, field: str, value: str) -> None:
        """Each fill guard, even run alone, refuses or chooses and never raises an arithmetic
        error; the first refusal comes from fill_well_formed."""
        fill = Fill("f1", **{"quantity": "0.5", "price": "1", "fee": "0", field: value})
        order = terms()

        errors = [
            refusal(g.fill_well_formed, fill),
            refusal(g.fill_id_unused, fill, {}),
            refusal(g.fill_within_quantity, order, fill),
        ]
        complete = g.fill_completes(order, fill)

        assert errors[0] is not None or value == "0E-2000000"
        assert complete is False
