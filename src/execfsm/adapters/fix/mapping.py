"""
FIX 4.4 answers → execfsm events and reports, from raw field strings (tag → str).

Pure functions, no QuickFIX: quantities and prices are read as the venue wrote them, into
`Decimal` (never through float); a field that is missing or not a plain decimal is a
`MalformedReport`, which the adapter refuses visibly. The ExecType table is `EXEC_TYPES`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Final

import attrs

from execfsm.adapters.reports import VenueFill, VenueOrderReport
from execfsm.contracts import (
    EventKind,
    ExecutionEvent,
    Fill,
    Order,
    OrderSide,
    OrderState,
    OrderType,
    ReasonCode,
    TimeInForce,
)
from execfsm.errors import ContractViolation, TransientVenueError, VenueError

Fields = Mapping[int, str]
"""A FIX message's fields as the venue wrote them: tag → raw value."""

CL_ORD_ID, ORIG_CL_ORD_ID, ORDER_ID, EXEC_ID, EXEC_REF_ID = 11, 41, 37, 17, 19
EXEC_TYPE, ORD_STATUS, SYMBOL, SIDE, ORD_TYPE, TIF = 150, 39, 55, 54, 40, 59
ORDER_QTY, PRICE, LAST_QTY, LAST_PX, CUM_QTY, LEAVES_QTY, AVG_PX = 38, 44, 32, 31, 14, 151, 6
COMMISSION, COMM_TYPE, TEXT, ORD_REJ_REASON, CXL_REJ_RESPONSE_TO = 12, 13, 58, 103, 434
CXL_REJ_REASON, POSS_DUP, POSS_RESEND, MSG_SEQ_NUM = 102, 43, 97, 34
ORD_STATUS_REQ_ID, MASS_STATUS_REQ_ID, TOT_NUM_REPORTS, LAST_RPT_REQUESTED = 790, 584, 911, 912
REF_MSG_TYPE, BUSINESS_REJECT_REF_ID, BUSINESS_REJECT_REASON = 372, 379, 380

EXEC_TYPES: Final[Mapping[str, EventKind | None]] = {
    "0": EventKind.ACK,  # New
    "F": EventKind.FILL,  # Trade (partial or complete, by LastQty)
    "4": EventKind.CANCEL_ACK,  # Canceled (solicited or not)
    "5": EventKind.REPLACE_ACK,  # Replaced
    "8": EventKind.REJECT,  # Rejected
    "C": EventKind.EXPIRE,  # Expired
    "3": EventKind.EXPIRE,  # Done for day: a day order's leaves end
    "H": EventKind.TRADE_BUST,  # Trade Cancel, names the fill by ExecRefID
    "G": EventKind.TRADE_CORRECT,  # Trade Correct, ExecRefID + the corrected terms
    "I": None,  # Order Status: an answer to a status request, a report, not an event
    "A": None,  # Pending New: ours already (SUBMITTED)
    "6": None,  # Pending Cancel: ours already (PENDING_CANCEL)
    "E": None,  # Pending Replace: ours already (PENDING_REPLACE)
}
"""ExecType (150) → event kind; None: an answer that moves nothing (reported, not applied)."""

ORD_STATUS_STATES: Final[Mapping[str, OrderState]] = {
    "0": OrderState.ACKNOWLEDGED,
    "1": OrderState.PARTIALLY_FILLED,
    "2": OrderState.FILLED,
    "4": OrderState.CANCELLED,
    "8": OrderState.REJECTED,
    "C": OrderState.EXPIRED,
    "3": OrderState.EXPIRED,  # done for day
}
"""OrdStatus (39) → the state a `VenueOrderReport` holds; Pending Cancel/Replace (6, E) report
the working state underneath (by CumQty)."""

