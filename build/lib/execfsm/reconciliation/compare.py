"""
`compare`: one order beside the venue's report of it, as a `Finding`: agree, the events that
take the order to the venue's truth, behind (the venue knows less than we do), impossible
(an operator must look), or unknown. Pure: it reads the order, sends nothing, changes nothing.

The events it proposes are the order machine's own (ACK, REPLACE_ACK/REJECT, FILL, CANCEL_ACK,
CANCEL_REJECT, EXPIRE, REJECT), in the order a venue would have sent them, under ids derived
from the pass and the order (``recon-<pass>-<order>-<what>``), so a replay names them again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from execfsm.adapters.reports import VenueOrderReport
from execfsm.contracts import (
    FINAL_ORDER_STATES,
    EventKind,
    ExecutionEvent,
    Fill,
    Order,
    OrderState,
    ReasonCode,
    ReplaceRequest,
)
from execfsm.fsm.order import OrderLifecycle
from execfsm.reconciliation.findings import Finding, FindingKind

_S = OrderState
_OPEN_AT_VENUE = frozenset({_S.ACKNOWLEDGED, _S.PARTIALLY_FILLED})
_ENDS_BY = {
    _S.CANCELLED: EventKind.CANCEL_ACK,
    _S.EXPIRED: EventKind.EXPIRE,
    _S.REJECTED: EventKind.REJECT,
}
_DEAD_UNFILLED = frozenset({_S.CANCELLED, _S.EXPIRED, _S.REJECTED, _S.FAILED})
_VENUE_STATES = _OPEN_AT_VENUE | {_S.FILLED, _S.CANCELLED, _S.EXPIRED, _S.REJECTED}
"""The states a venue can report (SUBMITTED, PENDING_* and FAILED are ours alone)."""


def _impossible(order: Order, why: str) -> Finding:
    return Finding(
        FindingKind.IMPOSSIBLE,
        f"order {order.client_order_id}: {why}",
        reason=ReasonCode.RECON_REPORT_IMPOSSIBLE,
    )


def _fill_terms(fill: Fill) -> str:
    return f"{fill.quantity} @ {fill.price} fee {fill.fee}"


def agree(ours: OrderState, theirs: OrderState) -> bool:
    """
    Whether our state and the venue's say the same: equal, or both ended without a fill
    (our clock expired it and the venue cancelled it; we failed it and the venue refused it).
    """
    return ours == theirs or (ours in _DEAD_UNFILLED and theirs in _DEAD_UNFILLED)


def compare(
    order: Order,
    fills: Sequence[Fill],
    report: VenueOrderReport | None,
    *,
    sent: bool,
    unacknowledged: bool,
    pending_replace: ReplaceRequest | None,
    tag: str,
    now: datetime,
) -> Finding:
    """
    The finding for `order` (its counted `fills`) against the venue's `report` (None: the
    venue does not know it). `unacknowledged`: no ACK reached us (SUBMITTED, or a cancel
    pending from there); `pending_replace`: a replace the venue has not answered; `tag`
    names the pass in the event ids; `now` stamps the events. An order never `sent` agrees
    only with a venue that does not know it.
    """
    cid = order.client_order_id
    if not sent:
        if report is None:
            why = f"order {cid} was never sent, and the venue does not know it"
            return Finding(FindingKind.AGREES, why)
        return _impossible(order, f"it was never sent, yet the venue holds it {report.state}")
    if report is None:
        return Finding(FindingKind.UNKNOWN, f"the venue does not know order {cid}")
    contradiction = _contradiction(order, report, pending_replace)
    if contradiction:
        return _impossible(order, contradiction)
    theirs = {f.exec_id: f for f in report.fills}
    for fill in fills:
        venue_fill = theirs.get(fill.fill_id)
        if venue_fill is not None and (venue_fill.quantity, venue_fill.price, venue_fill.fee) != (
            fill.quantity,
            fill.price,
            fill.fee,
        ):
            return _impossible(
                order,
                f"execution {fill.fill_id} is {_fill_terms(fill)} in our books, "
                f"{venue_fill.quantity} @ {venue_fill.price} fee {venue_fill.fee} at the venue",
            )
    ours = {fill.fill_id for fill in fills}
    missing = sorted(ours - set(theirs))
    if missing:
        return Finding(
            FindingKind.BEHIND,
            f"order {cid}: the venue's report lacks execution(s) {', '.join(missing)} we hold",
            reason=ReasonCode.RECON_VENUE_BEHIND,
        )
    events = _catch_up(order, report, ours, unacknowledged, pending_replace, tag, now)
    if events:
        listed = ", ".join(shown(event) for event in events)
        return Finding(FindingKind.DIFFERS, f"order {cid}: the venue knows more: {listed}", events)
    if agree(order.state, report.state):
        filled = f"{order.filled_quantity} filled"
        return Finding(
            FindingKind.AGREES, f"order {cid}: {order.state}, {filled}, as the venue holds it"
        )
    if order.state is _S.CANCELLED and report.state in _OPEN_AT_VENUE:  # its cancel lags
        return Finding(
            FindingKind.BEHIND,
            f"order {cid}: {order.state} here, still {report.state} in the venue's report",
            reason=ReasonCode.RECON_VENUE_BEHIND,
        )
    if order.state in FINAL_ORDER_STATES and report.state in _OPEN_AT_VENUE:
        return _impossible(
            order,
            f"{order.state} here, still {report.state} at the venue (it may fill there): an "
            "operator must end it at the venue",
        )
    return _impossible(order, f"we hold it {order.state}, the venue {report.state}")


def _contradiction(
    order: Order, report: VenueOrderReport, pending_replace: ReplaceRequest | None
) -> str:
    """
    Why `report` cannot be of our `order` ("" if it can): another symbol or side, a state
    no venue holds, terms we never asked for, executions that are not the order's or that
    it names twice, more filled than ordered, or an order we know never left.
    """
    if (report.symbol, report.side) != (order.symbol, order.side):
        return (
            f"the venue holds it as {report.side} {report.symbol}, we sent {order.side} "
            f"{order.symbol}"
        )
    if report.state not in _VENUE_STATES:
        return f"the venue reports it {report.state}, a state only we can hold"
    quantities = {order.quantity}
    prices = {order.limit_price}
    if pending_replace is not None:
        quantities.add(pending_replace.quantity)
        prices.add(pending_replace.limit_price)
    if report.quantity not in quantities:
        return f"the venue holds it for {report.quantity}, we asked for {order.quantity}"
    if report.limit_price is not None and report.limit_price not in prices:
        return f"the venue holds it at {report.limit_price}, we asked for {order.limit_price}"
    seen: set[str] = set()
    for fill in report.fills:
        if (fill.symbol, fill.side) != (order.symbol, order.side):
            return f"execution {fill.exec_id} is a {fill.side} of {fill.symbol}"
        if fill.exec_id in seen:
            return f"the venue names execution {fill.exec_id} twice"
        seen.add(fill.exec_id)
    ordered = max(quantities)
    if report.cum_quantity > ordered:
        return f"the venue reports {report.cum_quantity} filled, more than the {ordered} ordered"
    unsent = ReasonCode.DISPATCH_OUTCOME_UNKNOWN not in order.recon_flags
    if order.state is _S.FAILED and unsent and report.state is not _S.REJECTED:
        return f"we failed it as never sent, the venue holds it {report.state}"
    return ""


def _catch_up(
    order: Order,
    report: VenueOrderReport,
    ours: set[str],
    unacknowledged: bool,
    pending_replace: ReplaceRequest | None,
    tag: str,
    now: datetime,
) -> tuple[ExecutionEvent, ...]:
    """The events a venue would have sent us for `report`, that we have not had."""
    base = f"recon-{tag}-{order.client_order_id}"
    events: list[ExecutionEvent] = []
    if unacknowledged and report.state is not _S.REJECTED:
        events.append(ExecutionEvent.ack(order, f"{base}-ack", now, report.venue_order_id))
    if (
        pending_replace is not None
        and report.state is not _S.REJECTED
        and order.state not in FINAL_ORDER_STATES  # an ended order takes no new terms
    ):
        taken = report.quantity == pending_replace.quantity and (
            report.limit_price is None or report.limit_price == pending_replace.limit_price
        )
        kind = EventKind.REPLACE_ACK if taken else EventKind.REPLACE_REJECT
        events.append(
            ExecutionEvent(
                kind,
                f"{base}-{kind.lower()}",
                order.client_order_id,
                order.correlation_id,
                now,
                causation_id=pending_replace.new_client_order_id,
                detail="from the venue's report",
            )
        )
    for venue_fill in report.fills:
        if venue_fill.exec_id not in ours:
            fill = Fill(venue_fill.exec_id, venue_fill.quantity, venue_fill.price, venue_fill.fee)
            events.append(ExecutionEvent.of_fill(order, f"{base}-{venue_fill.exec_id}", now, fill))
    ending = _ENDS_BY.get(report.state)
    if ending is EventKind.REJECT and order.state is not _S.REJECTED:
        detail = "the venue reports it REJECTED"
        events.append(
            ExecutionEvent.reject(order, f"{base}-reject", now, ReasonCode.ADAPTER_REJECTED, detail)
        )
    elif (
        ending is not None
        and ending is not EventKind.REJECT
        and not agree(order.state, report.state)
    ):
        events.append(ExecutionEvent.of_kind(ending, order, f"{base}-{ending.lower()}", now))
    elif report.state in _OPEN_AT_VENUE and order.state is _S.PENDING_CANCEL:
        detail = f"the venue still holds it {report.state}: the cancel did not take"
        events.append(
            ExecutionEvent.of_kind(
                EventKind.CANCEL_REJECT, order, f"{base}-cancel_reject", now, detail
            )
        )
    return tuple(events)


def shown(event: ExecutionEvent) -> str:
    if event.fill is not None:
        return f"{event.kind} {event.fill.fill_id} {_fill_terms(event.fill)}"
    return str(event.kind)


def _unacknowledged(lifecycle: OrderLifecycle) -> bool:
    """No ACK reached us: SUBMITTED, or a cancel pending from there."""
    order = lifecycle.order
    return order.state is _S.SUBMITTED or (
        order.state is _S.PENDING_CANCEL and lifecycle.resume_state is _S.SUBMITTED
    )


def compare_order(
    lifecycle: OrderLifecycle, report: VenueOrderReport | None, tag: str, now: datetime
) -> Finding:
    """`compare` for the order `lifecycle` holds, as it stands."""
    return compare(
        lifecycle.order,
        lifecycle.fills,
        report,
        sent=lifecycle.submitted,
        unacknowledged=_unacknowledged(lifecycle),
        pending_replace=lifecycle.pending_replace,
        tag=tag,
        now=now,
    )


def venue_had(lifecycle: OrderLifecycle) -> bool:
    """Whether the venue ever told us it had the order (an ACK or a fill)."""
    order = lifecycle.order
    told = lifecycle.submitted and not _unacknowledged(lifecycle)
    return (
        bool(lifecycle.fills)
        or order.venue_order_id is not None
        or (told and order.state not in (_S.REJECTED, _S.FAILED))
    )
