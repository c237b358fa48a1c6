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

from statemachine.states import States

from execfsm.contracts import (
    FINAL_ORDER_STATES,
    Fill,
    Order,
    OrderState,
    ReasonCode,
    ReplaceRequest,
)
from execfsm.errors import ContractViolation
from execfsm.fsm import _order_guards as e
from execfsm.fsm import guards as g
from execfsm.fsm import revisions as r
from execfsm.fsm._order_events import OrderEvents, was_submitted
from execfsm.fsm.builtin_properties import ORDER_PROPERTIES
from execfsm.fsm.engine import Engine
from execfsm.fsm.order_cases import ORDER_CASES
from execfsm.fsm.outcome import EVENT_OF_KIND, EventOutcome
from execfsm.ids import canonical_json, decode, encode, encode_fixed
from execfsm.typing import AuditSink

__all__ = ["EVENT_OF_KIND", "EventOutcome", "OrderLifecycle", "was_submitted"]


class OrderLifecycle(OrderEvents):
    """
    One order's state machine. Deny by default: an edge not listed here is refused.

    Args:
        order: The CREATED order this machine will own.
        audit: The sink every transition and refusal is written to.
        engine: `Engine.COMPILED` (default) or `Engine.REFERENCE` (python-statemachine's).
    """

    audit_machine = "order"
    durable_on_return = False  # the orchestrator's units of work make it durable
    audit_instance = "client_order_id"
    resting_states = (OrderState.FILLED.value,)  # not final (a bust reopens it), nothing owed

    _ = States.from_enum(
        OrderState,
        initial=OrderState.CREATED,
        final=sorted(FINAL_ORDER_STATES - {OrderState.FILLED}),
    )

    # fmt: off
    # One edge per line, grouped by source. `fill` picks PARTIALLY_FILLED or FILLED by the
    # cumulative quantity (cond); every rule that can refuse an event is a validator. What
    # the venue may say where no edge is listed is declared in `ORDER_CASES`.

    # CREATED
    _.CREATED.to(_.SUBMITTED, event="submit", validators=e.CONTRACT)
    _.CREATED.to(_.FAILED, event="fail", validators=g.reason_given)

    # SUBMITTED
    _.SUBMITTED.to(_.ACKNOWLEDGED, event="acknowledge")
    # A fill before the ACK is accepted: the venue filled it.
    _.SUBMITTED.to(_.PARTIALLY_FILLED, event="fill", **e.PARTIAL_FILL)
    _.SUBMITTED.to(_.FILLED, event="fill", **e.COMPLETE_FILL)
    _.SUBMITTED.to(_.REJECTED, event="reject", validators=g.reason_given)
    _.SUBMITTED.to(_.PENDING_CANCEL, event="request_cancel")
    _.SUBMITTED.to(_.CANCELLED, event="cancel_ack")  # unsolicited: the venue cancelled it
    _.SUBMITTED.to(_.EXPIRED, event="expire")
    # Only when the send surely failed: an unknown outcome stays SUBMITTED and is flagged.
    _.SUBMITTED.to(_.FAILED, event="fail", validators=g.reason_given)

    # ACKNOWLEDGED
    _.ACKNOWLEDGED.to(_.PARTIALLY_FILLED, event="fill", **e.PARTIAL_FILL)
    _.ACKNOWLEDGED.to(_.FILLED, event="fill", **e.COMPLETE_FILL)
    # Some venues reject after accepting (e.g. a session-end check).
    _.ACKNOWLEDGED.to(_.REJECTED, event="reject", validators=g.reason_given)
    _.ACKNOWLEDGED.to(_.PENDING_CANCEL, event="request_cancel")
    _.ACKNOWLEDGED.to(_.PENDING_REPLACE, event="request_replace", validators=r.replace_terms_valid)
    _.ACKNOWLEDGED.to(_.CANCELLED, event="cancel_ack")  # unsolicited
    _.ACKNOWLEDGED.to(_.EXPIRED, event="expire")

    # PARTIALLY_FILLED
    _.PARTIALLY_FILLED.to.itself(event="fill", **e.PARTIAL_FILL, internal=True)
    _.PARTIALLY_FILLED.to(_.FILLED, event="fill", **e.COMPLETE_FILL)
    _.PARTIALLY_FILLED.to(_.PENDING_CANCEL, event="request_cancel")
    _.PARTIALLY_FILLED.to(
        _.PENDING_REPLACE, event="request_replace", validators=r.replace_terms_valid
    )
    _.PARTIALLY_FILLED.to(_.CANCELLED, event="cancel_ack")  # unsolicited, e.g. an IOC remainder
    _.PARTIALLY_FILLED.to(_.EXPIRED, event="expire")
    _.PARTIALLY_FILLED.to.itself(event="trade_bust", **e.BUST_LEAVES_FILLS, internal=True)
    _.PARTIALLY_FILLED.to(_.ACKNOWLEDGED, event="trade_bust", **e.BUST_LEAVES_NONE)
    _.PARTIALLY_FILLED.to.itself(event="trade_correct", **e.CORRECT_OPEN, internal=True)
    _.PARTIALLY_FILLED.to(_.FILLED, event="trade_correct", **e.CORRECT_COMPLETE)
    # A replace a fill overtook (to FILLED) is still out after a bust or correction brought
    # the order back here: the venue's answer still counts.
    _.ACKNOWLEDGED.to.itself(event="replace_ack", **e.ANSWERED, internal=True)
    _.ACKNOWLEDGED.to.itself(event="replace_reject", **e.ANSWERED, internal=True)
    _.PARTIALLY_FILLED.to.itself(event="replace_ack", **e.REOPENED, internal=True)
    _.PARTIALLY_FILLED.to(_.FILLED, event="replace_ack", **e.STILL_FILLED)
    _.PARTIALLY_FILLED.to.itself(event="replace_reject", **e.ANSWERED, internal=True)

    # PENDING_CANCEL
    # Fills race the cancel request; a rejected cancel then returns to PARTIALLY_FILLED.
    _.PENDING_CANCEL.to.itself(event="fill", **e.PARTIAL_FILL, internal=True)
    _.PENDING_CANCEL.to(_.FILLED, event="fill", **e.COMPLETE_FILL)
    _.PENDING_CANCEL.to(_.CANCELLED, event="cancel_ack")
    _.PENDING_CANCEL.to(_.SUBMITTED, event="cancel_reject", cond=g.resumes_submitted)
    _.PENDING_CANCEL.to(_.ACKNOWLEDGED, event="cancel_reject", cond=g.resumes_acknowledged)
    _.PENDING_CANCEL.to(_.PARTIALLY_FILLED, event="cancel_reject", cond=g.resumes_partially)
    _.PENDING_CANCEL.to(_.PENDING_REPLACE, event="cancel_reject", cond=g.resumes_replace)
    # A replace still out when the cancel was asked for may be answered first (FIX lets a
    # cancel follow a pending cancel/replace); the order stays PENDING_CANCEL on its terms.
    _.PENDING_CANCEL.to.itself(event="replace_ack", **e.REOPENED, internal=True)
    _.PENDING_CANCEL.to(_.FILLED, event="replace_ack", **e.STILL_FILLED)
    _.PENDING_CANCEL.to.itself(event="replace_reject", **e.ANSWERED, internal=True)
    _.PENDING_CANCEL.to(_.EXPIRED, event="expire")
    # The venue refused the order itself while our cancel was out (nautilus: "real world
    # possibility"); not once it has fills.
    _.PENDING_CANCEL.to(_.REJECTED, event="reject", validators=e.REJECT_UNFILLED)
    _.PENDING_CANCEL.to.itself(event="trade_bust", validators=e.BUST, internal=True)
    _.PENDING_CANCEL.to.itself(event="trade_correct", **e.CORRECT_OPEN, internal=True)
    _.PENDING_CANCEL.to(_.FILLED, event="trade_correct", **e.CORRECT_COMPLETE)

    # PENDING_REPLACE
    # Fills race the replace and apply against the terms in force until the venue answers.
    _.PENDING_REPLACE.to.itself(event="fill", **e.PARTIAL_FILL, internal=True)
    _.PENDING_REPLACE.to(_.FILLED, event="fill", **e.COMPLETE_FILL)
    _.PENDING_REPLACE.to(_.ACKNOWLEDGED, event="replace_ack", **e.REPLACED_UNFILLED)
    # Fills that raced the replace reach (or pass) its new quantity: done, the quantity
    # amended to what is filled (FIX C.3.c).
    _.PENDING_REPLACE.to(_.FILLED, event="replace_ack", **e.REPLACED_COMPLETE)
    _.PENDING_REPLACE.to(_.PARTIALLY_FILLED, event="replace_ack", **e.REPLACED_OPEN)
    _.PENDING_REPLACE.to(_.ACKNOWLEDGED, event="replace_reject", cond=r.nothing_filled)
    _.PENDING_REPLACE.to(_.FILLED, event="replace_reject", **e.REFUSED_COMPLETE)  # was FILLED
    _.PENDING_REPLACE.to(_.PARTIALLY_FILLED, event="replace_reject", **e.REFUSED_OPEN)
    _.PENDING_REPLACE.to(_.PENDING_CANCEL, event="request_cancel")  # the replace unanswered
    _.PENDING_REPLACE.to(_.CANCELLED, event="cancel_ack")  # unsolicited
    _.PENDING_REPLACE.to(_.EXPIRED, event="expire")
    _.PENDING_REPLACE.to(_.REJECTED, event="reject", validators=e.REJECT_UNFILLED)
    _.PENDING_REPLACE.to.itself(event="trade_bust", validators=e.BUST, internal=True)
    _.PENDING_REPLACE.to.itself(event="trade_correct", **e.CORRECT_OPEN, internal=True)
    _.PENDING_REPLACE.to(_.FILLED, event="trade_correct", **e.CORRECT_COMPLETE)

    # FILLED is done, but the venue may bust or correct a fill after the fact, by the
    # cumulative quantity left; and a filled order's quantity may be raised (FIX C.1.c), also
    # by a replace that a fill overtook.
    _.FILLED.to(_.PARTIALLY_FILLED, event="trade_bust", **e.BUST_LEAVES_FILLS)
    _.FILLED.to(_.ACKNOWLEDGED, event="trade_bust", **e.BUST_LEAVES_NONE)
    _.FILLED.to.itself(event="trade_correct", **e.CORRECT_COMPLETE, internal=True)
    _.FILLED.to(_.PARTIALLY_FILLED, event="trade_correct", **e.CORRECT_OPEN)
    _.FILLED.to(_.PENDING_REPLACE, event="request_replace", validators=r.replace_terms_valid)
    _.FILLED.to(_.PARTIALLY_FILLED, event="replace_ack", **e.REOPENED)
    _.FILLED.to.itself(event="replace_ack", **e.STILL_FILLED, internal=True)

    # CANCELLED, REJECTED, EXPIRED, FAILED are final: no edge leaves them. What a venue may
    # still say of them (a late fill, a bust) is declared in `ORDER_CASES`.

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
        self._submitted = _restoring and was_submitted(order)
        # Rare, so nothing is kept per order for them until they happen:
        self._late_ids: frozenset[str] = frozenset()
        self._retired: dict[str, Fill] | None = None  # fills busted or corrected away
        self._pending_replace: ReplaceRequest | None = None
        self._replaces = 0
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
        retired_fills: Iterable[Fill] = (),
        pending_replace: ReplaceRequest | None = None,
        replace_count: int = 0,
        engine: Engine | str | None = None,
    ) -> OrderLifecycle:
        """
        Re-open an order recovered from a store, in the state it was left in: no transition
        is taken, so nothing is audited again.

        Args:
            fills: The fills the order counts, in arrival order.
            late_fills: Those of them that arrived after the order had ended (one not in
                `fills` is counted too, after them).
            submitted: Whether the order ever took ``submit``; None reads it from the
                snapshot (`was_submitted`).
            retired_fills: Fills a bust or correction took back (their ids stay used).
            pending_replace: The replace the venue has not answered.
            replace_count: How many replaces were ever requested (the next one's id follows).
        """
        lifecycle = cls(order, audit, engine=engine, _restoring=True)
        counted = {f.fill_id: f for f in fills}
        late = tuple(late_fills)
        for fill in late:
            counted.setdefault(fill.fill_id, fill)
        lifecycle._fills = counted
        lifecycle._late_ids = frozenset(f.fill_id for f in late)
        retired = {f.fill_id: f for f in retired_fills}
        lifecycle._retired = retired or None
        lifecycle._resume_state = resume_state
        lifecycle._pending_replace = pending_replace
        lifecycle._replaces = replace_count
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
            encode_fixed(self._order),  # kept in memory only: no older bytes to equal
            tuple([encode_fixed(fill) for fill in self._fills.values()]),
            tuple(sorted(self._late_ids)),
            None if resume is None else resume.value,
            self._submitted,
            tuple([encode(fill) for fill in self._retired.values()]) if self._retired else (),
            None if self.pending_replace is None else encode(self.pending_replace),
            self._replaces,
        )

    @classmethod
    def from_packed(
        cls, packed: tuple[Any, ...], audit: AuditSink, *, engine: Engine | str | None = None
    ) -> OrderLifecycle:
        """
        Re-open an order `packed` was made from, as `restore` does: nothing is audited again.
        """
        order, fills, late_ids, resume, submitted, retired, pending, replaces = packed
        counted = [decode(Fill, fill) for fill in fills]
        return cls.restore(
            decode(Order, order),
            audit,
            fills=counted,
            late_fills=[fill for fill in counted if fill.fill_id in late_ids],
            resume_state=None if resume is None else OrderState(resume),
            submitted=submitted,
            retired_fills=[decode(Fill, fill) for fill in retired],
            pending_replace=None if pending is None else decode(ReplaceRequest, pending),
            replace_count=replaces,
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
        The fills the order counts (in its filled quantity, average price and fees), in
        arrival order: also those after it ended, not those a bust or correction took back.
        """
        return tuple(self._fills.values())

    @property
    def late_fills(self) -> tuple[Fill, ...]:
        """
        The counted fills that arrived after the order had ended (each flagged it).
        """
        if not self._late_ids:
            return ()
        return tuple(f for f in self._fills.values() if f.fill_id in self._late_ids)

    @property
    def retired_fills(self) -> tuple[Fill, ...]:
        """
        Fills a bust or correction took back, as they were when taken back.
        """
        return tuple(self._retired.values()) if self._retired else ()

    @property
    def pending_replace(self) -> ReplaceRequest | None:
        """
        The replace the venue has not answered yet (a fill may have filled the order in the
        meantime: the venue's answer then still counts).
        """
        return self._pending_replace

    @property
    def resume_state(self) -> OrderState | None:
        """
        Where a rejected cancel returns the order (None unless a cancel is pending): SUBMITTED
        says the venue never acknowledged it.
        """
        return self._resume_state

    @property
    def replace_count(self) -> int:
        """
        How many replaces were requested for this order, answered or not.
        """
        return self._replaces

    @property
    def is_final(self) -> bool:
        """
        True once the order is done (FILLED, CANCELLED, REJECTED, EXPIRED or FAILED).
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
        Inject the order, the fills seen, the pre-cancel state and the pending replace into
        guards by name.
        """
        return {
            "order": self._order,
            "seen_fills": self._fills,
            "resume_state": self._resume_state,
            "pending_replace": self._pending_replace,
        }

    def prepare_event(
        self,
        fill: Fill | None = None,
        ref_fill: Fill | None = None,
        replace: ReplaceRequest | None = None,
    ) -> dict[str, Any]:
        """
        A record carries what the trail alone needs to rebuild the ledgers, as canonical
        JSON: a fill's record the fill, a bust's the fill it takes back, a correction's both
        (``corrected`` and ``fill``), a replace request its terms.
        """
        context = self.guard_context()
        if ref_fill is not None:
            if fill is None:
                context["detail"] = canonical_json(ref_fill)
            else:
                context["detail"] = canonical_json({"corrected": ref_fill, "fill": fill})
        elif fill is not None:
            context["detail"] = canonical_json(fill)
        elif replace is not None:
            context["detail"] = canonical_json(replace)
        return context

    # -- local actions ------------------------------------------------------------------------

    def replace_request(
        self, *, quantity: Decimal | None = None, limit_price: Decimal | None = None
    ) -> ReplaceRequest:
        """
        The `ReplaceRequest` for new terms (None keeps a term as it is), under the next
        client order id in the order's chain; send it as ``request_replace``.
        """
        order = self._order
        return ReplaceRequest(
            client_order_id=order.client_order_id,
            new_client_order_id=f"{order.client_order_id}.r{self._replaces + 1}",
            orig_client_order_id=order.current_client_order_id,
            quantity=order.quantity if quantity is None else quantity,
            limit_price=order.limit_price if limit_price is None else limit_price,
        )

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
        if (
            source.value is OrderState.PENDING_CANCEL
            and self._resume_state is not OrderState.PENDING_REPLACE  # still out: it returns there
        ):
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

    def after_expire(self, reason_code: ReasonCode | None = None) -> None:
        """
        Keep why the order expired when we say (EXPIRED_BY_CLOCK); the venue's EXPIRE says
        nothing more.
        """
        if reason_code is not None:
            self._order = self._order.with_changes(reason_code=reason_code)

    def after_fail(self, reason_code: ReasonCode) -> None:
        """
        Keep why the order failed.
        """
        self._order = self._order.with_changes(reason_code=reason_code)

    properties = ORDER_PROPERTIES  # what `execfsm verify` proves: P4, P5


OrderLifecycle.edges = frozenset(
    (transition.source.value.value, transition.event)
    for state in OrderLifecycle.states
    for transition in state.transitions
)
OrderLifecycle.cases = ORDER_CASES
