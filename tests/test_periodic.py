"""
`execfsm.reconciliation.PeriodicReconciliation`: passes on a daemon thread.
"""

from __future__ import annotations

import threading
from datetime import datetime

import pytest

from execfsm.contracts import ExecutionMode
from execfsm.errors import ConfigurationError
from execfsm.orchestrator import ExecutionOrchestrator
from execfsm.reconciliation import PeriodicReconciliation, ReconReport

GENEROUS = 10.0
"""Seconds a test waits at most for the thread (it needs milliseconds)."""


@pytest.fixture
def orchestrator() -> ExecutionOrchestrator:
    return ExecutionOrchestrator(execution_mode=ExecutionMode.PAPER)


class _Heard:
    """Every result `on_report` was given; `seen` is set once `count` have come."""

    def __init__(self, count: int = 1) -> None:
        self.results: list[ReconReport | Exception] = []
        self.count = count
        self.seen = threading.Event()

    def __call__(self, result: ReconReport | Exception) -> None:
        self.results.append(result)
        if len(self.results) >= self.count:
            self.seen.set()


class TestPeriodicReconciliation:
    def test_it_runs_passes_until_stopped(self, orchestrator: ExecutionOrchestrator) -> None:
        """The thread reconciles at least once within a generous bound, and stop joins it."""
        heard = _Heard(count=2)
        periodic = PeriodicReconciliation(orchestrator, 0.01, on_report=heard)

        periodic.start()
        ran = heard.seen.wait(GENEROUS)
        periodic.stop()

        assert ran
        assert not periodic.running
        assert all(isinstance(r, ReconReport) for r in heard.results)
        assert periodic.passes >= 2
        assert periodic.last_report is not None
        assert periodic.last_error is None

    def test_a_context_manager_starts_and_stops_it(
        self, orchestrator: ExecutionOrchestrator
    ) -> None:
        """Inside ``with`` the thread runs; after it, it has stopped."""
        heard = _Heard()

        with PeriodicReconciliation(orchestrator, 0.01, on_report=heard) as periodic:
            ran = heard.seen.wait(GENEROUS)
            inside = periodic.running

        assert ran
        assert inside
        assert not periodic.running

    def test_a_pass_that_raises_is_reported_and_the_thread_goes_on(
        self, orchestrator: ExecutionOrchestrator, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A raising pass reaches on_report and last_error; later passes still run."""
        calls: list[bool] = []
        real = orchestrator.reconcile

        def flaky(now: datetime | None = None, *, full: bool = False) -> ReconReport:
            calls.append(full)
            if len(calls) == 1:
                raise RuntimeError("the venue's line dropped")
            return real(now, full=full)

        monkeypatch.setattr(orchestrator, "reconcile", flaky)
        heard = _Heard(count=2)

        with PeriodicReconciliation(orchestrator, 0.01, on_report=heard) as periodic:
            ran = heard.seen.wait(GENEROUS)

        assert ran
        assert isinstance(heard.results[0], RuntimeError)
        assert isinstance(heard.results[1], ReconReport)
        assert isinstance(periodic.last_error, RuntimeError)

    def test_without_on_report_a_failure_is_kept(
        self, orchestrator: ExecutionOrchestrator, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With nobody listening, the exception is kept in last_error and logged."""
        failed = threading.Event()

        def broken(now: datetime | None = None, *, full: bool = False) -> ReconReport:
            failed.set()
            raise RuntimeError("broken pass")

        monkeypatch.setattr(orchestrator, "reconcile", broken)
        periodic = PeriodicReconciliation(orchestrator, 0.01)

        with periodic:
            ran = failed.wait(GENEROUS)
            alive = periodic.running

        assert ran
        assert alive
        assert isinstance(periodic.last_error, RuntimeError)

    def test_an_on_report_that_raises_does_not_stop_the_thread(
        self, orchestrator: ExecutionOrchestrator
    ) -> None:
        """A listener's exception is kept; passes go on."""
        seen = threading.Event()
        results: list[object] = []

        def listener(result: ReconReport | Exception) -> None:
            results.append(result)
            if len(results) >= 2:
                seen.set()
            raise ValueError("listener bug")

        with PeriodicReconciliation(orchestrator, 0.01, on_report=listener) as periodic:
            ran = seen.wait(GENEROUS)

        assert ran
        assert isinstance(periodic.last_error, ValueError)

    def test_full_passes_compare_positions(self, orchestrator: ExecutionOrchestrator) -> None:
        """With ``full=True`` each pass is a full one (run here once, on the caller's thread)."""
        periodic = PeriodicReconciliation(orchestrator, 60, full=True)

        result = periodic.run_once()

        assert isinstance(result, ReconReport)
        assert result.clean

    def test_starting_twice_is_refused(self, orchestrator: ExecutionOrchestrator) -> None:
        """A running helper cannot be started again; after stop it can."""
        periodic = PeriodicReconciliation(orchestrator, 60)

        with periodic, pytest.raises(RuntimeError, match="already running"):
            periodic.start()
        periodic.start()
        periodic.stop()

        assert not periodic.running

    @pytest.mark.parametrize("every", [0, -1, float("nan"), float("inf"), True, "5"])
    def test_a_bad_interval_is_refused(
        self, orchestrator: ExecutionOrchestrator, every: object
    ) -> None:
        """The interval must be a finite number of seconds above 0."""
        with pytest.raises(ConfigurationError, match="every_seconds"):
            PeriodicReconciliation(orchestrator, every)  # type: ignore[arg-type]
