"""
Stage 1, intake: derive the ids, create the run and the order, and spot duplicates.
"""

from __future__ import annotations

from execfsm.contracts import Order, OrderIntent, ReasonCode
from execfsm.errors import ContractViolation
from execfsm.fsm.order import OrderLifecycle
from execfsm.fsm.pipeline import PipelineRun
from execfsm.ids import canonical_json, idempotency_key, stable_id
from execfsm.stages._context import RunContext, Services


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


def run(intent: OrderIntent, key: str, services: Services) -> RunContext:
    """
    Open the run for a new key, with the ids `ids_of` the key.
    """
    correlation_id, client_order_id = ids_of(key)
    pipeline = PipelineRun(
        intent,
        correlation_id=correlation_id,
        client_order_id=client_order_id,
        audit=services.audit,
        engine=services.engine,
    )
    order = Order.from_intent(
        intent, client_order_id=client_order_id, correlation_id=correlation_id, idempotency_key=key
    )
    lifecycle = OrderLifecycle(order, services.audit, engine=services.engine)
    services.orders.add(lifecycle)
    # The intent's terms go on the record, so the trail alone rebuilds the ledgers.
    pipeline.send("intake_done", detail=canonical_json(intent))
    return RunContext(intent=intent, idempotency_key=key, run=pipeline, lifecycle=lifecycle)
