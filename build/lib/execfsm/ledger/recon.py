"""
Reconciliation hand-off records: what stage 8 passes on for each intent and each late event.
"""

from __future__ import annotations

import attrs

from execfsm.contracts import Order, ReasonCode
from execfsm.ids import decode, encode_fixed
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


class ReconLog:
    """
    Hand-off records in the order they were made, kept encoded (`execfsm.ids.encode`): a
    long session makes one or more per intent, and the cyclic GC would walk every one of them
    at each full collection.
    """

    def __init__(self) -> None:
        self._records: list[bytes] = []

    def append(self, record: ReconRecord) -> None:
        """
        Add one hand-off.
        """
        self._records.append(encode_fixed(record))  # kept in memory only

    def __len__(self) -> int:
        return len(self._records)

    @property
    def records(self) -> tuple[ReconRecord, ...]:
        """
        Every hand-off so far.
        """
        return tuple([decode(ReconRecord, packed) for packed in self._records])
