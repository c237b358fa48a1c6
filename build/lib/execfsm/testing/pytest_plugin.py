"""
A pytest plugin that reports the transition coverage of a test run: every `AuditLog` the
tests create is read after the test that created it, and the session ends with one line
per run, ``transition coverage: order 69/69 (100%), pipeline 16/16 (100%)``, and the
transitions no test took.

Register it from a ``conftest.py`` with the machines to measure::

    def pytest_configure(config):
        config.pluginmanager.register(TransitionCoveragePlugin(MY_MACHINES), "coverage")

Only construction is watched (`AuditLog.__init__` is wrapped while the plugin is
registered, and restored after): appending a record costs what it always does, and the
records are read once, after the test, as the log stores them. A log marked
`execfsm.testing.coverage.not_exercised` is not read: the logs `transition_paths` writes while
it searches (at collection, say) show what the search tried, not what a test exercised.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any

import pytest

from execfsm.ledger.audit import AuditLog
from execfsm.testing.coverage import (
    CoverageCollector,
    MachineCoverage,
    Target,
    coverage_summary,
    is_exercised,
)

__all__ = ["TransitionCoveragePlugin"]


def _rows_since(log: AuditLog, start: int) -> Iterable[Any]:
    """
    The records of `log` from index `start` on, as stored: the log's rows carry every field
    of `AuditRecord` under the same names, and reading them as they are spares decoding each
    into an `AuditRecord` (a test run writes about a million). Any other log is read
    through the public ``records``.
    """
    rows, lock = getattr(log, "_rows", None), getattr(log, "_lock", None)
    if rows is None or lock is None or not hasattr(rows, "since"):
        return log.records[start:]
    with lock:
        found: list[Any] = rows.since(start)
    return found


class TransitionCoveragePlugin:
    """
    Collects the records of every audit log a test run writes, and prints its transition
    coverage at the end.

    Args:
        machines: The machines to measure, by name (or a class, or classes).
        show_missing: Also print each transition (and case row) no test took.
        unreachable: Targets known to be unreachable: counted, not listed as missing.
    """

    def __init__(
        self,
        machines: Mapping[str, type] | type | Iterable[type],
        *,
        show_missing: bool = True,
        unreachable: Iterable[Target] = (),
    ) -> None:
        self.collector = CoverageCollector(machines)
        self.show_missing = show_missing
        self.unreachable = tuple(unreachable)
        self._new: list[AuditLog] = []
        """Logs created since the last harvest (kept alive until it)."""
        self._older: list[tuple[weakref.ref[AuditLog], int]] = []
        """Logs harvested before that are still alive, with how many records were read."""
        self._lock = threading.Lock()
        self._original: Callable[..., None] | None = None

    # -- watching AuditLog construction ---------------------------------------------------

    def install(self) -> None:
        """
        Wrap `AuditLog.__init__` so that every new log is remembered.
        """
        if self._original is not None:
            return
        original = AuditLog.__init__
        self._original = original
        remember = self._new.append

        @functools.wraps(original)
        def init(log: AuditLog, *args: Any, **kwargs: Any) -> None:
            original(log, *args, **kwargs)
            remember(log)  # list.append is atomic: logs made on other threads are kept too

        init.__execfsm_observer__ = True  # type: ignore[attr-defined]  # the spec reads `original`
        AuditLog.__init__ = init  # type: ignore[method-assign,assignment]

    def uninstall(self) -> None:
        """
        Put `AuditLog.__init__` back.
        """
        if self._original is not None:
            AuditLog.__init__ = self._original  # type: ignore[method-assign]
            self._original = None

    def harvest(self) -> None:
        """
        Read the records written since the last harvest.
        """
        with self._lock:
            new = self._new[:]
            del self._new[: len(new)]
            older: list[tuple[weakref.ref[AuditLog], int]] = []
            for ref, read in self._older:
                log = ref()
                if log is not None:
                    older.append((ref, self._read(log, read)))
            for log in new:
                if is_exercised(log):
                    older.append((weakref.ref(log), self._read(log, 0)))
            self._older = older

    def _read(self, log: AuditLog, start: int) -> int:
        count = len(log)
        if count > start:
            self.collector.add(_rows_since(log, start))
        return count

    def result(self) -> dict[str, MachineCoverage]:
        """
        The coverage so far, per machine.
        """
        self.harvest()
        return self.collector.result()

    # -- pytest hooks -------------------------------------------------------------------------

    def pytest_sessionstart(self) -> None:
        """
        Start watching before the first test runs.
        """
        self.install()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self) -> Generator[None, None, None]:
        """
        Read the logs a test made once it and its fixtures are done.
        """
        yield
        self.harvest()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """
        Print the coverage line (and what is missing).
        """
        text = coverage_summary(
            self.result(), show_missing=self.show_missing, unreachable=self.unreachable
        )
        for line in text.splitlines():
            terminalreporter.write_line(line)

    def pytest_unconfigure(self) -> None:
        """
        Stop watching.
        """
        self.uninstall()
