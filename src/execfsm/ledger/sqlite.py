"""
`SqliteStore`: the embedded durable store (stdlib ``sqlite3``, WAL), one database file holding
the audit log, the idempotency index, the order ledger and the position ledger.

Durability: ``synchronous=FULL`` by default, so a committed flush survives a power loss. With
``NORMAL`` a WAL database stays consistent but the last commits before a power loss may be
lost (never on a process crash). Group commit: a flush returns once its caller's data is
durable, and one transaction carries everything every thread staged meanwhile, so N
concurrent intents waiting on a commit share one fsync instead of paying N.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from pathlib import Path

import attrs

from execfsm.contracts import Order
from execfsm.errors import AuditChainError, StoreError
from execfsm.ledger.audit import AuditLog, record_from_dict, verify_records
from execfsm.ledger.codec import OrderTexts, position_json, result_json
from execfsm.ledger.positions import Position
from execfsm.ledger.replay import DurablePositions
from execfsm.ledger.store import IntentEntry, IntentStatus, StoredState
from execfsm.results import PipelineResult

SCHEMA_VERSION = 1
"""Bumped when the tables change; a newer database is refused, never guessed at."""

SYNCHRONOUS_MODES = ("FULL", "NORMAL")

_SCHEMA = """
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
"""


@attrs.define
class _Unit:
    """The rows one unit of work staged, queued once it ends."""

    intents: dict[str, IntentEntry] = attrs.Factory(dict)
    orders: dict[str, Order] = attrs.Factory(dict)
    last_seq: int = 0
    """The seq of the unit's last audit record: its rows are committed with that record."""


def _fail(path: Path, action: str, exc: BaseException) -> StoreError:
    return StoreError(f"store {path}: cannot {action}: {exc}")


