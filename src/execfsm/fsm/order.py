"""
`OrderLifecycle`: the declared life of one order, from CREATED to a final state.

Venue events change an order only through `OrderLifecycle.apply`; local actions are the
machine's own events (`submit`, `request_cancel`, `fail`). Every move and every refusal is
audited by the base class.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import attrs
from statemachine.states import States

from execfsm.contracts import (
    FINAL_ORDER_STATES,
    EventKind,
    ExecutionEvent,
    Fill,
    Order,
    OrderState,
    ReasonCode,
)
from execfsm.errors import ContractViolation, IllegalTransition
from execfsm.fsm import guards as g
from execfsm.fsm._audited import AuditedMachine
from execfsm.fsm.audit import AuditOutcome
from execfsm.fsm.engine import Engine
from execfsm.fsm.outcome import EVENT_OF_KIND, EventOutcome
from execfsm.ids import canonical_json, decode, encode
from execfsm.typing import AuditSink

__all__ = ["EVENT_OF_KIND", "EventOutcome", "OrderLifecycle", "was_submitted"]

_CONTRACT = list(g.CONTRACT_GUARDS)
_FILL = [g.fill_well_formed, g.fill_id_unused, g.fill_within_quantity]
_PARTIAL_FILL: dict[str, Any] = {"validators": _FILL, "unless": g.fill_completes}
_COMPLETE_FILL: dict[str, Any] = {"validators": _FILL, "cond": g.fill_completes}

_VENUE_DISAGREES = frozenset({ReasonCode.FILL_OVERFILL, ReasonCode.FILL_CONFLICT})
"""Refused venue fills that mean the venue and we disagree: reconciliation must look."""

_BEFORE_DISPATCH = ("VALIDATION_", "RISK_", "POLICY_")
"""Prefixes of the reason codes stages 2-4 fail an order with: it was never submitted."""


def was_submitted(order: Order) -> bool:
    """
    Whether `order` ever took ``submit`` (so it may have reached a venue), as far as a
    snapshot tells: a CREATED order never did, and a FAILED one did unless a stage before
    dispatch (validation, risk, routing policy) failed it. Only what re-opens an order from a
    stored snapshot needs this; a running `OrderLifecycle` knows.
    """
    if order.state is OrderState.CREATED:
        return False
    if order.state is OrderState.FAILED and order.reason_code is not None:
        return not order.reason_code.value.startswith(_BEFORE_DISPATCH)
    return True


class OrderLifecycle(AuditedMachine):
    """
    One order's state machine. Deny by default: an edge not listed here is refused.

    Args:
        order: The CREATED order this machine will own.
        audit: The sink every transition and refusal is written to.
        engine: `Engine.COMPILED` (default) or `Engine.REFERENCE` (python-statemachine's).
    """

    audit_machine = "order"

    _ = States.from_enum(
        OrderState,
        initial=OrderState.CREATED,
        final=sorted(FINAL_ORDER_STATES),
    )

    # fmt: off
    # One edge per line, grouped by source. `fill` picks PARTIALLY_FILLED or FILLED by the
    # cumulative quantity (cond); every rule that can refuse an event is a validator.

    # CREATED
    _.CREATED.to(_.SUBMITTED, event="submit", validators=_CONTRACT)
    _.CREATED.to(_.FAILED, event="fail", validators=g.reason_given)

    # SUBMITTED
    _.SUBMITTED.to(_.ACKNOWLEDGED, event="acknowledge")
    # A fill before the ACK is accepted: the venue filled it.
    _.SUBMITTED.to(_.PARTIALLY_FILLED, event="fill", **_PARTIAL_FILL)
    _.SUBMITTED.to(_.FILLED, event="fill", **_COMPLETE_FILL)
    _.SUBMITTED.to(_.REJECTED, event="reject", validators=g.reason_given)
    _.SUBMITTED.to(_.PENDING_CANCEL, event="request_cancel")
    _.SUBMITTED.to(_.CANCELLED, event="cancel_ack")  # unsolicited: the venue cancelled it
    _.SUBMITTED.to(_.EXPIRED, event="expire")
    # Only when the send surely failed: an unknown outcome stays SUBMITTED and is flagged.
    _.SUBMITTED.to(_.FAILED, event="fail", validators=g.reason_given)

    # ACKNOWLEDGED
    _.ACKNOWLEDGED.to(_.PARTIALLY_FILLED, event="fill", **_PARTIAL_FILL)
    _.ACKNOWLEDGED.to(_.FILLED, event="fill", **_COMPLETE_FILL)
    # Some venues reject after accepting (e.g. a session-end check).
    _.ACKNOWLEDGED.to(_.REJECTED, event="reject", validators=g.reason_given)
    _.ACKNOWLEDGED.to(_.PENDING_CANCEL, event="request_cancel")
    _.ACKNOWLEDGED.to(_.CANCELLED, event="cancel_ack")  # unsolicited
    _.ACKNOWLEDGED.to(_.EXPIRED, event="expire")

    # PARTIALLY_FILLED
    _.PARTIALLY_FILLED.to.itself(event="fill", **_PARTIAL_FILL, internal=True)
    _.PARTIALLY_FILLED.to(_.FILLED, event="fill", **_COMPLETE_FILL)
    _.PARTIALLY_FILLED.to(_.PENDING_CANCEL, event="request_cancel")
    _.PARTIALLY_FILLED.to(_.CANCELLED, event="cancel_ack")  # unsolicited, e.g. an IOC remainder
    _.PARTIALLY_FILLED.to(_.EXPIRED, event="expire")

    # PENDING_CANCEL
    # Fills race the cancel request; a rejected cancel then returns to PARTIALLY_FILLED.
    _.PENDING_CANCEL.to.itself(event="fill", **_PARTIAL_FILL, internal=True)
    _.PENDING_CANCEL.to(_.FILLED, event="fill", **_COMPLETE_FILL)
    _.PENDING_CANCEL.to(_.CANCELLED, event="cancel_ack")
    _.PENDING_CANCEL.to(_.SUBMITTED, event="cancel_reject", cond=g.resumes_submitted)
    _.PENDING_CANCEL.to(_.ACKNOWLEDGED, event="cancel_reject", cond=g.resumes_acknowledged)
    _.PENDING_CANCEL.to(_.PARTIALLY_FILLED, event="cancel_reject", cond=g.resumes_partially)
    _.PENDING_CANCEL.to(_.EXPIRED, event="expire")

    # FILLED, CANCELLED, REJECTED, EXPIRED, FAILED are final: no edge leaves them. A late
    # fill is booked and flagged by `apply`, outside the table.

    # fmt: on

    def __init__(
        self,
        order: Order,
        audit: AuditSink,
        *,
        engine: Engine | str | None = None,
        _restoring: bool = False,
    ) -> None:
        if order.state is not OrderState.CREATED and not _restoring:
            raise ContractViolation(
                f"order {order.client_order_id}: a lifecycle starts from CREATED, "
                f"got {order.state}",
                reason=ReasonCode.ILLEGAL_TRANSITION,
                field="state",
                value=order.state,
            )
        self._order = order
        self._fills: dict[str, Fill] = {}
        self._resume_state: OrderState | None = None
        self._late_fills: tuple[Fill, ...] = ()  # rare: no list kept per order for them
        self._submitted = _restoring and was_submitted(order)
        super().__init__(audit, start_value=order.state if _restoring else None, engine=engine)

    @classmethod
    def restore(
        cls,
        order: Order,
        audit: AuditSink,
        *,
        fills: Iterable[Fill] = (),
        late_fills: Iterable[Fill] = (),
        resume_state: OrderState | None = None,
        submitted: bool | None = None,
        engine: Engine | str | None = None,
    ) -> OrderLifecycle:
        """
        Re-open an order recovered from a store, in the state it was left in: no transition
        is taken, so nothing is audited again.

        Args:
            submitted: Whether the order ever took ``submit``; None reads it from the
                snapshot (`was_submitted`).
        """
        lifecycle = cls(order, audit, engine=engine, _restoring=True)
        lifecycle._fills = {f.fill_id: f for f in fills}
        lifecycle._late_fills = tuple(late_fills)
        lifecycle._resume_state = resume_state
        if submitted is not None:
            lifecycle._submitted = submitted
        return lifecycle

    def packed(self) -> tuple[Any, ...]:
        """
        What `from_packed` needs to re-open this order, as plain values (the order and fills
        as `execfsm.ids.encode` bytes): ledgers keep a final order packed, since most never
        hear of it again.
        """
        resume = self._resume_state
        return (
            encode(self._order),
            tuple([encode(fill) for fill in self._fills.values()]),
            tuple([encode(fill) for fill in self._late_fills]) if self._late_fills else (),
            None if resume is None else resume.value,
            self._submitted,
        )

    @classmethod
    def from_packed(
        cls, packed: tuple[Any, ...], audit: AuditSink, *, engine: Engine | str | None = None
    ) -> OrderLifecycle:
        """
        Re-open an order `packed` was made from, as `restore` does: nothing is audited again.
        """
        order, fills, late_fills, resume, submitted = packed
        return cls.restore(
            decode(Order, order),
            audit,
            fills=[decode(Fill, fill) for fill in fills],
            late_fills=[decode(Fill, fill) for fill in late_fills],
            resume_state=None if resume is None else OrderState(resume),
            submitted=submitted,
            engine=engine,
        )

    # -- what the machine exposes ---------------------------------------------------------

    @property
    def order(self) -> Order:
        """
        The current snapshot of the order.
        """
        return self._order

    @property
    def correlation_id(self) -> str:
        """
        The intent's correlation id, carried by every record of this order.
        """
        return self._order.correlation_id

    @property
    def client_order_id(self) -> str:
        """
        The order's id.
        """
        return self._order.client_order_id

    @property
    def fills(self) -> tuple[Fill, ...]:
        """
        The fills applied while the order was live, in arrival order.
        """
        return tuple(self._fills.values())

    @property
    def late_fills(self) -> tuple[Fill, ...]:
        """
        Fills that arrived after the order was final: booked, flagged, not in ``filled``.
        """
        return self._late_fills

    @property
    def is_final(self) -> bool:
        """
        True once the order has no way out.
        """
        return self._order.state in FINAL_ORDER_STATES

    @property
    def submitted(self) -> bool:
        """
        True once the order took ``submit``: from then on a venue may hold it, so a fill
        for it is real even after it ended. Before, no venue can have filled it.
        """
        return self._submitted

    def guard_context(self) -> dict[str, Any]:
        """
        Inject the order, the fills seen and the pre-cancel state into guards by name.
        """
        return {"order": self._order, "seen_fills": self._fills, "resume_state": self._resume_state}

    def prepare_event(self, fill: Fill | None = None) -> dict[str, Any]:
        """
        A fill's record carries the fill as canonical JSON, so the trail alone rebuilds the
        ledgers.
        """
        context = self.guard_context()
        if fill is not None:
            context["detail"] = canonical_json(fill)
        return context

    # -- venue events -----------------------------------------------------------------------

    def apply(self, event: ExecutionEvent) -> EventOutcome:
        """
        Apply one venue event; never raises for a refused event, it reports it.

        Duplicates are ignored and audited, refusals change nothing and are audited, a late
        ACK is absorbed, and a fill after the order is final is booked and flagged. A fill
        whose amounts break `execfsm.bounds.AMOUNT_BOUND` is refused before anything
        computes with them; a fill for an order that was never submitted is refused and
        flagged (`ReasonCode.FILL_FOR_UNSENT_ORDER`).
        """
        name = EVENT_OF_KIND[event.kind]
        if (event.client_order_id, event.correlation_id) != (
            self.client_order_id,
            self.correlation_id,
        ):
            detail = (
                f"event {event.event_id} is for order {event.client_order_id} "
                f"(correlation {event.correlation_id}), not {self.client_order_id} "
                f"(correlation {self.correlation_id})"
            )
            return self._note(name, AuditOutcome.REFUSED, ReasonCode.EVENT_ORDER_MISMATCH, detail)
        if event.kind is EventKind.ACK:
            return self._apply_ack(event)
        if event.fill is not None:  # ExecutionEvent guarantees a FILL carries one
            return self._apply_fill(event.fill)
        if event.kind is EventKind.REJECT:
            return self._fire(name, reason_code=event.reason_code, detail=event.detail)
        return self._fire(name, detail=event.detail)

    def _apply_ack(self, event: ExecutionEvent) -> EventOutcome:
        state = self._order.state
        if state in (OrderState.CREATED, OrderState.SUBMITTED):
            return self._fire("acknowledge", venue_order_id=event.venue_order_id)
        if state in (OrderState.REJECTED, OrderState.FAILED):
            # The venue holds an order we consider dead: reconciliation must look.
            self._flag(ReasonCode.ACK_AFTER_FAILURE)
            detail = f"ACK {event.event_id} after the order ended {state}"
            return self._note(
                "acknowledge", AuditOutcome.REFUSED, ReasonCode.ACK_AFTER_FAILURE, detail
            )
        if state is OrderState.PENDING_CANCEL and self._resume_state is OrderState.SUBMITTED:
            self._resume_state = OrderState.ACKNOWLEDGED
        detail = f"late ACK {event.event_id} absorbed in {state}; the order never moves back"
        return self._note("acknowledge", AuditOutcome.DUPLICATE, ReasonCode.ACK_ABSORBED, detail)

    def _apply_fill(self, fill: Fill) -> EventOutcome:
        if not self._submitted:
            return self._refuse_unsent_fill(fill)
        seen = self._fills.get(fill.fill_id)
        if seen is None and self._late_fills:
            seen = next((f for f in self._late_fills if f.fill_id == fill.fill_id), None)
        if seen is not None:
            if seen.same_content(fill):
                detail = f"fill {fill.fill_id} already applied; re-delivery ignored"
                return self._note("fill", AuditOutcome.DUPLICATE, ReasonCode.FILL_DUPLICATE, detail)
            detail = f"fill {fill.fill_id} already applied with different content: {seen} vs {fill}"
            outcome = self._note("fill", AuditOutcome.REFUSED, ReasonCode.FILL_CONFLICT, detail)
            self._flag(ReasonCode.FILL_CONFLICT)  # the venue reports fills we cannot accept
            return attrs.evolve(outcome, order=self._order)
        if self.is_final:
            return self._book_late_fill(fill)
        outcome = self._fire("fill", booked_fill=fill, fill=fill)
        if outcome.applied:
            return outcome
        if outcome.reason_code in _VENUE_DISAGREES:
            self._flag(outcome.reason_code)  # the venue reports fills we cannot accept
            return attrs.evolve(outcome, order=self._order)
        return outcome

    def _refuse_unsent_fill(self, fill: Fill) -> EventOutcome:
        # Never sent, so no venue holds it: we and whoever reports this fill disagree.
        detail = (
            f"fill {fill.fill_id} for order {self.client_order_id}, which was never submitted "
            f"(it is {self._order.state}); not booked: {canonical_json(fill)}"
        )
        outcome = self._note("fill", AuditOutcome.REFUSED, ReasonCode.FILL_FOR_UNSENT_ORDER, detail)
        self._flag(ReasonCode.FILL_FOR_UNSENT_ORDER)
        return attrs.evolve(outcome, order=self._order)

    def _book_late_fill(self, fill: Fill) -> EventOutcome:
        try:
            g.fill_well_formed(fill)
        except ContractViolation as exc:
            return self._note("fill", AuditOutcome.REFUSED, exc.reason, str(exc))
        state = self._order.state
        detail = canonical_json(fill)
        self._flag(ReasonCode.FILL_AFTER_FINAL)
        self.record("fill", AuditOutcome.APPLIED, ReasonCode.FILL_AFTER_FINAL, detail, target=state)
        self._late_fills = (*self._late_fills, fill)
        return EventOutcome(
            AuditOutcome.APPLIED,
            self._order,
            ReasonCode.FILL_AFTER_FINAL,
            detail,
            fill,
            self._audit_listener.last_seq,
        )

    def _fire(self, name: str, booked_fill: Fill | None = None, **kwargs: Any) -> EventOutcome:
        try:
            self.send(name, **kwargs)
        except (IllegalTransition, ContractViolation) as exc:
            return EventOutcome(AuditOutcome.REFUSED, self._order, exc.reason, str(exc))
        if booked_fill is None:
            return EventOutcome(AuditOutcome.APPLIED, self._order)
        return EventOutcome(
            AuditOutcome.APPLIED,
            self._order,
            booked_fill=booked_fill,
            booked_seq=self._audit_listener.last_seq,  # the fill's own record: it was the last
        )

    def _note(
        self, event: str, outcome: AuditOutcome, reason: ReasonCode, detail: str
    ) -> EventOutcome:
        self.record(event, outcome, reason, detail)
        return EventOutcome(outcome, self._order, reason, detail)

    def flag_for_reconciliation(self, reason: ReasonCode, detail: str) -> None:
        """
        Mark the order for reconciliation without moving it (e.g. a dispatch whose outcome is
        unknown), and audit why.
        """
        state = str(self._order.state)
        self.record("flag_reconciliation", AuditOutcome.APPLIED, reason, detail, target=state)
        self._flag(reason)

    def _flag(self, reason: ReasonCode) -> None:
        if reason not in self._order.recon_flags:
            self._order = self._order.with_changes(recon_flags=(*self._order.recon_flags, reason))

    # -- callbacks: field updates after the move is committed --------------------------------

    def after_transition(self, target: Any) -> None:
        """
        Keep the snapshot's state equal to the machine's, and remember once the order left
        us (SUBMITTED): a venue may hold it from then on.
        """
        state = target.value
        if self._order.state is not state:
            self._order = self._order.with_changes(state=state)
            if state is OrderState.SUBMITTED:
                self._submitted = True

    def after_acknowledge(self, target: Any, venue_order_id: str | None = None) -> None:
        """
        Remember the venue's id for the order (and its new state, in the same copy).
        """
        if venue_order_id is not None:
            self._order = self._order.with_changes(
                venue_order_id=venue_order_id, state=target.value
            )

    def after_fill(self, fill: Fill, source: Any, target: Any) -> None:
        """
        Accumulate quantity, average price and fees (and the new state, in the same copy); a
        partial fill during a cancel changes the state a rejected cancel returns to.
        """
        order = self._order
        filled = order.filled_quantity + fill.quantity
        previous_cost = (order.average_fill_price or Decimal(0)) * order.filled_quantity
        average = (previous_cost + fill.price * fill.quantity) / filled
        self._order = order.with_changes(
            filled_quantity=filled,
            average_fill_price=average,
            fees=order.fees + fill.fee,
            state=target.value,
        )
        self._fills[fill.fill_id] = fill
        if source.value is OrderState.PENDING_CANCEL:
            self._resume_state = OrderState.PARTIALLY_FILLED

    def after_request_cancel(self, source: Any) -> None:
        """
        Remember where a rejected cancel returns to.
        """
        self._resume_state = source.value

    def after_reject(self, reason_code: ReasonCode) -> None:
        """
        Keep why the venue refused the order.
        """
        self._order = self._order.with_changes(reason_code=reason_code)

    def after_fail(self, reason_code: ReasonCode) -> None:
        """
        Keep why the order failed.
        """
        self._order = self._order.with_changes(reason_code=reason_code)
