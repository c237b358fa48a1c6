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
import threading
from collections.abc import Mapping
from pathlib import Path
from threading import get_ident

from execfsm.contracts import Order
from execfsm.errors import ReentrantCall, StoreError
from execfsm.ledger._checkpointer import Checkpointer
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
from execfsm.ledger.audit import AuditLog, Line
from execfsm.ledger.checkpoints import Checkpoint, Signer, first_mismatch
from execfsm.ledger.positions import Booking, Position, book_in_trail_order
from execfsm.ledger.store import IntentEntry, StoredState
from execfsm.ledger.units import UnitOfWork
from execfsm.typing import Clock

__all__ = ["SCHEMA_VERSION", "SYNCHRONOUS_MODES", "SqliteStore", "StoreLocked"]

_SNAPSHOT_TRIES = 3


class _Unit:
    """The rows one unit of work staged, queued once it ends."""

    __slots__ = ("alone", "bookings", "first_seq", "intents", "last_seq", "orders")

    def __init__(self, *, alone: bool = False) -> None:
        self.intents: dict[str, IntentEntry] = {}
        self.orders: dict[str, Order] = {}
        self.bookings: list[Booking] = []
        self.alone = alone
        """Staged outside any unit of work: a unit by itself, queued once its row is in."""
        self.first_seq = 0
        """No audit record of the unit comes before this seq."""
        self.last_seq = 0
        """The seq of the unit's last audit record: its rows are committed with that
        record."""


