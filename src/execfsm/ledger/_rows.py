"""
Reading a SQLite store's rows back. Each row is parsed strictly, and one that does not parse is
a `CorruptRow` naming its table and key: never the parser's own exception (an
``OverflowError`` from ``int(inf)``, a ``RecursionError`` from a row nested thousands deep, a
``decimal.InvalidOperation``) escaping as a traceback.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import attrs
import msgspec

from execfsm.contracts import Order
from execfsm.errors import AuditChainError, ExecFsmError
from execfsm.fsm.audit import AuditRecord
from execfsm.ids import decode, encode
from execfsm.ledger.audit import verify_records
from execfsm.ledger.checkpoints import Checkpoint, checkpoint_from_line
from execfsm.ledger.positions import Position
from execfsm.ledger.store import IntentEntry, IntentStatus, StoredState
from execfsm.ledger.trail_text import record_from_line
from execfsm.results import PipelineResult

T = TypeVar("T")


class CorruptRow(Exception):
    """
    A stored row that does not parse, or an audit chain that does not verify: the message
    names the table and key, or the first bad record.
    """


_ROW_ERRORS = (
    ValueError,  # JSONDecodeError, msgspec's errors, an unknown enum value, a too-long int
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    ArithmeticError,  # decimal.InvalidOperation, OverflowError (int of an infinite float)
    RecursionError,  # a row nested thousands deep
    ExecFsmError,
)
"""What parsing a stored row can raise; each becomes a `CorruptRow` naming the row."""


def read_rows(conn: sqlite3.Connection) -> StoredState:
    """
    Every row of the SQLite store `conn` reads, with the audit chain verified. Each table is
    read whole before any row is parsed, so no statement is left open when one is refused.
    """

    def rows(sql: str) -> list[Any]:
        return conn.execute(sql).fetchall()

    has_checkpoints = rows("SELECT 1 FROM sqlite_master WHERE type='table' AND name='checkpoints'")
    return parse_rows(
        rows("SELECT seq, record FROM audit ORDER BY seq"),
        rows(
            "SELECT idempotency_key, correlation_id, client_order_id, status, result "
            "FROM intents ORDER BY rowid"
        ),
        rows("SELECT client_order_id, snapshot FROM orders ORDER BY rowid"),
        rows("SELECT symbol, snapshot FROM positions ORDER BY symbol"),
        # a database made before checkpoints has none
        rows("SELECT seq, checkpoint FROM checkpoints ORDER BY seq") if has_checkpoints else [],
    )


Rows = Iterable[Sequence[Any]]
"""The rows of one table, as a database driver gives them."""


def parse_rows(
    records: Rows, intents: Rows, orders: Rows, positions: Rows, checkpoints: Rows
) -> StoredState:
    """
    A store's rows, each parsed strictly, with the audit chain verified: records as (seq,
    record), intents as (key, correlation id, client order id, status, result), orders as
    (client order id, snapshot), positions as (symbol, snapshot), checkpoints as (seq,
    checkpoint), each in the order the store keeps them.
    """
    return StoredState(
        _records(records),
        _intents(intents),
        _orders(orders),
        _positions(positions),
        _checkpoints(checkpoints),
    )


def shown(value: object) -> str:
    """
    `value`'s repr, cut short if a corrupt row made it huge.
    """
    text = repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


def _why(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply to parse"
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON ({exc.msg})"
    if isinstance(exc, msgspec.DecodeError):
        return str(exc)  # what is wrong and where (e.g. "... - at `$.quantity`")
    if isinstance(exc, ExecFsmError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _json(text: object) -> str:
    if not isinstance(text, str):
        raise TypeError(f"the column holds {type(text).__name__}, not text")
    return text


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} is {type(value).__name__} {shown(value)}, not text")
    return value


def _corrupt(table: str, key: str, value: object, exc: BaseException) -> CorruptRow:
    return CorruptRow(f"{table} row {key}={shown(value)} is corrupt: {_why(exc)}")


def _stored(kind: type[T], text: object) -> T:
    """
    The `kind` a row holds, only if the row is byte for byte what execfsm writes for it (a
    field missing, added or repeated, or a loosely written number, is not) and every amount
    in it is a finite number.
    """
    raw = _json(text)
    value = decode(kind, raw)
    if encode(value) != raw.encode():
        raise ValueError(
            "it is not in the form execfsm writes (a field missing, added, repeated or rewritten)"
        )
    _check_amounts(value)
    return value


def _check_amounts(value: object) -> None:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"an amount is not a finite number: {shown(value)}")
    elif attrs.has(type(value)):
        for field in attrs.fields(type(value)):  # type: ignore[arg-type]
            _check_amounts(getattr(value, field.name))
    elif isinstance(value, tuple):
        for item in value:
            _check_amounts(item)


def _records(rows: Rows) -> list[AuditRecord]:
    records = []
    for seq, text in rows:
        try:
            record = record_from_line(_json(text))
        except (*_ROW_ERRORS, AuditChainError) as exc:
            raise CorruptRow(f"audit record seq {seq} is corrupt: {_why(exc)}") from None
        if record.seq != seq:
            raise CorruptRow(f"audit record seq {seq} is corrupt: it holds seq {record.seq}")
        records.append(record)
    check = verify_records(records)
    if not check.ok:
        raise CorruptRow(f"audit chain broken at record seq {check.first_bad_seq}: {check.problem}")
    return records


def _intents(rows: Rows) -> list[IntentEntry]:
    entries = []
    for key, cor, cid, status, res in rows:
        try:
            entries.append(
                IntentEntry(
                    _text("idempotency_key", key),
                    _text("correlation_id", cor),
                    _text("client_order_id", cid),
                    IntentStatus(status),
                    None if res is None else _stored(PipelineResult, res),
                )
            )
        except _ROW_ERRORS as exc:
            raise _corrupt("intents", "idempotency_key", key, exc) from None
    return entries


def _orders(rows: Rows) -> list[Order]:
    orders = []
    for cid, text in rows:
        try:
            order = _stored(Order, text)
            if order.client_order_id != cid:
                raise ValueError(f"it holds order {shown(order.client_order_id)}")
        except _ROW_ERRORS as exc:
            raise _corrupt("orders", "client_order_id", cid, exc) from None
        orders.append(order)
    return orders


def _positions(rows: Rows) -> list[Position]:
    positions = []
    for symbol, text in rows:
        try:
            position = _stored(Position, text)
            if position.symbol != symbol:
                raise ValueError(f"it holds the position in {shown(position.symbol)}")
        except _ROW_ERRORS as exc:
            raise _corrupt("positions", "symbol", symbol, exc) from None
        positions.append(position)
    return positions


def _checkpoints(rows: Rows) -> list[Checkpoint]:
    """
    The signed checkpoints, in seq order. Each is parsed strictly, not verified: that takes
    the operator's public key.
    """
    checkpoints = []
    for seq, text in rows:
        try:
            checkpoint = checkpoint_from_line(_json(text), where="checkpoint")
            if checkpoint.seq != seq:
                raise ValueError(f"it holds seq {checkpoint.seq}")
        except (*_ROW_ERRORS, AuditChainError) as exc:
            raise _corrupt("checkpoints", "seq", seq, exc) from None
        checkpoints.append(checkpoint)
    return checkpoints
