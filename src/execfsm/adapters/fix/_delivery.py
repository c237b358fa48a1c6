"""
Hands the venue's unsolicited events to the event sink on a thread of its own, in arrival
order, so QuickFIX's thread never waits on an orchestrator lock (a lock another thread may
hold while it waits for QuickFIX's thread to bring its answer).
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable

from execfsm.contracts import ExecutionEvent
from execfsm.typing import EventSink

_log = logging.getLogger(__name__)


class Delivery:
    """
    A FIFO of events for the sink; held until a sink is set. An event the sink raised on is
    not marked applied: the next start delivers it again.
    """

    def __init__(self, name: str, applied: Callable[[int], None]) -> None:
        self._applied = applied
        self._queue: collections.deque[tuple[int, ExecutionEvent]] = collections.deque()
        self._cond = threading.Condition()
        self._sink: EventSink | None = None
        self._busy = False
        self._stopped = False
        self.failures: list[tuple[ExecutionEvent, Exception]] = []
        """Events the sink raised on (also logged): never lost silently."""
        self.delivered = 0
        """How many events reached the sink."""
        self._name = name
        self._thread = threading.Thread(target=self._run, name=f"{name}-delivery", daemon=True)
        self._thread.start()

    def restart(self) -> None:
        """Run again after `stop` (what is still queued is delivered then); nothing if the
        thread runs."""
        with self._cond:
            if self._thread.is_alive() and not self._stopped:
                return
        self._thread.join(timeout=5)
        with self._cond:
            self._stopped = False
            self._thread = threading.Thread(
                target=self._run, name=f"{self._name}-delivery", daemon=True
            )
            self._thread.start()

    def set_sink(self, sink: EventSink) -> None:
        """Deliver to `sink` from now on (and what waited for one)."""
        with self._cond:
            self._sink = sink
            self._cond.notify_all()

    def put(self, number: int, event: ExecutionEvent) -> None:
        """Queue `event` (the inbox's `number`) for the sink; once the sink took it,
        ``applied(number)``."""
        with self._cond:
            self._queue.append((number, event))
            self._cond.notify_all()

    def idle(self, timeout: float) -> bool:
        """Wait until every queued event reached the sink; False if `timeout` passed first."""
        with self._cond:
            return self._cond.wait_for(
                lambda: not self._queue and not self._busy and self._sink is not None, timeout
            )

    def stop(self) -> None:
        """Stop the thread once what is queued was delivered (if a sink is set)."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: self._stopped or (self._queue and self._sink is not None)
                )
                if not self._queue or self._sink is None:
                    return  # stopped
                number, event = self._queue.popleft()
                sink = self._sink
                self._busy = True
            try:
                sink(event)
                self._applied(number)
            except Exception as exc:  # noqa: BLE001 - a background thread: kept and logged
                _log.exception(
                    "FIX event %s for order %s could not be applied",
                    event.event_id,
                    event.client_order_id,
                )
                self.failures.append((event, exc))
            with self._cond:
                self._busy = False
                self.delivered += 1
                self._cond.notify_all()
