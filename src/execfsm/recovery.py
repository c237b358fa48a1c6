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
from collections.abc import Mapping

import attrs

from execfsm.contracts import (
    IN_FLIGHT_ORDER_STATES,
    Order,
    OrderIntent,
    OrderState,
    PipelineState,
    ReasonCode,
)
from execfsm.errors import AuditChainError, ContractViolation, StoreError
from execfsm.fsm.order import OrderLifecycle
from execfsm.fsm.pipeline import PipelineRun
from execfsm.governance.trail import instance_states, verify_trail
from execfsm.ledger.replay import Replay, ReplayedOrder, replay
from execfsm.ledger.store import IntentEntry, IntentStatus, StoredState
from execfsm.registry import builtin_machines, known_machines
from execfsm.results import PipelineResult, ResultBook
from execfsm.stages._context import RunContext, Services
from execfsm.typing import OrderAdapter


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
    machines: Mapping[str, Mapping[str, str]] = attrs.field(factory=dict)
    """Registered machines of your own (`execfsm.register_machine`): the state each
    instance was left in, by machine name, then instance (``Machine.from_trail`` re-opens
    one there)."""


def _intent_of(services: Services, correlation_id: str) -> OrderIntent:
    for record in services.audit.by_correlation(correlation_id):
        if record.event == "intake_done":
            return OrderIntent.from_mapping(json.loads(record.detail))
    raise StoreError(f"recovery: no intake record for paused intent {correlation_id}")


def open_session(
    services: Services,
    results: ResultBook,
    paused: dict[str, RunContext],
    adapter: OrderAdapter | None,
) -> RecoveryReport:
    """
    Load the store's session (if any), bind the store to the audit log, and recover the
    session in one unit of work, made durable; a store that is refused is closed at once.
    """
    store = services.store
    try:
        stored = store.load()
        store.bind(services.audit)
        with services.audit.unit() as unit:
            report = recover(services, stored, results, paused, adapter)
        store.flush(unit.last_seq)
    except BaseException:
        store.close()  # a refused store is released at once
        raise
    return report


def recover(
    services: Services,
    state: StoredState,
    results: ResultBook,
    paused: dict[str, RunContext],
    adapter: OrderAdapter | None,
) -> RecoveryReport:
    """
    Load `state` into `services`, `results` and `paused`; report what needs reconciliation.
    In-flight orders are given `adapter` (the mode's), so they can be cancelled.
    """
    if not (state.records or state.intents or state.orders or state.positions):
        return RecoveryReport(0, (), ())
    machines = known_machines()
    check = verify_trail(state.records, machines)
    if not check.ok:
        raise StoreError(
            f"recovery: audit trail fails verification at record seq {check.first_bad_seq}: "
            f"{check.problem}; the store is not used"
        )
    services.audit.restore(state.records)
    rebuilt = _replayed(state)
    _check_rows(state, rebuilt)
    for order in state.orders:
        replayed = rebuilt.orders[order.client_order_id]
        lifecycle = OrderLifecycle.restore(
            order,
            services.audit,
            fills=replayed.fills,
            late_fills=replayed.late_fills,
            resume_state=replayed.resume_state,
            submitted=replayed.submitted,
            retired_fills=replayed.retired_fills,
            pending_replace=replayed.pending_replace,
            replace_count=replayed.replace_count,
            engine=services.engine,
        )
        services.orders.add(lifecycle)
        services.orders.settle(lifecycle)
        # Every order that may have reached the venue keeps its adapter: a FILLED one may
        # live again (a bust, a correction, a raise), and a done one is answered as before.
        if adapter is not None and replayed.submitted:
            services.adapter_of[order.client_order_id] = adapter
    services.positions.restore(state.positions, rebuilt.booked)
    for order in state.orders:
        replayed = rebuilt.orders[order.client_order_id]
        flag = _in_doubt_flag(order, replayed)
        if flag is ReasonCode.CANCEL_OUTCOME_UNKNOWN:
            _in_doubt(services, order, flag, replayed.cancel_in_doubt)
        elif flag is ReasonCode.REPLACE_OUTCOME_UNKNOWN:
            _in_doubt(services, order, flag, replayed.replace_in_doubt)
    interrupted = []
    for entry in state.intents:
        if _interrupted(entry):
            interrupted.append(entry.client_order_id)
            results.keep(interrupted_dispatch(services, entry))
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
    own = {name: cls for name, cls in machines.items() if name not in builtin_machines()}
    states = instance_states(state.records, own) if own else {}
    return RecoveryReport(len(state.records), in_flight, tuple(interrupted), states)


