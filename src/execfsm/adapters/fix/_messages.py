"""
The requests execfsm sends, as QuickFIX messages: every value written from its `str` (a
`Decimal` in plain notation), never through a float.
"""

from __future__ import annotations

from datetime import UTC, datetime

import quickfix as fix

from execfsm.adapters.fix import mapping as m
from execfsm.contracts import Order, OrderType, ReplaceRequest

NEW_ORDER_SINGLE, CANCEL, CANCEL_REPLACE, STATUS, MASS_STATUS = "D", "F", "G", "H", "AF"
TRANSACT_TIME = 60
EXPIRE_TIME = 126
MASS_STATUS_REQ_TYPE = 585


def utc_timestamp(when: datetime) -> str:
    """A FIX UTCTimestamp with milliseconds."""
    return when.astimezone(UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]


def _message(msg_type: str, fields: list[tuple[int, str]]) -> fix.Message:
    message = fix.Message()
    message.getHeader().setField(fix.BeginString("FIX.4.4"))
    message.getHeader().setField(fix.MsgType(msg_type))
    for tag, value in fields:
        message.setField(fix.StringField(tag, value))
    return message


def new_order_single(order: Order, now: datetime) -> fix.Message:
    """35=D for `order`, under its own client order id as ClOrdID."""
    fields = [
        (m.CL_ORD_ID, order.client_order_id),
        (m.SYMBOL, order.symbol),
        (m.SIDE, m.SIDES[order.side]),
        (TRANSACT_TIME, utc_timestamp(now)),
        (m.ORDER_QTY, m.fmt(order.quantity)),
        (m.ORD_TYPE, m.ORD_TYPES[order.order_type]),
        (m.TIF, m.TIFS[order.time_in_force]),
    ]
    if order.order_type is OrderType.LIMIT and order.limit_price is not None:
        fields.append((m.PRICE, m.fmt(order.limit_price)))
    if order.expire_time is not None and m.TIFS[order.time_in_force] == "6":
        fields.append((EXPIRE_TIME, utc_timestamp(order.expire_time)))
    return _message(NEW_ORDER_SINGLE, fields)


def cancel_request(order: Order, cl_ord_id: str, now: datetime) -> fix.Message:
    """35=F for `order`, known to the venue as its current ClOrdID (OrigClOrdID)."""
    return _message(
        CANCEL,
        [
            (m.ORIG_CL_ORD_ID, order.current_client_order_id),
            (m.CL_ORD_ID, cl_ord_id),
            (m.SYMBOL, order.symbol),
            (m.SIDE, m.SIDES[order.side]),
            (TRANSACT_TIME, utc_timestamp(now)),
            (m.ORDER_QTY, m.fmt(order.quantity)),
        ],
    )


def replace_request(order: Order, request: ReplaceRequest, now: datetime) -> fix.Message:
    """35=G: the new terms under ClOrdID ``new_client_order_id``, chained by OrigClOrdID."""
    fields = [
        (m.ORIG_CL_ORD_ID, request.orig_client_order_id),
        (m.CL_ORD_ID, request.new_client_order_id),
        (m.SYMBOL, order.symbol),
        (m.SIDE, m.SIDES[order.side]),
        (TRANSACT_TIME, utc_timestamp(now)),
        (m.ORDER_QTY, m.fmt(request.quantity)),
        (m.ORD_TYPE, m.ORD_TYPES[order.order_type]),
    ]
    if request.limit_price is not None:
        fields.append((m.PRICE, m.fmt(request.limit_price)))
    return _message(CANCEL_REPLACE, fields)


def status_request(
    cl_ord_id: str, symbol: str | None, side: str | None, req_id: str
) -> fix.Message:
    """35=H for the order the venue knows as `cl_ord_id`."""
    fields = [(m.CL_ORD_ID, cl_ord_id), (m.ORD_STATUS_REQ_ID, req_id)]
    if symbol is not None:
        fields.append((m.SYMBOL, symbol))
    if side is not None:
        fields.append((m.SIDE, side))
    return _message(STATUS, fields)


def mass_status_request(req_id: str) -> fix.Message:
    """35=AF for every order of the session (MassStatusReqType 7)."""
    return _message(MASS_STATUS, [(m.MASS_STATUS_REQ_ID, req_id), (MASS_STATUS_REQ_TYPE, "7")])


READ_TAGS = (
    m.CL_ORD_ID,
    m.ORIG_CL_ORD_ID,
    m.ORDER_ID,
    m.EXEC_ID,
    m.EXEC_REF_ID,
    m.EXEC_TYPE,
    m.ORD_STATUS,
    m.SYMBOL,
    m.SIDE,
    m.ORD_TYPE,
    m.TIF,
    m.ORDER_QTY,
    m.PRICE,
    m.LAST_QTY,
    m.LAST_PX,
    m.CUM_QTY,
    m.LEAVES_QTY,
    m.AVG_PX,
    m.COMMISSION,
    m.COMM_TYPE,
    m.TEXT,
    m.ORD_REJ_REASON,
    m.CXL_REJ_RESPONSE_TO,
    m.CXL_REJ_REASON,
    m.ORD_STATUS_REQ_ID,
    m.MASS_STATUS_REQ_ID,
    m.TOT_NUM_REPORTS,
    m.LAST_RPT_REQUESTED,
    m.REF_MSG_TYPE,
    m.BUSINESS_REJECT_REF_ID,
    m.BUSINESS_REJECT_REASON,
    45,  # RefSeqNum, of a session Reject
    373,  # SessionRejectReason
)
HEADER_TAGS = (m.MSG_SEQ_NUM, m.POSS_DUP, m.POSS_RESEND)


def fields_of(message: fix.Message) -> dict[int, str]:
    """The fields execfsm reads, as the venue wrote them (header ones included)."""
    fields = {tag: message.getField(tag) for tag in READ_TAGS if message.isSetField(tag)}
    header = message.getHeader()
    fields.update({tag: header.getField(tag) for tag in HEADER_TAGS if header.isSetField(tag)})
    return fields


def msg_type(message: fix.Message) -> str:
    """The message's MsgType (35)."""
    return str(message.getHeader().getField(35))
