"""
Stage 3, pre-trade risk: ask the `RiskHook` once; ALLOW routes, BLOCK ends, PAUSE waits.
"""

from __future__ import annotations

import attrs

from execfsm.contracts import ReasonCode, RiskDecision, RiskVerdict
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


def run(ctx: RunContext, *, risk: RiskControls) -> bool:
    """
    Check the kill switches, then evaluate risk exactly once. A hook that raises, or answers
    something other than a `RiskVerdict`, blocks the intent (fail closed).
    """
    halted = _halted(risk.kill_switches)
    if halted is not None:
        ctx.stop("block", ReasonCode.RISK_KILL_SWITCH_ACTIVE, halted)
        return False
    try:
        verdict = risk.risk_hook.evaluate(ctx.intent)
        if not isinstance(verdict, RiskVerdict):
            raise TypeError(f"expected a RiskVerdict, got {type(verdict).__name__}")
    except Exception as exc:  # noqa: BLE001 - user code; any failure must block, not pass
        detail = f"risk hook failed: {type(exc).__name__}: {exc}"
        ctx.stop("block", ReasonCode.RISK_EVALUATION_FAILED, detail)
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
