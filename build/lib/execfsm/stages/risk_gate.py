"""
Stage 3, pre-trade risk: ask the `RiskHook` once; ALLOW routes, BLOCK ends, PAUSE waits. An
amend of a live order passes the same gate (`replace_refusal`).
"""

from __future__ import annotations

import attrs

from execfsm.contracts import (
    Order,
    OrderIntent,
    ReasonCode,
    ReplaceRequest,
    RiskDecision,
    RiskVerdict,
    TimeInForce,
)
from execfsm.stages._context import RunContext
from execfsm.typing import KillSwitch, RiskHook


@attrs.define
class RiskControls:
    """
    What the risk gate reads: the operator's kill switches and the pre-trade risk hook.
    """

    risk_hook: RiskHook
    kill_switches: list[KillSwitch] = attrs.Factory(list)
    """Checked in order; any active (or unreadable) switch halts trading."""


def _halted(kill_switches: list[KillSwitch]) -> str | None:
    """
    The reason trading is halted by a kill switch, or None. A switch that raises halts.
    """
    for switch in kill_switches:
        try:
            status = switch.status()
        except Exception as exc:  # noqa: BLE001 - an unreadable switch must halt, not pass
            return f"kill switch unreadable: {type(exc).__name__}: {exc}"
        if status.active:
            return status.reason or "kill switch active"
    return None


def _evaluate(hook: RiskHook, intent: OrderIntent) -> RiskVerdict | str:
    """
    The hook's verdict on `intent`, or why there is none (it raised, or answered something
    other than a `RiskVerdict`): the caller fails closed on that.
    """
    try:
        verdict = hook.evaluate(intent)
        if not isinstance(verdict, RiskVerdict):
            raise TypeError(f"expected a RiskVerdict, got {type(verdict).__name__}")
    except Exception as exc:  # noqa: BLE001 - user code; any failure must block, not pass
        return f"risk hook failed: {type(exc).__name__}: {exc}"
    return verdict


def run(ctx: RunContext, *, risk: RiskControls) -> bool:
    """
    Check the kill switches, then evaluate risk exactly once. A hook that raises, or answers
    something other than a `RiskVerdict`, blocks the intent (fail closed).
    """
    halted = _halted(risk.kill_switches)
    if halted is not None:
        ctx.stop("block", ReasonCode.RISK_KILL_SWITCH_ACTIVE, halted)
        return False
    verdict = _evaluate(risk.risk_hook, ctx.intent)
    if isinstance(verdict, str):
        ctx.stop("block", ReasonCode.RISK_EVALUATION_FAILED, verdict)
        return False
    if verdict.decision is RiskDecision.ALLOW:
        ctx.run.send("allow", verdict=verdict)
        return True
    if verdict.decision is RiskDecision.PAUSE:
        ctx.reason_code = verdict.code or ReasonCode.RISK_PAUSED
        ctx.detail = verdict.reason
        ctx.run.send("pause", reason_code=ctx.reason_code, detail=verdict.reason)
        return False
    ctx.stop("block", verdict.code or ReasonCode.RISK_BLOCKED, verdict.reason)
    return False


def replace_refusal(
    risk: RiskControls, order: Order, replace: ReplaceRequest
) -> tuple[ReasonCode, str] | None:
    """
    Why the risk gate refuses to amend `order` to `replace`'s terms, or None: the hook is
    asked about the order as it would stand (only ALLOW lets it go: a replace cannot wait
    for a review), and while a kill switch is active only a reduction of the quantity at the
    same price may go, since it lowers what is at risk.
    """
    halted = _halted(risk.kill_switches)
    reduces = replace.quantity < order.quantity and replace.limit_price == order.limit_price
    if halted is not None and not reduces:
        return ReasonCode.RISK_KILL_SWITCH_ACTIVE, halted
    terms = OrderIntent(
        symbol=order.symbol,
        side=order.side,
        quantity=replace.quantity,
        order_type=order.order_type,
        strategy_id=order.strategy_id,
        limit_price=replace.limit_price,
        time_in_force=order.time_in_force,
        expire_time=order.expire_time if order.time_in_force is TimeInForce.GTD else None,
    )
    verdict = _evaluate(risk.risk_hook, terms)
    if isinstance(verdict, str):
        return ReasonCode.RISK_EVALUATION_FAILED, verdict
    if verdict.decision is RiskDecision.ALLOW:
        return None
    paused = verdict.decision is RiskDecision.PAUSE
    code = verdict.code or (ReasonCode.RISK_PAUSED if paused else ReasonCode.RISK_BLOCKED)
    return code, verdict.reason
