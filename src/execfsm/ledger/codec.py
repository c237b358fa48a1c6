"""
The canonical JSON of the snapshots a store writes (orders, positions, hand-offs, results),
written directly.

``canonical_json`` reaches every Decimal, enum and attrs value through a Python callback;
a durable session writes an order, a position and a result per intent, so these writers do
the same work as one f-string each. Each is property-tested byte-identical to
``canonical_json`` of the same value, which stays the definition.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from execfsm.contracts import Order, ReasonCode
from execfsm.ids import json_string as _encode
from execfsm.ledger.positions import Position
from execfsm.ledger.recon import ReconRecord
from execfsm.results import PipelineResult


def _text(value: str | None) -> str:
    return "null" if value is None else _encode(value)


def _decimal(value: Decimal | None) -> str:
    # str() of a finite Decimal is digits, sign, point and exponent: nothing to escape.
    return "null" if value is None else f'"{value}"'


def _reason(value: ReasonCode | None) -> str:
    return "null" if value is None else _encode(value.value)


def _reasons(values: tuple[ReasonCode, ...]) -> str:
    return "[" + ",".join(_encode(v.value) for v in values) + "]"


def order_json(order: Order) -> str:
    """
    ``canonical_json(order)``.
    """
    return (
        f'{{"average_fill_price":{_decimal(order.average_fill_price)},'
        f'"client_order_id":{_encode(order.client_order_id)},'
        f'"correlation_id":{_encode(order.correlation_id)},"fees":{_decimal(order.fees)},'
        f'"filled_quantity":{_decimal(order.filled_quantity)},'
        f'"idempotency_key":{_encode(order.idempotency_key)},'
        f'"limit_price":{_decimal(order.limit_price)},'
        f'"order_type":{_encode(order.order_type.value)},"quantity":{_decimal(order.quantity)},'
        f'"reason_code":{_reason(order.reason_code)},'
        f'"recon_flags":{_reasons(order.recon_flags)},"side":{_encode(order.side.value)},'
        f'"state":{_encode(order.state.value)},"strategy_id":{_encode(order.strategy_id)},'
        f'"symbol":{_encode(order.symbol)},"time_in_force":{_encode(order.time_in_force.value)},'
        f'"venue_order_id":{_text(order.venue_order_id)}}}'
    )


class OrderTexts:
    """
    A memo of `order_json` by object, for one write: a result, its hand-off and the order
    row usually hold the same `Order` object, which is then written once. Keep it only while
    the orders it saw are alive (an id can be reused once its object is gone).
    """

    def __init__(self) -> None:
        self._texts: dict[int, str] = {}

    def __call__(self, order: Order) -> str:
        text = self._texts.get(id(order))
        if text is None:
            text = self._texts[id(order)] = order_json(order)
        return text


def position_json(position: Position) -> str:
    """
    ``canonical_json(position)``.
    """
    return (
        f'{{"average_cost":{_decimal(position.average_cost)},"fees":{_decimal(position.fees)},'
        f'"fill_count":{int(position.fill_count)},"quantity":{_decimal(position.quantity)},'
        f'"realized_pnl":{_decimal(position.realized_pnl)},'
        f'"symbol":{_encode(position.symbol)}}}'
    )


def recon_json(recon: ReconRecord, order_text: Callable[[Order], str] = order_json) -> str:
    """
    ``canonical_json(recon)``; `order_text` writes its order (e.g. a memo of `order_json`).
    """
    return (
        f'{{"audit_seq_first":{int(recon.audit_seq_first)},'
        f'"audit_seq_last":{int(recon.audit_seq_last)},'
        f'"client_order_id":{_encode(recon.client_order_id)},'
        f'"correlation_id":{_encode(recon.correlation_id)},"order":{order_text(recon.order)},'
        f'"position":{position_json(recon.position)},'
        f'"recon_flags":{_reasons(recon.recon_flags)},"trigger":{_encode(recon.trigger)}}}'
    )


def result_json(result: PipelineResult, order_text: Callable[[Order], str] = order_json) -> str:
    """
    ``canonical_json(result)``: what `PipelineResult.from_json` reads back; `order_text`
    writes its orders (e.g. a memo of `order_json`).
    """
    order = "null" if result.order is None else order_text(result.order)
    recon = "null" if result.recon is None else recon_json(result.recon, order_text)
    return (
        f'{{"correlation_id":{_encode(result.correlation_id)},'
        f'"duplicate":{"true" if result.duplicate else "false"},'
        f'"idempotency_key":{_encode(result.idempotency_key)},"order":{order},'
        f'"pipeline_state":{_encode(result.pipeline_state.value)},'
        f'"reason_code":{_reason(result.reason_code)},'
        f'"reason_detail":{_encode(result.reason_detail)},"recon":{recon},'
        f'"stage_reached":{int(result.stage_reached)},'
        f'"success":{"true" if result.success else "false"}}}'
    )
