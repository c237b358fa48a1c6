"""
Stage 5, adapter dispatch, in two steps: the write-ahead (the order is SUBMITTED, and that is
made durable before the adapter is called), then the send, with the dispatcher's timeout and
retries; every attempt is audited.
"""

from __future__ import annotations

from execfsm.adapters.dispatcher import Attempt, Dispatcher, DispatchStatus
from execfsm.contracts import ReasonCode
from execfsm.fsm.audit import AuditOutcome
from execfsm.ledger.store import IntentEntry, IntentStatus
from execfsm.stages._context import RunContext, Services


def write_ahead(ctx: RunContext, *, services: Services) -> bool:
    """
    Mark the order SUBMITTED and stage its write-ahead rows: the SUBMITTED order and its key.
    The caller makes them durable (``store.flush()``) before `run` may send, so after a crash
    we know a send may have happened and never send it again. Batches of intents share that
    commit.
    """
    if ctx.adapter is None:  # routing guarantees one; guard against a misuse of the stage
        ctx.stop("fail", ReasonCode.POLICY_NO_ADAPTER, "dispatch reached without an adapter")
        return False
    ctx.lifecycle.send("submit")
    services.adapter_of[ctx.lifecycle.client_order_id] = ctx.adapter
    services.store.stage_intent(
        IntentEntry(
            ctx.idempotency_key,
            ctx.correlation_id,
            ctx.lifecycle.client_order_id,
            IntentStatus.DISPATCHING,
        ),
        ctx.lifecycle.order,
    )
    return True


def send(ctx: RunContext, dispatcher: Dispatcher) -> None:
    """
    Send the order, after its write-ahead is durable, with the intent's idempotency key
    (reused by every retry); every attempt is audited. This is the venue call: it runs
    outside any unit of work (each attempt's record stands alone), so a slow venue never
    holds up another intent's commit.
    """
    adapter = ctx.adapter
    assert adapter is not None  # noqa: S101 - write_ahead refused the run otherwise

    def audit_attempt(attempt: Attempt) -> None:
        outcome = AuditOutcome.APPLIED if attempt.ok else AuditOutcome.REFUSED
        target = str(ctx.run.state) if attempt.ok else None
        ctx.run.record("dispatch_attempt", outcome, attempt.reason, attempt.detail, target=target)

    ctx.dispatch = dispatcher.dispatch(
        adapter, ctx.lifecycle.order, ctx.idempotency_key, audit_attempt
    )


def answer(ctx: RunContext) -> bool:
    """
    Take the venue's answer to `send`.

    An answer continues to event handling. An unknown outcome leaves the order SUBMITTED and
    flagged, and the run continues to reconciliation with ADAPTER_TIMEOUT. A rejection ends
    the order REJECTED; anything else that failed ends it FAILED (flagged if it may have left).
    """
    result = ctx.dispatch
    assert result is not None  # noqa: S101 - send ran first
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
