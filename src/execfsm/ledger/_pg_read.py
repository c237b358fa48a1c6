"""
Reading a PostgreSQL database's streams (`execfsm.ledger.postgres`): one stream's rows in
one snapshot, and every stream of the database checked as ``audit verify`` needs it.
"""

from __future__ import annotations

from typing import Any

import psycopg

from execfsm.errors import StoreError
from execfsm.ledger._pg_schema import connect, schema_version
from execfsm.ledger._pg_url import redacted
from execfsm.ledger._rows import CorruptRow, parse_rows
from execfsm.ledger.checkpoints import first_mismatch
from execfsm.ledger.store import StoredState


def read_stream(conn: psycopg.Connection[Any], stream: str) -> StoredState:
    """One stream's rows, parsed strictly and the chain verified, in one snapshot."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")

        def rows(sql: str) -> list[tuple[Any, ...]]:
            return conn.execute(sql, (stream,)).fetchall()

        return parse_rows(
            rows("SELECT seq, record FROM execfsm_audit WHERE stream = %s ORDER BY seq"),
            rows(
                "SELECT idempotency_key, correlation_id, client_order_id, status, result "
                "FROM execfsm_intents WHERE stream = %s ORDER BY n"
            ),
            rows(
                "SELECT client_order_id, snapshot FROM execfsm_orders WHERE stream = %s ORDER BY n"
            ),
            rows(
                "SELECT symbol, snapshot FROM execfsm_positions WHERE stream = %s ORDER BY symbol"
            ),
            rows("SELECT seq, checkpoint FROM execfsm_checkpoints WHERE stream = %s ORDER BY seq"),
        )


_STREAMS = " UNION ".join(
    f"SELECT stream FROM {table}"  # noqa: S608 - fixed table names
    for table in (
        "execfsm_audit",
        "execfsm_intents",
        "execfsm_orders",
        "execfsm_positions",
        "execfsm_checkpoints",
    )
)
"""Every stream that holds a row in any table: one whose trail was deleted is among them."""

_WROTE = "SELECT stream FROM execfsm_streams WHERE wrote"
"""Every stream that ever committed a record (schema version 2): one whose rows were all
deleted is among them."""


def check_stream_rows(state: StoredState) -> None:
    """
    What a stream's rows must show beyond its verified chain (`load_streams` checks it for
    every stream): its checkpoints lie on its records (none beyond its end, none on another
    hash), and its intents, orders and positions are what a replay of its trail gives
    (`execfsm.recovery.check_stored_rows`, the check `recover` makes). A trail deleted or
    cut below its stored orders or checkpoints, or swapped with another stream's, fails.

    Raises:
        StoreError: what disagrees.
    """
    from execfsm.recovery import check_stored_rows  # the check recover makes

    if not state.records and (state.intents or state.orders or state.positions):
        raise StoreError(
            f"it holds {len(state.intents)} intent(s), {len(state.orders)} order(s) and "
            f"{len(state.positions)} position(s) but no audit record: its trail was removed"
        )
    problem = first_mismatch(state.records, state.checkpoints)
    if problem is not None:
        raise StoreError(problem)
    check_stored_rows(state)


def load_streams(url: str, stream: str | None = None) -> dict[str, StoredState]:
    """
    Every stream of the database at `url` (each one holding a row in any table, or having
    ever committed a record), or only `stream` (if the database has it), read-only, each
    chain verified and its rows checked against its trail (`check_stream_rows`), by stream
    name; the first that fails is a `StoreError` naming it (a stream that committed records
    and holds none fails).
    """
    label = f"store {redacted(url)}"
    conn = connect(url, label)
    try:
        version = schema_version(conn, label)
        if version == 0:
            raise StoreError(f"{label}: no execfsm schema in this database")
        names = [row[0] for row in conn.execute(_STREAMS).fetchall()]
        wrote = (  # version 1 (not migrated: this reads only) did not mark them
            {row[0] for row in conn.execute(_WROTE).fetchall()} if version >= 2 else set()
        )
        names = sorted(set(names) | wrote)
        if stream is not None:
            names = [name for name in names if name == stream]
        streams = {}
        for name in names:
            try:
                streams[name] = state = read_stream(conn, name)
                if not state.records and name in wrote:
                    raise StoreError(
                        "it committed audit records and none is left: its trail was removed"
                    )
                check_stream_rows(state)
            except (CorruptRow, StoreError) as exc:
                raise StoreError(f"{label} stream {name}: {exc}") from None
        return streams
    except psycopg.Error as exc:
        raise StoreError(f"{label}: cannot read the database: {exc}") from None
    finally:
        conn.close()