SIDES: Final[Mapping[OrderSide, str]] = {OrderSide.BUY: "1", OrderSide.SELL: "2"}
ORD_TYPES: Final[Mapping[OrderType, str]] = {OrderType.MARKET: "1", OrderType.LIMIT: "2"}
TIFS: Final[Mapping[TimeInForce, str]] = {
    TimeInForce.DAY: "0",
    TimeInForce.GTC: "1",
    TimeInForce.IOC: "3",
    TimeInForce.FOK: "4",
    TimeInForce.GTD: "6",
}
UNKNOWN_ORDER: Final = "5"
"""OrdRejReason (103) 5, Unknown order: a status answer for an order the venue never had."""
DUPLICATE_ORDER: Final = "6"
"""OrdRejReason (103) 6, Duplicate order: a ClOrdID the venue already holds."""

_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?|-?\.[0-9]+")


class MalformedReport(VenueError):
    """
    A venue message we cannot read as FIX 4.4 says (a missing or non-decimal field, an
    unknown ExecType): refused, never applied, never guessed at.
    """


@attrs.frozen
class OrderRef:
    """What the adapter knows of one of our orders, by any ClOrdID it was sent under."""

    client_order_id: str
    correlation_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal | None = None
    """The quantity sent under the ClOrdID (None: not known, not checked)."""
    limit_price: Decimal | None = None
    """The limit price sent under the ClOrdID (None: a market order, or not known)."""


def ref_of(order: Order, quantity: Decimal, limit: Decimal | None) -> OrderRef:
    """The `OrderRef` of a request for `order` with these terms (a limit kept for a LIMIT
    order only): the reports under its ClOrdID are checked against them."""
    limit = limit if order.order_type is OrderType.LIMIT else None
    return OrderRef(
        order.client_order_id, order.correlation_id, order.symbol, order.side, quantity, limit
    )


def text(fields: Fields, tag: int, name: str) -> str:
    """The field's value; a `MalformedReport` if it is missing or blank."""
    value = fields.get(tag)
    if value is None or not value.strip():
        raise MalformedReport(f"{name}({tag}) is missing")
    return value


def decimal(fields: Fields, tag: int, name: str) -> Decimal:
    """The field as a `Decimal`, exactly as written (``0.00000001`` stays so)."""
    value = text(fields, tag, name)
    if not _DECIMAL.fullmatch(value):
        raise MalformedReport(f"{name}({tag}) is not a decimal: {value!r}")
    return Decimal(value)


def fmt(value: Decimal) -> str:
    """A `Decimal` as a FIX field value: plain notation, never an exponent."""
    return format(value, "f")


def _fill(fields: Fields) -> Fill:
    fee = Decimal(0)
    if COMMISSION in fields:
        if fields.get(COMM_TYPE, "3") != "3":
            raise MalformedReport(f"CommType(13) {fields[COMM_TYPE]!r}: only 3 (absolute) is read")
        fee = decimal(fields, COMMISSION, "Commission")
    exec_id = text(fields, EXEC_ID, "ExecID")
    qty = decimal(fields, LAST_QTY, "LastQty")
    px = decimal(fields, LAST_PX, "LastPx")
    if qty <= 0 or px <= 0 or fee < 0:
        raise MalformedReport(
            f"execution {exec_id}: fill quantity {qty} and fill price {px} must be > 0, "
            f"fee {fee} >= 0"
        )
    try:
        return Fill(exec_id, qty, px, fee)
    except ContractViolation as exc:
        raise MalformedReport(f"execution {fields.get(EXEC_ID)}: {exc}") from None


def _detail(fields: Fields) -> str:
    parts = [f"ExecType={fields.get(EXEC_TYPE, '?')}"]
    if fields.get(ORD_REJ_REASON):
        parts.append(f"OrdRejReason={fields[ORD_REJ_REASON]}")
    if fields.get(CXL_REJ_REASON):
        parts.append(f"CxlRejReason={fields[CXL_REJ_REASON]}")
    if fields.get(TEXT):
        parts.append(f"Text={fields[TEXT]}")
    if fields.get(POSS_DUP) == "Y" or fields.get(POSS_RESEND) == "Y":
        parts.append("possible duplicate (PossDup/PossResend)")
    return "FIX " + " ".join(parts)