def _in_doubt_flag(order: Order, replayed: ReplayedOrder) -> ReasonCode | None:
    """
    The flag recovery gives an order left waiting on the venue's answer to a request it
    may or may not have: a cancel (PENDING_CANCEL) or a replace (a fill may have moved the
    order meanwhile); None for any other order.
    """
    if order.state is OrderState.PENDING_CANCEL:
        return ReasonCode.CANCEL_OUTCOME_UNKNOWN
    if replayed.pending_replace is not None:
        return ReasonCode.REPLACE_OUTCOME_UNKNOWN
    return None


def _interrupted(entry: IntentEntry) -> bool:
    """Whether the process stopped in the middle of dispatching the intent."""
    return entry.status is IntentStatus.DISPATCHING


def recovery_flags(state: StoredState) -> dict[str, dict[str, tuple[str, ...]]]:
    """
    The reconciliation flags `recover` would add to `state` (a store's session, its trail
    verified), by machine and instance (``order``, then client order id), without changing
    anything: what an operator looks at before anyone runs recovery. Flags the trail holds
    already are not repeated.

    Raises:
        StoreError: the trail cannot be replayed (recovery would refuse the store).
    """
    rebuilt = _replayed(state)
    flags: dict[str, list[str]] = {}
    orders = {order.client_order_id: order for order in state.orders}
    for order in state.orders:
        replayed = rebuilt.orders.get(order.client_order_id)
        flag = _in_doubt_flag(order, replayed) if replayed is not None else None
        if flag is not None and flag not in order.recon_flags:
            flags.setdefault(order.client_order_id, []).append(str(flag))
    for entry in state.intents:
        held = orders.get(entry.client_order_id)
        flag = ReasonCode.DISPATCH_OUTCOME_UNKNOWN
        if _interrupted(entry) and (held is None or flag not in held.recon_flags):
            flags.setdefault(entry.client_order_id, []).append(str(flag))
    by_order = {order: tuple(reasons) for order, reasons in sorted(flags.items())}
    return {OrderLifecycle.audit_machine: by_order} if by_order else {}


def _replayed(state: StoredState) -> Replay:
    try:
        return replay(state.records)
    except (AuditChainError, ContractViolation, KeyError, TypeError) as exc:
        raise StoreError(f"recovery: the audit trail cannot be replayed: {exc}") from None


def check_stored_rows(state: StoredState) -> None:
    """
    The check `recover` makes before it uses a store, without using it: every stored row
    (intents, orders, positions) must be what a replay of the trail gives, and every intent
    and order of the trail must have its row. What ``audit verify`` of a database adds to
    the chain: a trail cut at its end (its last orders still stored), or another stream's
    trail put in its place, disagrees with the rows.

    Raises:
        StoreError: a row disagrees (named), or the trail cannot be replayed.
    """
    _check_rows(state, _replayed(state))


def _refuse(problem: str) -> StoreError:
    return StoreError(f"recovery: {problem}; the store is not used")


