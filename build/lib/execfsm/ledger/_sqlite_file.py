"""
The SQLite file itself: its schema, how a file is checked before it is trusted, and how it is
read without being written.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from pathlib import Path

from execfsm.contracts import Order
from execfsm.errors import StoreError
from execfsm.ids import canonical_json
from execfsm.ledger._lock import WriterLock, lock_path_of
from execfsm.ledger._rows import shown
from execfsm.ledger.audit import Line
from execfsm.ledger.checkpoints import Checkpoint, checkpoint_json
from execfsm.ledger.positions import Position
from execfsm.ledger.store import IntentEntry

SCHEMA_VERSION = 1
"""Bumped when the tables change; a newer database is refused, never guessed at."""

SYNCHRONOUS_MODES = ("FULL", "NORMAL")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    correlation_id TEXT NOT NULL,
    client_order_id TEXT,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS intents (
    idempotency_key TEXT PRIMARY KEY,
    correlation_id TEXT NOT NULL,
    client_order_id TEXT NOT NULL,
    status TEXT NOT NULL,
    result TEXT
);
CREATE TABLE IF NOT EXISTS orders (client_order_id TEXT PRIMARY KEY, snapshot TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS positions (symbol TEXT PRIMARY KEY, snapshot TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (seq INTEGER PRIMARY KEY, checkpoint TEXT NOT NULL);
"""

CHECKPOINTS_TABLE = (
    "CREATE TABLE IF NOT EXISTS checkpoints (seq INTEGER PRIMARY KEY, checkpoint TEXT NOT NULL)"
)
"""Signed checkpoints (`execfsm.ledger.checkpoints`), one row per checkpoint, keyed by the seq
it covers. Added within schema version 1: a writer adds the table to a database made before
it (`open_writer`); a reader finds none there and reads no checkpoints. An older execfsm
opens such a database and ignores the table (its records are then not covered by any
checkpoint, which ``audit verify --public-key`` reports)."""

TABLES = frozenset({"meta", "audit", "intents", "orders", "positions"})
"""The tables every execfsm database of schema version 1 has: one lacking one is not ours
(``checkpoints`` came later within the version: see `CHECKPOINTS_TABLE`)."""

VERSION_TEXT = re.compile(r"[0-9]{1,9}")


def check_path(path: Path, *, synchronous: str, read_only: bool) -> None:
    """
    Refuse, before anything is opened, a setting or a path no database can be at.
    """
    if synchronous not in SYNCHRONOUS_MODES:
        raise StoreError(
            f"store {path}: synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}, "
            f"got {synchronous!r}"
        )
    if not path.parent.is_dir():
        raise StoreError(f"store {path}: directory {path.parent} does not exist")
    if path.is_dir():
        raise StoreError(f"store {path}: is a directory, not a database file")
    exists = path.exists()
    if exists and not path.is_file():
        raise StoreError(f"store {path}: is not a regular file")
    if read_only and not exists:
        raise StoreError(f"store {path}: no such database (read-only: none is created)")


def fail(path: Path, action: str, exc: BaseException) -> StoreError:
    return StoreError(f"store {path}: cannot {action}: {exc}")


def sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


FileState = tuple[int, int, int, int]
"""Device, inode, size and modification time (ns): a file whose four are equal is unchanged."""


def file_state(path: Path) -> FileState:
    st = path.stat()
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def connect_read_only(path: Path) -> tuple[sqlite3.Connection, bool, FileState | None]:
    """
    A connection that writes nothing, whether the database is ours, and the file's state
    if it was opened immutable. Through the WAL when there is one (a writer has the
    database open, or died with it open); else immutable, which creates no -wal or -shm
    and takes no lock (a writer that starts meanwhile is noticed by `snapshot_changed`).
    """
    immutable = not sidecar(path, "-wal").exists()
    snapshot = file_state(path) if immutable else None
    uri = path.absolute().as_uri() + ("?mode=ro&immutable=1" if immutable else "?mode=ro")
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    except sqlite3.DatabaseError as exc:
        raise fail(path, "open the database", exc) from None
    try:
        ours = check_schema(conn, path)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise fail(path, "open the database", exc) from None
    except BaseException:
        conn.close()
        raise
    return conn, ours, snapshot


def snapshot_changed(path: Path, snapshot: FileState | None) -> bool:
    """
    Whether the file read as immutable at `snapshot` has changed since (None: read through
    the WAL, never immutable).
    """
    if snapshot is None:
        return False
    try:
        return sidecar(path, "-wal").exists() or file_state(path) != snapshot
    except OSError:
        return True


