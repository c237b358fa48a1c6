"""
Operator kill switches. They fail closed: a switch whose state cannot be read, or reads as
anything but an explicit "off", is active, and every intent stops at the risk gate with
RISK_KILL_SWITCH_ACTIVE.
"""

from __future__ import annotations

import threading
from pathlib import Path

import attrs

INACTIVE_WORDS = frozenset({"off", "inactive", "released", "0", "false"})
ACTIVE_WORDS = frozenset({"on", "active", "engaged", "1", "true"})


@attrs.frozen
class KillSwitchStatus:
    """
    Whether trading is halted, and why.
    """

    active: bool
    reason: str = ""


class ManualKillSwitch:
    """
    A switch an operator flips through the API (`ExecutionOrchestrator.activate_kill_switch`).
    """

    def __init__(self) -> None:
        self._status = KillSwitchStatus(False)
        self._lock = threading.Lock()

    def activate(self, reason: str = "activated by operator") -> None:
        """
        Halt trading.
        """
        with self._lock:
            self._status = KillSwitchStatus(True, reason)

    def release(self) -> None:
        """
        Resume trading.
        """
        with self._lock:
            self._status = KillSwitchStatus(False)

    def status(self) -> KillSwitchStatus:
        """
        The current state.
        """
        return self._status


class FileKillSwitch:
    """
    A switch in a file an operator (or a script) writes: ``off`` lets trading run, ``on``
    halts it. A missing, unreadable or unrecognised file halts it too. Read on every intent,
    so a change takes effect at once.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def status(self) -> KillSwitchStatus:
        """
        The state the file gives, failing closed.
        """
        try:
            text = self.path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            return KillSwitchStatus(True, f"kill switch file {self.path} unreadable: {exc}")
        word = text.split(maxsplit=1)[0].lower() if text else ""
        if word in INACTIVE_WORDS:
            return KillSwitchStatus(False)
        if word in ACTIVE_WORDS:
            return KillSwitchStatus(True, f"kill switch file {self.path}: {text}")
        return KillSwitchStatus(True, f"kill switch file {self.path}: unknown state {text!r}")
