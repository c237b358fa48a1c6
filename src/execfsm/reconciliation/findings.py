"""
What one question to the venue found about one order (`Finding`), and the not-found rule's
settings (`ReconPolicy`): plain values the reconciliation machine's guards read, so the
machine, its proofs and the reconciler agree on one meaning.
"""

from __future__ import annotations

import enum
from datetime import timedelta

import attrs

from execfsm.contracts import ExecutionEvent, Order
from execfsm.enums import ReasonCode
from execfsm.validators import Rule, instance_of


class FindingKind(enum.StrEnum):
    """
    What the venue's answer says of our order.
    """

    AGREES = "AGREES"
    """The venue holds the order as we do: same state, same executions."""
    DIFFERS = "DIFFERS"
    """The venue knows more (an ACK, fills, a cancel, an answer to a request we sent):
    events bring the order there."""
    BEHIND = "BEHIND"
    """The venue's report holds less than we know (a lagging answer): nothing to do yet."""
    IMPOSSIBLE = "IMPOSSIBLE"
    """The report cannot be true of our order: an operator must look."""
    UNKNOWN = "UNKNOWN"
    """The venue does not know the order."""
    UNANSWERED = "UNANSWERED"
    """The venue could not answer (it failed, or timed out)."""


@attrs.frozen
class Finding:
    """
    One answer, compared with the order: its kind, the order events that take the order to
    the venue's truth (DIFFERS only), and why, in words.
    """

    kind: FindingKind
    detail: str = ""
    events: tuple[ExecutionEvent, ...] = ()
    reason: ReasonCode | None = None
    """The reason a BEHIND, IMPOSSIBLE or UNANSWERED finding is recorded with."""


_COUNT = Rule(
    lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "must be an int >= 1"
)
_DURATION = Rule(
    lambda v: isinstance(v, timedelta) and v >= timedelta(0), "must be a timedelta >= 0"
)
_FLAG = instance_of(bool)


@attrs.frozen
class ReconPolicy:
    """
    How reconciliation decides.

    Args:
        not_found_after: How many times the venue must answer "unknown" before an order it
            never acknowledged is resolved as never having reached it (REJECTED with
            RECON_ORDER_NOT_FOUND).
        not_found_wait: And over how long at least, from the first "unknown" answer: a
            venue that is slow to show a new order is not taken at its first word.
        in_flight_after: A pass looks at an unflagged order still in flight (SUBMITTED,
            PENDING_CANCEL, PENDING_REPLACE) once it has waited this long for the venue.
        on_start: Reconcile before an orchestrator re-opened on a store takes new work (when
            the mode's adapter can answer).
        adopt_external: Adopt the venue's working orders we have no record of, with their
            fills (else they are only reported).
    """

    not_found_after: int = attrs.field(default=3, validator=_COUNT)
    not_found_wait: timedelta = attrs.field(default=timedelta(seconds=30), validator=_DURATION)
    in_flight_after: timedelta = attrs.field(default=timedelta(seconds=30), validator=_DURATION)
    on_start: bool = attrs.field(default=True, validator=_FLAG)
    adopt_external: bool = attrs.field(default=False, validator=_FLAG)


ADOPTED = "external:"
"""The prefix of the correlation id and idempotency key of an order reconciliation adopted
from the venue (``external:<client order id>``)."""


def adopted(order: Order) -> bool:
    """Whether reconciliation took `order` in from the venue (it was placed elsewhere)."""
    return order.idempotency_key == ADOPTED + order.client_order_id
