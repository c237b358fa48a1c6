"""
`EventProcessor`: venue events after a run — late answers, and cancels with their answers —
each applied to its order under the order's lock, in one unit of work with what it books.
"""

from __future__ import annotations

from collections.abc import Iterable

from execfsm.adapters.dispatcher import Dispatcher
from execfsm.adapters.errors import VenueFailure
from execfsm.contracts import EventKind, ExecutionEvent, Fill, Order, ReasonCode
from execfsm.errors import ContractViolation, IllegalTransition
from execfsm.fsm.audit import AuditEntry, AuditOutcome
from execfsm.fsm.order import EVENT_OF_KIND, EventOutcome, OrderLifecycle
from execfsm.orchestration.intents import Notify
from execfsm.orchestration.locks import StripedLocks
from execfsm.orchestration.units import WorkUnits, delivered
from execfsm.stages import post_trade, recon
from execfsm.typing import OrderAdapter


class EventProcessor:
    """
    Applies venue events on the books of `units`, serialised per order by `locks`; `notify`
    tells the fill subscribers once an event is durable.
    """

    def __init__(self, units: WorkUnits, locks: StripedLocks, notify: Notify) -> None:
        self._units = units
        self._services = units.services
        self._locks = locks
        self._notify = notify

    def listen(self, adapters: Iterable[OrderAdapter], dispatcher: Dispatcher) -> None:
        """
        Take the events the adapters send of their own accord, and the answers that came
        after their dispatch attempt timed out.
        """
        for adapter in adapters:
            adapter.set_event_sink(self.handle_event)
        dispatcher.deliver_late_answers_to(self.handle_event)

    def handle_event(self, event: ExecutionEvent) -> EventOutcome:
        """
        `ExecutionOrchestrator.handle_event`.
        """
        self._units.refuse_reentry()
        outcome, heard = self._handle_event(event)
        return delivered(outcome, self._notify(heard))

    def _handle_event(self, event: ExecutionEvent) -> tuple[EventOutcome, list[tuple[Order, Fill]]]:
        """`handle_event`, durable, with the fills it booked instead of telling subscribers."""
        units = self._units
        services = self._services
        known = services.orders.order(event.client_order_id)  # its key; a packed one stays so
        if known is None:
            detail = f"event {event.event_id} names unknown order {event.client_order_id}"
            units.flush(self._audit_unknown(event, detail))
            refused = EventOutcome(
                AuditOutcome.REFUSED, None, ReasonCode.EVENT_UNKNOWN_ORDER, detail
            )
            return refused, []
        with self._locks.of(known.idempotency_key):
            with units.unit() as unit:
                lifecycle = self._reopened(event.client_order_id)
                flags = lifecycle.order.recon_flags
                outcome = lifecycle.apply(event)
                heard = post_trade.book_outcome(lifecycle, outcome, services)
                if outcome.applied or lifecycle.order.recon_flags != flags:
                    # A move, or a refusal that means we and the venue disagree.
                    recon.hand_off(lifecycle, services, event.kind.value)
                units.stage_order(lifecycle)
            units.flush(unit.last_seq)
            return outcome, heard

    def _reopened(self, client_order_id: str) -> OrderLifecycle:
        """
        The order's lifecycle, got only under its lock (re-opened if packed): a lifecycle got
        before the lock may since have been packed by another thread (`OrderLedger.settle`),
        and changes made to that copy would be lost.
        """
        lifecycle = self._services.orders.get(client_order_id)
        if lifecycle is None:  # orders are never removed
            raise KeyError(f"order ledger: order {client_order_id} vanished")
        return lifecycle

    def cancel(self, client_order_id: str) -> EventOutcome:
        """
        `ExecutionOrchestrator.cancel`.
        """
        known = self._services.orders.order(client_order_id)
        adapter = self._services.adapter_of.get(client_order_id)
        if known is None or adapter is None:
            raise ContractViolation(
                f"client_order_id: no dispatched order has id {client_order_id!r}",
                reason=ReasonCode.EVENT_UNKNOWN_ORDER,
                field="client_order_id",
                value=client_order_id,
            )
        self._units.refuse_reentry()
        with self._locks.of(known.idempotency_key):
            outcome, heard = self._cancel(client_order_id, adapter)
        return delivered(outcome, self._notify(heard))

    def _cancel(
        self, client_order_id: str, adapter: OrderAdapter
    ) -> tuple[EventOutcome, list[tuple[Order, Fill]]]:
        units = self._units
        store = self._services.store
        refused: EventOutcome | None = None
        with units.unit() as unit:
            lifecycle = self._reopened(client_order_id)
            try:
                lifecycle.send("request_cancel")
            except IllegalTransition as exc:
                self._services.orders.settle(lifecycle)  # a final order: packed again
                refused = EventOutcome(AuditOutcome.REFUSED, lifecycle.order, exc.reason, str(exc))
            else:
                store.stage_order(lifecycle.order)
        units.flush(unit.last_seq)  # the write-ahead of the cancel
        if refused is not None:
            return refused, []
        try:
            answered = adapter.cancel(lifecycle.order)  # the venue call: outside any unit
        except Exception as raw:  # noqa: BLE001 - translated, then answered by what it means
            failure = VenueFailure.of(raw, f"cancel to {adapter.name}")
            reason = ReasonCode.ADAPTER_REJECTED if failure.rejected else failure.reason
            detail = failure.detail
            with units.unit() as unit:
                lifecycle.record("cancel_attempt", AuditOutcome.REFUSED, reason, detail)
                if failure.transient or failure.rejected:
                    # The cancel never left, or the venue refused it: the order is live
                    # where it was, and a later cancel may be sent.
                    lifecycle.send("cancel_reject")
                else:  # it may have reached the venue: only the venue can say
                    lifecycle.flag_for_reconciliation(reason, detail)
                store.stage_order(lifecycle.order)
            units.flush(unit.last_seq)
            return EventOutcome(AuditOutcome.REFUSED, lifecycle.order, reason, detail), []
        with units.unit() as unit:
            state = str(lifecycle.state_value)
            lifecycle.record(
                "cancel_attempt",
                AuditOutcome.APPLIED,
                None,
                f"cancel to {adapter.name}: sent, {len(answered)} answer(s)",
                target=state,
            )
        units.flush(unit.last_seq)
        outcome = EventOutcome(AuditOutcome.APPLIED, lifecycle.order)
        heard: list[tuple[Order, Fill]] = []
        for event in answered:  # every answer is applied, whatever a subscriber raises
            outcome, booked = self._handle_event(event)
            heard.extend(booked)
        return outcome, heard

    def _audit_unknown(self, event: ExecutionEvent, detail: str) -> int:
        return self._units.append(
            AuditEntry(
                correlation_id=event.correlation_id,
                client_order_id=event.client_order_id,
                machine=OrderLifecycle.audit_machine,
                event=EVENT_OF_KIND[EventKind(event.kind)],
                source=None,
                target=None,
                outcome=AuditOutcome.REFUSED,
                reason_code=ReasonCode.EVENT_UNKNOWN_ORDER,
                detail=detail,
            )
        )
