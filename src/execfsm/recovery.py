"""
Recovery: an orchestrator opened on a store that already holds a session picks it up.

The audit chain is verified against the machines first (a broken trail is refused, naming its
first bad record). Then the ledgers are rebuilt and cross-checked with a replay of the trail,
orders are re-opened in the state they were left in, stored results answer resubmissions,
paused intents can be resumed, and intents the process stopped in the middle of dispatching
are flagged for reconciliation: the venue may hold them, so they are never sent again.
"""

from __future__ import annotations

import json

import attrs

from execfsm.contracts import IN_FLIGHT_ORDER_STATES, Order, OrderIntent, PipelineState, ReasonCode
from execfsm.errors import StoreError
from execfsm.fsm.order import OrderLifecycle
from execfsm.fsm.pipeline import PipelineRun
from execfsm.governance import MACHINES
from execfsm.governance.trail import verify_trail
from execfsm.ledger.replay import replay
from execfsm.ledger.store import IntentEntry, IntentStatus, StoredState
from execfsm.results import PipelineResult, ResultBook
from execfsm.stages._context import RunContext, Services


@attrs.frozen
class RecoveryReport:
    """
    What recovery found.
    """

    records: int
    """Audit records recovered (the chain verified)."""
    in_flight: tuple[Order, ...]
    """Orders the venue may still act on: reconciliation must confirm each."""
    interrupted: tuple[str, ...]
    """Client order ids whose dispatch the process stopped in the middle of."""


def _intent_of(services: Services, correlation_id: str) -> OrderIntent:
    for record in services.audit.by_correlation(correlation_id):
        if record.event == "intake_done":
            return OrderIntent.from_mapping(json.loads(record.detail))
    raise StoreError(f"recovery: no intake record for paused intent {correlation_id}")


def recover(
    services: Services,
    state: StoredState,
    results: ResultBook,
    paused: dict[str, RunContext],
) -> RecoveryReport:
    """
    Load `state` into `services`, `results` and `paused`; report what needs reconciliation.
    """
    if not (state.records or state.intents or state.orders or state.positions):
        return RecoveryReport(0, (), ())
    check = verify_trail(state.records, MACHINES)
    if not check.ok:
        raise StoreError(
            f"recovery: audit trail fails verification at record seq {check.first_bad_seq}: "
            f"{check.problem}; the store is not used"
        )
    services.audit.restore(state.records)
    rebuilt = replay(state.records)
    adapter = services.registry.get(services.mode)
    for order in state.orders:
        replayed = rebuilt.orders.get(order.client_order_id)
        if replayed is None or (replayed.state, replayed.filled_quantity) != (
            order.state,
            order.filled_quantity,
        ):
            raise StoreError(
                f"recovery: stored order {order.client_order_id} ({order.state}, filled "
                f"{order.filled_quantity}) disagrees with its audit trail"
            )
        lifecycle = OrderLifecycle.restore(
            order,
            services.audit,
            fills=replayed.fills,
            late_fills=replayed.late_fills,
            resume_state=replayed.resume_state,
            engine=services.engine,
        )
        services.orders.add(lifecycle)
        services.orders.settle(lifecycle)
        if adapter is not None and order.state in IN_FLIGHT_ORDER_STATES:
            services.adapter_of[order.client_order_id] = adapter
    if {p.symbol: p for p in state.positions} != rebuilt.positions:
        raise StoreError("recovery: stored positions disagree with the audit trail")
    services.positions.restore(state.positions, rebuilt.booked)
    interrupted = []
    for entry in state.intents:
        if entry.status is IntentStatus.DISPATCHING:
            interrupted.append(entry.client_order_id)
            results.keep(_interrupted(services, entry))
            continue
        if entry.result is None:
            raise StoreError(f"recovery: intent {entry.idempotency_key} has no stored result")
        results.keep(entry.result)
        if entry.status is IntentStatus.PAUSED:
            held = services.orders.get(entry.client_order_id)
            if held is None:
                raise StoreError(f"recovery: paused intent {entry.correlation_id} has no order")
            run = PipelineRun(
                _intent_of(services, entry.correlation_id),
                correlation_id=entry.correlation_id,
                client_order_id=entry.client_order_id,
                audit=services.audit,
                start_value=PipelineState.PAUSED,
                engine=services.engine,
            )
            paused[entry.correlation_id] = RunContext(
                intent=run.intent,
                idempotency_key=entry.idempotency_key,
                run=run,
                lifecycle=held,
            )
    in_flight = tuple(
        order for order in services.orders.snapshot() if order.state in IN_FLIGHT_ORDER_STATES
    )
    return RecoveryReport(len(state.records), in_flight, tuple(interrupted))


def _interrupted(services: Services, entry: IntentEntry) -> PipelineResult:
    """
    The result of an intent whose dispatch the process stopped in: flagged, never resent.
    """
    lifecycle = services.orders.get(entry.client_order_id)
    if lifecycle is None:
        raise StoreError(f"recovery: dispatching intent {entry.correlation_id} has no order")
    detail = "the process stopped during dispatch; the venue may hold the order"
    if ReasonCode.DISPATCH_OUTCOME_UNKNOWN not in lifecycle.order.recon_flags:
        lifecycle.flag_for_reconciliation(ReasonCode.DISPATCH_OUTCOME_UNKNOWN, detail)
    services.orders.settle(lifecycle)
    result = PipelineResult(
        success=False,
        correlation_id=entry.correlation_id,
        idempotency_key=entry.idempotency_key,
        order=lifecycle.order,
        stage_reached=5,
        pipeline_state=PipelineState.DISPATCH,
        reason_code=ReasonCode.DISPATCH_OUTCOME_UNKNOWN,
        reason_detail=detail,
    )
    services.store.stage_intent(attrs.evolve(entry, status=IntentStatus.DONE, result=result))
    services.store.stage_order(lifecycle.order)
    return result
