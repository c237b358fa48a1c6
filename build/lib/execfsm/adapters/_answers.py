"""
A venue's remembered answers as plain values (`SimulatedVenue` keeps every answer it gave, to
answer a repeated submit the same way).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from execfsm.contracts import EventKind, ExecutionEvent, Fill, ReasonCode

_StoredFill = tuple[str, Decimal, Decimal, Decimal]
_Text = str | None
StoredEvent = tuple[
    str, str, str, str, datetime, _StoredFill | None, _Text, str, _Text, _Text, int, _Text
]


def stored(event: ExecutionEvent) -> StoredEvent:
    """
    An answer as plain values: strings, Decimals and a datetime, which the cyclic GC does not
    track (a paper venue remembers every answer of a backtest, and GC-tracked events made
    every full collection longer).
    """
    fill = event.fill
    return (
        event.kind.value,
        event.event_id,
        event.client_order_id,
        event.correlation_id,
        event.ts_event,
        None if fill is None else (fill.fill_id, fill.quantity, fill.price, fill.fee),
        None if event.reason_code is None else event.reason_code.value,
        event.detail,
        event.venue_order_id,
        event.causation_id,
        event.schema_version,
        event.exec_ref_id,
    )


def revived(stored: StoredEvent) -> ExecutionEvent:
    kind, event_id, cid, cor, ts, fill, reason, detail, venue_id, causation, version, ref = stored
    return ExecutionEvent(
        kind=EventKind(kind),
        event_id=event_id,
        client_order_id=cid,
        correlation_id=cor,
        ts_event=ts,
        fill=None if fill is None else Fill(*fill),
        reason_code=None if reason is None else ReasonCode(reason),
        detail=detail,
        venue_order_id=venue_id,
        causation_id=causation,
        schema_version=version,
        exec_ref_id=ref,
    )
