"""
What a venue event means to an order: the machine event each kind drives, and what
`OrderLifecycle.apply` did with it.
"""

from __future__ import annotations

import attrs

from execfsm.contracts import EventKind, Fill, Order
from execfsm.enums import Reason
from execfsm.fsm.audit import AuditOutcome

EVENT_OF_KIND = {
    EventKind.ACK: "acknowledge",
    EventKind.FILL: "fill",
    EventKind.REJECT: "reject",
    EventKind.CANCEL_ACK: "cancel_ack",
    EventKind.CANCEL_REJECT: "cancel_reject",
    EventKind.EXPIRE: "expire",
    EventKind.REPLACE_ACK: "replace_ack",
    EventKind.REPLACE_REJECT: "replace_reject",
    EventKind.TRADE_BUST: "trade_bust",
    EventKind.TRADE_CORRECT: "trade_correct",
}
"""The machine event each venue event kind drives."""


@attrs.frozen
class EventOutcome:
    """
    What `OrderLifecycle.apply` did with one venue event.
    """

    outcome: AuditOutcome
    order: Order | None
    """The order after the event (unchanged unless ``outcome`` is ``applied``); None when
    the event named an order nobody knows."""
    reason_code: Reason | None = None
    detail: str = ""
    booked_fill: Fill | None = None
    """A fill the position ledger must book (also for a fill after the order was final)."""
    booked_seq: int | None = None
    """The seq of that fill's audit record: where a replay of the trail books it."""
    reversed_fill: Fill | None = None
    """A fill a bust or correction took back: the position ledger books its reverse (at the
    same seq, before a correction's ``booked_fill``)."""

    @property
    def applied(self) -> bool:
        """
        True if the event changed the order.
        """
        return self.outcome is AuditOutcome.APPLIED
