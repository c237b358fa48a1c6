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

from execfsm.contracts import Order
from execfsm.errors import AuditChainError, StoreError
from execfsm.ledger.audit import AuditLog, record_from_dict, verify_records
from execfsm.ledger.codec import OrderTexts, position_json, result_json
from execfsm.ledger.positions import Position
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
        self._persisted_seq = 0
        self._stored_seq = 0
        self._intents: dict[str, IntentEntry] = {}
        self._orders: dict[str, Order] = {}
        self._positions: dict[str, Position] = {}
        self._state_lock = threading.Lock()
        self._staged = 0
        """How many rows have been staged (under ``_state_lock``)."""
        self._durable_staged = 0
        """How many of them a commit has made durable."""
        self._committed = threading.Condition()
        """Guards ``_committing``; notified when a commit ends."""
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
        self._persisted_seq = self._stored_seq
        audit.collect_lines(self._stored_seq)

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
        return StoredState(records, intents, orders, positions)

    def _poison(self, message: str) -> StoreError:
        self._broken = StoreError(f"store {self.path}: {message}")
        return self._broken

    def _check(self) -> None:
        if self._broken is not None:
            raise StoreError(f"{self._broken} (the store accepts no more writes; reopen it)")

    def stage_intent(self, entry: IntentEntry) -> None:
        """
        Queue an idempotency-index row.
        """
        self._check()
        with self._state_lock:
            self._intents[entry.idempotency_key] = entry
            self._staged += 1

    def stage_order(self, order: Order) -> None:
        """
        Queue an order snapshot.
        """
        self._check()
        with self._state_lock:
            self._orders[order.client_order_id] = order
            self._staged += 1

    def stage_position(self, position: Position) -> None:
        """
        Queue a position snapshot.
        """
        self._check()
        with self._state_lock:
            self._positions[position.symbol] = position
            self._staged += 1

    def flush(self) -> None:
        """
        Return once everything staged and every audit record written before the call is
        durable. Group commit: one caller (the leader) commits everything queued by every
        thread in one transaction, while the others wait for it; a caller whose data a
        commit already covered returns without a commit of its own. A failure rolls the
        transaction back (nothing of it is stored), breaks the store and is raised to every
        caller waiting on it.
        """
        self._check()
        with self._state_lock:
            wanted_rows = self._staged
        wanted_seq = len(self._audit) if self._audit is not None else 0
        with self._committed:
            while True:
                self._check()
                if self._durable_staged >= wanted_rows and self._persisted_seq >= wanted_seq:
                    return
                if not self._committing:
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
        with self._state_lock:
            intents, self._intents = self._intents, {}
            orders, self._orders = self._orders, {}
            positions, self._positions = self._positions, {}
            staged = self._staged
        try:
            # Records appended after the rows were swapped out are welcome in this commit too.
            lines = self._audit.take_lines() if self._audit else []
            if lines or intents or orders or positions:
                self._write(lines, intents, orders, positions)
                self.commits += 1
        except Exception as exc:  # noqa: BLE001 - any failure loses the swapped rows: poison
            with contextlib.suppress(sqlite3.DatabaseError):  # may have ended already
                self._conn.execute("ROLLBACK")
            raise self._poison(f"write failed, nothing of it was stored: {exc}") from None
        self._persisted_seq = lines[-1][0] if lines else self._persisted_seq
        self._durable_staged = staged

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
