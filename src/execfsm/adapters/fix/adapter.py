"""
`FixAdapter`: execfsm's orders over one FIX 4.4 initiator session run by QuickFIX.

A request waits (up to ``ResponseTimeout``) for the venue's first answer to its ClOrdID and
returns it; everything else the venue says goes to the event sink, from a delivery thread
of its own, in order. A request the session may have sent but that got no answer (a
timeout, a disconnect while it was out) is `OutcomeUnknown`: the order stays flagged and
reconciliation asks the venue (35=H) once the session is logged on again. A ClOrdID is
sent once: a retried submit of the same order sends nothing and stays unknown.
"""

from __future__ import annotations

import collections
import itertools
import logging
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import quickfix as fix

from execfsm.adapters.fix import _messages as msgs
from execfsm.adapters.fix import mapping as m
from execfsm.adapters.fix._delivery import Delivery
from execfsm.adapters.fix._inbox import Inbox
from execfsm.adapters.fix._journal import ClOrdIdJournal
from execfsm.adapters.fix._session import (
    Application,
    SessionClaim,
    initiator_kind,
    running,
    session_settings,
    stopped,
)
from execfsm.adapters.fix._waiter import FillBook, FixRefusal, Waiter
from execfsm.adapters.fix.config import FixConfig
from execfsm.adapters.reports import VenueFill, VenueOrderReport
from execfsm.contracts import (
    ExecutionEvent,
    Order,
    OrderSide,
    OrderState,
    ReplaceRequest,
)
from execfsm.errors import (
    ConfigurationError,
    OutcomeUnknown,
    PermanentVenueError,
    TransientVenueError,
)
from execfsm.typing import Clock, EventSink

_log = logging.getLogger(__name__)
UNKNOWN_CORRELATION = "fix-unknown-order"
"""The correlation id of an event about a ClOrdID this adapter never sent (refused upstream)."""
REQUESTS_KEPT = 10_000
"""How many of the latest requests `FixAdapter.requests` keeps."""
_WORKING = frozenset({OrderState.ACKNOWLEDGED, OrderState.PARTIALLY_FILLED})


