"""
`EventProcessor`: venue events after a run — late answers, and cancels and replaces with
their answers — each applied to its order under the order's lock, in one unit of work with
what it books.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING

import attrs

from execfsm.adapters.dispatcher import Dispatcher
from execfsm.adapters.errors import VenueFailure
from execfsm.adapters.registry import ADAPTER_SHAPE
from execfsm.contracts import EventKind, ExecutionEvent, Fill, Order, ReasonCode, to_decimal
from execfsm.errors import ContractViolation, IllegalTransition, PolicyViolation
from execfsm.fsm.audit import AuditEntry, AuditOutcome
from execfsm.fsm.order import EVENT_OF_KIND, EventOutcome, OrderLifecycle
from execfsm.orchestration.intents import Notify
from execfsm.orchestration.locks import StripedLocks
from execfsm.orchestration.units import WorkUnits, delivered
from execfsm.reconciliation.findings import adopted
from execfsm.stages import post_trade, recon, risk_gate
from execfsm.stages.risk_gate import RiskControls
from execfsm.typing import OrderAdapter, ReplacingAdapter

if TYPE_CHECKING:
    from execfsm.contingent.orders import ContingentOrders

_REPLACE_ANSWERS = (EventKind.REPLACE_ACK, EventKind.REPLACE_REJECT)


class EventProcessor:
    """
    Applies venue events on the books of `units`, serialised per order by `locks`; `notify`
    tells the fill subscribers once an event is durable.
    """

    contingent: ContingentOrders | None = None
    """The contingent groups, which take the events of their legs (set by them)."""

    def __init__(
        self, units: WorkUnits, locks: StripedLocks, notify: Notify, risk: RiskControls
    ) -> None:
        self._risk = risk
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
            ADAPTER_SHAPE.check(adapter, "adapter")  # a user's registry is not checked
            adapter.set_event_sink(self.handle_event)
        dispatcher.deliver_late_answers_to(self.handle_event)

    def handle_event(self, event: ExecutionEvent) -> EventOutcome:
        """
        `ExecutionOrchestrator.handle_event`.
        """
        self._units.refuse_reentry()
        groups = self.contingent
        if groups is not None and event.client_order_id in groups.legs:  # a group's leg
            return groups.handle_event(event)
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
        if event.correlation_id != known.correlation_id and adopted(known):
            # The venue names an order we adopted by its id only; its events carry the
            # correlation id of whoever placed it.
            event = attrs.evolve(event, correlation_id=known.correlation_id)
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

    def _dispatched(self, client_order_id: str) -> tuple[Order, OrderAdapter]:
        """The order and the adapter it went to; a ContractViolation if it was not sent."""
        known = self._services.orders.order(client_order_id)
        adapter = self._services.adapter_of.get(client_order_id)
        if known is None or adapter is None:
            raise ContractViolation(
                f"client_order_id: no dispatched order has id {client_order_id!r}",
                reason=ReasonCode.EVENT_UNKNOWN_ORDER,
                field="client_order_id",
                value=client_order_id,
            )
        return known, adapter

    def cancel(self, client_order_id: str) -> EventOutcome:
        """
        `ExecutionOrchestrator.cancel`.
        """
        known, adapter = self._dispatched(client_order_id)
        self._units.refuse_reentry()
        with self._locks.of(known.idempotency_key):
            outcome, heard = self._cancel(client_order_id, adapter)
        if self.contingent is not None and client_order_id in self.contingent.legs:
            self.contingent.after_request(client_order_id)
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

    def replace(
        self,
        client_order_id: str,
        quantity: Decimal | int | str | None,
        limit_price: Decimal | int | str | None,
    ) -> EventOutcome:
        """
        `ExecutionOrchestrator.replace`: PENDING_REPLACE under the next client order id of the
        order's chain, written ahead (durable before the adapter is called: a stop inside the
        call leaves the order flagged REPLACE_OUTCOME_UNKNOWN at recovery), then the
        adapter's answers, each applied as `handle_event` applies it.

        Returns the outcome of the venue's answer (REPLACE_ACK applied: the new terms hold,
        fills kept), carrying the order as it stands after every answer; otherwise REFUSED
        with ADAPTER_REJECTED (the venue rejected the replace: the order is back where it
        was), the machine's reason (terms it refuses, an order not live: nothing sent),
        REPLACE_NOT_SUPPORTED (the adapter cannot amend: nothing sent), ADAPTER_ERROR (the
        request surely never left: back where it was) or REPLACE_OUTCOME_UNKNOWN (any other
        failure of the call: flagged, still PENDING_REPLACE). An order that was never
        dispatched raises `ContractViolation`, as does a term that is not a number.
        """
        known, adapter = self._dispatched(client_order_id)
        new_quantity = None if quantity is None else to_decimal(quantity, "quantity")
        new_price = None if limit_price is None else to_decimal(limit_price, "limit_price")
        self._units.refuse_reentry()
        with self._locks.of(known.idempotency_key):
            if not isinstance(adapter, ReplacingAdapter):
                return self._not_supported(client_order_id, adapter)
            outcome, heard = self._replace(client_order_id, adapter, new_quantity, new_price)
        if self.contingent is not None and client_order_id in self.contingent.legs:
            self.contingent.after_request(client_order_id)
        return delivered(outcome, self._notify(heard))

    def _not_supported(self, client_order_id: str, adapter: OrderAdapter) -> EventOutcome:
        """Refuse a replace the order's adapter cannot send, audited on the order."""
        reason = ReasonCode.REPLACE_NOT_SUPPORTED
        detail = f"replace to {adapter.name}: the adapter cannot amend orders; nothing sent"
        with self._units.unit() as unit:
            lifecycle = self._reopened(client_order_id)
            lifecycle.record("request_replace", AuditOutcome.REFUSED, reason, detail)
            self._services.orders.settle(lifecycle)
        self._units.flush(unit.last_seq)
        return EventOutcome(AuditOutcome.REFUSED, lifecycle.order, reason, detail)

    def _replace(
        self,
        client_order_id: str,
        adapter: ReplacingAdapter,
        quantity: Decimal | None,
        limit_price: Decimal | None,
    ) -> tuple[EventOutcome, list[tuple[Order, Fill]]]:
        units = self._units
        store = self._services.store
        refused: EventOutcome | None = None
        with units.unit() as unit:
            lifecycle = self._reopened(client_order_id)
            request = lifecycle.replace_request(quantity=quantity, limit_price=limit_price)
            try:
                gate = risk_gate.replace_refusal(self._risk, lifecycle.order, request)
                if gate is not None:  # new terms pass the risk gate as a new order's do
                    reason, why = gate
                    detail = f"replace to {request.quantity} @ {request.limit_price}: {why}"
                    lifecycle.record("request_replace", AuditOutcome.REFUSED, reason, detail)
                    raise PolicyViolation(detail, reason=reason)
                lifecycle.send("request_replace", replace=request)
            except (IllegalTransition, ContractViolation, PolicyViolation) as exc:
                self._services.orders.settle(lifecycle)  # a final order: packed again
                refused = EventOutcome(AuditOutcome.REFUSED, lifecycle.order, exc.reason, str(exc))
            else:
                store.stage_order(lifecycle.order)
        units.flush(unit.last_seq)  # the write-ahead of the replace
        if refused is not None:
            return refused, []
        sent = f"replace to {adapter.name} ({request.orig_client_order_id} -> "
        sent += f"{request.new_client_order_id})"
        try:
            answered = adapter.replace(lifecycle.order, request)  # outside any unit
        except Exception as raw:  # noqa: BLE001 - translated, then answered by what it means
            return self._replace_failed(lifecycle, VenueFailure.of(raw, sent)), []
        with units.unit() as unit:
            state = str(lifecycle.state_value)
            detail = f"{sent}: sent, {len(answered)} answer(s)"
            lifecycle.record("replace_attempt", AuditOutcome.APPLIED, None, detail, target=state)
        units.flush(unit.last_seq)
        answer: EventOutcome | None = None
        last = EventOutcome(AuditOutcome.APPLIED, lifecycle.order)
        heard: list[tuple[Order, Fill]] = []
        for event in answered:  # every answer is applied, whatever a subscriber raises
            last, booked = self._handle_event(event)
            heard.extend(booked)
            if answer is None and event.kind in _REPLACE_ANSWERS:  # a repeat is no answer
                answer = last
                if event.kind is EventKind.REPLACE_REJECT and last.applied:
                    detail = f"{sent}: the venue rejected it: {event.detail}"
                    reason = ReasonCode.ADAPTER_REJECTED
                    answer = EventOutcome(AuditOutcome.REFUSED, None, reason, detail)
        now = self._services.orders.order(client_order_id)
        return attrs.evolve(answer or last, order=now), heard

    def _replace_failed(self, lifecycle: OrderLifecycle, failure: VenueFailure) -> EventOutcome:
        """
        Answer a replace whose venue call raised: one that never left, or that the venue
        refused, returns the order to where it was (``replace_reject``); any other failure (a
        timeout after the send, an error nobody translates, a permanent error: as for a
        cancel) stays PENDING_REPLACE, flagged REPLACE_OUTCOME_UNKNOWN, since only the venue
        can say. The attempt's record carries what the call raised.
        """
        units = self._units
        reason = ReasonCode.ADAPTER_REJECTED if failure.rejected else failure.reason
        with units.unit() as unit:
            lifecycle.record("replace_attempt", AuditOutcome.REFUSED, reason, failure.detail)
            if failure.transient or failure.rejected:
                lifecycle.send("replace_reject")
            else:  # only the venue can say whether the new terms hold
                reason = ReasonCode.REPLACE_OUTCOME_UNKNOWN
                lifecycle.flag_for_reconciliation(reason, failure.detail)
            self._services.store.stage_order(lifecycle.order)
        units.flush(unit.last_seq)
        return EventOutcome(AuditOutcome.REFUSED, lifecycle.order, reason, failure.detail)

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