class SqliteStore:
    """
    A `LedgerStore` in one SQLite file.

    Args:
        path: The database file; its directory must exist.
        synchronous: ``FULL`` (default: each commit is fsynced) or ``NORMAL``.
    """

    def __init__(self, path: Path | str, *, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        if synchronous not in SYNCHRONOUS_MODES:
            raise StoreError(
                f"store {self.path}: synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}, "
                f"got {synchronous!r}"
            )
        if not self.path.parent.is_dir():
            raise StoreError(f"store {self.path}: directory {self.path.parent} does not exist")
        if self.path.is_dir():
            raise StoreError(f"store {self.path}: is a directory, not a database file")
        self._audit: AuditLog | None = None
        self._stored_seq = 0
        self._durable_through = 0
        """Every record up to this seq, and every unit of work ending by it, is durable."""
        self._state_lock = threading.Lock()
        self._queued: list[_Unit] = []
        """Finished units of work not yet committed, in the order they finished."""
        self._in_flight: list[_Unit] = []
        """The units the commit in progress carries."""
        self._local = threading.local()
        """The rows the current thread's open unit of work has staged."""
        self._positions = DurablePositions()
        """The positions the committed trail books: what the positions table holds."""
        self._committed = threading.Condition()
        """Guards ``_committing`` and ``_durable_through``; notified when a commit or a
        unit of work ends."""
        self._committing = False
        self._broken: StoreError | None = None
        self.commits = 0
        """How many transactions this store has committed (group commit makes it small)."""
        try:
            self._conn = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
            self._check_schema()
            self._conn.execute("BEGIN IMMEDIATE")  # prove we can write, before any intent
            self._conn.execute("ROLLBACK")
        except sqlite3.DatabaseError as exc:
            raise _fail(self.path, "open the database", exc) from None

    @property
    def connection(self) -> sqlite3.Connection:
        """
        The underlying connection (for inspection and fault-injection tests).
        """
        return self._conn

    def _check_schema(self) -> None:
        tables = {
            row[0]
            for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if tables and "meta" not in tables:
            raise StoreError(
                f"store {self.path}: not an execfsm database (tables {sorted(tables)})"
            )
        self._conn.executescript(_SCHEMA)
        row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            self._conn.execute(
                "INSERT INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            return
        version = int(row[0])
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"store {self.path}: database schema version {version} is newer than this "
                f"execfsm understands ({SCHEMA_VERSION}); upgrade execfsm"
            )

    # -- the store protocol -------------------------------------------------------------------

    def bind(self, audit: AuditLog) -> None:
        """
        Persist `audit`'s new records: the ones `load` returned are already stored.
        """
        self._audit = audit
        self._durable_through = self._stored_seq
        audit.collect_lines(self._stored_seq)
        audit.on_units(self._unit_finished, self._wake)

    def load(self) -> StoredState:
        """
        Everything stored, with the audit chain verified; a broken chain or a corrupt row is a
        `StoreError` naming the first bad record, and the store then refuses to append.
        """
        try:
            rows = self._conn.execute("SELECT seq, record FROM audit ORDER BY seq").fetchall()
            records = []
            for seq, text in rows:
                try:
                    records.append(record_from_dict(json.loads(text)))
                except (json.JSONDecodeError, AuditChainError) as exc:
                    raise self._poison(f"audit record seq {seq} is corrupt: {exc}") from None
            check = verify_records(records)
            if not check.ok:
                raise self._poison(
                    f"audit chain broken at record seq {check.first_bad_seq}: {check.problem}"
                )
            intents = [
                IntentEntry(
                    key,
                    cor,
                    cid,
                    IntentStatus(status),
                    None if res is None else PipelineResult.from_json(json.loads(res)),
                )
                for key, cor, cid, status, res in self._conn.execute(
                    "SELECT idempotency_key, correlation_id, client_order_id, status, result "
                    "FROM intents ORDER BY rowid"
                )
            ]
            orders = [
                Order.from_dict(json.loads(text))
                for (text,) in self._conn.execute("SELECT snapshot FROM orders ORDER BY rowid")
            ]
            positions = [
                Position.from_dict(json.loads(text))
                for (text,) in self._conn.execute("SELECT snapshot FROM positions ORDER BY symbol")
            ]
        except sqlite3.DatabaseError as exc:
            raise self._poison(f"cannot read the database: {exc}") from None
        except (KeyError, ValueError, TypeError) as exc:
            raise self._poison(f"a stored row is corrupt: {exc}") from None
        self._stored_seq = records[-1].seq if records else 0
        try:
            self._positions.restore(orders, positions, records)
        except (AuditChainError, KeyError, ValueError, TypeError) as exc:
            raise self._poison(f"a stored fill record is corrupt: {exc}") from None
        return StoredState(records, intents, orders, positions)

    def _poison(self, message: str) -> StoreError:
        self._broken = StoreError(f"store {self.path}: {message}")
        return self._broken

    def _check(self) -> None:
        if self._broken is not None:
            raise StoreError(f"{self._broken} (the store accepts no more writes; reopen it)")

    def _rows(self) -> _Unit:
        """The rows being staged: the open unit's on this thread, else a unit of their own."""
        unit: _Unit | None = getattr(self._local, "unit", None)
        if unit is None:
            unit = self._local.unit = _Unit()
        return unit

    def stage_intent(self, entry: IntentEntry) -> None:
        """
        Stage an idempotency-index row with the current unit of work.
        """
        self._check()
        self._rows().intents[entry.idempotency_key] = entry
        self._queue_outside_unit()

    def stage_order(self, order: Order) -> None:
        """
        Stage an order snapshot with the current unit of work.
        """
        self._check()
        self._rows().orders[order.client_order_id] = order
        self._queue_outside_unit()

    def _queue_outside_unit(self) -> None:
        # A row staged outside any unit of work is a unit by itself, ending now.
        if self._audit is None or not self._audit.in_unit():
            self._unit_finished(len(self._audit) if self._audit is not None else 0)

    def _unit_finished(self, last_seq: int) -> None:
        """Queue the rows of the unit this thread ends, tagged with its last record's seq."""
        unit: _Unit | None = getattr(self._local, "unit", None)
        self._local.unit = None
        if unit is not None:
            unit.last_seq = last_seq
            with self._state_lock:
                self._queued.append(unit)

    def _wake(self) -> None:
        with self._committed:
            self._committed.notify_all()

    def _watermark(self) -> int:
        return self._audit.watermark() if self._audit is not None else 0

    def _done(self, wanted: int) -> bool:
        # Under ``_committed``: the records up to `wanted`, and every queued unit ending by
        # then, are durable.
        if self._durable_through < wanted:
            return False
        with self._state_lock:
            return all(unit.last_seq > wanted for unit in (*self._in_flight, *self._queued))

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
        self._check()
        wanted = through if through is not None else len(self._audit or ())
        with self._committed:
            while True:
                self._check()
                if self._done(wanted):
                    return
                # Lead a commit only once it can carry the caller's records: every unit of
                # work begun before them has ended (a unit close wakes the waiters).
                if not self._committing and self._watermark() >= wanted:
                    self._committing = True
                    break
                self._committed.wait()
        try:
            self._commit_queued()
        finally:
            with self._committed:
                self._committing = False
                self._committed.notify_all()

    def _commit_queued(self) -> None:
        # Only the leader runs this (``_committing`` is set).
        watermark = self._watermark()
        lines = self._audit.take_lines(watermark) if self._audit else []
        with self._state_lock:
            units = [unit for unit in self._queued if unit.last_seq <= watermark]
            self._queued = [unit for unit in self._queued if unit.last_seq > watermark]
            self._in_flight = units
        intents: dict[str, IntentEntry] = {}
        orders: dict[str, Order] = {}
        for unit in units:  # in the order they ended: a later snapshot replaces an earlier
            intents.update(unit.intents)
            orders.update(unit.orders)
        try:
            positions = self._positions.book(lines, orders.values())
            if lines or intents or orders or positions:
                self._write(lines, intents, orders, positions)
                self.commits += 1
        except Exception as exc:  # noqa: BLE001 - any failure loses the taken rows: poison
            with contextlib.suppress(sqlite3.DatabaseError):  # may have ended already
                self._conn.execute("ROLLBACK")
            raise self._poison(f"write failed, nothing of it was stored: {exc}") from None
        with self._committed:
            self._durable_through = max(self._durable_through, watermark)
            with self._state_lock:
                self._in_flight = []

    def _write(
        self,
        lines: list[tuple[int, str, str | None, str]],
        intents: dict[str, IntentEntry],
        orders: dict[str, Order],
        positions: dict[str, Position],
    ) -> None:
        conn = self._conn
        order_text = OrderTexts()  # the rows below hold every order it sees
        conn.execute("BEGIN IMMEDIATE")
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
                    None if e.result is None else result_json(e.result, order_text),
                )
                for e in intents.values()
            ],
        )
        conn.executemany(
            "INSERT INTO orders(client_order_id, snapshot) VALUES (?, ?) "
            "ON CONFLICT(client_order_id) DO UPDATE SET snapshot=excluded.snapshot",
            [(cid, order_text(o)) for cid, o in orders.items()],
        )
        conn.executemany(
            "INSERT INTO positions(symbol, snapshot) VALUES (?, ?) "
            "ON CONFLICT(symbol) DO UPDATE SET snapshot=excluded.snapshot",
            [(symbol, position_json(p)) for symbol, p in positions.items()],
        )
        conn.execute("COMMIT")

    def close(self) -> None:
        """
        Close the connection.
        """
        self._conn.close()
