"""
How an order takes a venue event: an edge of its transition table, or the row of its declared
cases (`ORDER_CASES`) for the situation and state it is in. `OrderLifecycle` declares the
edges and the field updates; this base class holds the one way in (`apply`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, ClassVar, cast

from execfsm.contracts import (
    FINAL_ORDER_STATES,
    ExecutionEvent,
    Fill,
    Order,
    OrderState,
    ReasonCode,
    ReplaceRequest,
    TimeInForce,
)
from execfsm.enums import Reason
from execfsm.errors import ContractViolation, DefinitionError, IllegalTransition
from execfsm.fsm import guards as g
from execfsm.fsm import revisions as r
from execfsm.fsm.audit import AuditOutcome
from execfsm.fsm.audited import AuditedMachine
from execfsm.fsm.cases import Case
from execfsm.fsm.order_cases import Situation
from execfsm.fsm.outcome import EVENT_OF_KIND, EventOutcome
from execfsm.ids import canonical_json

_VENUE_DISAGREES = frozenset(
    {
        ReasonCode.FILL_OVERFILL,
        ReasonCode.FILL_CONFLICT,
        ReasonCode.FILL_INVALID_QUANTITY,
        ReasonCode.FILL_INVALID_PRICE,
        ReasonCode.FILL_INVALID_FEE,
        ReasonCode.VENUE_CONTRADICTION,
        ReasonCode.TRADE_UNKNOWN_FILL,
    }
)
"""Refusals of a venue event that mean the venue and we disagree: reconciliation must look."""


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


class OrderEvents(AuditedMachine):
    """
    The venue-event half of `OrderLifecycle` (no states of its own).
    """

    edges: ClassVar[frozenset[tuple[str, str]]] = frozenset()
    """(state, event) pairs the subclass's transition table has an edge for."""

    _order: Order
    _fills: dict[str, Fill]
    _late_ids: frozenset[str]
    _retired: dict[str, Fill] | None
    _resume_state: OrderState | None
    _pending_replace: ReplaceRequest | None
    _submitted: bool
    _replaces: int

    # -- venue events -----------------------------------------------------------------------

    def apply(self, event: ExecutionEvent) -> EventOutcome:
        """
        Apply one venue event; never raises for a refused event, it reports it.

        An event with an edge from the order's state takes it (its validators may refuse
        it); any other event, and any event in a situation `Situation` names (a repeated or
        conflicting fill, a bust of an unknown fill, an order never sent), is handled as its
        row in `ORDER_CASES` declares. A refusal that means the venue and we disagree flags
        the order for reconciliation.
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
        state = self._order.state
        if event.fill is not None and state in FINAL_ORDER_STATES and self._submitted:
            try:  # before a done order's fill is compared with anything
                g.fill_well_formed(event.fill)
            except ContractViolation as exc:
                return self._refused(name, exc.reason, str(exc))
        situation = self._situation(name, event)
        if not situation and (state, name) in self.edges:  # a StrEnum member hashes as its value
            return self._take_edge(name, event)
        case = self.cases.find(state, name, situation) if self.cases else None
        if case is None:  # the table ends with a row for any event in any state
            raise DefinitionError(f"{type(self).__name__}.cases has no row for {name} in {state}")
        if case.action:
            handled: EventOutcome = getattr(self, f"_{case.action}")(event, case)
            return handled
        detail = f"{event.kind} {event.event_id} in {state}: {case.why}"
        if event.fill is not None:
            detail = f"{detail}; {canonical_json(event.fill)}"
        self.record(name, case.outcome, case.reason, detail)
        if case.flags:
            self._flag(case.reason)
        return EventOutcome(case.outcome, self._order, case.reason, detail)

    def _situation(self, name: str, event: ExecutionEvent) -> str:
        if not self._submitted:
            return Situation.UNSENT
        fill = event.fill
        if name == "fill" and fill is not None:  # a FILL event always carries one
            seen = self._seen(fill.fill_id)
            if seen is not None:
                same = seen.same_content(fill)
                return Situation.FILL_REPEATED if same else Situation.FILL_CONFLICTS
            if self._order.state in FINAL_ORDER_STATES:
                order = self._order
                within = fill.quantity <= order.quantity - order.filled_quantity
                return Situation.WITHIN_QUANTITY if within else Situation.BEYOND_QUANTITY
        elif name in ("cancel_ack", "expire"):
            order = self._order
            if name == "cancel_ack" and order.reason_code is ReasonCode.EXPIRED_BY_CLOCK:
                return Situation.EXPIRED_BY_US
            if (
                order.time_in_force is TimeInForce.FOK
                and 0 < order.filled_quantity < order.quantity
                and order.state not in FINAL_ORDER_STATES
            ):
                return Situation.FOK_PART_FILLED
        elif name in ("replace_ack", "replace_reject"):
            pending = self._pending_replace
            answers = event.causation_id  # the replace (its ClOrdID) the venue answers, if said
            if answers is not None and (pending is None or answers != pending.new_client_order_id):
                if name == "replace_ack" and answers == self._order.venue_client_order_id:
                    return Situation.REPLACE_ANSWERED  # the accepted one, said again
                return Situation.ANSWERS_ANOTHER_REPLACE
            if name == "replace_ack" and pending is None and self._order.venue_client_order_id:
                return Situation.REPLACE_ANSWERED
            if name == "replace_reject" and pending is None:
                return Situation.NO_REPLACE_PENDING
        elif event.exec_ref_id is not None:  # a bust or a correction
            if event.exec_ref_id in self._fills:
                new_id = None if fill is None else fill.fill_id
                if new_id not in (None, event.exec_ref_id) and self._seen(new_id) is not None:
                    return Situation.FILL_CONFLICTS  # the correction's id is another fill's
                return ""
            if self._retired and event.exec_ref_id in self._retired:
                seen = None if fill is None else self._fills.get(fill.fill_id)
                if seen is not None and fill is not None and seen.same_content(fill):
                    return Situation.FILL_REPEATED  # the same correction again
                return Situation.NAMES_RETIRED_FILL
            return Situation.NAMES_UNKNOWN_FILL
        return ""

    def _seen(self, fill_id: str) -> Fill | None:
        seen = self._fills.get(fill_id)
        if seen is None and self._retired:
            seen = self._retired.get(fill_id)
        return seen

    def _take_edge(self, name: str, event: ExecutionEvent) -> EventOutcome:
        if name == "fill":
            return self._fire(name, booked_fill=event.fill, fill=event.fill)
        if name == "acknowledge":
            return self._fire(name, venue_order_id=event.venue_order_id)
        if name == "reject":
            return self._fire(name, reason_code=event.reason_code, detail=event.detail)
        if event.exec_ref_id is not None:
            ref = self._fills[event.exec_ref_id]
            return self._fire(
                name, booked_fill=event.fill, reversed_fill=ref, ref_fill=ref, fill=event.fill
            )
        return self._fire(name, detail=event.detail)

    # -- declared case actions (`ORDER_CASES`) --------------------------------------------------

    # Each records first and changes the order after: a record that cannot be written leaves
    # the order as it was (and the venue's re-delivery is then applied, not a duplicate).

    def _absorb_ack(self, event: ExecutionEvent, case: Case) -> EventOutcome:
        detail = f"late ACK {event.event_id} in {self._order.state}: {case.why}"
        outcome = self._note("acknowledge", case.outcome, case.reason, detail)
        if self._resume_state is OrderState.SUBMITTED:
            self._resume_state = OrderState.ACKNOWLEDGED
        return outcome

    def _absorb_replace_answer(self, event: ExecutionEvent, case: Case) -> EventOutcome:
        detail = f"{event.kind} {event.event_id} in {self._order.state}: {case.why}"
        outcome = self._note(EVENT_OF_KIND[event.kind], case.outcome, case.reason, detail)
        self._pending_replace = None  # answered: too late, the order had ended
        return outcome

    def _end_and_flag(self, event: ExecutionEvent, case: Case) -> EventOutcome:
        outcome = self._take_edge(EVENT_OF_KIND[event.kind], event)
        if not outcome.applied:
            return outcome
        order = self._order
        detail = (
            f"{event.kind} {event.event_id}: {case.why} ({order.filled_quantity} of "
            f"{order.quantity} filled)"
        )
        self.flag_for_reconciliation(case.reason, detail)
        return EventOutcome(outcome.outcome, self._order, case.reason, detail)

    def _book_late_fill(self, event: ExecutionEvent, case: Case) -> EventOutcome:
        fill = cast(Fill, event.fill)  # a FILL event carries one

        def book() -> None:
            self._fills[fill.fill_id] = fill
            self._late_ids = self._late_ids | {fill.fill_id}

        return self._in_place("fill", case, canonical_json(fill), book, booked=fill)

    def _bust_in_place(self, event: ExecutionEvent, case: Case) -> EventOutcome:
        ref_id = cast(str, event.exec_ref_id)  # a bust names a fill
        ref = self._fills[ref_id]
        detail = canonical_json(ref)
        return self._in_place(
            "trade_bust", case, detail, lambda: self._retire(ref_id), reversed_fill=ref
        )

    def _correct_in_place(self, event: ExecutionEvent, case: Case) -> EventOutcome:
        fill, ref_id = cast(Fill, event.fill), cast(str, event.exec_ref_id)  # as a correction has
        ref = self._fills[ref_id]
        try:
            g.fill_well_formed(fill)
            r.correction_within_quantity(self._order, fill, ref)
        except ContractViolation as exc:
            return self._refused("trade_correct", exc.reason, str(exc))
        detail = canonical_json({"corrected": ref, "fill": fill})
        return self._in_place(
            "trade_correct",
            case,
            detail,
            lambda: self._retire(ref_id, fill),
            booked=fill,
            reversed_fill=ref,
        )

    def _in_place(
        self,
        name: str,
        case: Case,
        detail: str,
        change: Callable[[], object],
        booked: Fill | None = None,
        reversed_fill: Fill | None = None,
    ) -> EventOutcome:
        """Record the row of a done order that stays where it is, then `change` its fills
        and recount them."""
        state = str(self._order.state)
        self.record(name, case.outcome, case.reason, detail, target=state)
        seq = self._audit_listener.last_seq
        change()
        if not self._fills and self._resume_state is OrderState.PARTIALLY_FILLED:
            self._resume_state = OrderState.ACKNOWLEDGED  # as a bust by an edge leaves it
        self._order = self._order.with_changes(**totals(self._fills.values()))
        if case.flags:
            self._flag(case.reason)
        return EventOutcome(
            case.outcome, self._order, case.reason, detail, booked, seq, reversed_fill
        )

    def _retire(self, fill_id: str, replacement: Fill | None = None) -> Fill:
        """Take fill `fill_id` back (a bust), or put `replacement` in its place."""
        ref = self._fills[fill_id]
        if replacement is None:
            del self._fills[fill_id]
        else:  # the corrected fill keeps its place in arrival order
            self._fills = {
                (replacement.fill_id if key == fill_id else key): (
                    replacement if key == fill_id else fill
                )
                for key, fill in self._fills.items()
            }
        if self._retired is None:
            self._retired = {}
        self._retired[fill_id] = ref
        if fill_id in self._late_ids:
            self._late_ids = self._late_ids - {fill_id}
            if replacement is not None:
                self._late_ids = self._late_ids | {replacement.fill_id}
        return ref

    # -- outcomes ------------------------------------------------------------------------------

    def _fire(
        self,
        name: str,
        booked_fill: Fill | None = None,
        reversed_fill: Fill | None = None,
        **kwargs: Any,
    ) -> EventOutcome:
        try:
            self.send(name, **kwargs)
        except (IllegalTransition, ContractViolation) as exc:
            if exc.reason in _VENUE_DISAGREES:
                self._flag(exc.reason)  # the venue reports what we cannot accept
            return EventOutcome(AuditOutcome.REFUSED, self._order, exc.reason, str(exc))
        if booked_fill is None and reversed_fill is None:
            return EventOutcome(AuditOutcome.APPLIED, self._order)
        return EventOutcome(
            AuditOutcome.APPLIED,
            self._order,
            booked_fill=booked_fill,
            booked_seq=self._audit_listener.last_seq,  # the fill's own record: it was the last
            reversed_fill=reversed_fill,
        )

    def _refused(self, event: str, reason: Reason, detail: str) -> EventOutcome:
        self.record(event, AuditOutcome.REFUSED, reason, detail)
        if reason in _VENUE_DISAGREES:
            self._flag(reason)
        return EventOutcome(AuditOutcome.REFUSED, self._order, reason, detail)

    def _note(self, event: str, outcome: AuditOutcome, reason: Reason, detail: str) -> EventOutcome:
        self.record(event, outcome, reason, detail)
        return EventOutcome(outcome, self._order, reason, detail)

    def flag_for_reconciliation(self, reason: Reason, detail: str) -> None:
        """
        Mark the order for reconciliation without moving it (e.g. a dispatch whose outcome is
        unknown), and audit why.
        """
        state = str(self._order.state)
        self.record("flag_reconciliation", AuditOutcome.APPLIED, reason, detail, target=state)
        self._flag(reason)

    def clear_reconciliation_flags(self, detail: str) -> None:
        """
        Clear the order's flags, and audit why: reconciliation found the venue's report
        agrees with the order (nothing else clears a flag).
        """
        state = str(self._order.state)
        self.record(
            "reconciled", AuditOutcome.APPLIED, ReasonCode.RECON_AGREED, detail, target=state
        )
        self._order = self._order.with_changes(recon_flags=())

    def _flag(self, reason: Reason) -> None:
        if reason not in self._order.recon_flags:
            self._order = self._order.with_changes(recon_flags=(*self._order.recon_flags, reason))

    # -- callbacks of the revision edges (a bust, a correction, a replace) -------------------

    def after_trade_bust(self, ref_fill: Fill, target: Any) -> None:
        """
        Take the busted fill back and recount (the new state in the same copy); a cancel
        pending over no fills now returns to ACKNOWLEDGED if rejected.
        """
        self._retire(ref_fill.fill_id)
        self._order = self._order.with_changes(**totals(self._fills.values()), state=target.value)
        if not self._fills and self._resume_state is OrderState.PARTIALLY_FILLED:
            self._resume_state = OrderState.ACKNOWLEDGED

    def after_trade_correct(self, ref_fill: Fill, fill: Fill, target: Any) -> None:
        """
        Put the corrected fill in place of the one it corrects, and recount.
        """
        self._retire(ref_fill.fill_id, fill)
        self._order = self._order.with_changes(**totals(self._fills.values()), state=target.value)

    def after_request_replace(self, replace: ReplaceRequest) -> None:
        """
        Hold the terms asked for until the venue answers, and count the request (the next
        one gets the next client order id).
        """
        self._pending_replace = replace
        self._replaces += 1

    def after_replace_ack(self, target: Any) -> None:
        """
        The order takes its new terms and client order id, keeping its fills; a quantity
        that fills racing the replace passed is amended to what is filled (FIX C.3.c).
        """
        replace = cast(ReplaceRequest, self._pending_replace)  # its validator checked
        self._order = self._order.with_changes(
            quantity=max(replace.quantity, self._order.filled_quantity),  # FIX C.3.c
            limit_price=replace.limit_price,
            venue_client_order_id=replace.new_client_order_id,
            state=target.value,
        )
        self._replace_answered()

    def after_replace_reject(self) -> None:
        """
        The order keeps its terms.
        """
        self._replace_answered()

    def _replace_answered(self) -> None:
        """No replace is out any more: a cancel asked for meanwhile, if rejected, returns to
        where the order now stands."""
        self._pending_replace = None
        if self._resume_state is OrderState.PENDING_REPLACE:
            filled = self._order.filled_quantity
            self._resume_state = OrderState.PARTIALLY_FILLED if filled else OrderState.ACKNOWLEDGED


def totals(fills: Iterable[Fill]) -> dict[str, Any]:
    """
    The filled quantity, average price and fees of `fills`, added up in order exactly as
    `OrderLifecycle.after_fill` adds them one by one.
    """
    filled, average, fees = Decimal(0), None, Decimal(0)
    for fill in fills:
        total = filled + fill.quantity
        average = ((average or Decimal(0)) * filled + fill.price * fill.quantity) / total
        filled, fees = total, fees + fill.fee
    return {"filled_quantity": filled, "average_fill_price": average, "fees": fees}
