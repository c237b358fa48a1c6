"""
The PostgreSQL server the tests use (`execfsm.testing.postgres`), as pytest fixtures: one
server for the session, a fresh database per test. Outside CI a machine where no server can
be started skips the PostgreSQL tests, saying so in one line of the summary; in CI (``CI``
set) that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from execfsm.testing.postgres import PostgresServer

_unavailable: list[str] = []
"""Why the server could not be had (once set, every PostgreSQL test skips or fails)."""


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server (``EXECFSM_TEST_POSTGRES``, or a private cluster)."""
    if _unavailable:
        _refuse(_unavailable[0])
    try:  # imported here: without psycopg (the `postgres` extra) only these tests stop
        from execfsm.testing.postgres import PostgresServer, ServerUnavailable
    except ImportError as exc:
        _unavailable.append(f"psycopg is not installed ({exc})")
        _refuse(_unavailable[0])
    try:
        server = PostgresServer()
    except ServerUnavailable as exc:
        _unavailable.append(str(exc))
        _refuse(str(exc))
    try:
        yield server
    finally:
        server.stop()


def _refuse(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL tests cannot run in CI: {why}", pytrace=False)
    pytest.skip(f"no PostgreSQL server: {why}")


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database of the session's server, dropped after the test."""
    url = pg_server.database()
    try:
        yield url
    finally:
        pg_server.drop(url)


def summary_line() -> str | None:
    """The one line the terminal summary prints when the PostgreSQL tests were skipped."""
    if not _unavailable:
        return None
    return f"PostgreSQL tests SKIPPED: {_unavailable[0]} (set EXECFSM_TEST_POSTGRES=postgresql://…)"


def require_psycopg() -> None:
    """
    At the top of a module of PostgreSQL tests: skip the module where psycopg (the
    `postgres` extra) is not installed, saying so in the summary; in CI, fail.
    """
    try:
        import psycopg  # noqa: F401 - only whether it imports
    except ImportError as exc:
        _unavailable.append(f"psycopg is not installed ({exc})")
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no PostgreSQL driver: {exc}", allow_module_level=True)
