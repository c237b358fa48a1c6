"""
`FixAcceptor`: a scripted FIX 4.4 venue for tests and demos, on a QuickFIX SocketAcceptor
(127.0.0.1, a free port, a FileStore in a folder of its own).

By default it works like `SimulatedVenue`: it acknowledges, fills what is marketable at its
reference price (in parts, if asked), rests the rest, cancels and replaces resting orders,
and a price move (`set_price`) fills resting orders it crosses. It answers status requests
(35=H, 35=AF) truthfully from its book. Tests script the rest: `fill`, `cancel`, `expire`,
`done_for_day`, `bust`, `correct`, `resend` (an ExecID again, PossDup), `send_report` (any
fields, for hostile reports), `reject_symbols`, `hold_next_request` (no answer),
`drop_next_request` (take the request, answer nothing, drop the connection) and
`skip_sequence` (a gap the initiator must ask to be filled). A ClOrdID it holds already is
refused (OrdRejReason 6) and never becomes a second order; `new_order_singles` counts every
NewOrderSingle by ClOrdID.
"""

from __future__ import annotations

import collections
import socket
import threading
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import quickfix as fix

from execfsm.adapters.fix import _messages as msgs
from execfsm.adapters.fix import mapping as m
from execfsm.adapters.fix._session import PASSWORD, USERNAME
from execfsm.adapters.simulated import DEFAULT_PRICES
from execfsm.testing._fix_book import WORKING, Book, FieldList, VenueOrder

