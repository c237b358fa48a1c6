"""
The QuickFIX side of the adapter: settings from a `FixConfig`, and the `Application` whose
callbacks QuickFIX's thread calls. No callback ever lets an exception out (the binding would
end the process): each hands over to the adapter and logs what it could not handle.
"""

from __future__ import annotations

import atexit
import logging
from typing import Protocol

import quickfix as fix

from execfsm.adapters.fix.config import FixConfig, canonical, is_secret

_log = logging.getLogger(__name__)
USERNAME, PASSWORD = 553, 554


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


class Application(fix.Application):  # type: ignore[misc]
    """QuickFIX's callbacks → `Handler`; the Logon carries the credentials, if set."""

    def __init__(self, handler: Handler, config: FixConfig) -> None:
        super().__init__()
        self._handler = handler
        self._config = config

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
        return None

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        return None

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
