"""
Generated paths and coverage on what a user may declare: the default search key
(`execfsm.testing.state_key`), with which instances a guard could tell apart by what they
hold never share a key; and transitions that share their ends, which no trail tells apart.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import pytest
from statemachine import State

from execfsm import AuditedMachine, describe
from execfsm.clock import EPOCH, FixedClock
from execfsm.ledger.audit import AuditLog
from execfsm.registry import builtin_machines
from execfsm.testing import (
    Edge,
    coverage_summary,
    declared_targets,
    run_path,
    state_key,
    transition_coverage,
    transition_paths,
    uncovered,
)


def _log() -> AuditLog:
    return AuditLog(FixedClock(EPOCH))


class Tally:
    """A plain helper object a machine keeps its count in."""

    def __init__(self) -> None:
        self.n = 0


class Light(AuditedMachine):
    """A child machine."""

    audit_machine = "key_light"
    off = State(initial=True)
    on = State(final=True)

    switch = off.to(on)


class Retrier(AuditedMachine):
    """Gives up on the third failure: the guard reads a private counter."""

    audit_machine = "key_retrier"
    trying = State(initial=True)
    gave_up = State(final=True)

    fail = trying.to.itself(cond="more_left") | trying.to(gave_up)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._failures = 0
        self.tally = Tally()
        self.light = Light(_log(), correlation_id="light")
        self.light.owner = self  # a cycle back to the parent
        super().__init__(*args, **kwargs)

    @describe("fewer than two failures so far")
    def more_left(self) -> bool:
        return self._failures < 2

    def after_fail(self) -> None:
        self._failures += 1

    @property
    def correlation_id(self) -> str:
        return "retrier"


class TestStateKey:
    def test_fresh_instances_on_different_logs_share_a_key(self) -> None:
        """The engine, audit listener and sink are not what an instance holds."""
        one, other = Retrier(_log()), Retrier(_log())

        assert state_key(one) == state_key(other)

    def test_a_private_attribute_tells_instances_apart(self) -> None:
        """Two instances in one state with different private counters have different keys."""
        one, other = Retrier(_log()), Retrier(_log())
        other.send("fail")

        assert other.current_state_value == one.current_state_value
        assert state_key(one) != state_key(other)

    def test_a_plain_helper_object_is_seen_into(self) -> None:
        """A count kept in a helper object's attribute tells instances apart."""
        one, other = Retrier(_log()), Retrier(_log())
        other.tally.n = 1

        assert state_key(one) != state_key(other)

    def test_a_child_machine_counts_by_its_state_across_a_cycle(self) -> None:
        """A child machine in another state (holding its parent) tells parents apart."""
        one, other = Retrier(_log()), Retrier(_log())
        other.light.send("switch")

        assert state_key(one) != state_key(other)

    def test_a_value_it_cannot_see_into_is_equal_only_to_itself(self) -> None:
        """An opaque value makes two instances differ, and one instance equal to itself."""
        one, other = Retrier(_log()), Retrier(_log())
        one.handle, other.handle = object(), object()

        assert state_key(one) != state_key(other)
        assert state_key(one) == state_key(one)

    def test_a_lock_is_not_context(self) -> None:
        """A lock (unlocked between events) does not tell instances apart."""
        one, other = Retrier(_log()), Retrier(_log())
        one.lock, other.lock = threading.Lock(), threading.Lock()

        assert state_key(one) == state_key(other)

    def test_the_paths_take_the_edge_behind_a_private_counter(self) -> None:
        """``trying -fail-> gave_up`` needs two failures first: the paths take it."""
        paths = transition_paths(Retrier)

        assert uncovered(Retrier, paths) == ()
        assert [step.event for step in paths[-1].steps] == ["fail", "fail", "fail"]


class Twin(AuditedMachine):
    """Two declared transitions ``a -go-> b``; the guarded one never holds."""

    audit_machine = "twin"
    a = State(initial=True)
    b = State(final=True)

    go = a.to(b, cond="never") | a.to(b)

    @describe("never holds")
    def never(self) -> bool:
        return False


class TestSharedEnds:
    def test_a_trail_cannot_tell_two_transitions_with_the_same_ends_apart(self) -> None:
        """Both count; a run taking ``a -go-> b`` proves neither, and the summary says so."""
        [path] = transition_paths(Twin)
        coverage = transition_coverage(
            run_path(path, lambda sink: Twin(sink, correlation_id="t")).records, Twin
        )

        assert (str(path), uncovered(Twin, [path])) == ("a-go->b", coverage["twin"].transitions)
        assert coverage["twin"].transitions == (Edge("a", "go", "b", 1), Edge("a", "go", "b", 2))
        assert coverage_summary(coverage).splitlines() == [
            "transition coverage: twin 0/2 (0%; 2 sharing ends taken, not told apart)",
            "  not told apart twin: 2 declared transitions share a -go-> b; a trail cannot tell"
            " them apart",
        ]

    def test_untaken_twins_are_listed_missing(self) -> None:
        """With no record of their ends, each of the two is missing."""
        coverage = transition_coverage([], Twin)

        assert coverage_summary(coverage).splitlines()[1:] == [
            "  missing twin: a -go-> b #1",
            "  missing twin: a -go-> b #2",
        ]


class Meter:
    """A callable helper that holds a count."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.calls


class TestWhatCounts:
    def test_a_callable_object_that_holds_state_counts(self) -> None:
        """A callable helper is context too: its count tells instances apart."""
        one, other = Retrier(_log()), Retrier(_log())
        one.meter, other.meter = Meter(), Meter()
        other.meter()

        assert state_key(one) != state_key(other)

    def test_a_partial_counts_by_its_arguments(self) -> None:
        """Two partials of one function with different arguments tell instances apart."""
        one, other = Retrier(_log()), Retrier(_log())
        one.limit, other.limit = functools.partial(max, 1), functools.partial(max, 2)

        assert state_key(one) != state_key(other)

    @pytest.mark.parametrize("name", sorted(builtin_machines()))
    def test_no_two_transitions_of_a_built_in_machine_share_their_ends(self, name: str) -> None:
        """Every built-in transition is told apart by its records, so its coverage is exact."""
        edges = [t for t in declared_targets(builtin_machines()[name]) if isinstance(t, Edge)]

        assert [e for e in edges if e.nth] == []
