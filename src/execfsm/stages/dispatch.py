"""
Stage 5, adapter dispatch: the order is SUBMITTED before the adapter is called, then sent once.
"""

from __future__ import annotations

from execfsm.contracts import ReasonCode
from execfsm.stages._context import RunContext, Services


def run(ctx: RunContext, services: Services) -> bool:
    """
    Submit the order to the routed adapter with the intent's idempotency key. An adapter
    exception fails the order with ADAPTER_ERROR, its message kept.
    """
    adapter = ctx.adapter
    if adapter is None:  # routing guarantees one; guard against a misuse of the stage
        ctx.stop("fail", ReasonCode.POLICY_NO_ADAPTER, "dispatch reached without an adapter")
        return False
    ctx.lifecycle.send("submit")
    services.adapter_of[ctx.lifecycle.client_order_id] = adapter
    try:
        answered = adapter.submit(ctx.lifecycle.order, ctx.idempotency_key)
    except Exception as exc:  # noqa: BLE001 - venue code; the order must end FAILED, not hang
        detail = f"adapter {adapter.name} raised {type(exc).__name__}: {exc}"
        ctx.stop("fail", ReasonCode.ADAPTER_ERROR, detail)
        return False
    ctx.events.extend(answered)
    ctx.run.send("dispatched")
    return True