def check_schema(conn: sqlite3.Connection, path: Path) -> bool:
    """
    Whether `conn`'s database is an execfsm one (True) or empty (False): anything else
    is refused. Reads only.
    """
    objects = conn.execute("SELECT type, name FROM sqlite_master").fetchall()
    if not objects:
        return False
    tables = {name for kind, name in objects if kind == "table"}
    missing = TABLES - tables
    if missing:
        raise StoreError(
            f"store {path}: not an execfsm database (tables {sorted(tables)}; "
            f"missing {sorted(missing)})"
        )
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    if row is None:
        raise StoreError(f"store {path}: not an execfsm database (no schema_version)")
    text = row[0]
    if not isinstance(text, str) or not VERSION_TEXT.fullmatch(text):
        raise StoreError(
            f"store {path}: meta schema_version is not a version number: {shown(text)}"
        )
    version = int(text)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"store {path}: database schema version {version} is newer than this "
            f"execfsm understands ({SCHEMA_VERSION}); upgrade execfsm"
        )
    if version < 1:
        raise StoreError(f"store {path}: meta schema_version is not a version number: {text!r}")
    return True


def create_schema(conn: sqlite3.Connection) -> None:
    """
    The tables of this schema version, in one transaction: a crash leaves an empty database
    or a whole schema, never half.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(
            "INSERT INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.DatabaseError):
            conn.execute("ROLLBACK")
        raise


def open_writer(path: Path, synchronous: str) -> tuple[WriterLock, sqlite3.Connection, bool]:
    """
    Open `path` for writing: its writer lock, a connection (WAL, `synchronous`) that has
    proved it can write, and whether the database is new (its schema just created).

    A live writer is refused before the database is read, and a foreign file before a lock
    file is made beside it; on any refusal the lock is released and the file left as it was.
    """
    if path.exists() and not lock_path_of(path).exists():
        _inspect(path)
    lock = WriterLock(path)
    conn: sqlite3.Connection | None = None
    try:
        is_new = not (path.exists() and _inspect(path))  # (again,) now no other writer can start
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        if is_new:
            create_schema(conn)
        else:
            conn.execute(CHECKPOINTS_TABLE)  # a database made before checkpoints: migrated
        conn.execute("BEGIN IMMEDIATE")  # prove we can write, before any intent
        conn.execute("ROLLBACK")
    except BaseException as exc:
        if conn is not None:
            conn.close()
        lock.release()
        if isinstance(exc, sqlite3.DatabaseError):
            raise fail(path, "open the database", exc) from None
        raise
    return lock, conn, is_new


def _inspect(path: Path) -> bool:
    conn, ours, _ = connect_read_only(path)
    conn.close()
    return ours


def write_rows(
    conn: sqlite3.Connection,
    lines: list[Line],
    intents: dict[str, IntentEntry],
    orders: dict[str, Order],
    positions: dict[str, Position],
    checkpoint: Checkpoint | None = None,
) -> None:
    """
    One commit: the records, the rows of the units they end and the checkpoint covering
    them (if any), in one transaction, so a crash stores all of them or none.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(
            "INSERT INTO audit(seq, correlation_id, client_order_id, record) VALUES (?, ?, ?, ?)",
            lines,
        )
        conn.executemany(
            "INSERT INTO intents(idempotency_key, correlation_id, client_order_id, status, result) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(idempotency_key) DO UPDATE SET "
            "status=excluded.status, result=excluded.result",
            [
                (
                    e.idempotency_key,
                    e.correlation_id,
                    e.client_order_id,
                    e.status.value,
                    None if e.result is None else canonical_json(e.result),
                )
                for e in intents.values()
            ],
        )
        conn.executemany(
            "INSERT INTO orders(client_order_id, snapshot) VALUES (?, ?) "
            "ON CONFLICT(client_order_id) DO UPDATE SET snapshot=excluded.snapshot",
            [(cid, canonical_json(o)) for cid, o in orders.items()],
        )
        conn.executemany(
            "INSERT INTO positions(symbol, snapshot) VALUES (?, ?) "
            "ON CONFLICT(symbol) DO UPDATE SET snapshot=excluded.snapshot",
            [(symbol, canonical_json(p)) for symbol, p in positions.items()],
        )
        if checkpoint is not None:  # with the records it covers, or not at all
            conn.execute(
                "INSERT INTO checkpoints(seq, checkpoint) VALUES (?, ?)",
                (checkpoint.seq, checkpoint_json(checkpoint)),
            )
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.DatabaseError):  # may have ended already
            conn.execute("ROLLBACK")
        raise