def check_terms(fields: Fields, refs: Iterable[OrderRef]) -> None:
    """
    A report is refused unless its terms are those of one of `refs` (`_check_terms`): the
    terms sent under its ClOrdID, or for a cancel's answer any the order was sent with.
    """
    first: MalformedReport | None = None
    for ref in refs:
        try:
            _check_terms(fields, ref)
        except MalformedReport as exc:
            first = first or exc
            continue
        return
    if first is not None:
        raise first


def _check_terms(fields: Fields, ref: OrderRef) -> None:
    """
    A report naming our order with other terms than we sent under its ClOrdID is not about
    our order as we sent it: refused. Checked: Symbol, Side, OrderQty, Price (a limit order)
    and an execution's LastPx through the limit (a buy above it, a sell below it).
    """
    symbol, side = fields.get(SYMBOL), fields.get(SIDE)
    cl = fields.get(CL_ORD_ID)
    if (symbol is not None and symbol != ref.symbol) or (
        side is not None and side != SIDES[ref.side]
    ):
        raise MalformedReport(
            f"ClOrdID {cl}: the report says Side {side} Symbol {symbol}, "
            f"the order is {ref.side} {ref.symbol}"
        )
    if ref.quantity is not None and ORDER_QTY in fields:
        qty = decimal(fields, ORDER_QTY, "OrderQty")
        if qty != ref.quantity:
            raise MalformedReport(
                f"ClOrdID {cl}: the report says OrderQty {qty}, we sent {fmt(ref.quantity)}"
            )
    limit = ref.limit_price
    if limit is None:
        return
    if PRICE in fields and decimal(fields, PRICE, "Price") != limit:
        raise MalformedReport(
            f"ClOrdID {cl}: the report says Price {fields[PRICE]}, our limit is {fmt(limit)}"
        )
    if fields.get(EXEC_TYPE) in ("F", "G") and LAST_PX in fields:
        px = decimal(fields, LAST_PX, "LastPx")
        if (ref.side is OrderSide.BUY and px > limit) or (
            ref.side is OrderSide.SELL and px < limit
        ):
            raise MalformedReport(
                f"ClOrdID {cl}: an execution at LastPx {px} is through our {ref.side} "
                f"limit {fmt(limit)}"
            )


def event_of_report(fields: Fields, ref: OrderRef, ts: datetime) -> ExecutionEvent | None:
    """
    The event an ExecutionReport (35=8) stands for (`EXEC_TYPES`), for the order `ref`;
    None for the ExecTypes that move nothing. Its id is the venue's ExecID, so a resent
    report is the same event (and a resent fill the same fill id: a duplicate).
    """
    exec_type = text(fields, EXEC_TYPE, "ExecType")
    if exec_type not in EXEC_TYPES:
        raise MalformedReport(f"ExecType(150) {exec_type!r} is not one execfsm reads")
    kind = EXEC_TYPES[exec_type]
    if kind is None:
        return None
    event_id = "fix-" + text(fields, EXEC_ID, "ExecID")
    cid, corr = ref.client_order_id, ref.correlation_id
    detail = _detail(fields)
    if kind is EventKind.FILL:
        return ExecutionEvent(kind, event_id, cid, corr, ts, fill=_fill(fields), detail=detail)
    if kind is EventKind.TRADE_BUST:
        ref_id = text(fields, EXEC_REF_ID, "ExecRefID")
        return ExecutionEvent(kind, event_id, cid, corr, ts, exec_ref_id=ref_id, detail=detail)
    if kind is EventKind.TRADE_CORRECT:
        ref_id = text(fields, EXEC_REF_ID, "ExecRefID")
        return ExecutionEvent(
            kind, event_id, cid, corr, ts, fill=_fill(fields), exec_ref_id=ref_id, detail=detail
        )
    if kind is EventKind.REJECT:
        return ExecutionEvent(
            kind, event_id, cid, corr, ts, reason_code=ReasonCode.ADAPTER_REJECTED, detail=detail
        )
    if kind is EventKind.REPLACE_ACK:  # answers the replace named by its ClOrdID
        answers = text(fields, CL_ORD_ID, "ClOrdID")
        return ExecutionEvent(kind, event_id, cid, corr, ts, causation_id=answers, detail=detail)
    venue_id = fields.get(ORDER_ID) if kind is EventKind.ACK else None
    return ExecutionEvent(kind, event_id, cid, corr, ts, venue_order_id=venue_id, detail=detail)