POSS_DUP, POSS_RESEND, ORIG_SENDING_TIME = 43, 97, 122


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class FixAcceptor(fix.Application):  # type: ignore[misc]
    """
    The scripted venue. Args: `directory` for its store; its CompID `sender` and ours
    `target` (default ``VENUE<port>`` and ``EXECFSM<port>``); reference `prices`;
    `fee_bps` (Commission on each fill); `partial_fills` (fractions each fill takes).
    A ThreadedSocketAcceptor: its stop joins its threads (the plain SocketAcceptor's, run
    from Python, races its own loop thread when stopped).
    """

    def __init__(
        self,
        directory: Path,
        *,
        sender: str | None = None,
        target: str | None = None,
        prices: Mapping[str, Decimal | str | int] | None = None,
        fee_bps: Decimal | str | int = 0,
        partial_fills: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self.directory = Path(directory)
        self.port = free_port()
        # CompIDs unique to this venue by default: QuickFIX keeps every session of the
        # process in one registry by SessionID, and two sessions of one id (a venue of an
        # earlier test not yet collected) must never meet there.
        self.sender = sender or f"VENUE{self.port}"
        self.target = target or f"EXECFSM{self.port}"
        self.prices = {s: Decimal(p) for s, p in (prices or DEFAULT_PRICES).items()}
        self.fractions = tuple(Decimal(f) for f in partial_fills)
        self.book = Book(Decimal(fee_bps))
        self.lock = threading.RLock()
        self.new_order_singles: collections.Counter[str] = collections.Counter()
        """Every NewOrderSingle received, by ClOrdID (a count of 2 is a double send)."""
        self.received: list[tuple[str, str]] = []
        """Every application request, as (MsgType, ClOrdID or request id)."""
        self.admin_received: collections.Counter[str] = collections.Counter()
        """Session messages received, by MsgType (``2``: ResendRequest)."""
        self.logons: list[dict[int, str]] = []
        """The credentials (553, 554) each Logon carried."""
        self.sent_count = 0
        """Application messages sent (or queued for a resend while disconnected)."""
        self.reject_symbols: set[str] = set()
        self.reject_cancels = False
        self.reject_replaces = False
        self._hold = 0
        self.held: list[tuple[str, FieldList]] = []
        """Answers of held requests, not sent."""
        self._drop = 0
        self._drop_answers: list[bool] = []
        self._drop_now = False
        self.logged_on = threading.Event()
        self._session = fix.SessionID("FIX.4.4", self.sender, self.target)
        self._acceptor: fix.ThreadedSocketAcceptor | None = None

    # -- running -------------------------------------------------------------------------------

    def settings_text(self) -> str:
        """The acceptor's own QuickFIX settings."""
        return (
            "[DEFAULT]\nConnectionType=acceptor\nSocketAcceptAddress=127.0.0.1\n"
            f"SocketAcceptPort={self.port}\nFileStorePath={self.directory / 'store'}\n"
            "StartTime=00:00:00\nEndTime=00:00:00\nUseDataDictionary=N\n"
            f"[SESSION]\nBeginString=FIX.4.4\nSenderCompID={self.sender}\n"
            f"TargetCompID={self.target}\n"
        )

    def initiator_config(self, store: Path, *, extra: str = "") -> str:
        """A settings file for execfsm's side of the session (short heartbeats); `extra`
        (``Key=Value`` lines) goes in ``[SESSION]``, so it may override a default."""
        return (
            "[DEFAULT]\nConnectionType=initiator\nHeartBtInt=1\nReconnectInterval=1\n"
            f"FileStorePath={store}\nResponseTimeout=2\n"
            f"[SESSION]\nBeginString=FIX.4.4\nSenderCompID={self.target}\n"
            f"TargetCompID={self.sender}\nSocketConnectHost=127.0.0.1\n"
            f"SocketConnectPort={self.port}\n{extra}"
        )

    def start(self) -> FixAcceptor:
        """Listen."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / "acceptor.cfg"
        path.write_text(self.settings_text(), encoding="utf-8")
        settings = fix.SessionSettings(str(path))
        self._acceptor = fix.ThreadedSocketAcceptor(self, fix.FileStoreFactory(settings), settings)
        self._acceptor.start()
        return self

    def stop(self, *, force: bool = True) -> None:
        """Stop listening (the session logs out; `force`: without waiting for the answer)."""
        if self._acceptor is not None:
            self._acceptor.stop(force)
            self._acceptor = None

    def disconnect(self) -> None:
        """Drop the connection at the next message from the initiator (a heartbeat within
        HeartBtInt at the latest): QuickFIX's own thread drops it, never a foreign one."""
        with self.lock:
            self._drop_now = True

    @staticmethod
    def _disconnect(session_id: fix.SessionID) -> None:
        session = fix.Session.lookupSession(session_id)
        if session is not None:
            session.disconnect()

    # -- QuickFIX's callbacks ----------------------------------------------------------------

    def onCreate(self, session_id: fix.SessionID) -> None:
        return None

    def onLogon(self, session_id: fix.SessionID) -> None:
        self.logged_on.set()

    def onLogout(self, session_id: fix.SessionID) -> None:
        self.logged_on.clear()

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        return None

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        kind = msgs.msg_type(message)
        with self.lock:
            drop, self._drop_now = self._drop_now, False
        if drop:
            self._disconnect(session_id)
            return
        self.admin_received[kind] += 1
        if kind == "A":
            self.logons.append(
                {t: message.getField(t) for t in (USERNAME, PASSWORD) if message.isSetField(t)}
            )

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        return None

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        fields = msgs.fields_of(message)
        if message.isSetField(585):
            fields[585] = message.getField(585)
        kind = msgs.msg_type(message)
        with self.lock:
            key = fields.get(m.CL_ORD_ID) or fields.get(m.MASS_STATUS_REQ_ID, "")
            self.received.append((kind, key))
            if kind == "D":
                self.new_order_singles[key] += 1
            replies = self._handle(kind, fields)
            if self._hold:
                self._hold -= 1
                self.held += replies  # taken, not answered (until `release_held`)
                return
            if self._drop:
                self._drop -= 1
                later = replies if self._drop_answers.pop(0) else []
                self._disconnect(session_id)  # in QuickFIX's thread, as QuickFIX does
                for reply in later:  # kept by QuickFIX, resent after the next logon
                    self._send(*reply)
                return
        for reply in replies:
            self._send(*reply)

    # -- requests --------------------------------------------------------------------------------

    def _handle(self, kind: str, f: dict[int, str]) -> list[tuple[str, FieldList]]:
        if kind == "D":
            return self._new_order(f)
        if kind == "F":
            return self._cancel_request(f)
        if kind == "G":
            return self._replace_request(f)
        if kind == "H":
            order = self.book.find(f.get(m.CL_ORD_ID, ""))
            extra = [(m.ORD_STATUS_REQ_ID, f.get(m.ORD_STATUS_REQ_ID, ""))]
            return [("8", self.book.status(order, f.get(m.CL_ORD_ID, ""), extra))]
        if kind == "AF":
            return self._mass_status(f.get(m.MASS_STATUS_REQ_ID, ""))
        return []

    def _new_order(self, f: dict[int, str]) -> list[tuple[str, FieldList]]:
        cl = f.get(m.CL_ORD_ID, "")
        if self.book.find(cl) is not None:  # a venue never takes a ClOrdID twice
            held = self.book.find(cl)
            assert held is not None  # noqa: S101 - found above
            text = [(m.ORD_REJ_REASON, m.DUPLICATE_ORDER), (m.TEXT, "duplicate ClOrdID")]
            return [("8", self.book.report(held, "8", extra=text))]
        order = self.book.add(f)
        price = self.prices.get(order.symbol)
        if price is None or order.symbol in self.reject_symbols:
            order.status = "8"
            why = [(m.ORD_REJ_REASON, "1"), (m.TEXT, f"unknown symbol {order.symbol}")]
            return [("8", self.book.report(order, "8", extra=why))]
        replies = [("8", self.book.report(order, "0"))]
        if self._marketable(order, price):
            replies += [
                ("8", r) for r in self.book.fills_for(order, self._px(order, price), self.fractions)
            ]
        if order.leaves > 0 and order.tif in ("3", "4"):  # IOC / FOK: the rest is cancelled
            order.status = "4"
            replies.append(("8", self.book.report(order, "4")))
        return replies

    def _cancel_request(self, f: dict[int, str]) -> list[tuple[str, FieldList]]:
        cl, orig = f.get(m.CL_ORD_ID, ""), f.get(m.ORIG_CL_ORD_ID, "")
        order = self.book.find(orig)
        if order is None or order.status not in WORKING or self.reject_cancels:
            return [("9", self._cancel_reject(order, cl, orig, "1"))]
        order.status = "4"
        self.book.aliases[cl] = self.book.aliases[orig]
        order.cl_ord_id = cl
        return [("8", self.book.report(order, "4", orig=orig))]

    def _replace_request(self, f: dict[int, str]) -> list[tuple[str, FieldList]]:
        cl, orig = f.get(m.CL_ORD_ID, ""), f.get(m.ORIG_CL_ORD_ID, "")
        order = self.book.find(orig)
        qty = Decimal(f.get(m.ORDER_QTY, "0"))
        if order is None or order.status not in WORKING or qty <= order.cum or self.reject_replaces:
            return [("9", self._cancel_reject(order, cl, orig, "2"))]
        order.quantity = qty
        if m.PRICE in f:
            order.price = Decimal(f[m.PRICE])
        order.recount()
        self.book.aliases[cl] = self.book.aliases[orig]
        order.cl_ord_id = cl
        replies = [("8", self.book.report(order, "5", orig=orig))]
        price = self.prices.get(order.symbol)
        if price is not None and order.leaves > 0 and self._marketable(order, price):
            replies += [
                ("8", r) for r in self.book.fills_for(order, self._px(order, price), self.fractions)
            ]
        return replies

    def _cancel_reject(self, order: VenueOrder | None, cl: str, orig: str, to: str) -> FieldList:
        return [
            (m.ORDER_ID, order.order_id if order else "NONE"),
            (m.CL_ORD_ID, cl),
            (m.ORIG_CL_ORD_ID, orig),
            (m.ORD_STATUS, order.status if order else "8"),
            (m.CXL_REJ_RESPONSE_TO, to),
            (m.CXL_REJ_REASON, "0" if order else "1"),
            (m.TEXT, "not working at the venue" if order else "unknown order"),
        ]

    def _mass_status(self, req: str) -> list[tuple[str, FieldList]]:
        working = [o for o in self.book.orders.values() if o.status in WORKING]
        if not working:
            none = [
                (m.MASS_STATUS_REQ_ID, req),
                (m.TOT_NUM_REPORTS, "0"),
                (m.LAST_RPT_REQUESTED, "Y"),
            ]
            return [("8", self.book.status(None, "NONE", none))]
        total = str(len(working))
        return [
            (
                "8",
                self.book.status(
                    o,
                    o.cl_ord_id,
                    [
                        (m.MASS_STATUS_REQ_ID, req),
                        (m.TOT_NUM_REPORTS, total),
                        (m.LAST_RPT_REQUESTED, "Y" if i == len(working) else "N"),
                    ],
                ),
            )
            for i, o in enumerate(working, start=1)
        ]

    @staticmethod
    def _marketable(order: VenueOrder, price: Decimal) -> bool:
        if order.ord_type == "1" or order.price is None:
            return True
        return order.price >= price if order.side == "1" else order.price <= price

    @staticmethod
    def _px(order: VenueOrder, price: Decimal) -> Decimal:
        if order.price is None:
            return price
        return min(price, order.price) if order.side == "1" else max(price, order.price)

    # -- sending ---------------------------------------------------------------------------------

    def _send(self, kind: str, fields: FieldList, header: FieldList | None = None) -> None:
        message = fix.Message()
        message.getHeader().setField(fix.BeginString("FIX.4.4"))
        message.getHeader().setField(fix.MsgType(kind))
        for tag, value in header or []:
            message.getHeader().setField(fix.StringField(tag, value))
        for tag, value in fields:
            message.setField(fix.StringField(tag, value))
        with self.lock:
            self.sent_count += 1
        fix.Session.sendToTarget(message, self._session)

    def _order(self, cl_ord_id: str) -> VenueOrder:
        order = self.book.find(cl_ord_id)
        if order is None:
            raise KeyError(f"the venue holds no order {cl_ord_id}")
        return order

    # -- scripts ---------------------------------------------------------------------------------

    def hold_next_request(self, count: int = 1) -> None:
        """Take the next `count` requests into the book and answer none of them (their
        answers wait in `held`)."""
        with self.lock:
            self._hold += count

    def release_held(self) -> None:
        """Send the answers held back, late."""
        with self.lock:
            late, self.held = self.held, []
        for reply in late:
            self._send(*reply)

    def drop_next_request(self, *, answer_later: bool = False) -> None:
        """Take the next request into the book and drop the connection before answering;
        `answer_later`: answer once it is down (QuickFIX keeps the answers and resends them
        after the next logon, PossDup), else never."""
        with self.lock:
            self._drop += 1
            self._drop_answers.append(answer_later)

    def skip_sequence(self, count: int = 2) -> None:
        """Jump the outgoing MsgSeqNum by `count`: the next message opens a gap."""
        session = fix.Session.lookupSession(self._session)
        session.setNextSenderMsgSeqNum(session.getExpectedSenderNum() + count)

    def set_price(self, symbol: str, price: Decimal | str | int) -> None:
        """Move a price; resting orders it makes marketable fill (reports sent)."""
        with self.lock:
            self.prices[symbol] = Decimal(price)
            replies = []
            for order in self.book.orders.values():
                if (
                    order.symbol == symbol
                    and order.status in WORKING
                    and self._marketable(order, Decimal(price))
                ):
                    replies += self.book.fills_for(
                        order, self._px(order, Decimal(price)), self.fractions
                    )
        for reply in replies:
            self._send("8", reply)

    def fill(self, cl_ord_id: str, qty: Decimal | str, px: Decimal | str) -> str:
        """An execution of the order (even a final one: a late fill); its ExecID."""
        with self.lock:
            report = self.book.trade(self._order(cl_ord_id), Decimal(qty), Decimal(px))
        self._send("8", report)
        return dict(report)[m.EXEC_ID]

    def _end(self, cl_ord_id: str, status: str, exec_type: str, text: str) -> None:
        with self.lock:
            order = self._order(cl_ord_id)
            order.status = status
            report = self.book.report(order, exec_type, extra=[(m.TEXT, text)])
        self._send("8", report)

    def cancel(self, cl_ord_id: str) -> None:
        """Cancel the order of the venue's own accord (ExecType 4)."""
        self._end(cl_ord_id, "4", "4", "cancelled by the venue")

    def expire(self, cl_ord_id: str) -> None:
        """Expire the order (ExecType C)."""
        self._end(cl_ord_id, "C", "C", "expired")

    def done_for_day(self, cl_ord_id: str) -> None:
        """End the order's day (ExecType 3)."""
        self._end(cl_ord_id, "3", "3", "done for day")

    def bust(self, cl_ord_id: str, exec_id: str) -> None:
        """Cancel the execution `exec_id` (ExecType H, ExecRefID)."""
        with self.lock:
            order = self._order(cl_ord_id)
            qty, px = order.executions.pop(exec_id)
            order.recount()
            extra = [(m.EXEC_REF_ID, exec_id), (m.LAST_QTY, m.fmt(qty)), (m.LAST_PX, m.fmt(px))]
            report = self.book.report(order, "H", extra=extra)
        self._send("8", report)

    def correct(self, cl_ord_id: str, exec_id: str, qty: Decimal | str, px: Decimal | str) -> str:
        """Correct the execution `exec_id` to `qty` @ `px` (ExecType G); the new ExecID."""
        with self.lock:
            order = self._order(cl_ord_id)
            order.executions.pop(exec_id)
            new = self.book.exec_id()
            order.executions[new] = (Decimal(qty), Decimal(px))
            order.recount()
            extra = [(m.EXEC_REF_ID, exec_id), (m.LAST_QTY, str(qty)), (m.LAST_PX, str(px))]
            report = self.book.report(order, "G", extra=extra, exec_id=new)
        self._send("8", report)
        return new

    def resend(self, exec_id: str, *, flag: int = POSS_DUP) -> None:
        """Send the report of `exec_id` again, flagged PossDupFlag (or PossResend)."""
        with self.lock:
            report = self.book.sent[exec_id]
        header = [(flag, "Y")]
        if flag == POSS_DUP:
            header.append((ORIG_SENDING_TIME, "20260101-00:00:00.000"))
        self._send("8", report, header)

    def send_report(self, fields: FieldList, kind: str = "8") -> None:
        """Send any message: a hostile or malformed report."""
        self._send(kind, fields)
