"""
`PeriodicReconciliation`: a daemon thread that runs `ExecutionOrchestrator.reconcile` every
few seconds, so that flagged orders and orders waiting on the venue are asked about without
anyone calling it. A pass that raises is reported and kept, and the next pass runs as planned.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from execfsm.errors import ConfigurationError
from execfsm.reconciliation.report import ReconReport

if TYPE_CHECKING:  # the orchestrator imports this package: no runtime import back
    from execfsm.orchestrator import ExecutionOrchestrator

_log = logging.getLogger(__name__)

OnReport = Callable[[ReconReport | Exception], None]
"""What hears of every pass: its `ReconReport`, or the exception it raised."""


class PeriodicReconciliation:
    """
    Reconcile `orchestrator` every `every_seconds` on a daemon thread, from `start` until
    `stop` (or for the ``with`` block).

    Args:
        orchestrator: Whose ``reconcile(full=full)`` is called.
        every_seconds: The wait before each pass (the first one too): a number > 0.
        on_report: Called on the thread after every pass with its report, or with the
            exception the pass raised. An exception it raises itself is kept in
            `last_error` and logged; the thread goes on.
        full: Run full passes (external orders, positions) instead of the flagged and
            waiting orders only.

    A pass that raises is kept in `last_error` (and logged when there is no `on_report`);
    it never ends the thread. `stop` waits for a pass in progress to finish.
    """

    def __init__(
        self,
        orchestrator: ExecutionOrchestrator,
        every_seconds: float,
        *,
        on_report: OnReport | None = None,
        full: bool = False,
    ) -> None:
        if (
            isinstance(every_seconds, bool)
            or not isinstance(every_seconds, int | float)
            or not math.isfinite(every_seconds)
            or every_seconds <= 0
        ):
            raise ConfigurationError(
                f"every_seconds: must be a number of seconds > 0, got {every_seconds!r}",
                field="every_seconds",
                value=every_seconds,
            )
        if on_report is not None and not callable(on_report):
            raise ConfigurationError(
                f"on_report: must be callable, got {on_report!r}",
                field="on_report",
                value=on_report,
            )
        self.orchestrator = orchestrator
        self.every_seconds = float(every_seconds)
        self.full = full
        self._on_report = on_report
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.passes = 0
        """How many passes ran (those that raised too)."""
        self.last_report: ReconReport | None = None
        """The last pass's report that did not raise."""
        self.last_error: Exception | None = None
        """The last exception a pass (or `on_report`) raised; None until one does."""

    @property
    def running(self) -> bool:
        """Whether the thread is running."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self) -> PeriodicReconciliation:
        """
        Start the thread (again after a `stop`).

        Raises:
            RuntimeError: it is already running.
        """
        with self._lock:
            if self.running:
                raise RuntimeError("periodic reconciliation: already running")
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._loop, name="execfsm-reconciliation", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """
        Ask the thread to stop and wait for it (a pass in progress finishes first), at most
        `timeout` seconds if given. Called from `on_report`, it stops without waiting.
        """
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def run_once(self) -> ReconReport | Exception:
        """
        One pass now, on the calling thread, reported as the thread reports its passes.
        """
        try:
            report = self.orchestrator.reconcile(full=self.full)
        except Exception as exc:  # noqa: BLE001 - a failed pass is reported and kept, the next one runs
            self.last_error = exc
            result: ReconReport | Exception = exc
            if self._on_report is None:
                _log.error("periodic reconciliation: the pass raised", exc_info=exc)
        else:
            self.last_report = result = report
        self.passes += 1
        if self._on_report is not None:
            try:
                self._on_report(result)
            except Exception as exc:  # noqa: BLE001 - a listener's failure must not stop the passes
                self.last_error = exc
                _log.error("periodic reconciliation: on_report raised", exc_info=exc)
        return result

    def _loop(self) -> None:
        while not self._stop.wait(self.every_seconds):
            self.run_once()

    def __enter__(self) -> PeriodicReconciliation:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
