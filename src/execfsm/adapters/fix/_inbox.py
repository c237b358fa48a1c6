"""
Every event the venue sent, made durable as it arrives (before QuickFIX counts the message
as received, so before the venue would never send it again), and marked once applied. A
process killed between the two finds the unmarked events at its next start and delivers
them again: a report QuickFIX took is applied at least once, and a second time is a
duplicate the order machine recognises (and audits as one).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from execfsm.adapters.fix._lines import whole_lines
from execfsm.contracts import ExecutionEvent
from execfsm.errors import ConfigurationError
from execfsm.ids import canonical_json, decode

_log = logging.getLogger(__name__)


class Inbox:
    """
    A JSON-lines file of ``{"in": n, "event": …}`` and ``{"done": n}`` records (None: in
    memory only, nothing kept).
    """

    def __init__(self, path: Path | None) -> None:
        self._lock = threading.Lock()
        self._path = path
        self._count = 0
        self.pending: list[tuple[int, ExecutionEvent]] = []
        """Events received and never marked applied, in arrival order (read at start)."""
        self.history: list[ExecutionEvent] = []
        """Every event received before this start, in arrival order."""
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            return
        received: dict[int, ExecutionEvent] = {}
        # a last line cut by a crash is cut off: QuickFIX never counted it received
        for number, line in whole_lines(path, "inbox", "inbox record"):
            try:
                row = json.loads(line)
                if "done" in row:
                    received.pop(int(row["done"]), None)
                    continue
                event = decode(ExecutionEvent, canonical_json(row["event"]))
                received[int(row["in"])] = event
                self.history.append(event)
                self._count = max(self._count, int(row["in"]))
            except (ValueError, KeyError, TypeError) as exc:
                raise ConfigurationError(
                    f"{path}: line {number} is not an inbox record: {type(exc).__name__}",
                    field="inbox",
                    value=str(path),
                ) from None
        self.pending = sorted(received.items())

    def received(self, event: ExecutionEvent) -> int:
        """Keep `event` (synced); its number."""
        with self._lock:
            self._count += 1
            if self._path is not None:
                line = canonical_json({"in": self._count, "event": event})
                with self._path.open("a", encoding="utf-8") as out:
                    out.write(line + "\n")
                    out.flush()
                    os.fsync(out.fileno())
            return self._count

    def applied(self, number: int) -> None:
        """Mark event `number` applied (not synced: lost, it is only delivered again)."""
        if self._path is None or number == 0:  # 0: never kept
            return
        try:
            with self._lock, self._path.open("a", encoding="utf-8") as out:
                out.write(canonical_json({"done": number}) + "\n")
        except OSError:  # it is only delivered again at the next start (a duplicate)
            _log.exception("FIX inbox: event %s could not be marked applied", number)
