"""
Stage 2, contract validation: the contract guards on VALIDATION → RISK_GATE decide; a GTD
expiry already past when the intent was received is refused here, by the clock's reading at
intake (`RunContext.received_at`), so no guard reads a clock.
"""

from __future__ import annotations

from execfsm.contracts import ReasonCode, TimeInForce
from execfsm.enums import builtin_reason
from execfsm.errors import ContractViolation
from execfsm.stages._context import RunContext


def run(ctx: RunContext) -> bool:
    """
    Pass the intent's terms through the validators; a violation ends the run FAILED. A GTD
    intent whose ``expire_time`` is not after the time it was received is refused first
    (VALIDATION_INVALID_FIELD, naming both times): it would expire before it was sent.
    """
    intent = ctx.intent
    expire_time, now = intent.expire_time, ctx.received_at
    if (
        intent.time_in_force is TimeInForce.GTD
        and expire_time is not None
        and now is not None
        and expire_time <= now
    ):
        detail = (
            f"expire_time: a GTD order must expire after it is received, got "
            f"{expire_time.isoformat()} (received {now.isoformat()})"
        )
        ctx.stop("reject", ReasonCode.VALIDATION_INVALID_FIELD, detail)
        return False
    try:
        ctx.run.send("validate")
    except ContractViolation as exc:
        ctx.stop("reject", builtin_reason(exc.reason), str(exc))
        return False
    return True