class FixAdapter:
    """
    An `OrderAdapter`, `ReplacingAdapter` and `QueryingAdapter` over FIX 4.4.

    Args:
        config: The session's settings (`load_config`).
        clock: Stamps the events (``ts_event``) and the requests' TransactTime.
        name: Shown in audit details.
        journal: Where the ClOrdIDs sent are kept (default: ``execfsm-clordids.jsonl`` in
            the FileStorePath); None keeps them in memory only.
    """

    def __init__(
        self,
        config: FixConfig,
        clock: Clock,
        *,
        name: str = "fix",
        journal: Path | None = None,
        inbox: Path | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._name = name
        self._claim: SessionClaim | None = SessionClaim(config)  # or refused: one per session
        store = Path(config.settings["FileStorePath"])
        self._journal = ClOrdIdJournal(
            journal if journal is not None else store / "execfsm-clordids.jsonl"
        )
        self._inbox = Inbox(inbox if inbox is not None else store / "execfsm-inbox.jsonl")
        self._delivery = Delivery(name, self._inbox.applied)
        self._logged_on = threading.Event()
        self._lock = threading.Lock()  # the waiters
        self._send_lock = threading.Lock()
        self._start_lock = threading.Lock()  # start(), stop()
        self._waiters: dict[str, Waiter] = {}
        self._fills = FillBook()
        self._req_ids = itertools.count(1)
        # Random on purpose, not derived from the injected clock: a venue may resend an
        # earlier run's status answers after a logon, and an injected clock may start every
        # run at the same instant (the demo's stepping clock does), so clock-derived request
        # ids could repeat across runs and an old answer be taken for a new request's.
        self._nonce = secrets.token_hex(4)
        self.requests: collections.deque[tuple[str, str]] = collections.deque(maxlen=REQUESTS_KEPT)
        """The last `REQUESTS_KEPT` requests sent, as (MsgType, ClOrdID or request id), in
        order (bounded: a session may run for weeks)."""
        self.messages_received = 0
        """Application messages from the venue handled so far (queued for the sink, handed
        to a waiting request, or refused)."""
        self.refused_reports: list[FixRefusal] = []
        """Every venue message refused as unreadable (also logged at ERROR)."""
        settings, self._session_id = session_settings(config)
        self._settings = settings
        self._app = Application(self, config)
        self._initiator: fix.SocketInitiator | None = None
        for event in self._inbox.history:  # the executions a status answer needs
            ref = self._journal.ref(event.client_order_id)
            if ref is not None:
                self._fills.add(event, ref)
        for number, event in self._inbox.pending:  # taken before a stop, never applied
            self._delivery.put(number, event)

    # -- the session -----------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The adapter's name."""
        return self._name

    @property
    def logged_on(self) -> bool:
        """Whether the session is logged on now."""
        return self._logged_on.is_set()

    def start(self, wait: float | None = None) -> bool:
        """Start the session (QuickFIX connects and reconnects) and the delivery thread; with
        `wait`, wait that many seconds for the logon: whether it came. A started adapter
        started again changes nothing (its session runs on); one stopped starts afresh."""
        with self._start_lock:
            if self._initiator is None:
                if self._claim is None:  # released by stop(): taken again, or refused
                    self._claim = SessionClaim(self._config)
                self._delivery.restart()
                try:
                    store = fix.FileStoreFactory(self._settings)
                    initiator = initiator_kind(self._config)(self._app, store, self._settings)
                    initiator.start()
                except (fix.ConfigError, fix.RuntimeError) as exc:  # QuickFIX's word
                    raise ConfigurationError(
                        f"FIX session {self._config.sender}->{self._config.target}: {exc}",
                        field="settings",
                        value=None,
                    ) from None
                self._initiator = initiator
                # QuickFIX's thread runs until stop(): what it calls stays alive until then,
                # and a process ending with the adapter unstopped stops it first.
                running(initiator, store, self._app, self._settings)
        return self.wait_logged_on(wait) if wait is not None else self.logged_on

    def wait_logged_on(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a logon; none: why, as far as known, at WARNING."""
        return self._logged_on.wait(timeout) or self._app.no_logon(timeout)

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until every event received so far reached the sink."""
        return self._delivery.idle(timeout)

    def stop(self, *, force: bool = False) -> None:
        """Log out (`force`: without waiting for the venue's Logout), stop the session and
        the delivery thread."""
        with self._start_lock:
            initiator, self._initiator = self._initiator, None
            if initiator is not None:
                initiator.stop(force)
                stopped(initiator)
            self.on_logout()  # logged out now, whatever the venue said: nothing else leaves
            self._delivery.stop()
            if self._claim is not None:  # another adapter may run the session now
                self._claim.release()
                self._claim = None

    def set_event_sink(self, sink: EventSink) -> None:
        """Where unsolicited events go (held until a sink is set)."""
        self._delivery.set_sink(sink)

    @property
    def delivery_failures(self) -> Sequence[tuple[ExecutionEvent, Exception]]:
        """Events the sink raised on (also logged)."""
        return tuple(self._delivery.failures)

    # -- QuickFIX's callbacks (its thread) --------------------------------------------------

    def on_logon(self) -> None:
        """The session is logged on: requests may go."""
        self._logged_on.set()

    def on_logout(self) -> None:
        """The session is down: every request still out has an unknown outcome."""
        self._logged_on.clear()
        with self._lock:
            waiting, self._waiters = self._waiters, {}
        for waiter in waiting.values():
            waiter.fail(
                OutcomeUnknown(f"{waiter.what}: the FIX session went down while it was out")
            )

    def on_message(self, message: fix.Message) -> None:
        """An application message from the venue; a malformed one is refused, visibly."""
        fields: m.Fields = {}
        try:
            fields = msgs.fields_of(message)
            kind = msgs.msg_type(message)
            if kind == "8":
                self._execution_report(fields)
            elif kind == "9":
                self._cancel_reject(fields)
            elif kind == "j":
                self._business_reject(fields)
            else:
                self._refuse(fields, f"MsgType {kind} is not one execfsm reads")
        except m.MalformedReport as exc:
            self._refuse(fields, str(exc), answer=True)
        except Exception as exc:  # noqa: BLE001 - QuickFIX's thread must live: kept, logged
            self._refuse(fields, f"{type(exc).__name__}: {exc}", answer=True)
        finally:
            self.messages_received += 1  # once handled: queued, answered or refused

    def _refuse(self, fields: m.Fields, reason: str, *, answer: bool = False) -> None:
        """Refuse a venue message, visibly; an `answer` to a request waiting under its
        ClOrdID ends that request at once, its outcome unknown (the order is flagged)."""
        refusal = FixRefusal(fields.get(m.MSG_SEQ_NUM, "?"), fields.get(m.CL_ORD_ID, "?"), reason)
        _log.error(
            "FIX message refused: seq %s ClOrdID %s: %s",
            refusal.msg_seq_num,
            refusal.cl_ord_id,
            reason,
        )
        self.refused_reports.append(refusal)
        with self._lock:
            waiter = self._waiters.pop(refusal.cl_ord_id, None) if answer else None
        if waiter is not None:
            waiter.fail(OutcomeUnknown(f"{waiter.what}: the venue's answer was refused: {reason}"))

    def _ref(self, fields: m.Fields) -> m.OrderRef:
        """Our order the message's ClOrdID (11) names. Never found by its OrigClOrdID (41): in
        FIX 4.4 every report about our order carries a ClOrdID we sent (the order's, or our
        cancel's or replace's, all in the journal), so a report whose ClOrdID we never sent is
        about no order of ours, whatever its OrigClOrdID says (refused upstream)."""
        cl = m.text(fields, m.CL_ORD_ID, "ClOrdID")
        ref = self._journal.ref(cl)
        if ref is not None:
            return ref
        return m.OrderRef(cl, UNKNOWN_CORRELATION, fields.get(m.SYMBOL, ""), OrderSide.BUY)

    def _execution_report(self, fields: m.Fields) -> None:
        exec_type = m.text(fields, m.EXEC_TYPE, "ExecType")
        if exec_type == "I":
            self._status_answer(fields)
            return
        ref = self._ref(fields)
        m.check_status(fields)
        if ref.correlation_id != UNKNOWN_CORRELATION:
            m.check_terms(fields, self._journal.accepted(m.text(fields, m.CL_ORD_ID, "ClOrdID")))
        event = m.event_of_report(fields, ref, self._clock.now())
        cl = fields.get(m.CL_ORD_ID, "")
        if event is None:
            _log.info("FIX ExecType %s for ClOrdID %s: nothing to apply", exec_type, cl)
            return
        if exec_type == "8" and fields.get(m.ORD_REJ_REASON) == m.DUPLICATE_ORDER:
            self._duplicate_order(cl, fields)
            return
        if ref.correlation_id != UNKNOWN_CORRELATION:
            if (received := self._fills.received(ref, event)) is not None:
                m.check_cum_qty(fields, event, received)
            self._fills.add(event, ref)
        self._answer(cl, event)

    def _duplicate_order(self, cl: str, fields: m.Fields) -> None:
        """The venue holds this ClOrdID already: not a reject of our order (it is there)."""
        with self._lock:
            waiter = self._waiters.pop(cl, None)
        why = f"the venue already holds ClOrdID {cl}: {fields.get(m.TEXT, '')}".rstrip(": ")
        if waiter is not None:
            waiter.fail(OutcomeUnknown(f"{waiter.what}: {why}"))
        else:
            self._refuse(fields, why)

    def _cancel_reject(self, fields: m.Fields) -> None:
        seq = fields.get(m.MSG_SEQ_NUM, "0")
        sent = self._journal.kind(fields.get(m.CL_ORD_ID, ""))  # what it rejects, by us
        event = m.event_of_cancel_reject(fields, self._ref(fields), self._clock.now(), seq, sent)
        self._answer(fields.get(m.CL_ORD_ID, ""), event)

    def _business_reject(self, fields: m.Fields) -> None:
        """A BusinessMessageReject (35=j): the venue did not process one of our requests,
        named by BusinessRejectRefID (its ClOrdID or request id)."""
        ref = fields.get(m.BUSINESS_REJECT_REF_ID, "")
        why = (
            f"BusinessMessageReject of 35={fields.get(m.REF_MSG_TYPE, '?')} {ref or '?'}: "
            f"reason {fields.get(m.BUSINESS_REJECT_REASON, '?')} {fields.get(m.TEXT, '')}"
        ).rstrip()
        self.on_request_rejected([ref, f"st:{ref}", f"ms:{ref}"] if ref else [], why, fields)

    def on_request_rejected(self, keys: Sequence[str], why: str, fields: m.Fields) -> None:
        """The venue refused one of our requests without processing it (35=j, or a session
        Reject 35=3 whose RefSeqNum names it): a request waiting under one of `keys` ends at
        once, its outcome unknown, not rejected: the order is flagged and reconciliation asks
        the venue (35=H), which says whether it holds the order; a reject would close it for
        good on a message that names our request only by a sequence number or a reference.
        Any other such message is refused, visibly."""
        with self._lock:
            found = [k for k in keys if k in self._waiters]
            waiter = self._waiters.pop(found[0]) if found else None
        if waiter is None:
            self._refuse(fields, why)
            return
        _log.error("FIX %s: %s", waiter.what, why)
        waiter.fail(OutcomeUnknown(f"{waiter.what}: {why}"))

    def _answer(self, cl: str, event: ExecutionEvent) -> None:
        """The first answer to a waiting request goes to it; the rest to the sink. Either
        way it is in the inbox first (a waiter's answer is marked applied as it is handed
        over: the order was written ahead, so a stop before it is applied leaves it
        flagged for reconciliation)."""
        try:
            number = self._inbox.received(event)
        except OSError:  # applied all the same; only a stop before that would lose it
            _log.exception("FIX inbox: event %s could not be kept", event.event_id)
            number = 0
        with self._lock:
            waiter = self._waiters.pop(cl, None)
        if waiter is None:
            self._delivery.put(number, event)
            return
        waiter.events.append(event)
        waiter.done.set()
        self._inbox.applied(number)

    def _status_answer(self, fields: m.Fields) -> None:
        single = fields.get(m.ORD_STATUS_REQ_ID)
        key = f"st:{single}" if single else f"ms:{fields.get(m.MASS_STATUS_REQ_ID)}"
        with self._lock:
            waiter = self._waiters.get(key)
            if waiter is None:
                _log.info("FIX status answer %s: nobody asks any more", key)
                return
            waiter.reports.append(fields)
            total = fields.get(m.TOT_NUM_REPORTS)
            last = fields.get(m.LAST_RPT_REQUESTED) == "Y" or total == "0"
            if single or last or (total is not None and str(len(waiter.reports)) == total):
                del self._waiters[key]
                waiter.done.set()

    # -- requests ----------------------------------------------------------------------------

    def _send(
        self, key: str, what: str, message: fix.Message, record: Callable[[], None]
    ) -> Waiter:
        """Send `message`, its answer awaited under `key`; `record` runs just before."""
        if not self.logged_on:
            raise TransientVenueError(f"{what}: the FIX session is not logged on: not sent")
        waiter = Waiter(what)
        with self._lock:
            self._waiters[key] = waiter
        try:
            record()
        except OSError as exc:  # the ClOrdID could not be kept: never sent
            with self._lock:
                self._waiters.pop(key, None)
            raise PermanentVenueError(
                f"{what}: the ClOrdID journal failed, not sent: {exc}"
            ) from exc
        self.requests.append((msgs.msg_type(message), key.split(":", 1)[-1]))
        try:
            sent = fix.Session.sendToTarget(message, self._session_id)
        except fix.SessionNotFound:
            sent = False
        if not sent:  # QuickFIX may have written it: unknown, never resent
            with self._lock:
                self._waiters.pop(key, None)
            raise OutcomeUnknown(f"{what}: QuickFIX could not send it")
        return waiter

    def _await(self, key: str, waiter: Waiter) -> Waiter:
        if not waiter.done.wait(self._config.response_timeout):
            with self._lock:
                mine = self._waiters.get(key) is waiter
                if mine:
                    del self._waiters[key]
            if mine:
                raise OutcomeUnknown(
                    f"{waiter.what}: no answer within {self._config.response_timeout}s"
                )
            waiter.done.wait()  # taken by an answer (or the logout) as the time ran out
        if waiter.error is not None:
            raise waiter.error
        return waiter

    def submit(self, order: Order, idempotency_key: str) -> Sequence[ExecutionEvent]:
        """
        35=D under ClOrdID = the order's client order id (derived from `idempotency_key`);
        the venue's first answer. A ClOrdID sent before is not sent again: `OutcomeUnknown`.
        """
        cl = order.client_order_id
        what = f"NewOrderSingle {cl}"
        ref = m.ref_of(order, order.quantity, order.limit_price)
        with self._send_lock:
            if self._journal.sent(cl):
                raise OutcomeUnknown(f"{what}: sent before, not sent again (ask its status)")
            message = msgs.new_order_single(order, self._clock.now())
            waiter = self._send(cl, what, message, lambda: self._journal.record(cl, ref, "D"))
        return tuple(self._await(cl, waiter).events)

    def cancel(self, order: Order) -> Sequence[ExecutionEvent]:
        """35=F for the order's current ClOrdID, under a ClOrdID of its own; the answer."""
        ref = m.ref_of(order, order.quantity, order.limit_price)
        with self._send_lock:
            n = self._journal.count(order.client_order_id, "F") + 1
            cl = f"{order.client_order_id}.c{n}"
            message = msgs.cancel_request(order, cl, self._clock.now())
            what = f"OrderCancelRequest {cl}"
            waiter = self._send(cl, what, message, lambda: self._journal.record(cl, ref, "F"))
        return tuple(self._await(cl, waiter).events)

    def replace(self, order: Order, request: ReplaceRequest) -> Sequence[ExecutionEvent]:
        """35=G under ``request.new_client_order_id``, OrigClOrdID chained; the answer."""
        limit = request.limit_price if request.limit_price is not None else order.limit_price
        ref = m.ref_of(order, request.quantity, limit)
        cl = request.new_client_order_id
        what = f"OrderCancelReplaceRequest {cl}"
        with self._send_lock:
            if self._journal.sent(cl):
                raise OutcomeUnknown(f"{what}: sent before, not sent again (ask its status)")
            message = msgs.replace_request(order, request, self._clock.now())
            waiter = self._send(cl, what, message, lambda: self._journal.record(cl, ref, "G"))
        return tuple(self._await(cl, waiter).events)

    # -- queries -------------------------------------------------------------------------------

    def order_report(self, client_order_id: str) -> VenueOrderReport | None:
        """35=H: the venue's word on the order it knows as `client_order_id` (None: unknown
        there), with the executions received for it, which must add up to its CumQty."""
        ref = self._journal.ref(client_order_id)
        req = f"{self._nonce}-{next(self._req_ids)}"
        side = m.SIDES[ref.side] if ref is not None else None
        symbol = ref.symbol if ref is not None else None
        message = msgs.status_request(client_order_id, symbol, side, req)
        key = f"st:{req}"
        with self._send_lock:
            waiter = self._send(key, f"OrderStatusRequest {client_order_id}", message, lambda: None)
        fields = self._await(key, waiter).reports[0]
        answered = fields.get(m.CL_ORD_ID)
        if answered != client_order_id:  # another order's status is never this one's
            why = (
                f"OrderStatusRequest {client_order_id}: the answer is about ClOrdID "
                f"{answered}: refused"
            )
            self._refuse(fields, why)
            raise m.MalformedReport(why)
        if m.unknown_to_venue(fields):
            return None
        if ref is None:
            return m.report_of_status(fields, client_order_id, (), complete=False)
        return m.report_of_status(fields, client_order_id, self._fills.of(ref, client_order_id))

    def open_orders(self) -> Sequence[VenueOrderReport]:
        """35=AF: the venue's working orders (executions listed where all were received)."""
        req = f"{self._nonce}-{next(self._req_ids)}"
        key = f"ms:{req}"
        with self._send_lock:
            waiter = self._send(
                key, "OrderMassStatusRequest", msgs.mass_status_request(req), lambda: None
            )
        reports = []
        for fields in self._await(key, waiter).reports:
            if fields.get(m.TOT_NUM_REPORTS) == "0":
                continue
            cl = m.text(fields, m.CL_ORD_ID, "ClOrdID")
            ref = self._journal.ref(cl)
            held = self._fills.of(ref, cl) if ref is not None else ()
            report = m.report_of_status(fields, cl, held, complete=False)
            if report.state in _WORKING:
                reports.append(report)
        return tuple(reports)

    def fills_since(self, ts: datetime) -> Sequence[VenueFill]:
        """Not answerable over this session: FIX 4.4 order messages list no executions by
        time (a trade capture session would)."""
        raise PermanentVenueError(f"{self._name}: a FIX order session cannot list fills since {ts}")

    def positions(self) -> Mapping[str, Decimal]:
        """Not answerable over this session (positions are a post-trade session's)."""
        raise PermanentVenueError(f"{self._name}: a FIX order session does not report positions")
