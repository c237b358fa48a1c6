"""
The safety properties of the built-in machines, declared in the form any machine uses
(`execfsm.fsm.properties`), with the inputs and setups they are explored with:

- P1 (`PipelineRun`): no path reaches DISPATCH in LIVE_BLOCKED, nor in LIVE without a valid
  `LivePolicy`.
- P4 and P5 (`OrderLifecycle`): fill and revision sequences, explored by their own engines
  (`execfsm.governance.fill_sequences`, `execfsm.governance.revision_sequences`), which send
  venue events through `OrderLifecycle.apply`.

P2 and P3 are checked for every machine and need no declaration.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal
from typing import Any

import attrs

from execfsm.clock import EPOCH
from execfsm.contracts import (
    ExecutionMode,
    LivePolicy,
    OrderIntent,
    OrderSide,
    OrderType,
    ReasonCode,
    RiskDecision,
    RiskVerdict,
    Route,
)
from execfsm.fsm.properties import Explored, Happening, Inputs, Never, Property, Setup, entered

P1 = "no path reaches DISPATCH in LIVE_BLOCKED, nor in LIVE without a valid LivePolicy"
P4 = "cumulative fills never exceed the quantity; fills and acks never move the order backwards"
P5 = "filled quantity never exceeds the quantity in force (replace, bust, correction, late fill)"

# -- the pipeline ---------------------------------------------------------------------------

_NOW = EPOCH
with attrs.validators.disabled():  # refused at construction; routing must refuse it too
    _anonymous = LivePolicy(" ", "verify", _NOW + timedelta(days=1))
_POLICIES: dict[str, LivePolicy | None] = {
    "none": None,
    "expired": LivePolicy("risk-officer", "verify", _NOW - timedelta(seconds=1)),
    "anonymous": _anonymous,
    "active": LivePolicy("risk-officer", "verify", _NOW + timedelta(days=1)),
}
_INTENTS: dict[str, OrderIntent] = {
    "valid MARKET": OrderIntent("BTC/EUR", OrderSide.BUY, Decimal(1), OrderType.MARKET, "v"),
    "valid LIMIT": OrderIntent(
        "BTC/EUR", OrderSide.SELL, Decimal(1), OrderType.LIMIT, "v", limit_price=Decimal(1)
    ),
    "quantity 0": OrderIntent("BTC/EUR", OrderSide.BUY, Decimal(0), OrderType.MARKET, "v"),
    "LIMIT without price": OrderIntent("BTC/EUR", OrderSide.BUY, Decimal(1), OrderType.LIMIT, "v"),
    "blank symbol": OrderIntent(" ", OrderSide.BUY, Decimal(1), OrderType.MARKET, "v"),
}
_ROUTES: dict[str, Route] = {
    f"mode={mode.value}, live_policy={label}, adapter={'registered' if adapter else 'none'}": (
        Route(mode=mode, adapter_registered=adapter, live_policy=policy, now=_NOW)
    )
    for mode, (label, policy), adapter in itertools.product(
        ExecutionMode, _POLICIES.items(), (True, False)
    )
}
_REASONS: dict[str, ReasonCode | None] = {"none": None, "RISK_BLOCKED": ReasonCode.RISK_BLOCKED}
_VERDICTS: dict[str, RiskVerdict | None] = {
    "none": None,
    **{decision.value: RiskVerdict(decision) for decision in RiskDecision},
}

PIPELINE_INPUTS: Inputs = {
    "fail": {"reason_code": _REASONS},
    "reject": {"reason_code": _REASONS},
    "allow": {"verdict": _VERDICTS},
    "block": {"reason_code": _REASONS},
    "abandon": {"reason_code": _REASONS},
    "route": {"route": _ROUTES},
}
"""Every risk verdict, every (mode, live policy, adapter) route, a reason code or none."""


def _run_of(label: str, intent: OrderIntent) -> Setup:
    def build(machine: type[Any], audit: Any) -> Any:
        return machine(
            intent, correlation_id="cor-verify", client_order_id="ord-verify", audit=audit
        )

    return Setup(f"intent={label}", build)


PIPELINE_SETUPS: tuple[Setup, ...] = tuple(_run_of(k, v) for k, v in _INTENTS.items())
"""A run of each intent of the domain: valid, and invalid in each way validation refuses."""


def dispatch_allowed(route: Route | None) -> bool:
    """
    P1's statement (not the validator): a route, in a simulated mode, or LIVE with a valid
    policy.
    """
    if route is None or route.mode is ExecutionMode.LIVE_BLOCKED:
        return False
    if route.mode is ExecutionMode.LIVE:
        return route.live_policy is not None and route.live_policy.is_active(route.now)
    return True


def _unpermitted(happening: Happening) -> bool:
    return not dispatch_allowed(happening.args.get("route"))


PIPELINE_PROPERTIES: tuple[Property, ...] = (
    Never(
        "P1",
        P1,
        entered(
            "DISPATCH",
            _unpermitted,
            label="DISPATCH entered without a route that permits it (LIVE_BLOCKED, or LIVE "
            "without an active policy)",
        ),
    ),
)

# -- the order ---------------------------------------------------------------------------------

ORDER_PROPERTIES: tuple[Property, ...] = (
    Explored("P4", P4, "execfsm.governance.fill_sequences:fills_verdict"),
    # A replace that a fill races to completion takes five events, a late fill after it one more.
    Explored("P5", P5, "execfsm.governance.revision_sequences:revisions_verdict", extra_depth=1),
)
