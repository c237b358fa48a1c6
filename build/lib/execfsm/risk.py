"""
Ready-made pre-trade risk hooks. Any object with ``evaluate(intent) -> RiskVerdict`` will do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal

from execfsm.contracts import OrderIntent, ReasonCode, RiskDecision, RiskVerdict, to_decimal
from execfsm.ids import idempotency_key

ALLOW = RiskVerdict(RiskDecision.ALLOW)


class NullRiskHook:
    """
    Allows everything: for paper sessions and tests where risk is not the subject.
    """

    def evaluate(self, intent: OrderIntent) -> RiskVerdict:
        """
        Always ALLOW.
        """
        return ALLOW


class BlockingRiskHook:
    """
    Blocks everything, with a fixed reason.
    """

    def __init__(self, reason: str = "all trading blocked by risk") -> None:
        self.reason = reason

    def evaluate(self, intent: OrderIntent) -> RiskVerdict:
        """
        Always BLOCK.
        """
        return RiskVerdict(RiskDecision.BLOCK, self.reason)


class ConditionalRiskHook:
    """
    Rule-based limits, checked in order: kill switch, symbol allow-list, max quantity, max
    notional, then a review threshold that PAUSEs large intents until `approve`d.

    Args:
        allowed_symbols: Only these symbols may trade (None: any).
        max_quantity: Block intents above this quantity.
        max_notional: Block intents whose quantity x price exceeds this. The price is the
            limit price, else ``reference_price(symbol)``; an unknown price blocks (fail closed).
        reference_price: Price lookup for MARKET intents' notional.
        review_quantity: PAUSE intents above this quantity until an operator approves them.
        kill_switch: Start with the kill switch active (everything blocked).
    """

    def __init__(
        self,
        *,
        allowed_symbols: Iterable[str] | None = None,
        max_quantity: Decimal | int | str | None = None,
        max_notional: Decimal | int | str | None = None,
        reference_price: Callable[[str], Decimal | None] | Mapping[str, Decimal] | None = None,
        review_quantity: Decimal | int | str | None = None,
        kill_switch: bool = False,
    ) -> None:
        self.allowed_symbols = None if allowed_symbols is None else frozenset(allowed_symbols)
        self.max_quantity = (
            None if max_quantity is None else to_decimal(max_quantity, "max_quantity")
        )
        self.max_notional = (
            None if max_notional is None else to_decimal(max_notional, "max_notional")
        )
        self.review_quantity = (
            None if review_quantity is None else to_decimal(review_quantity, "review_quantity")
        )
        if isinstance(reference_price, Mapping):
            table = dict(reference_price)
            self._price: Callable[[str], Decimal | None] = table.get
        else:
            self._price = reference_price or (lambda _symbol: None)
        self.kill_switch = kill_switch
        self._approved: set[str] = set()

    def approve(self, intent: OrderIntent) -> None:
        """
        An operator signs off an intent held for review; the next evaluation allows it.
        """
        self._approved.add(idempotency_key(intent))

    def evaluate(self, intent: OrderIntent) -> RiskVerdict:
        """
        The first rule the intent breaks decides; otherwise ALLOW.
        """
        if self.kill_switch:
            return RiskVerdict(
                RiskDecision.BLOCK, "kill switch is active", ReasonCode.RISK_KILL_SWITCH_ACTIVE
            )
        if self.allowed_symbols is not None and intent.symbol not in self.allowed_symbols:
            return RiskVerdict(RiskDecision.BLOCK, f"symbol {intent.symbol} is not allowed")
        if self.max_quantity is not None and intent.quantity > self.max_quantity:
            return RiskVerdict(
                RiskDecision.BLOCK,
                f"quantity {intent.quantity} exceeds max_quantity {self.max_quantity}",
            )
        if self.max_notional is not None:
            price = intent.limit_price or self._price(intent.symbol)
            if price is None:
                return RiskVerdict(
                    RiskDecision.BLOCK, f"no reference price for {intent.symbol}: notional unknown"
                )
            notional = intent.quantity * price
            if notional > self.max_notional:
                return RiskVerdict(
                    RiskDecision.BLOCK,
                    f"notional {notional} exceeds max_notional {self.max_notional}",
                )
        if (
            self.review_quantity is not None
            and intent.quantity > self.review_quantity
            and idempotency_key(intent) not in self._approved
        ):
            return RiskVerdict(
                RiskDecision.PAUSE,
                f"quantity {intent.quantity} above review_quantity {self.review_quantity}: "
                f"needs approval",
            )
        return ALLOW
