"""
The PostgreSQL store's database: its URL (shown without a password), its connection
settings, its versioned schema and the migrations that bring an older one up to date.

Every table is shared by the orchestrators writing to one database, each row tagged with
the stream that wrote it (an orchestrator's own audit stream, its own seq and chain, its own
orders and positions, keyed within the stream); the idempotency keys and their claims are
shared across streams, so a key is used once.
"""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg

from execfsm.errors import ConfigurationError, StoreError
from execfsm.ledger._pg_url import scrubbed

SCHEMA_VERSION = 2
"""The newest schema this execfsm writes and reads; a database of a newer one is refused."""

MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE execfsm_audit (
            stream TEXT NOT NULL,
            seq BIGINT NOT NULL,
            correlation_id TEXT NOT NULL,
            client_order_id TEXT,
            record TEXT NOT NULL,
            PRIMARY KEY (stream, seq))""",
        """CREATE TABLE execfsm_intents (
            idempotency_key TEXT PRIMARY KEY,
            stream TEXT NOT NULL,
            n BIGSERIAL,
            correlation_id TEXT NOT NULL,
            client_order_id TEXT NOT NULL,
            status TEXT NOT NULL,
            result TEXT)""",
        "CREATE INDEX execfsm_intents_stream ON execfsm_intents (stream, n)",
        """CREATE TABLE execfsm_orders (
            client_order_id TEXT PRIMARY KEY,
            stream TEXT NOT NULL,
            n BIGSERIAL,
            snapshot TEXT NOT NULL)""",
        "CREATE INDEX execfsm_orders_stream ON execfsm_orders (stream, n)",
        """CREATE TABLE execfsm_positions (
            stream TEXT NOT NULL,
            symbol TEXT NOT NULL,
            snapshot TEXT NOT NULL,
            PRIMARY KEY (stream, symbol))""",
        """CREATE TABLE execfsm_checkpoints (
            stream TEXT NOT NULL,
            seq BIGINT NOT NULL,
            checkpoint TEXT NOT NULL,
            PRIMARY KEY (stream, seq))""",
        """CREATE TABLE execfsm_claims (
            idempotency_key TEXT PRIMARY KEY,
            stream TEXT NOT NULL,
            intent TEXT NOT NULL)""",
        """CREATE TABLE execfsm_streams (
            stream TEXT PRIMARY KEY,
            owner TEXT NOT NULL)""",
    ),
    2: (
        # Orders are per stream (an account): two accounts may each hold a "manual-1" (an
        # external order adopted by reconciliation); version 1 keyed them on the id alone.
        "ALTER TABLE execfsm_orders DROP CONSTRAINT execfsm_orders_pkey",
        "ALTER TABLE execfsm_orders ADD PRIMARY KEY (stream, client_order_id)",
        # Every stream that ever committed a record: one whose rows were all deleted is
        # still known, and fails verification.
        "ALTER TABLE execfsm_streams ADD COLUMN wrote BOOLEAN NOT NULL DEFAULT false",
        """INSERT INTO execfsm_streams (stream, owner, wrote)
            SELECT DISTINCT stream, '', true FROM execfsm_audit
            ON CONFLICT (stream) DO UPDATE SET wrote = true""",
    ),
}
"""Version → the statements that make it from the one before (each version in one
transaction, with its number: a crash leaves the old version or the new, never half)."""

VERSION_TABLE = "execfsm_schema_version"

_MIGRATION_LOCK = 0x65786563_66736D00 - (1 << 63)
"""The advisory lock (transaction scope) two stores creating one database's schema take in
turn."""

SESSION_SETTINGS = (
    # A lost client host: the server drops its connection (and its advisory locks) after
    # about 5 + 3 x 1 s without an answer to TCP keepalives on an idle socket, and, when it
    # had data on the way to the host (keepalives do not run then), once that data goes
    # unacknowledged for 10 s (else Linux retransmits for about 15 minutes).
    "SET tcp_keepalives_idle = 5",
    "SET tcp_keepalives_interval = 1",
    "SET tcp_keepalives_count = 3",
    "SET tcp_user_timeout = 10000",
    # A client that stopped inside a transaction (never ours for long) frees its locks.
    "SET idle_in_transaction_session_timeout = '10s'",
    # A table another session locked (an operator's LOCK, a long DDL) never hangs a
    # write-ahead: after 10 s of waiting for a lock the statement fails (a StoreError, the
    # venue not called).
    "SET lock_timeout = '10s'",
    "SET synchronous_commit = on",
)


CLIENT_SETTINGS: dict[str, Any] = {
    # The same on the client's side: a lost server host fails the store's next statement
    # (a StoreError, the venue not called) within about 10 s, rather than hanging on it.
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 1,
    "keepalives_count": 3,
    "tcp_user_timeout": 10000,
}


class SchemaVersionError(StoreError, ConfigurationError):
    """
    The database's schema is not one this execfsm knows (newer, or not a version number):
    it is left as it was.
    """

    def __init__(self, message: str, *, value: object) -> None:
        ConfigurationError.__init__(self, message, field="schema_version", value=value)


def stream_lock_key(stream: str) -> int:
    """
    The advisory lock (a signed 64-bit key) whose holder owns `stream`.
    """
    digest = hashlib.sha256(b"execfsm-stream:" + stream.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def connect(url: str, label: str, *, connect_timeout: int = 5) -> psycopg.Connection[Any]:
    """
    An autocommit connection to `url` with the store's session settings; a URL that does not
    parse or a server that cannot be reached is one `StoreError` (naming the URL without its
    password).
    """
    try:
        conn = psycopg.connect(
            url, autocommit=True, connect_timeout=connect_timeout, **CLIENT_SETTINGS
        )
    except (psycopg.Error, ValueError) as exc:
        first = scrubbed(str(exc).strip().splitlines()[0] if str(exc).strip() else "", url)
        raise StoreError(f"{label}: cannot connect: {first or type(exc).__name__}") from None
    try:
        for statement in SESSION_SETTINGS:
            conn.execute(statement)  # fixed text, no parameters
    except psycopg.Error as exc:
        conn.close()
        raise StoreError(f"{label}: cannot set up the session: {scrubbed(str(exc), url)}") from None
    return conn


def schema_version(conn: psycopg.Connection[Any], label: str) -> int:
    """
    The database's schema version: 0 for a database with no execfsm tables; a version
    newer than `SCHEMA_VERSION`, or one that is not a number, is a `SchemaVersionError`.
    """
    row = conn.execute(  # a catalog query, not to_regclass: that may miss a table another
        # session created since this one last looked (its cache is not refreshed by our lock)
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables "
        "WHERE schemaname = current_schema() AND tablename = %s)",
        (VERSION_TABLE,),
    ).fetchone()
    if row is None or not row[0]:
        return 0
    rows = conn.execute(f"SELECT version FROM {VERSION_TABLE}").fetchall()  # noqa: S608
    if len(rows) != 1 or not isinstance(rows[0][0], int) or rows[0][0] < 1:
        raise SchemaVersionError(
            f"{label}: {VERSION_TABLE} does not hold one version number "
            f"({[r[0] for r in rows][:3]!r}); the database is left as it is",
            value=rows,
        )
    version: int = rows[0][0]
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{label}: database schema version {version} is newer than this execfsm "
            f"understands ({SCHEMA_VERSION}); upgrade execfsm (the database is left as it is)",
            value=version,
        )
    return version


def migrate(conn: psycopg.Connection[Any], label: str) -> int:
    """
    Bring the database's schema to `SCHEMA_VERSION` (creating it in an empty database) in one
    transaction, while no other store migrates it; returns the version found.
    """
    found = schema_version(conn, label)
    if found == SCHEMA_VERSION:
        return found
    with conn.transaction():
        conn.execute("SET LOCAL lock_timeout = '60s'")  # a big table's migration: wait longer
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        version = schema_version(conn, label)  # again: another store may have migrated it
        if version == 0:
            conn.execute(f"CREATE TABLE {VERSION_TABLE} (version INTEGER NOT NULL)")
            conn.execute(f"INSERT INTO {VERSION_TABLE} (version) VALUES (0)")  # noqa: S608
        for number in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[number]:
                conn.execute(statement)  # fixed text
            conn.execute(f"UPDATE {VERSION_TABLE} SET version = %s", (number,))  # noqa: S608
    return found