ENDS_UNFILLED: Final = frozenset({"4", "8", "C"})
"""ExecTypes (Canceled, Rejected, Expired) that end an order short of a fill: never with
OrdStatus 2 (Filled)."""


def check_status(fields: Fields) -> None:
    """An ExecutionReport without OrdStatus (39, required in FIX 4.4) is unreadable, and one
    whose ExecType ends the order unfilled (Canceled, Rejected, Expired) while its OrdStatus
    says Filled contradicts itself: both refused, never applied."""
    status, exec_type = text(fields, ORD_STATUS, "OrdStatus"), fields.get(EXEC_TYPE)
    if status == "2" and exec_type in ENDS_UNFILLED:
        raise MalformedReport(
            f"ClOrdID {fields.get(CL_ORD_ID)}: ExecType {exec_type} contradicts OrdStatus 2 "
            "(Filled): the venue says the order traded in full"
        )


def check_cum_qty(fields: Fields, event: ExecutionEvent, received: Decimal) -> None:
    """
    A report whose CumQty (14) is not what the order has once it is applied (the executions
    `received` before it, plus its own) contradicts what we were told: refused (the order is
    flagged, reconciliation asks the venue), never booked as if nothing were missing. Not
    checked: busts, corrections and possible resends (an older CumQty), or no CumQty.
    """
    if CUM_QTY not in fields or event.kind in (EventKind.TRADE_BUST, EventKind.TRADE_CORRECT):
        return
    if fields.get(POSS_DUP) == "Y" or fields.get(POSS_RESEND) == "Y":
        return
    cum = decimal(fields, CUM_QTY, "CumQty")
    after = received + (event.fill.quantity if event.fill is not None else Decimal(0))
    if cum != after:
        raise MalformedReport(
            f"ClOrdID {fields.get(CL_ORD_ID)}: the report says CumQty {cum}, the executions "
            f"received come to {fmt(after)} with it: a gap with the venue"
        )


def event_of_cancel_reject(
    fields: Fields, ref: OrderRef, ts: datetime, seq: str, sent: str | None = None
) -> ExecutionEvent:
    """
    The CANCEL_REJECT or REPLACE_REJECT an OrderCancelReject (35=9) stands for: by what we
    `sent` under its ClOrdID (``F`` a cancel, ``G`` a replace), else by CxlRejResponseTo
    (434: 1 cancel, 2 replace); `seq` (the message's MsgSeqNum) names it. A 434 that
    contradicts what we sent is said in the event's detail.
    """
    to = text(fields, CXL_REJ_RESPONSE_TO, "CxlRejResponseTo")
    if to not in ("1", "2"):
        raise MalformedReport(f"CxlRejResponseTo(434) {to!r} is neither 1 nor 2")
    answers = text(fields, CL_ORD_ID, "ClOrdID")
    ours = {"F": "1", "G": "2"}.get(sent or "", to)
    kind = EventKind.CANCEL_REJECT if ours == "1" else EventKind.REPLACE_REJECT
    told = "" if ours == to else f" (CxlRejResponseTo {to}, but ClOrdID {answers} is our 35={sent})"
    return ExecutionEvent(
        kind,
        f"fix-cxlrej-{answers}-{seq}",
        ref.client_order_id,
        ref.correlation_id,
        ts,
        causation_id=answers if kind is EventKind.REPLACE_REJECT else None,
        detail="FIX OrderCancelReject " + _detail(fields) + told,
    )


