"""
Stage 1, intake: derive the ids, create the run and the order, and spot duplicates.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from execfsm.contracts import Order, OrderIntent, ReasonCode, TimeInForce
from execfsm.errors import ContractViolation
from execfsm.fsm.order import OrderLifecycle
from execfsm.fsm.pipeline import PipelineRun
from execfsm.ids import canonical_json, idempotency_key, stable_id
from execfsm.stages._context import RunContext, Services

_TIMED = frozenset({TimeInForce.DAY, TimeInForce.GTD})
"""The times in force whose orders expire by the clock."""


def identify(intent: object) -> str:
    """
    The intent's idempotency key; anything but an `OrderIntent` is refused here.
    """
    if not isinstance(intent, OrderIntent):
        raise ContractViolation(
            f"intent: must be an OrderIntent, got {type(intent).__name__}",
            reason=ReasonCode.VALIDATION_INVALID_FIELD,
            field="intent",
            value=intent,
        )
    return idempotency_key(intent)


def ids_of(key: str) -> tuple[str, str]:
    """
    The correlation id and client order id of the intent with idempotency key `key`: they
    derive from the key, so a replay assigns the same ids.
    """
    return stable_id("cor", key), stable_id("ord", key)


def next_day_end(now: datetime, day_ends_at: time) -> datetime:
    """
    The first instant after `now` at which the trading day ends (`day_ends_at`, read in UTC
    whatever its own tzinfo says; the orchestrator accepts only naive or UTC times).

    >>> next_day_end(datetime(2026, 1, 1, 15, tzinfo=UTC), time(22)).isoformat()
    '2026-01-01T22:00:00+00:00'
    >>> next_day_end(datetime(2026, 1, 1, 22, tzinfo=UTC), time(22)).isoformat()
    '2026-01-02T22:00:00+00:00'
    """
    now = now.astimezone(UTC)
    end = datetime.combine(now.date(), day_ends_at.replace(tzinfo=UTC))
    return end if end > now else end + timedelta(days=1)


def run(intent: OrderIntent, key: str, services: Services) -> RunContext:
    """
    Open the run for a new key, with the ids `ids_of` the key. A DAY order expires at the
    next day end after the clock's now (`Services.day_ends_at`); a GTD order at the intent's
    ``expire_time``; the others never. The clock is read for DAY and GTD intents only (so
    the others' audit trail is what it was), once, as the run's ``received_at``.
    """
    correlation_id, client_order_id = ids_of(key)
    pipeline = PipelineRun(
        intent,
        correlation_id=correlation_id,
        client_order_id=client_order_id,
        audit=services.audit,
        engine=services.engine,
        instruments=services.instruments,
    )
    order = Order.from_intent(
        intent, client_order_id=client_order_id, correlation_id=correlation_id, idempotency_key=key
    )
    received_at = None
    if intent.time_in_force in _TIMED:
        received_at = services.clock.now()
        if intent.time_in_force is TimeInForce.DAY:
            day_end = next_day_end(received_at, services.day_ends_at)
            order = order.with_changes(expire_time=day_end)
    lifecycle = OrderLifecycle(order, services.audit, engine=services.engine)
    services.orders.add(lifecycle)
    # The intent's terms go on the record, so the trail alone rebuilds the ledgers.
    pipeline.send("intake_done", detail=canonical_json(intent))
    return RunContext(
        intent=intent,
        idempotency_key=key,
        run=pipeline,
        lifecycle=lifecycle,
        received_at=received_at,
    )
