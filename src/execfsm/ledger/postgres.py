"""
`PostgresStore`: the durable store many orchestrators (processes, hosts) share, on one
PostgreSQL database (psycopg 3, ``pip install execfsm[postgres]``).

Each orchestrator writes its own **stream**: its own audit records (own gapless seq, own
hash chain), orders, positions and checkpoints, tagged with the stream's name. A stream has
one writer at a time: the store holds the stream's session-level advisory lock on its
connection for as long as it is open, and PostgreSQL releases it when that connection ends
(a closed store, a killed process; a lost host once TCP keepalives or the TCP user timeout
give up; a server restart, after which a waiting standby reconnects), so a standby waiting
for the lock (``wait``) takes the stream over. The idempotency keys are shared: a key is
**claimed** by one stream (`claim`, before its unit of work writes anything), and the
write-ahead transaction stores the key's row only if that stream owns it, so no key is ever
dispatched by two streams. A claim no stored intent followed is given up when the store's
write fails or it closes, and is dropped by another stream once no store owns its stream.

The unit-of-work guarantee and group commit are `SqliteStore`'s (`GroupCommitStore`): a
commit is one transaction carrying complete units only, so after any crash the database
holds a prefix of each stream's complete units. Durability is the server's
(``synchronous_commit=on``, the server's ``fsync``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from execfsm.contracts import Order, OrderIntent
from execfsm.errors import StoreError
from execfsm.ids import canonical_json, decode
from execfsm.ledger._checkpointer import Checkpointer
from execfsm.ledger._group_commit import GroupCommitStore
from execfsm.ledger._lock import StoreLocked
from execfsm.ledger._pg_read import check_stream_rows, load_streams, read_stream
from execfsm.ledger._pg_schema import (
    SCHEMA_VERSION,
    SchemaVersionError,
    connect,
    migrate,
    schema_version,
    stream_lock_key,
)
from execfsm.ledger._pg_url import check_stream, redacted
from execfsm.ledger._rows import CorruptRow
from execfsm.ledger.audit import Line
from execfsm.ledger.checkpoints import Checkpoint, Signer, checkpoint_json
from execfsm.ledger.positions import Position
from execfsm.ledger.store import Claimed, IntentEntry, StoredState
from execfsm.results import PipelineResult
from execfsm.typing import Clock

__all__ = [
    "SCHEMA_VERSION",
    "Claimed",
    "PostgresStore",
    "SchemaVersionError",
    "check_stream_rows",
    "load_streams",
]

_POLL = 0.01
"""How often (s) a standby asks for the stream's lock."""

_MAX_BACKOFF = 2.0
"""The longest pause (s) between a standby's attempts to reconnect to a restarting server."""


