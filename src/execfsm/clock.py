"""
Injectable clocks. Stage and machine code never calls ``now()`` itself: it asks a `Clock`.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from execfsm.errors import ConfigurationError


class SystemClock:
    """
    Wall-clock UTC time, for real sessions.
    """

    def now(self) -> datetime:
        """
        The current UTC time.
        """
        return datetime.now(UTC)


class FixedClock:
    """
    Always the same instant: the simplest clock for byte-identical replays.
    """

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ConfigurationError(
                f"FixedClock: 'at' must be timezone-aware, got {at!r}", field="at", value=at
            )
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        """
        The fixed instant.
        """
        return self._at


class SteppingClock:
    """
    A deterministic clock that moves forward by `step` on every reading.
    """

    def __init__(self, start: datetime, step: timedelta = timedelta(milliseconds=1)) -> None:
        if start.tzinfo is None:
            raise ConfigurationError(
                f"SteppingClock: 'start' must be timezone-aware, got {start!r}",
                field="start",
                value=start,
            )
        if step < timedelta(0):
            raise ConfigurationError(
                f"SteppingClock: 'step' must not be negative, got {step!r}",
                field="step",
                value=step,
            )
        self._next = start.astimezone(UTC)
        self._step = step
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """
        The current reading; the next one is `step` later (safe across threads).
        """
        with self._lock:
            current = self._next
            self._next = current + self._step
            return current


EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
"""A conventional start instant for tests, demos and replays."""
