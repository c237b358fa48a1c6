"""
Stage 2, contract validation: the contract guards on VALIDATION → RISK_GATE decide.
"""

from __future__ import annotations

from execfsm.errors import ContractViolation
from execfsm.stages._context import RunContext


def run(ctx: RunContext) -> bool:
    """
    Pass the intent's terms through the validators; a violation ends the run FAILED.
    """
    try:
        ctx.run.send("validate")
    except ContractViolation as exc:
        ctx.stop("reject", exc.reason, str(exc))
        return False
    return True
