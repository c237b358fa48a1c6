"""
`SqliteStore`: the embedded durable store (stdlib ``sqlite3``, WAL), one database file holding
the audit log, the idempotency index, the order ledger and the position ledger.

Durability: ``synchronous=FULL`` by default, so a committed flush survives a power loss. With
``NORMAL`` a WAL database stays consistent but the last commits before a power loss may be
lost (never on a process crash). Group commit: a flush returns once its caller's data is
durable, and one transaction carries everything every thread staged meanwhile, so N
concurrent intents waiting on a commit share one fsync instead of paying N.

One writer per database: a writing store holds the exclusive lock of ``<database>.lock``
(`execfsm.ledger._lock`) while it is open. A read-only store takes no lock and writes
nothing, so it reads a database a live writer holds. Opening checks the file before anything
is written to it: a file that is refused is left as it was, and no ``-wal``, ``-shm`` or lock
file is left beside it.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from execfsm.contracts import Order
from execfsm.errors import StoreError
from execfsm.ledger._checkpointer import Checkpointer
from execfsm.ledger._group_commit import GroupCommitStore
from execfsm.ledger._lock import StoreLocked, WriterLock
from execfsm.ledger._rows import CorruptRow, read_rows
from execfsm.ledger._sqlite_file import (
    SCHEMA_VERSION,
    SYNCHRONOUS_MODES,
    FileState,
    check_path,
    connect_read_only,
    open_writer,
    snapshot_changed,
    write_rows,
)
from execfsm.ledger.audit import Line
from execfsm.ledger.checkpoints import Checkpoint, Signer
from execfsm.ledger.positions import Position
from execfsm.ledger.store import IntentEntry, StoredState
from execfsm.typing import Clock

__all__ = ["SCHEMA_VERSION", "SYNCHRONOUS_MODES", "SqliteStore", "StoreLocked"]

_SNAPSHOT_TRIES = 3


class SqliteStore(GroupCommitStore):
    """
    A `LedgerStore` in one SQLite file.

    A new database is created when `path` does not exist or is an empty (0-byte) file, as
    SQLite itself treats one. An existing file is checked before anything is written to it;
    a file that is not SQLite, an SQLite database of another application, one written by a
    newer execfsm, or one with a malformed schema version is refused with a `StoreError`
    and left byte for byte as it was.

    Args:
        path: The database file; its directory must exist.
        synchronous: ``FULL`` (default: each commit is fsynced) or ``NORMAL``.
        read_only: Open an existing database for reading only (``load``): no lock is taken
            and nothing is written, so it works while a writer is live (it reads what that
            writer has committed). It refuses ``bind``, ``stage_*`` and ``flush``.
        signing_key: The operator's key (`~execfsm.ledger.checkpoints.load_signer`): each
            commit then writes a signed checkpoint of the head (seq, hash, time, key id) in
            its own transaction. None (default): no checkpoint, and no cost.
        checkpoint_every: Checkpoint a commit once it brings this many records since the
            last checkpoint (default 1: every commit with records), and the last at close.
        clock: Dates checkpoints; default the time of the record each one covers (reading
            no clock, so that a session with a key stamps its records as one without).

    Raises:
        StoreLocked: Another writer (a store in this or another process) has the database
            open; the file was not touched.
        StoreError: The file is refused, or cannot be opened.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        synchronous: str = "FULL",
        read_only: bool = False,
        signing_key: Signer | None = None,
        checkpoint_every: int = 1,
        clock: Clock | None = None,
    ) -> None:
        self.path = Path(path)
        check_path(self.path, synchronous=synchronous, read_only=read_only)
        if signing_key is not None and read_only:
            raise StoreError(f"store {self.path}: a read-only store writes no checkpoints")
        self._checkpoints = (
            None
            if signing_key is None
            else Checkpointer(self.path, signing_key, checkpoint_every, clock)
        )
        self.read_only = read_only
        """Opened with ``read_only=True``: `load` only, no lock, nothing written."""
        self._label = f"store {self.path}"
        self._init_commit_state()
        self._lock: WriterLock | None = None
        self._snapshot: FileState | None = None
        """A read-only store reading an immutable file: the file as it was when opened."""
        if read_only:
            self._open_read_only()
            return
        self._lock, self._conn, self._is_new = open_writer(self.path, synchronous)

    @property
    def connection(self) -> sqlite3.Connection:
        """
        The underlying connection (for inspection and fault-injection tests).
        """
        return self._conn

    def _open_read_only(self) -> None:
        self._conn, ours, self._snapshot = connect_read_only(self.path)
        self._is_new = not ours

    # -- the store protocol -------------------------------------------------------------------

    def load(self) -> StoredState:
        """
        Everything stored, with the audit chain verified; a broken chain or a corrupt row is a
        `StoreError` naming the first bad record (or the table and key of the bad row), and
        the store then refuses to append.
        """
        for _ in range(_SNAPSHOT_TRIES):
            try:
                state = self._load_once()
            except StoreError:
                if not snapshot_changed(self.path, self._snapshot):
                    raise
            else:
                if not snapshot_changed(self.path, self._snapshot):
                    break
            # A writer started while a read-only store read the file as immutable: what was
            # read may be torn. Read again, through the writer's WAL this time.
            self._broken = None
            self._conn.close()
            self._open_read_only()
        else:
            raise self._poison(
                f"the database changed while it was read, {_SNAPSHOT_TRIES} times; try again"
            )
        return self._loaded(state)

    def _load_once(self) -> StoredState:
        if self._is_new:
            return StoredState()
        conn = self._conn
        try:
            conn.execute("BEGIN")  # one snapshot of every table, even beside a live writer
            try:
                return read_rows(conn)
            finally:
                with contextlib.suppress(sqlite3.DatabaseError):
                    conn.execute("ROLLBACK")
        except CorruptRow as exc:
            raise self._poison(str(exc)) from None
        except sqlite3.DatabaseError as exc:
            raise self._poison(f"cannot read the database: {exc}") from None

    def _abort(self) -> None:
        with contextlib.suppress(sqlite3.DatabaseError):  # may have ended already
            self._conn.execute("ROLLBACK")

    def _write(
        self,
        lines: list[Line],
        intents: dict[str, IntentEntry],
        orders: dict[str, Order],
        positions: dict[str, Position],
        checkpoint: Checkpoint | None = None,
    ) -> None:
        write_rows(self._conn, lines, intents, orders, positions, checkpoint)

    def close(self) -> None:
        """
        Write the checkpoint a store with a key owes its last records (``checkpoint_every``
        > 1, or records it opened over uncovered), close the connection, then release the
        writer lock (the lock file stays). Closing again does nothing.
        """
        if self._audit is not None:
            self._audit.close(f"store {self.path} is closed: nothing more can be made durable")
        final = self._checkpoints.final() if self._checkpoints and not self._broken else None
        try:
            if final is not None:
                self._write([], {}, {}, {}, final)  # rolled back if it fails
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"store {self.path}: closing, the checkpoint of its last records was not "
                f"written ({exc}); they stay durable, not covered by a checkpoint"
            ) from None
        finally:
            self._conn.close()
            if self._lock is not None:
                self._lock.release()
