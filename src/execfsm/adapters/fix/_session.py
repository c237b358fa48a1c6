"""
The QuickFIX side of the adapter: settings from a `FixConfig`, and the `Application` whose
callbacks QuickFIX's thread calls. No callback ever lets an exception out (the binding would
end the process): each hands over to the adapter and logs what it could not handle.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import quickfix as fix

from execfsm.adapters.fix._messages import fields_of
from execfsm.adapters.fix.config import FixConfig, canonical, is_secret
from execfsm.errors import ConfigurationError, StoreError
from execfsm.ledger._lock import WriterLock

_log = logging.getLogger(__name__)
USERNAME, PASSWORD = 553, 554
REF_SEQ_NUM, REF_MSG_TYPE, SESSION_REJECT_REASON, TEXT = 45, 372, 373, 58
SENT_KEPT = 10_000
"""How many of our latest messages' sequence numbers a session Reject is matched against."""


def session_settings(config: FixConfig) -> tuple[fix.SessionSettings, fix.SessionID]:
    """QuickFIX's settings for the one session of `config` (no credential among them, and
    ``PersistMessages=N`` however a key was spelled: QuickFIX reads keys case-insensitively)."""
    settings = fix.SessionSettings()
    session = fix.SessionID(config.settings["BeginString"], config.sender, config.target)
    values = fix.Dictionary()
    for key, value in sorted(config.settings.items()):
        if is_secret(key) or canonical(key) == "PersistMessages":
            continue
        values.setString(key, value)
    values.setString("PersistMessages", "N")
    settings.set(session, values)
    return settings, session


class Handler(Protocol):
    """What the application hands QuickFIX's callbacks to."""

    def on_logon(self) -> None: ...
    def on_logout(self) -> None: ...
    def on_message(self, message: fix.Message) -> None: ...
    def on_request_rejected(
        self, keys: Sequence[str], why: str, fields: dict[int, str]
    ) -> None: ...


class Application(fix.Application):  # type: ignore[misc]
    """QuickFIX's callbacks → `Handler`; the Logon carries the credentials, if set."""

    def __init__(self, handler: Handler, config: FixConfig) -> None:
        super().__init__()
        self._handler = handler
        self._config = config
        self.last_word = (
            "the venue said nothing (no Logout, no Reject): is SocketConnectHost:Port "
            "listening, and the CompIDs the venue expects?"
        )
        self._sent: OrderedDict[str, tuple[str, list[str]]] = OrderedDict()
        """Our last application messages by MsgSeqNum: their MsgType and the keys their
        answer is awaited under (a session Reject names a message by RefSeqNum only)."""

    def onCreate(self, session_id: fix.SessionID) -> None:
        return None

    def onLogon(self, session_id: fix.SessionID) -> None:
        try:
            self._handler.on_logon()
        except Exception:  # noqa: BLE001 - never out of QuickFIX's thread
            _log.exception("FIX logon handling failed")

    def onLogout(self, session_id: fix.SessionID) -> None:
        try:
            self._handler.on_logout()
        except Exception:  # noqa: BLE001 - never out of QuickFIX's thread
            _log.exception("FIX logout handling failed")

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        try:
            if message.getHeader().getField(35) == "A":
                if self._config.username is not None:
                    message.setField(fix.StringField(USERNAME, self._config.username.value))
                if self._config.password is not None:
                    message.setField(fix.StringField(PASSWORD, self._config.password.value))
        except Exception:  # noqa: BLE001 - never out of QuickFIX's thread
            _log.error("FIX: the Logon's credentials could not be set")  # never their values

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        try:
            kind = message.getHeader().getField(35)
            if kind in ("3", "5"):  # a Reject or a Logout: the venue's last word, if no logon
                said = message.getField(TEXT) if message.isSetField(TEXT) else "no Text"
                self.last_word = f"the venue's last {'Reject' if kind == '3' else 'Logout'}: {said}"
            if kind == "3":
                self._session_reject(fields_of(message))
        except Exception:  # noqa: BLE001 - never out of QuickFIX's thread
            _log.exception("FIX: a session Reject could not be handled")

    def no_logon(self, timeout: float) -> bool:
        """Say at WARNING why no logon came within `timeout` seconds, as far as known: False."""
        _log.warning(
            "FIX session %s->%s: no logon within %ss: %s",
            self._config.sender,
            self._config.target,
            timeout,
            self.last_word,
        )
        return False

    def _session_reject(self, fields: dict[int, str]) -> None:
        """A session-level Reject (35=3) of our message RefSeqNum (45): the request sent
        under it, if its RefMsgType (372) agrees, ends at once (`Handler.on_request_rejected`)."""
        ref_seq, ref_type = fields.get(REF_SEQ_NUM, ""), fields.get(REF_MSG_TYPE)
        kind, keys = self._sent.get(ref_seq, ("", []))
        if ref_type is not None and ref_type != kind:
            keys = []  # not the message we sent under that number: refused, not matched
        why = (
            f"session Reject of MsgSeqNum {ref_seq or '?'} (35={ref_type or '?'}): reason "
            f"{fields.get(SESSION_REJECT_REASON, '?')} {fields.get(TEXT, '')}"
        ).rstrip()
        self._handler.on_request_rejected(keys, why, fields)

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        try:  # QuickFIX calls this with the MsgSeqNum set, just before it sends
            header = message.getHeader()
            kind, seq = header.getField(35), header.getField(34)
            keys = [f"st:{message.getField(790)}"] if message.isSetField(790) else []
            keys += [f"ms:{message.getField(584)}"] if message.isSetField(584) else []
            keys += [message.getField(11)] if message.isSetField(11) and not keys else []
            self._sent[seq] = (kind, keys)
            while len(self._sent) > SENT_KEPT:
                self._sent.popitem(last=False)
        except Exception:  # noqa: BLE001 - never out of QuickFIX's thread
            _log.exception("FIX: an outgoing message could not be noted")

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        self._handler.on_message(message)  # catches everything but a FIX session reject


