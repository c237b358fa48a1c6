"""
Stage 5, adapter dispatch: the order is SUBMITTED before the adapter is called, then sent
with the dispatcher's timeout and retries; every attempt is audited.
"""

from __future__ import annotations

from execfsm.adapters.dispatcher import Attempt, DispatchStatus
from execfsm.contracts import ReasonCode
from execfsm.fsm.audit import AuditOutcome
from execfsm.ledger.store import IntentEntry, IntentStatus
from execfsm.stages._context import RunContext, Services


def run(ctx: RunContext, services: Services) -> bool:
    """
    Send the order with the intent's idempotency key (reused by every retry).

    An answer continues to event handling. An unknown outcome leaves the order SUBMITTED and
    flagged, and the run continues to reconciliation with ADAPTER_TIMEOUT. A rejection ends
    the order REJECTED; anything else that failed ends it FAILED (flagged if it may have left).
    """
    adapter = ctx.adapter
    if adapter is None:  # routing guarantees one; guard against a misuse of the stage
        ctx.stop("fail", ReasonCode.POLICY_NO_ADAPTER, "dispatch reached without an adapter")
        return False
    ctx.lifecycle.send("submit")
    services.adapter_of[ctx.lifecycle.client_order_id] = adapter
    # Write-ahead: the SUBMITTED order and its key are durable before the venue can see them,
    # so after a crash we know a send may have happened and never send it again.
    services.store.stage_intent(
        IntentEntry(
            ctx.idempotency_key,
            ctx.correlation_id,
            ctx.lifecycle.client_order_id,
            IntentStatus.DISPATCHING,
        )
    )
    services.store.stage_order(ctx.lifecycle.order)
    services.store.flush()

    def audit_attempt(attempt: Attempt) -> None:
        outcome = AuditOutcome.APPLIED if attempt.ok else AuditOutcome.REFUSED
        target = str(ctx.run.state) if attempt.ok else None
        ctx.run.record("dispatch_attempt", outcome, attempt.reason, attempt.detail, target=target)

    result = services.dispatcher.dispatch(
        adapter, ctx.lifecycle.order, ctx.idempotency_key, audit_attempt
    )
    if result.status is DispatchStatus.SENT:
        ctx.events.extend(result.events)
        ctx.run.send("dispatched")
        return True
    if result.maybe_sent:
        ctx.lifecycle.flag_for_reconciliation(ReasonCode.DISPATCH_OUTCOME_UNKNOWN, result.detail)
    reason = result.reason or ReasonCode.ADAPTER_ERROR
    if result.status is DispatchStatus.UNKNOWN:
        ctx.reason_code, ctx.detail = reason, result.detail
        ctx.run.send("dispatched")  # in flight: nothing to apply, reconciliation takes over
        return True
    if result.status is DispatchStatus.REJECTED:
        ctx.lifecycle.send("reject", reason_code=reason, detail=result.detail)
    ctx.stop("fail", reason, result.detail)
    return False
