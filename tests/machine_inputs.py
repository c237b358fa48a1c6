"""
Declared input domains of the built-in machines, for the generated transition paths
(`execfsm.testing.transition_paths`): what each event is tried with, given the running
instance, and how an order's venue events are delivered (`OrderLifecycle.apply`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from decimal import Decimal
from typing import Any

from execfsm.clock import EPOCH
from execfsm.contracts import (
    EventKind,
    ExecutionEvent,
    ExecutionMode,
    Fill,
    OrderIntent,
    ReasonCode,
    RiskDecision,
    RiskVerdict,
    Route,
    TimeInForce,
)
from execfsm.fsm.engine import Engine
from execfsm.fsm.order import OrderLifecycle
from execfsm.fsm.pipeline import PipelineRun
from execfsm.ledger.audit import AuditLog
from execfsm.testing import Args, order_for, send
from tests.conftest import make_intent

VENUE = "venue"
"""The keyword under which an order's input carries a venue event (delivered by ``apply``)."""

KIND_OF_EVENT = {
    "acknowledge": EventKind.ACK,
    "fill": EventKind.FILL,
    "reject": EventKind.REJECT,
    "cancel_ack": EventKind.CANCEL_ACK,
    "cancel_reject": EventKind.CANCEL_REJECT,
    "expire": EventKind.EXPIRE,
    "replace_ack": EventKind.REPLACE_ACK,
    "replace_reject": EventKind.REPLACE_REJECT,
    "trade_bust": EventKind.TRADE_BUST,
    "trade_correct": EventKind.TRADE_CORRECT,
}


def order_intent(time_in_force: TimeInForce = TimeInForce.GTC) -> OrderIntent:
    """
    The paths' order: ten units, so that parts and the rest of it are whole numbers.
    """
    return make_intent(
        quantity=Decimal(10), time_in_force=time_in_force, intent_id=f"paths-{time_in_force}"
    )


def order_maker(
    engine: Engine | str | None = None, time_in_force: TimeInForce = TimeInForce.GTC
) -> Callable[[AuditLog], OrderLifecycle]:
    """
    A fresh `OrderLifecycle` of the paths' order on `engine`, for each sink.
    """
    order = order_for(order_intent(time_in_force))
    return lambda sink: OrderLifecycle(order, sink, engine=engine)


def fire_order(lc: OrderLifecycle, event: str, kwargs: Mapping[str, Any]) -> None:
    """
    A venue event goes through `OrderLifecycle.apply` (its declared cases included); a
    local action is sent.
    """
    venue = kwargs.get(VENUE)
    if venue is not None:
        lc.apply(venue)
    else:
        send(lc, event, kwargs)


def order_key(lc: OrderLifecycle) -> Hashable:
    """
    What the order's guards and cases look at, without the ids: instances equal in it are
    explored once.
    """
    order, pending, filled = lc.order, lc.pending_replace, lc.order.filled_quantity
    return (
        order.state,
        min(len(lc.fills), 2),
        order.filled_quantity == order.quantity,
        bool(lc.retired_fills),
        lc.submitted,
        lc.guard_context()["resume_state"],
        None
        if pending is None
        else (pending.quantity <= filled, pending.quantity < order.quantity),
        order.venue_client_order_id is not None,
        order.reason_code is ReasonCode.EXPIRED_BY_CLOCK,
    )