_RUNNING: dict[int, tuple[fix.SocketInitiator, tuple[object, ...]]] = {}
"""The initiators started and not stopped, with what their thread calls: kept alive (an
initiator collected while its thread runs ends the process), stopped at exit."""


def running(initiator: fix.SocketInitiator, *uses: object) -> None:
    """Keep the started `initiator` (and what it `uses`) alive until `stopped`, or exit."""
    _RUNNING[id(initiator)] = (initiator, uses)


def stopped(initiator: fix.SocketInitiator) -> None:
    """The `initiator` was stopped: no longer kept."""
    _RUNNING.pop(id(initiator), None)


@atexit.register
def _stop_running() -> None:
    """Stop every initiator left running, before the interpreter tears down its objects."""
    for initiator, _ in list(_RUNNING.values()):
        try:
            initiator.stop(True)
        except Exception:  # noqa: BLE001 - the process is ending: logged, the others stopped
            _log.exception("FIX: a session left running could not be stopped at exit")
    _RUNNING.clear()


def initiator_kind(config: FixConfig) -> type[fix.SocketInitiator]:
    """QuickFIX's TLS initiator when ``SocketUseSSL=Y`` (the plain one would ignore the key
    and send the Logon, password included, in clear); the plain one otherwise."""
    use = next((v for k, v in config.settings.items() if k.lower() == "socketusessl"), "N")
    if use.strip().upper() in ("Y", "YES", "TRUE", "1"):
        return fix.SSLSocketInitiator  # type: ignore[no-any-return]
    return fix.SocketInitiator  # type: ignore[no-any-return]


_CLAIMED: set[tuple[str, str]] = set()
"""The (SenderCompID, TargetCompID) of the sessions claimed in this process."""
_CLAIMS_LOCK = threading.Lock()


class SessionClaim:
    """
    The one adapter of a session: an OS lock (``flock``) on ``execfsm-session.lock`` in the
    FileStorePath, and the session's CompIDs in this process, taken when built (else a
    `ConfigurationError` naming the path). A second adapter on the same store or CompIDs
    would log the first off the venue and share QuickFIX's session with it (a later stop
    could crash the process), so it is refused. The OS drops the lock if the process dies.
    """

    def __init__(self, config: FixConfig) -> None:
        store = Path(config.settings["FileStorePath"])
        self._ids = (config.sender, config.target)
        where = f"FIX session {config.sender}->{config.target} (FileStorePath {store})"
        with _CLAIMS_LOCK:
            if self._ids in _CLAIMED:
                raise ConfigurationError(
                    f"{where}: another adapter of this process runs this session; one adapter "
                    "per session (stop the other first)",
                    field="SenderCompID",
                    value=config.sender,
                )
            try:
                store.mkdir(parents=True, exist_ok=True)
                self._lock: WriterLock | None = WriterLock(store / "execfsm-session")
            except (StoreError, OSError) as exc:
                raise ConfigurationError(
                    f"{where}: another adapter holds this FileStorePath (one adapter per "
                    f"session and store): {exc}",
                    field="FileStorePath",
                    value=str(store),
                ) from None
            _CLAIMED.add(self._ids)
        self._forget = weakref.finalize(self, _CLAIMED.discard, self._ids)  # if never released

    def release(self) -> None:
        """Let another adapter take the session (once; later calls do nothing)."""
        with _CLAIMS_LOCK:
            if self._lock is not None:
                self._lock.release()
                self._lock = None
                self._forget()