def _check_rows(state: StoredState, rebuilt: Replay) -> None:
    """
    Every stored row must be what a replay of the trail gives, and every intent and order
    of the trail must have its row: a missing, extra or different row is refused by name.
    """
    stored_orders = {order.client_order_id: order for order in state.orders}
    for order in state.orders:
        replayed = rebuilt.orders.get(order.client_order_id)
        if replayed is None:
            raise _refuse(f"stored order {order.client_order_id} is not in the audit trail")
        stored = (order.symbol, order.side, order.quantity, order.state, order.filled_quantity)
        trail = (
            replayed.symbol,
            replayed.side,
            replayed.quantity,
            replayed.state,
            replayed.filled_quantity,
        )
        if stored != trail:
            shown = ", ".join(str(value) for value in stored)
            expected = ", ".join(str(value) for value in trail)
            raise _refuse(
                f"stored order {order.client_order_id} ({shown}) disagrees with its audit "
                f"trail ({expected})"
            )
    for client_order_id in rebuilt.orders:
        if client_order_id not in stored_orders:
            raise _refuse(f"order {client_order_id} of the audit trail has no stored row")
    stored_intents = {entry.correlation_id: entry for entry in state.intents}
    for entry in state.intents:
        intent = rebuilt.intents.get(entry.correlation_id)
        if intent is None:
            raise _refuse(
                f"stored intent {entry.idempotency_key} ({entry.correlation_id}) is not in "
                "the audit trail"
            )
        if (entry.idempotency_key, entry.client_order_id) != (
            intent.idempotency_key,
            intent.client_order_id,
        ):
            raise _refuse(
                f"stored intent {entry.correlation_id} (key {entry.idempotency_key}, order "
                f"{entry.client_order_id}) disagrees with its audit trail (key "
                f"{intent.idempotency_key}, order {intent.client_order_id})"
            )
        statuses = _STATUS_STATES[entry.status]
        recorded = entry.result.pipeline_state.value if entry.result is not None else None
        kept = entry.result.order if entry.result is not None else None
        replayed = rebuilt.orders[intent.client_order_id]
        if kept is not None and (kept.symbol, kept.side, kept.quantity) not in (
            (replayed.symbol, replayed.side, replayed.ordered_quantity),
            (replayed.symbol, replayed.side, replayed.quantity),  # a replace acknowledged
        ):
            raise _refuse(
                f"stored result of intent {entry.correlation_id} ({kept.side} {kept.quantity} "
                f"{kept.symbol}) disagrees with its audit trail ({replayed.side} "
                f"{replayed.ordered_quantity} {replayed.symbol})"
            )
        if (statuses and intent.state not in statuses) or (
            recorded is not None and recorded != intent.state
        ):
            raise _refuse(
                f"stored intent {entry.correlation_id} ({entry.status}, result "
                f"{recorded}) disagrees with its audit trail (pipeline {intent.state})"
            )
    for correlation_id, intent in rebuilt.intents.items():
        if correlation_id not in stored_intents:
            raise _refuse(
                f"intent {intent.idempotency_key} ({correlation_id}) of the audit trail has "
                "no stored idempotency entry"
            )
    stored_positions = {position.symbol: position for position in state.positions}
    for symbol in sorted(set(stored_positions) | set(rebuilt.positions)):
        if stored_positions.get(symbol) != rebuilt.positions.get(symbol):
            raise _refuse(
                f"stored position {symbol} ({stored_positions.get(symbol)}) disagrees with "
                f"the audit trail ({rebuilt.positions.get(symbol)})"
            )


_STATUS_STATES: dict[IntentStatus, frozenset[str]] = {
    IntentStatus.DISPATCHING: frozenset({PipelineState.DISPATCH.value}),
    IntentStatus.PAUSED: frozenset({PipelineState.PAUSED.value}),
    IntentStatus.DONE: frozenset(),  # its result's pipeline state, checked as stored
}
"""The pipeline states an idempotency entry of each status stands for."""


_REQUEST_OF = {
    ReasonCode.CANCEL_OUTCOME_UNKNOWN: "cancel",
    ReasonCode.REPLACE_OUTCOME_UNKNOWN: "replace",
}


def _in_doubt(services: Services, order: Order, flag: ReasonCode, sending: bool) -> None:
    """
    Flag an order left PENDING_CANCEL or PENDING_REPLACE (`flag` says which): the process
    stopped inside the adapter's call (`sending`: the venue may or may not have the request),
    or before the venue's answer was applied (an answer sent to the process that stopped is
    lost). Reconciliation must ask; the request is never sent again, and a pending replace
    keeps its terms (restored from the trail) until the venue's answer comes.
    """
    if flag in order.recon_flags:
        return
    lifecycle = services.orders.get(order.client_order_id)
    assert lifecycle is not None  # noqa: S101 - restored above
    request = _REQUEST_OF[flag]
    lifecycle.flag_for_reconciliation(
        flag,
        f"the process stopped while the {request} was being sent; the venue may hold it"
        if sending
        else f"the process stopped before the venue's answer to the {request} was applied",
    )
    services.orders.settle(lifecycle)
    services.store.stage_order(lifecycle.order)


def interrupted_dispatch(
    services: Services, entry: IntentEntry, detail: str | None = None
) -> PipelineResult:
    """
    The result of an intent whose dispatch the process stopped in (or that was interrupted
    in the venue call, or that the dispatcher raised out of: `detail` says what happened):
    flagged, never resent.
    """
    lifecycle = services.orders.get(entry.client_order_id)
    if lifecycle is None:
        raise StoreError(f"recovery: dispatching intent {entry.correlation_id} has no order")
    if detail is None:
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
    services.store.stage_intent(
        attrs.evolve(entry, status=IntentStatus.DONE, result=result), lifecycle.order
    )
    return result