class PostgresStore(GroupCommitStore):
    """
    A `LedgerStore` on a PostgreSQL database, writing one stream.

    The schema is created in an empty database, migrated from an older version, and a newer
    or unknown one is refused (`SchemaVersionError`, nothing changed).

    Args:
        url: ``postgresql://user[:password]@host[:port]/database`` (or ``postgres://``);
            messages show it without its password.
        stream: The stream this store writes (and, read-only, reads).
        read_only: Read the stream only (``load``): no lock, no schema change, nothing
            written; works beside a live writer.
        wait: How long (seconds) to wait for the stream's owner to go (a standby); None
            (default): a stream another store owns is refused at once (`StoreLocked`).
        signing_key: As `SqliteStore`'s: a signed checkpoint with each commit.
        checkpoint_every: As `SqliteStore`'s.
        clock: As `SqliteStore`'s.
        connect_timeout: Seconds to wait for the server before giving up.

    Raises:
        StoreLocked: Another store owns the stream (and `wait` ran out).
        StoreError: The URL does not parse, the server cannot be reached, the schema is
            refused.
    """

    def __init__(
        self,
        url: str,
        *,
        stream: str = "main",
        read_only: bool = False,
        wait: float | None = None,
        signing_key: Signer | None = None,
        checkpoint_every: int = 1,
        clock: Clock | None = None,
        connect_timeout: int = 5,
    ) -> None:
        self.stream = check_stream(stream)
        self.url = redacted(url)
        """The URL without its password."""
        self._label = f"store {self.url} stream {stream}"
        if signing_key is not None and read_only:
            raise StoreError(f"{self._label}: a read-only store writes no checkpoints")
        self._checkpoints = (
            None
            if signing_key is None
            else Checkpointer(Path(self._label), signing_key, checkpoint_every, clock)
        )
        self.read_only = read_only
        self._init_commit_state()
        self._wrote = False
        """This store committed records (the stream is marked as having written)."""
        self.took_over_after: float | None = None
        """Seconds this store waited for the stream's previous owner to go (a standby)."""
        self._url, self._connect_timeout = url, connect_timeout
        self._conn = self._connect()
        self._claims_lock = threading.Lock()
        self._claims_conn: psycopg.Connection[Any] | None = None
        try:
            if read_only:
                if schema_version(self._conn, self._label) == 0:
                    raise StoreError(f"{self._label}: no execfsm schema in this database")
            else:
                migrate(self._conn, self._label)
                self._own(wait)
                self._claims_conn = self._connect()
                # A claim needs no flush of its own: the write-ahead that follows it is
                # committed synchronously, and the WAL is flushed in order, so a claim is
                # durable before its key's write-ahead is; one lost in a server crash had
                # none, so nothing of it was sent (and its key is free again).
                self._claims_conn.execute("SET synchronous_commit = off")
        except psycopg.Error as exc:
            self._close_connections()
            raise StoreError(f"{self._label}: cannot open the database: {exc}") from None
        except BaseException:
            self._close_connections()
            raise

    @property
    def connection(self) -> psycopg.Connection[Any]:
        """
        The writing connection, which holds the stream's lock (for inspection and tests).
        """
        return self._conn

    def _own(self, wait: float | None) -> None:
        """Take the stream's advisory lock, waiting up to `wait` seconds for its owner."""
        key = stream_lock_key(self.stream)
        started = time.monotonic()
        backoff = _POLL
        while True:
            try:
                row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            except psycopg.OperationalError:
                if wait is None:
                    raise
                self._reconnect(started + wait, backoff)  # a server restart cut the wait
                backoff = min(backoff * 2, _MAX_BACKOFF)
                continue
            if row is not None and row[0]:
                break
            waited = time.monotonic() - started
            if wait is None or waited >= wait:
                holder = self._conn.execute(
                    "SELECT owner FROM execfsm_streams WHERE stream = %s", (self.stream,)
                ).fetchone()
                held_by = holder[0] if holder else ""
                raise StoreLocked(
                    f"{self._label}: the stream is owned by another orchestrator "
                    f"({held_by or 'holder unknown'}); nothing was written",
                    lock_path=Path(f"advisory lock {key}"),
                    holder=held_by,
                    pid=None,
                )
            time.sleep(_POLL)
        if wait is not None:
            self.took_over_after = time.monotonic() - started
        owner = (
            f"pid={os.getpid()} host={socket.gethostname()} "
            f"since={datetime.now(UTC).isoformat(timespec='seconds')}"
        )
        self._conn.execute(
            "INSERT INTO execfsm_streams (stream, owner) VALUES (%s, %s) "
            "ON CONFLICT (stream) DO UPDATE SET owner = excluded.owner",
            (self.stream, owner),
        )

    def _connect(self) -> psycopg.Connection[Any]:
        return connect(self._url, self._label, connect_timeout=self._connect_timeout)

    def _reconnect(self, deadline: float, backoff: float) -> None:
        """
        A standby's connection was cut while it waited (a server restart, which also frees
        the owner's lock): connect again, retrying with a growing pause (at most
        `_MAX_BACKOFF` s) until `deadline`; a `StoreError` if the server stays away.
        """
        with contextlib.suppress(psycopg.Error):
            self._conn.close()
        while True:
            time.sleep(min(backoff, max(0.0, deadline - time.monotonic())))
            try:
                self._conn = self._connect()
                return
            except StoreError as exc:
                if time.monotonic() >= deadline:
                    raise StoreError(
                        f"{exc}; the standby's connection was cut while it waited for the "
                        "stream, and the server did not come back in time"
                    ) from None
            backoff = min(backoff * 2, _MAX_BACKOFF)

    # -- reading --------------------------------------------------------------------------

    def load(self) -> StoredState:
        """
        The stream's rows, with its chain verified; a broken chain or a corrupt row is a
        `StoreError` naming it, and the store then refuses to append. A writer also drops
        its stream's claims that no stored intent followed (a crash between a claim and its
        write-ahead: nothing of those was sent).
        """
        try:
            state = read_stream(self._conn, self.stream)
            if not self.read_only:
                self._conn.execute(
                    "DELETE FROM execfsm_claims c WHERE c.stream = %s AND NOT EXISTS "
                    "(SELECT 1 FROM execfsm_intents i "
                    "WHERE i.idempotency_key = c.idempotency_key)",
                    (self.stream,),
                )
        except CorruptRow as exc:
            raise self._poison(str(exc)) from None
        except psycopg.Error as exc:
            raise self._poison(f"cannot read the database: {exc}") from None
        return self._loaded(state)

    # -- claims ---------------------------------------------------------------------------

    def claim(self, key: str, intent: OrderIntent) -> Claimed | None:
        """
        Claim idempotency key `key` for this stream, with the `intent` that uses it (its
        own committed row, before the intent's unit of work writes anything): None if the
        stream owns it (now, or already), else who does (`Claimed`). The write-ahead
        transaction stores the key's row only if this stream owns it.
        """
        self._check()
        conn = self._claims_conn
        if conn is None:  # pragma: no cover - a writer always has one
            raise StoreError(f"{self._label}: no claims connection")
        try:
            with self._claims_lock:
                for attempt in (1, 2):
                    row = conn.execute(
                        "INSERT INTO execfsm_claims (idempotency_key, stream, intent) "
                        "VALUES (%s, %s, %s) ON CONFLICT (idempotency_key) DO UPDATE "
                        "SET stream = execfsm_claims.stream RETURNING stream, intent",
                        (key, self.stream, canonical_json(intent)),
                    ).fetchone()
                    if row is None or row[0] == self.stream:
                        return None
                    owner, claimed_with = row
                    stored = conn.execute(
                        "SELECT status, result FROM execfsm_intents WHERE idempotency_key = %s",
                        (key,),
                    ).fetchone()
                    if stored is not None or attempt == 2 or not self._orphaned(key, owner):
                        break
                done = stored if stored is not None and stored[0] == "DONE" else None
        except psycopg.Error as exc:
            raise StoreError(
                f"{self._label}: cannot claim idempotency key {key}: {exc}; nothing was sent"
            ) from None
        try:
            result = None if done is None or done[1] is None else decode(PipelineResult, done[1])
            return Claimed(owner, decode(OrderIntent, claimed_with), result)
        except ValueError as exc:
            raise StoreError(
                f"{self._label}: the claim of idempotency key {key} by stream {owner} does "
                f"not parse: {exc}"
            ) from None

    def _orphaned(self, key: str, owner: str) -> bool:
        """
        Drop `owner`'s claim of `key` (no intent stored for it) if no store owns that
        stream now (its lock is free: its writer closed, died, or lost the connection that
        held the lock, so it can write nothing more and sent nothing of the key); whether
        it was dropped. Under the claims lock, on the claims connection.
        """
        conn = self._claims_conn
        assert conn is not None  # noqa: S101 - a writer has one
        lock = stream_lock_key(owner)
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (lock,)).fetchone()
        if row is None or not row[0]:
            return False  # its owner is there: in progress
        try:
            conn.execute(
                "DELETE FROM execfsm_claims c WHERE c.idempotency_key = %s AND c.stream = %s "
                "AND NOT EXISTS (SELECT 1 FROM execfsm_intents i "
                "WHERE i.idempotency_key = c.idempotency_key)",
                (key, owner),
            )
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (lock,))
        return True

    def _release_unused(self) -> None:
        """
        Give up every claim of this stream that no stored intent followed (a failed write,
        a close): nothing of those was sent, and this store sends nothing more. Best effort:
        a claim left behind is dropped when the stream is opened again, or by another
        stream that finds no store owning this one.
        """
        conn = self._claims_conn
        if conn is None or conn.closed:
            return
        with contextlib.suppress(psycopg.Error), self._claims_lock:
            conn.execute(
                "DELETE FROM execfsm_claims c WHERE c.stream = %s AND NOT EXISTS "
                "(SELECT 1 FROM execfsm_intents i WHERE i.idempotency_key = c.idempotency_key)",
                (self.stream,),
            )

    def release(self, keys: list[str]) -> None:
        """
        Give up this stream's claims of `keys` that no stored intent followed (a batch
        refused after claiming them): another stream may claim them again.
        """
        self._check()
        conn = self._claims_conn
        if conn is None:  # pragma: no cover - a writer always has one
            return
        try:
            with self._claims_lock:
                conn.execute(
                    "DELETE FROM execfsm_claims c WHERE c.idempotency_key = ANY(%s) "
                    "AND c.stream = %s AND NOT EXISTS (SELECT 1 FROM execfsm_intents i "
                    "WHERE i.idempotency_key = c.idempotency_key)",
                    (keys, self.stream),
                )
        except psycopg.Error as exc:
            raise StoreError(f"{self._label}: cannot release claims {keys[:3]}: {exc}") from None

    # -- writing --------------------------------------------------------------------------

    def _abort(self) -> None:
        """
        A failed transaction block has rolled back already; the store takes no more
        writes, so its claims that no stored intent followed are given up (another stream
        may submit those keys).
        """
        self._release_unused()

    def _write(
        self,
        lines: list[Line],
        intents: dict[str, IntentEntry],
        orders: dict[str, Order],
        positions: dict[str, Position],
        checkpoint: Checkpoint | None = None,
    ) -> None:
        stream = self.stream
        conn = self._conn
        with conn.transaction(), conn.cursor() as cur:
            if lines:
                cur.executemany(
                    "INSERT INTO execfsm_audit (stream, seq, correlation_id, client_order_id, "
                    "record) VALUES (%s, %s, %s, %s, %s)",
                    [(stream, *line) for line in lines],
                )
            if intents:
                self._write_intents(cur, intents)
            if orders:
                cur.executemany(
                    "INSERT INTO execfsm_orders (client_order_id, stream, snapshot) "
                    "VALUES (%s, %s, %s) ON CONFLICT (stream, client_order_id) DO UPDATE "
                    "SET snapshot = excluded.snapshot",
                    [(cid, stream, canonical_json(o)) for cid, o in orders.items()],
                )
            if positions:
                cur.executemany(
                    "INSERT INTO execfsm_positions (stream, symbol, snapshot) "
                    "VALUES (%s, %s, %s) ON CONFLICT (stream, symbol) DO UPDATE "
                    "SET snapshot = excluded.snapshot",
                    [(stream, symbol, canonical_json(p)) for symbol, p in positions.items()],
                )
            if checkpoint is not None:
                cur.execute(
                    "INSERT INTO execfsm_checkpoints (stream, seq, checkpoint) VALUES (%s, %s, %s)",
                    (stream, checkpoint.seq, checkpoint_json(checkpoint)),
                )
            if lines and not self._wrote:  # the stream's first records: it stays known
                cur.execute("UPDATE execfsm_streams SET wrote = true WHERE stream = %s", (stream,))
        if lines:
            self._wrote = True

    def _write_intents(self, cur: psycopg.Cursor[Any], intents: dict[str, IntentEntry]) -> None:
        keys = sorted(intents)
        cur.execute(  # a key another stream claimed is never stored by this one
            "SELECT idempotency_key, stream FROM execfsm_claims "
            "WHERE idempotency_key = ANY(%s) AND stream <> %s FOR SHARE",
            (keys, self.stream),
        )
        taken = cur.fetchall()
        if taken:
            key, owner = taken[0]
            raise StoreError(
                f"idempotency key {key} is claimed by stream {owner}: this stream does not store it"
            )
        cur.executemany(
            "INSERT INTO execfsm_intents (idempotency_key, stream, correlation_id, "
            "client_order_id, status, result) VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (idempotency_key) DO UPDATE SET status = excluded.status, "
            "result = excluded.result WHERE execfsm_intents.stream = excluded.stream",
            [
                (
                    e.idempotency_key,
                    self.stream,
                    e.correlation_id,
                    e.client_order_id,
                    e.status.value,
                    None if e.result is None else canonical_json(e.result),
                )
                for e in (intents[key] for key in keys)
            ],
        )
        self._all_written(cur, len(keys), "idempotency key", intents)

    @staticmethod
    def _all_written(
        cur: psycopg.Cursor[Any], wanted: int, what: str, rows: Collection[str]
    ) -> None:
        if cur.rowcount != wanted:
            raise StoreError(
                f"{wanted - cur.rowcount} {what} row(s) of {sorted(rows)[:3]} belong to "
                "another stream: nothing of this commit is stored"
            )

    def close(self) -> None:
        """
        Write the checkpoint a store with a key owes (as `SqliteStore` does), then close the
        connections: the stream's lock is released, and a standby takes it. Closing again
        does nothing.
        """
        if self._audit is not None:
            self._audit.close(f"{self._label} is closed: nothing more can be made durable")
        final = self._checkpoints.final() if self._checkpoints and not self._broken else None
        try:
            if final is not None and not self._conn.closed:
                self._write([], {}, {}, {}, final)
        except psycopg.Error as exc:
            raise StoreError(
                f"{self._label}: closing, the checkpoint of its last records was not written "
                f"({exc}); they stay durable, not covered by a checkpoint"
            ) from None
        finally:
            self._release_unused()
            self._close_connections()

    def _close_connections(self) -> None:
        for conn in (self._conn, self._claims_conn):
            if conn is not None:
                with contextlib.suppress(psycopg.Error):
                    conn.close()