class SqliteStore:
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
        self._audit: AuditLog | None = None
        self._units_by_thread: Mapping[int, UnitOfWork] = {}
        """The bound audit log's open units of work, by thread."""
        self._stored_seq = 0
        self._durable_through = 0
        """Every record up to this seq, and every unit of work ending by it, is durable."""
        self._state_lock = threading.Lock()
        self._queued: list[_Unit] = []
        """Finished units of work not yet committed, in the order they finished."""
        self._in_flight: list[_Unit] = []
        """The units the commit in progress carries."""
        self._positions: dict[str, Position] = {}
        """The positions the committed trail books: what the positions table holds."""
        self._commit_lock = threading.Lock()
        """Guards ``_committing``, ``_durable_through`` and ``_wanted`` (taken directly, in
        C, rather than through the condition's Python ``__enter__``)."""
        self._commit_ended = threading.Condition(self._commit_lock)
        """Notified when a commit ends (and when the store stops)."""
        self._commit_waiters = 0
        """How many flushes wait on ``_commit_ended``."""
        self._watermark_moved = threading.Condition(self._commit_lock)
        """Notified when the watermark reaches a flush waiting for it (see `_wake`), and
        when a commit ends."""
        self._committing = False
        self._wanted: list[int] = []
        """The seq each flush waiting on ``_watermark_moved`` waits for."""
        self._broken: StoreError | None = None
        self.commits = 0
        """How many transactions this store has committed (group commit makes it small)."""
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

    def bind(self, audit: AuditLog) -> None:
        """
        Persist `audit`'s new records: the ones `load` returned are already stored.
        """
        self._refuse_if_read_only("bind an audit log")
        self._audit = audit
        self._units_by_thread = audit.units_by_thread
        self._durable_through = self._stored_seq
        audit.collect_lines(self._stored_seq)
        audit.on_units(self._unit_finished, self._wake)
        audit.on_settle(self.flush)

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
        records = state.records
        self._stored_seq = records[-1].seq if records else 0
        self._positions = {position.symbol: position for position in state.positions}
        if not self.read_only:  # never append to, nor sign over, a trail its checkpoints deny
            problem = (
                first_mismatch(records, state.checkpoints)
                if self._checkpoints is None
                else self._checkpoints.opened(records, state.checkpoints)
            )
            if problem is not None:
                raise self._poison(f"{problem}; nothing is appended to it")
        return state

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

    def _poison(self, message: str) -> StoreError:
        self._broken = StoreError(f"store {self.path}: {message}")
        # A fresh error to raise: the kept one never gets a traceback, whose frames would
        # hold this store in a cycle and keep its writer lock until the cyclic GC runs.
        return StoreError(str(self._broken))

    def _refuse_if_read_only(self, action: str) -> None:
        if self.read_only:
            raise StoreError(f"store {self.path}: opened read-only, so it cannot {action}")

    def _check(self) -> None:
        self._refuse_if_read_only("write")
        if self._broken is not None:
            raise StoreError(f"{self._broken} (the store accepts no more writes; reopen it)")

    def _rows(self) -> _Unit:
        """
        The rows the open unit of work on this thread has staged (made on first use), or
        outside a unit a unit of their own (``alone``: the caller queues it once its row is
        in). The store must take writes.
        """
        if self._broken is not None or self.read_only:
            self._check()  # raises
        units = self._units_by_thread
        unit = units.get(get_ident()) if units else None
        if unit is None:
            return _Unit(alone=True)
        rows: _Unit | None = unit.rows
        if rows is None:
            rows = unit.rows = _Unit()
        return rows

    def stage_intent(self, entry: IntentEntry, order: Order | None = None) -> None:
        """
        Stage an idempotency-index row, and the snapshot of its `order` if given, with the
        current unit of work.
        """
        rows = self._rows()
        rows.intents[entry.idempotency_key] = entry
        if order is not None:
            rows.orders[order.client_order_id] = order
        if rows.alone:
            self._queue_alone(rows)

    def stage_order(self, order: Order) -> None:
        """
        Stage an order snapshot with the current unit of work.
        """
        rows = self._rows()
        rows.orders[order.client_order_id] = order
        if rows.alone:
            self._queue_alone(rows)

    def stage_booking(self, booking: Booking) -> None:
        """
        Stage a fill the live ledger booked with the current unit of work: the positions
        table books it, in trail order, when the unit is committed.
        """
        rows = self._rows()
        rows.bookings.append(booking)
        if rows.alone:
            self._queue_alone(rows)

    def _queue_alone(self, rows: _Unit) -> None:
        # Rows staged outside any unit of work: a unit by themselves, after every record.
        last = len(self._audit) if self._audit is not None else 0
        rows.first_seq, rows.last_seq = last + 1, last
        with self._state_lock:
            self._queued.append(rows)

    def _unit_finished(self, unit: UnitOfWork, failure: BaseException | None = None) -> None:
        """
        Queue the rows `unit` staged, tagged with its seqs. A unit that raised midway is
        half-done: rather than store half of it, the store takes no more writes, so the
        database keeps the complete units before it.
        """
        rows: _Unit | None = unit.rows
        unit.rows = None
        if failure is not None:
            if self._broken is None:
                self._poison(
                    f"a unit of work failed midway ({type(failure).__name__}: {failure}); "
                    "nothing of it was stored"
                )
            return
        if rows is not None:
            rows.first_seq, rows.last_seq = unit.first_seq, unit.last_seq
            with self._state_lock:
                self._queued.append(rows)

    def _wake(self, watermark: int | None) -> None:
        """
        The audit log's watermark moved to `watermark` (None: a unit failed and the store
        stopped). Wake the flushes waiting for the watermark only if one of them waits for
        no more than that; the ones waiting for a commit to end sleep on. A flush adds what
        it waits for before it reads the watermark, so one added after this read sees the
        new watermark: no wake-up is missed, and a unit nobody waits on pays no lock.
        """
        if self._wanted or watermark is None:
            with self._commit_lock:
                if watermark is None:
                    self._commit_ended.notify_all()
                    self._watermark_moved.notify_all()
                elif any(wanted <= watermark for wanted in self._wanted):
                    self._watermark_moved.notify_all()

    def _watermark(self) -> int:
        """
        The highest seq a commit may take: below the first record of every unit still open
        (`AuditLog.watermark`), and never inside a finished unit whose records go on past
        it (units interleave: a finished unit's last records may follow an open unit's
        first), so a commit carries whole units only.
        """
        watermark = self._audit.watermark() if self._audit is not None else 0
        with self._state_lock:
            while True:
                split = [
                    unit.first_seq
                    for unit in self._queued
                    if unit.first_seq <= watermark < unit.last_seq
                ]
                if not split:
                    return watermark
                watermark = min(split) - 1

    def _done(self, wanted: int) -> bool:
        # Under ``_commit_lock``: the records up to `wanted`, and every queued unit ending
        # by then, are durable.
        if self._durable_through < wanted:
            return False
        with self._state_lock:
            for units in (self._in_flight, self._queued):
                for unit in units:
                    if unit.last_seq <= wanted:
                        return False
        return True

    def flush(self, through: int | None = None) -> None:
        """
        Return once every audit record up to seq `through` (default: every record written
        before the call) is durable, with the rows of every unit of work that ended by then.

        Only finished units are committed: a commit takes the records up to the audit log's
        `~AuditLog.watermark` (below the first record of any unit still open) and the rows
        of the units that ended by it, so after any crash the database holds a prefix of
        complete units. Group commit: one caller (the leader) commits for every thread while
        the others wait; a caller whose data a commit already covered returns without one.
        A failure rolls the transaction back (nothing of it is stored), breaks the store and
        is raised to every caller waiting on it.
        """
        if self._broken is not None or self.read_only:
            self._check()  # raises
        if self._checkpoints is not None:  # a session flushes once recovery took the trail
            self._checkpoints.trail_taken = True
        audit = self._audit
        if self._units_by_thread and get_ident() in self._units_by_thread:
            raise ReentrantCall(
                f"store {self.path}: flush called inside a unit of work (a risk hook calling "
                "its orchestrator?): it could never be durable before that unit ends"
            )
        wanted = through if through is not None else len(audit or ())
        with self._commit_lock:
            while True:
                if self._broken is not None:
                    self._check()  # raises
                if self._done(wanted):
                    return
                if self._committing:
                    self._commit_waiters += 1
                    try:
                        self._commit_ended.wait()  # then see whether it carried the caller's
                    finally:
                        self._commit_waiters -= 1
                    continue
                # Lead a commit only once it can carry the caller's records: every unit of
                # work begun before them has ended (`_wake` says when).
                self._wanted.append(wanted)  # before the watermark is read: see `_wake`
                try:
                    watermark = self._watermark()
                    if watermark >= wanted:
                        self._committing = True
                        break
                    self._watermark_moved.wait()
                finally:
                    self._wanted.remove(wanted)
        try:
            self._commit_queued(watermark)
        finally:
            with self._commit_lock:
                self._committing = False
                if self._commit_waiters:
                    self._commit_ended.notify_all()
                if self._wanted:
                    self._watermark_moved.notify_all()

    def _commit_queued(self, watermark: int) -> None:
        # Only the leader runs this (``_committing`` is set). The watermark only rises, so
        # the one the leader read is still a point a commit may stop at.
        lines = self._audit.take_lines(watermark) if self._audit else []
        with self._state_lock:
            units = [unit for unit in self._queued if unit.last_seq <= watermark]
            self._queued = [unit for unit in self._queued if unit.last_seq > watermark]
            self._in_flight = units
        intents: dict[str, IntentEntry] = {}
        orders: dict[str, Order] = {}
        bookings: list[Booking] = []
        for unit in units:  # in the order they ended: a later snapshot replaces an earlier
            intents.update(unit.intents)
            orders.update(unit.orders)
            bookings += unit.bookings
        try:
            positions: dict[str, Position] = {}
            if bookings:
                touched = book_in_trail_order(self._positions, bookings)
                positions = {symbol: self._positions[symbol] for symbol in sorted(touched)}
            checkpoint = self._checkpoints.due(lines) if self._checkpoints else None
            if lines or intents or orders or positions:
                self._write(lines, intents, orders, positions, checkpoint)
                self.commits += 1
            if self._checkpoints is not None:
                self._checkpoints.committed(lines, checkpoint)
        except Exception as exc:  # noqa: BLE001 - any failure loses the taken rows: poison
            with contextlib.suppress(sqlite3.DatabaseError):  # may have ended already
                self._conn.execute("ROLLBACK")
            raise self._poison(f"write failed, nothing of it was stored: {exc}") from None
        with self._commit_lock:
            if watermark > self._durable_through:
                self._durable_through = watermark
            with self._state_lock:
                self._in_flight = []

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
