"""
The injectable clocks: readings, and what they refuse.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest

from execfsm import ConfigurationError, SteppingClock
from execfsm.clock import MAX_STEP, FixedClock


class TestSteppingClock:
    def test_readings_step_forward(self) -> None:
        """Each reading is `step` after the one before."""
        clock = SteppingClock(datetime(2026, 1, 1, tzinfo=UTC), timedelta(seconds=2))

        readings = [clock.now() for _ in range(3)]

        assert [b - a for a, b in itertools.pairwise(readings)] == [timedelta(seconds=2)] * 2

    def test_a_reading_past_year_9999_is_a_clear_error(self) -> None:
        """The last representable reading is given; the one after it is a ConfigurationError
        naming the step, never an OverflowError."""
        last = datetime.max.replace(tzinfo=UTC)
        clock = SteppingClock(last - timedelta(hours=1), MAX_STEP)

        first = clock.now()
        with pytest.raises(ConfigurationError) as caught:
            clock.now()

        assert first == last - timedelta(hours=1)
        assert caught.value.field == "step"
        assert not isinstance(caught.value, OverflowError)

    def test_a_start_not_representable_in_utc_is_refused(self) -> None:
        """A start whose UTC instant lies past year 9999 is refused naming it."""
        ahead = datetime.max.replace(tzinfo=timezone(-timedelta(hours=5)))

        with pytest.raises(ConfigurationError) as caught:
            SteppingClock(ahead)

        assert caught.value.field == "start"


class TestFixedClock:
    def test_always_the_same_instant_in_utc(self) -> None:
        """Every reading is the instant given, in UTC."""
        clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))

        assert clock.now() == clock.now() == datetime(2026, 1, 1, tzinfo=UTC)
