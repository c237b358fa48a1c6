"""
The shipped risk hooks.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from execfsm import BlockingRiskHook, ConditionalRiskHook, NullRiskHook, ReasonCode, RiskDecision
from tests.conftest import make_intent


class TestSimpleHooks:
    def test_null_allows(self) -> None:
        """NullRiskHook allows any intent."""
        assert NullRiskHook().evaluate(make_intent()).decision is RiskDecision.ALLOW

    def test_blocking_blocks_with_its_reason(self) -> None:
        """BlockingRiskHook blocks with the reason it was given."""
        verdict = BlockingRiskHook("maintenance").evaluate(make_intent())

        assert (verdict.decision, verdict.reason) == (RiskDecision.BLOCK, "maintenance")


class TestConditionalRiskHook:
    def test_symbol_allow_list(self) -> None:
        """A symbol outside the allow-list is blocked; one inside is allowed."""
        hook = ConditionalRiskHook(allowed_symbols=["ETH/EUR"])

        assert hook.evaluate(make_intent(symbol="ETH/EUR")).decision is RiskDecision.ALLOW
        blocked = hook.evaluate(make_intent(symbol="BTC/EUR"))
        assert (blocked.decision, blocked.reason) == (
            RiskDecision.BLOCK,
            "symbol BTC/EUR is not allowed",
        )

    @pytest.mark.parametrize(
        ("qty", "decision"), [("5", RiskDecision.ALLOW), ("5.0001", RiskDecision.BLOCK)]
    )
    def test_max_quantity(self, qty: str, decision: RiskDecision) -> None:
        """Quantities above max_quantity are blocked; the limit itself is allowed."""
        hook = ConditionalRiskHook(max_quantity=5)

        assert hook.evaluate(make_intent(quantity=qty)).decision is decision

    def test_max_notional_uses_limit_price(self) -> None:
        """Notional is quantity x limit price for LIMIT intents."""
        hook = ConditionalRiskHook(max_notional=100_000)

        assert (
            hook.evaluate(make_intent(quantity="2", limit_price="50000")).decision
            is RiskDecision.ALLOW
        )
        assert (
            hook.evaluate(make_intent(quantity="2", limit_price="50001")).decision
            is RiskDecision.BLOCK
        )

    def test_max_notional_without_price_fails_closed(self) -> None:
        """A MARKET intent with no reference price cannot be sized, so it is blocked."""
        hook = ConditionalRiskHook(max_notional=1_000)

        verdict = hook.evaluate(make_intent(order_type="MARKET", limit_price=None))

        assert verdict.decision is RiskDecision.BLOCK
        assert "no reference price" in verdict.reason

    def test_max_notional_with_reference_price(self) -> None:
        """A reference price table sizes MARKET intents."""
        hook = ConditionalRiskHook(max_notional=1_000, reference_price={"BTC/EUR": Decimal(900)})

        verdict = hook.evaluate(make_intent(order_type="MARKET", limit_price=None))

        assert verdict.decision is RiskDecision.ALLOW

    def test_kill_switch_blocks_everything(self) -> None:
        """With the kill switch on, every intent is blocked with its own reason code."""
        hook = ConditionalRiskHook(kill_switch=True)

        verdict = hook.evaluate(make_intent())

        assert (verdict.decision, verdict.code) == (
            RiskDecision.BLOCK,
            ReasonCode.RISK_KILL_SWITCH_ACTIVE,
        )

    def test_review_threshold_pauses_until_approved(self) -> None:
        """Large intents pause until an operator approves that very intent."""
        hook = ConditionalRiskHook(review_quantity="1")
        big = make_intent(quantity="2")

        before = hook.evaluate(big).decision
        hook.approve(big)

        assert (before, hook.evaluate(big).decision) == (RiskDecision.PAUSE, RiskDecision.ALLOW)
        assert (
            hook.evaluate(make_intent(quantity="2", intent_id="other")).decision
            is RiskDecision.PAUSE
        )
