"""
Reconciliation hand-off records: what stage 8 passes on for each intent and each late event.
"""

from __future__ import annotations

from typing import Any

import attrs

from execfsm.contracts import Order, ReasonCode
from execfsm.ledger.positions import Position


@attrs.frozen
class ReconRecord:
    """
    One hand-off: the order as it stands, the position it touched, the audit records that
    explain it, and why reconciliation must look (if it must).

    Its size depends on one order, never on the size of the ledgers.
    """

    correlation_id: str
    client_order_id: str
    order: Order
    position: Position
    audit_seq_first: int
    audit_seq_last: int
    recon_flags: tuple[ReasonCode, ...] = ()
    trigger: str = "intent"
    """``intent`` for the pipeline's own hand-off, else the late event's kind."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReconRecord:
        """
        A hand-off record from its JSON form (as stored with a result).
        """
        return cls(
            correlation_id=data["correlation_id"],
            client_order_id=data["client_order_id"],
            order=Order.from_dict(data["order"]),
            position=Position.from_dict(data["position"]),
            audit_seq_first=int(data["audit_seq_first"]),
            audit_seq_last=int(data["audit_seq_last"]),
            recon_flags=tuple(ReasonCode(flag) for flag in data.get("recon_flags", ())),
            trigger=data.get("trigger", "intent"),
        )

    def packed(self) -> tuple[Any, ...]:
        """
        The record as a tuple of plain values (see `Order.packed`).
        """
        return (
            self.correlation_id,
            self.client_order_id,
            self.order.packed(),
            self.position.packed(),
            self.audit_seq_first,
            self.audit_seq_last,
            tuple([flag.value for flag in self.recon_flags]) if self.recon_flags else (),
            self.trigger,
        )

    @classmethod
    def from_packed(cls, packed: tuple[Any, ...]) -> ReconRecord:
        """
        The record `packed` was made from.
        """
        correlation_id, client_order_id, order, position, first, last, flags, trigger = packed
        return cls(
            correlation_id,
            client_order_id,
            Order.from_packed(order),
            Position.from_packed(position),
            first,
            last,
            tuple([ReasonCode(flag) for flag in flags]),
            trigger,
        )


class ReconLog:
    """
    Hand-off records in the order they were made, kept packed: a long session makes one or
    more per intent, and the cyclic GC would walk every one of them at each full collection.
    """

    def __init__(self) -> None:
        self._records: list[tuple[Any, ...]] = []

    def append(self, record: ReconRecord) -> None:
        """
        Add one hand-off.
        """
        self._records.append(record.packed())

    def __len__(self) -> int:
        return len(self._records)

    @property
    def records(self) -> tuple[ReconRecord, ...]:
        """
        Every hand-off so far.
        """
        return tuple([ReconRecord.from_packed(packed) for packed in self._records])
