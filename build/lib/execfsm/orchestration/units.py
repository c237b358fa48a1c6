"""
`WorkUnits`: what a unit of work stages as it ends (a run's result, an order's row) and when
it is made durable; and the rule that no call enters the orchestrator from inside one.
"""

from __future__ import annotations

from typing import TypeVar

from execfsm.contracts import OrderState, PipelineState
from execfsm.errors import FillSubscriberError, ReentrantCall
from execfsm.fsm.audit import AuditEntry
from execfsm.fsm.order import OrderLifecycle
from execfsm.ledger.store import IntentEntry, IntentStatus
from execfsm.ledger.units import UnitOfWork
from execfsm.results import PipelineResult, ResultBook
from execfsm.stages._context import RunContext, Services

_UNSUCCESSFUL_ORDER_STATES = frozenset({OrderState.REJECTED, OrderState.FAILED})

_Outcome = TypeVar("_Outcome")


def delivered(outcome: _Outcome, subscriber_errors: list[Exception]) -> _Outcome:
    """
    `outcome`, or a `FillSubscriberError` carrying it if a fill subscriber raised: called
    once the unit of work is recorded, so a subscriber's failure loses nothing.
    """
    if subscriber_errors:
        raise FillSubscriberError(subscriber_errors, outcome)
    return outcome


class WorkUnits:
    """
    Units of work on the books: open one (`unit`), stage what it ends with (`record`,
    `stage_order`, `append`), then make it durable (`flush`, after the unit closed).

    Args:
        services: The books.
        results: Every run's result, by idempotency key.
        paused: The runs waiting for `resume` or `abandon`, by correlation id.
    """

    def __init__(
        self, services: Services, results: ResultBook, paused: dict[str, RunContext]
    ) -> None:
        self.services = services
        self.results = results
        self.paused = paused

    def unit(self) -> UnitOfWork:
        """
        Open a unit of work on this thread (`AuditLog.unit`).
        """
        return self.services.audit.unit()

    def flush(self, through: int | None = None) -> None:
        """
        Make what is staged durable, through audit record `through` (None: all so far).
        """
        self.services.store.flush(through)

    def refuse_reentry(self) -> None:
        """
        Refuse a call made from inside one of this orchestrator's own units of work (a risk
        hook calling back): it could never be made durable before that unit ends.
        """
        if self.services.audit.in_unit():
            raise ReentrantCall(
                "orchestrator: called from inside one of its own units of work (a risk hook "
                "calling back?); call it from elsewhere, e.g. a fill subscriber"
            )

    def append(self, entry: AuditEntry) -> int:
        """
        Write one audit record that stands for no transition; its seq.
        """
        return self.services.audit.append(entry).seq

    def stage_order(self, lifecycle: OrderLifecycle) -> None:
        """
        Settle the order in its ledger and stage its row with the unit of work.
        """
        self.services.orders.settle(lifecycle)
        self.services.store.stage_order(lifecycle.order)

    def finish(self, ctx: RunContext) -> PipelineResult:
        """
        `record` the run's result; a PAUSED run waits for `resume` or `abandon`.
        """
        if ctx.run.state is PipelineState.PAUSED:
            self.paused[ctx.correlation_id] = ctx
        return self.record(ctx)

    def record(self, ctx: RunContext) -> PipelineResult:
        """
        The run's result, kept and staged with the unit of work it ends (callers flush).
        """
        order = ctx.lifecycle.order
        state = ctx.run.state
        reason, detail = ctx.reason_code, ctx.detail
        success = (
            state is PipelineState.COMPLETED
            and reason is None
            and order.state not in _UNSUCCESSFUL_ORDER_STATES
        )
        if state is PipelineState.COMPLETED and order.state is OrderState.REJECTED:
            reason, detail = order.reason_code, "the venue rejected the order"
        result = PipelineResult(
            success=success,
            correlation_id=ctx.correlation_id,
            idempotency_key=ctx.idempotency_key,
            order=order,
            stage_reached=ctx.run.stage_reached,
            pipeline_state=state,
            reason_code=reason,
            reason_detail=detail,
            recon=ctx.recon,
        )
        status = IntentStatus.PAUSED if state is PipelineState.PAUSED else IntentStatus.DONE
        services = self.services
        services.orders.settle(ctx.lifecycle)
        services.store.stage_intent(
            IntentEntry(
                ctx.idempotency_key, ctx.correlation_id, order.client_order_id, status, result
            ),
            order,
        )
        self.results.keep(result)
        return result
