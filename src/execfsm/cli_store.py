"""
Where the commands' ``--db`` leads: a SQLite file (a path) or a PostgreSQL database (a
``postgresql://`` or ``postgres://`` URL, one stream of it: ``--stream``), opened by one
factory, `open_store`; `shown` is how a target appears in messages (never a password).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from execfsm.cli_machines import InputError
from execfsm.ledger._pg_url import check_stream, is_url, redacted
from execfsm.ledger.checkpoints import Signer
from execfsm.ledger.sqlite import SqliteStore
from execfsm.ledger.store import StoredState

if TYPE_CHECKING:
    from execfsm.ledger.postgres import PostgresStore

Target = Path | str
"""A SQLite file, or a PostgreSQL URL."""

DB_HELP = (
    "the session's database: a SQLite file, or postgresql://user@host/db (one stream of it, "
    "--stream)"
)


def db_target(text: str) -> Target:
    """
    ``--db``'s argument: a URL as given (a path would fold its ``//``), else a path.
    """
    return text if is_url(text) else Path(text)


def sqlite_file(target: Target) -> Path:
    """
    `target` for a command that reads SQLite files only; a PostgreSQL URL is refused in one
    line that never shows its password.

    Raises:
        InputError: `target` is a URL.
    """
    if isinstance(target, str):
        raise InputError(
            f"--db {redacted(target)}: this command reads a SQLite file; a postgresql:// "
            "database is not supported here"
        )
    return target


def stream_name(text: str) -> str:
    """
    ``--stream``'s argument, checked.
    """
    try:
        return check_stream(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_stream_option(parser: argparse.ArgumentParser) -> None:
    """
    ``--stream NAME``: which orchestrator's stream of a PostgreSQL database.
    """
    parser.add_argument(
        "--stream",
        type=stream_name,
        default="main",
        help="with a postgresql:// --db: the stream (one orchestrator's trail) to use "
        "(default main)",
    )


def shown(target: Target) -> str:
    """
    `target` as messages show it: a URL without its password.
    """
    return redacted(target) if isinstance(target, str) else str(target)


def open_store(
    target: Target,
    *,
    stream: str = "main",
    read_only: bool = False,
    signing_key: Signer | None = None,
) -> SqliteStore | PostgresStore:
    """
    The store `target` names: a `SqliteStore` for a path, a `PostgresStore` writing (or
    reading) `stream` for a URL.

    Raises:
        InputError: A URL, and psycopg is not installed.
        StoreError: The store cannot be opened (see each store).
    """
    if isinstance(target, Path):
        return SqliteStore(target, read_only=read_only, signing_key=signing_key)
    try:
        from execfsm.ledger.postgres import PostgresStore
    except ImportError as exc:
        raise _no_driver(exc) from None
    return PostgresStore(target, stream=stream, read_only=read_only, signing_key=signing_key)


def load_streams(url: str, stream: str | None = None) -> dict[str, StoredState]:
    """
    Every stream of the PostgreSQL database at `url` (or `stream` only, if it has it: the
    others are not read, so another stream's damage does not refuse it), read-only and
    checked, by name.
    """
    try:
        from execfsm.ledger.postgres import load_streams as load
    except ImportError as exc:
        raise _no_driver(exc) from None
    return load(url, stream)


def _no_driver(exc: ImportError) -> InputError:
    return InputError(
        f"a postgresql:// database needs psycopg: pip install 'execfsm[postgres]' ({exc})"
    )


def existing_session(url: str) -> None:
    """
    Refuse a PostgreSQL database with no execfsm schema (``recover`` and ``reconcile`` work
    on a session, and would otherwise create the tables): read-only, nothing written.

    Raises:
        StoreError: None there, or the database cannot be read (one line: exit 2).
    """
    open_store(url, read_only=True).close()
