"""
`ExpirySweep`: DAY and GTD orders expire by the injected clock (`expire_due`), or by the
venue's EXPIRE, whichever comes first; never both applied.

Each order due is expired through its own machine's ``expire`` event, under the order's lock,
in one unit of work made durable with its row, audited with reason EXPIRED_BY_CLOCK, and
handed off to reconciliation. The venue's EXPIRE that follows is then a repeat (the
``EVENT_REPEATED`` row of `ORDER_CASES`); an order the venue expired first is final, and the
sweep passes it by.

Once the expiry is durable the sweep asks the order's adapter to cancel it: we consider the
order dead, and a venue must not keep it live. The answers are the venue's confirmation of
our expiry, not moves of the order: a CANCEL_ACK is recorded as a ``cancel_attempt`` note; a
CANCEL_REJECT, or a cancel that raised, means the venue may still hold or have filled the
order, so it is flagged EXPIRED_BY_CLOCK for reconciliation; any other answer (a fill that
raced the expiry, the venue's own EXPIRE) is applied as any venue event is (a fill after our
expiry is booked as a late fill and flagged by the machine).

Orders with a request out (PENDING_CANCEL, PENDING_REPLACE) are left to the venue's answer:
the expiry would make that answer a contradiction (a CANCEL_ACK or REPLACE_ACK of an EXPIRED
order); the first sweep after the answer expires the order if it is still live.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from execfsm.adapters.errors import VenueFailure
from execfsm.contracts import (
    IN_FLIGHT_ORDER_STATES,
    EventKind,
    ExecutionEvent,
    Order,
    OrderState,
    ReasonCode,
)
from execfsm.fsm.audit import AuditOutcome
from execfsm.fsm.order import EventOutcome, OrderLifecycle
from execfsm.orchestration.locks import StripedLocks
from execfsm.orchestration.units import WorkUnits
from execfsm.stages import recon
from execfsm.typing import OrderAdapter
from execfsm.validators import aware_datetime

__all__ = ["ExpirySweep", "is_due"]

_NOW = aware_datetime()

_WAITING_FOR_VENUE = frozenset({OrderState.PENDING_CANCEL, OrderState.PENDING_REPLACE})
"""In flight, but with a request out: the venue's answer decides first."""

_EXPIRING = IN_FLIGHT_ORDER_STATES - _WAITING_FOR_VENUE


def is_due(order: Order, now: datetime) -> bool:
    """
    Whether `order` is live with us and its expiry time is at or before `now`.
    """
    expire_time = order.expire_time
    return order.state in _EXPIRING and expire_time is not None and expire_time <= now


class ExpirySweep:
    """
    Expires the orders due on the books of `units`, serialised per order by `locks`; an
    adapter's answers that are venue events go through `handle_event` (the orchestrator's).
    """

    def __init__(
        self,
        units: WorkUnits,
        locks: StripedLocks,
        handle_event: Callable[[ExecutionEvent], EventOutcome],
    ) -> None:
        self._units = units
        self._services = units.services
        self._locks = locks
        self._handle_event = handle_event

    def expire_due(self, now: datetime | None = None) -> list[EventOutcome]:
        """
        `ExecutionOrchestrator.expire_due`: one outcome per order expired, in creation order.
        A `now` that is not a timezone-aware datetime is refused (VALIDATION_INVALID_FIELD).
        """
        self._units.refuse_reentry()
        if now is None:
            now = self._services.clock.now()
        _NOW.check(now, "now")
        outcomes = []
        for order in self._services.orders.unsettled():  # a due order is live: never packed
            if is_due(order, now):
                outcome = self._expire(order, now)
                if outcome is not None:
                    outcomes.append(outcome)
        return outcomes

    def _expire(self, due: Order, now: datetime) -> EventOutcome | None:
        units = self._units
        services = self._services
        cid = due.client_order_id
        with self._locks.of(due.idempotency_key):
            current = services.orders.order(cid)
            if current is None or not is_due(current, now):
                return None  # the venue's answer came first (an EXPIRE, a fill, a cancel)
            with units.unit() as unit:
                lifecycle = self._reopened(cid)
                expire_time = current.expire_time
                assert expire_time is not None  # noqa: S101 - is_due checked it
                detail = (
                    f"{current.time_in_force} order expired by the clock: expire_time "
                    f"{expire_time.isoformat()} <= now {now.isoformat()}"
                )
                lifecycle.send("expire", reason_code=ReasonCode.EXPIRED_BY_CLOCK, detail=detail)
                recon.hand_off(lifecycle, services, "expire_due")
                units.stage_order(lifecycle)
            units.flush(unit.last_seq)
            adapter = services.adapter_of.get(cid)
            if adapter is not None:
                self._cancel_at_venue(cid, adapter)
            expired = services.orders.order(cid)  # flagged, if the venue would not drop it
        return EventOutcome(AuditOutcome.APPLIED, expired, ReasonCode.EXPIRED_BY_CLOCK, detail)

    def _cancel_at_venue(self, cid: str, adapter: OrderAdapter) -> None:
        """
        Ask the venue to drop an order we expired; record what it said (see the module).
        """
        order = self._reopened(cid).order
        try:
            answered: Sequence[ExecutionEvent] = adapter.cancel(order)  # outside any unit
        except Exception as raw:  # noqa: BLE001 - translated, then recorded and flagged
            failure = VenueFailure.of(raw, f"cancel to {adapter.name}")
            self._note(cid, AuditOutcome.REFUSED, failure.reason, failure.detail, flag=True)
            return
        for event in answered:
            if event.kind is EventKind.CANCEL_ACK:
                detail = f"cancel of the expired order to {adapter.name}: acknowledged"
                self._note(cid, AuditOutcome.APPLIED, None, detail, flag=False)
            elif event.kind is EventKind.CANCEL_REJECT:
                detail = (
                    f"cancel of the expired order to {adapter.name}: rejected "
                    f"({event.detail or 'no detail'}); the venue may still hold it"
                )
                reason = event.reason_code or ReasonCode.ADAPTER_REJECTED  # a refusal says why
                self._note(cid, AuditOutcome.REFUSED, reason, detail, flag=True)
            else:
                self._handle_event(event)

    def _note(
        self,
        cid: str,
        outcome: AuditOutcome,
        reason: ReasonCode | None,
        detail: str,
        *,
        flag: bool,
    ) -> None:
        units = self._units
        with units.unit() as unit:
            lifecycle = self._reopened(cid)
            target = str(lifecycle.state_value) if outcome is AuditOutcome.APPLIED else None
            lifecycle.record("cancel_attempt", outcome, reason, detail, target=target)
            if flag:
                lifecycle.flag_for_reconciliation(ReasonCode.EXPIRED_BY_CLOCK, detail)
                recon.hand_off(lifecycle, self._services, "expire_due")
            units.stage_order(lifecycle)
        units.flush(unit.last_seq)

    def _reopened(self, cid: str) -> OrderLifecycle:
        lifecycle = self._services.orders.get(cid)
        if lifecycle is None:  # orders are never removed
            raise KeyError(f"order ledger: order {cid} vanished")
        return lifecycle