def order_inputs(lc: OrderLifecycle, event: str) -> list[Args]:
    """
    What each event of the order is tried with, given what the order holds now.
    """
    order = lc.order

    def venue(label: str, **fields: Any) -> Args:
        kind = KIND_OF_EVENT[event]
        value = ExecutionEvent(
            kind, f"e-{event}", order.client_order_id, order.correlation_id, EPOCH, **fields
        )
        return Args({VENUE: value}, label)

    fills = lc.fills
    retired = lc.retired_fills
    remaining = order.quantity - order.filled_quantity
    new_id = f"f{len(fills) + len(retired) + 1}"
    if event == "submit" or event == "request_cancel":
        return [Args()]
    if event == "fail":
        return [Args({"reason_code": ReasonCode.ADAPTER_ERROR}, "ADAPTER_ERROR")]
    if event == "request_replace":
        raise_to = lc.replace_request(quantity=order.quantity + 5)
        options = [Args({"replace": raise_to}, f"quantity {raise_to.quantity}")]
        if order.filled_quantity:
            tight = lc.replace_request(quantity=order.filled_quantity + 1)
            options.append(Args({"replace": tight}, f"quantity {tight.quantity}"))
        return options
    if event == "fill":
        options = []
        if remaining >= 2:
            options.append(venue("part", fill=Fill(new_id, remaining // 2, Decimal(100))))
        if remaining > 0:
            options.append(venue("rest", fill=Fill(new_id, remaining, Decimal(100))))
        if lc.is_final:
            options.append(venue("beyond", fill=Fill(new_id, remaining + 1, Decimal(100))))
        if fills:
            last = fills[-1]
            options.append(venue("repeated", fill=last))
            other = Fill(last.fill_id, last.quantity, last.price + 1)
            options.append(venue("conflicting", fill=other))
        return options
    if event == "reject":
        return [venue("ADAPTER_REJECTED", reason_code=ReasonCode.ADAPTER_REJECTED)]
    if event == "expire":
        by_clock = Args({"reason_code": ReasonCode.EXPIRED_BY_CLOCK}, "by our clock")
        return [venue("venue"), by_clock]
    if event in ("replace_ack", "replace_reject"):
        options = [venue("")]
        options.append(venue("another replace", causation_id=f"{order.client_order_id}.r9"))
        if order.venue_client_order_id is not None:
            options.append(venue("the last replace", causation_id=order.venue_client_order_id))
        return options
    if event == "trade_bust":
        options = [venue("unknown fill", exec_ref_id="f99")]
        if fills:
            options.insert(0, venue(fills[0].fill_id, exec_ref_id=fills[0].fill_id))
        if retired:
            options.append(venue(f"retired {retired[0].fill_id}", exec_ref_id=retired[0].fill_id))
        return options
    if event == "trade_correct":
        return _corrections(lc, venue, new_id, remaining)
    return [venue("")]


def _corrections(
    lc: OrderLifecycle, venue: Callable[..., Args], new_id: str, remaining: Decimal
) -> list[Args]:
    fills, retired = lc.fills, lc.retired_fills
    options = [venue("unknown fill", exec_ref_id="f99", fill=Fill(new_id, 1, 100))]
    if fills:
        ref = fills[0]
        whole = ref.quantity + remaining
        options.insert(
            0,
            venue(
                f"{ref.fill_id} to {whole}", exec_ref_id=ref.fill_id, fill=Fill(new_id, whole, 100)
            ),
        )
        if ref.quantity >= 2:
            less = ref.quantity // 2
            options.insert(
                1,
                venue(
                    f"{ref.fill_id} to {less}",
                    exec_ref_id=ref.fill_id,
                    fill=Fill(new_id, less, 100),
                ),
            )
        if len(fills) > 1:
            taken = fills[1]
            options.append(
                venue(
                    f"{ref.fill_id} as {taken.fill_id}",
                    exec_ref_id=ref.fill_id,
                    fill=Fill(taken.fill_id, 1, 100),
                )
            )
    if retired:
        gone = retired[0]
        options.append(
            venue(f"retired {gone.fill_id}", exec_ref_id=gone.fill_id, fill=Fill(new_id, 1, 100))
        )
        replacement = fills[-1] if fills else None
        if replacement is not None:
            options.append(
                venue(f"retired {gone.fill_id} again", exec_ref_id=gone.fill_id, fill=replacement)
            )
    return options


def pipeline_maker(engine: Engine | str | None = None) -> Callable[[AuditLog], PipelineRun]:
    """
    A fresh `PipelineRun` of a valid intent on `engine`, for each sink.
    """
    intent = make_intent()
    order = order_for(intent)

    def make(sink: AuditLog) -> PipelineRun:
        return PipelineRun(
            intent,
            correlation_id=order.correlation_id,
            client_order_id=order.client_order_id,
            audit=sink,
            engine=engine,
        )

    return make


PIPELINE_INPUTS: Mapping[str, list[Args]] = {
    "fail": [Args({"reason_code": ReasonCode.ADAPTER_ERROR}, "ADAPTER_ERROR")],
    "reject": [Args({"reason_code": ReasonCode.VALIDATION_INVALID_FIELD}, "INVALID_FIELD")],
    "allow": [Args({"verdict": RiskVerdict(RiskDecision.ALLOW)}, "ALLOW")],
    "block": [Args({"reason_code": ReasonCode.RISK_BLOCKED}, "RISK_BLOCKED")],
    "abandon": [Args({"reason_code": ReasonCode.RISK_PAUSED}, "RISK_PAUSED")],
    "route": [Args({"route": Route(ExecutionMode.PAPER, True, None, EPOCH)}, "PAPER")],
}
"""What the pipeline's events with guards are tried with (the others take no arguments)."""
