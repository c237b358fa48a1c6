"""
Injectable clocks. Stage and machine code never calls ``now()`` itself: it asks a `Clock`.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from execfsm.validators import Rule, aware_datetime, misconfigured

MAX_STEP = timedelta(days=1)
"""The largest step a `SteppingClock` may take per reading."""

_AWARE = aware_datetime(reason=None)
_STEP = Rule(
    lambda v: isinstance(v, timedelta) and timedelta(0) <= v <= MAX_STEP,
    "must be a timedelta in [0, 1 day]",
)


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
        _AWARE.check(at, "at")
        self._at = _in_utc(at, "at")

    def now(self) -> datetime:
        """
        The fixed instant.
        """
        return self._at


class SteppingClock:
    """
    A deterministic clock that moves forward by `step` (a `timedelta` in [0, `MAX_STEP`])
    on every reading.
    """

    def __init__(self, start: datetime, step: timedelta = timedelta(milliseconds=1)) -> None:
        _AWARE.check(start, "start")
        _STEP.check(step, "step")
        self._next: datetime | None = _in_utc(start, "start")
        self._step = step
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """
        The current reading; the next one is `step` later (safe across threads).

        Raises:
            ConfigurationError: The readings ran past the last representable instant (a
                `start` too close to year 9999 for its `step`), instead of an OverflowError.
        """
        with self._lock:
            current = self._next
            if current is None:
                rule = "took the readings past the last representable instant (year 9999)"
                raise misconfigured("step", rule, self._step)
            try:
                self._next = current + self._step
            except OverflowError:
                self._next = None  # this reading is still good; the next one cannot be
            return current


def _in_utc(instant: datetime, field: str) -> datetime:
    try:
        return instant.astimezone(UTC)
    except OverflowError:
        raise misconfigured(field, "must be representable in UTC", instant) from None


EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
"""A conventional start instant for tests, demos and replays."""