def unknown_to_venue(fields: Fields) -> bool:
    """A status answer (ExecType I) saying the venue does not know the order."""
    return fields.get(ORD_STATUS) == "8" and fields.get(ORD_REJ_REASON) == UNKNOWN_ORDER


def report_of_status(
    fields: Fields, client_order_id: str, fills: Iterable[VenueFill], *, complete: bool = True
) -> VenueOrderReport:
    """
    The `VenueOrderReport` of an Order Status answer (ExecType I) about `client_order_id`,
    with the executions the adapter received for it (`fills`), which must add up to the
    venue's CumQty: else the report is incomplete and the query fails (TransientVenueError),
    so reconciliation asks again rather than guess. Not `complete`: such a report lists no
    executions instead (an open order found by a mass status request).
    """
    status = text(fields, ORD_STATUS, "OrdStatus")
    cum = decimal(fields, CUM_QTY, "CumQty")
    if status in ("6", "E"):  # pending cancel / replace: the working state underneath
        state = OrderState.PARTIALLY_FILLED if cum > 0 else OrderState.ACKNOWLEDGED
    elif status in ORD_STATUS_STATES:
        state = ORD_STATUS_STATES[status]
    elif status == "A":
        raise TransientVenueError(f"order {client_order_id}: the venue holds it Pending New")
    else:
        raise MalformedReport(f"OrdStatus(39) {status!r} is not one execfsm reads")
    held = tuple(fills)
    received = sum((f.quantity for f in held), Decimal(0))
    if received != cum and not complete:
        held = ()
    elif received != cum:
        raise TransientVenueError(
            f"order {client_order_id}: the venue reports CumQty {cum}, the executions "
            f"received add up to {received}: the report is incomplete, ask again"
        )
    side = {v: k for k, v in SIDES.items()}.get(text(fields, SIDE, "Side"))
    if side is None:
        raise MalformedReport(f"Side(54) {fields[SIDE]!r} is neither 1 nor 2")
    order_type = {v: k for k, v in ORD_TYPES.items()}.get(fields.get(ORD_TYPE, ""))
    tif = {v: k for k, v in TIFS.items()}.get(fields.get(TIF, ""))
    avg = decimal(fields, AVG_PX, "AvgPx") if cum > 0 else None
    try:
        return VenueOrderReport(
            client_order_id=client_order_id,
            state=state,
            symbol=text(fields, SYMBOL, "Symbol"),
            side=side,
            quantity=decimal(fields, ORDER_QTY, "OrderQty"),
            cum_quantity=cum,
            leaves_quantity=decimal(fields, LEAVES_QTY, "LeavesQty"),
            avg_price=avg,
            fills=held,
            order_type=order_type,
            limit_price=decimal(fields, PRICE, "Price") if PRICE in fields else None,
            venue_order_id=fields.get(ORDER_ID),
            time_in_force=tif,
        )
    except ContractViolation as exc:
        raise MalformedReport(f"order {client_order_id}: status answer: {exc}") from None


def venue_fill(event: ExecutionEvent, ref: OrderRef) -> VenueFill:
    """The `VenueFill` a FILL or TRADE_CORRECT event's execution is at the venue."""
    assert event.fill is not None  # noqa: S101 - FILL and TRADE_CORRECT carry one
    return VenueFill(
        ref.client_order_id,
        event.fill.fill_id,
        ref.symbol,
        ref.side,
        event.fill.quantity,
        event.fill.price,
        event.fill.fee,
        event.ts_event,
    )
