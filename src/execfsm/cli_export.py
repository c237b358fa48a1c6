"""
``execfsm export``: a session's database as files that scripts, ``jq`` and pandas read.

Writes, into one folder, ``orders``, ``positions``, ``audit`` (the trail), ``recon`` (each
intent's reconciliation hand-off) and ``intents`` (the idempotency index with each intent's
result), as JSON Lines (one canonical JSON object per line, the encoding execfsm hashes) or
CSV (a header row; nested objects flattened to ``parent.child`` columns, lists as JSON
text). The database is opened read-only: a live session goes on. Nothing is overwritten:
the files are written all or none.
"""

from __future__ import annotations

import argparse
import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from execfsm._new_files import NewFile, NewFileError, write_new_files
from execfsm.cli_machines import InputError
from execfsm.cli_store import db_target, sqlite_file
from execfsm.errors import StoreError
from execfsm.ids import canonical_json, jsonable
from execfsm.ledger.sqlite import SqliteStore
from execfsm.ledger.store import StoredState

FORMATS = ("jsonl", "csv")
DEFAULT_OUT = Path("execfsm-export")
TABLES = ("orders", "positions", "audit", "recon", "intents")
"""The files written, in this order, each ``NAME.jsonl`` or ``NAME.csv``."""


def add_export_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """
    ``execfsm export`` and its options.
    """
    command = commands.add_parser(
        "export",
        help="write a session's orders, positions, trail and recon records as JSONL or CSV",
        description="Export a session's database (read-only) into a folder: "
        + ", ".join(f"{name}.FORMAT" for name in TABLES)
        + ". JSONL is one JSON object per line (jq, pandas.read_json(lines=True)); CSV has a "
        "header row, nested fields as parent.child columns (pandas.read_csv). Existing files "
        "are never overwritten.",
    )
    command.add_argument(
        "--db",
        type=db_target,
        required=True,
        metavar="PATH",
        help="the session's SQLite database (required)",
    )
    command.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"output folder, created if missing (default {DEFAULT_OUT})",
    )
    command.add_argument(
        "--format",
        choices=FORMATS,
        default="jsonl",
        help="jsonl or csv (default jsonl)",
    )


def rows(state: StoredState) -> dict[str, list[dict[str, Any]]]:
    """
    The session's tables as plain JSON rows, by file name (`TABLES`).
    """
    intents = [
        {
            "idempotency_key": entry.idempotency_key,
            "correlation_id": entry.correlation_id,
            "client_order_id": entry.client_order_id,
            "status": entry.status,
            "result": None if entry.result is None else _result_row(entry.result),
        }
        for entry in state.intents
    ]
    recon = [
        entry.result.recon
        for entry in state.intents
        if entry.result is not None and entry.result.recon is not None
    ]
    tables: dict[str, Sequence[Any]] = {
        "orders": state.orders,
        "positions": state.positions,
        "audit": state.records,
        "recon": recon,
        "intents": intents,
    }
    return {name: [jsonable(row) for row in tables[name]] for name in TABLES}


def _result_row(result: Any) -> dict[str, Any]:
    """An intent's result without the order and recon record (in their own files)."""
    data: dict[str, Any] = jsonable(result)
    data.pop("order", None)
    data.pop("recon", None)
    return data


def jsonl_text(table: Iterable[Mapping[str, Any]]) -> str:
    """
    One canonical JSON object per line.
    """
    return "".join(canonical_json(row) + "\n" for row in table)


def flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """
    A nested row as flat columns: ``{"a": {"b": 1}}`` is ``{"a.b": 1}``; a list is kept as
    its JSON text, None as an empty cell.

    >>> flatten({"a": {"b": 1, "c": [1, 2]}, "d": None})
    {'a.b': 1, 'a.c': '[1,2]', 'd': ''}
    """
    flat: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            flat[name] = canonical_json(value)
        else:
            flat[name] = "" if value is None else value
    return flat


def csv_text(table: Sequence[Mapping[str, Any]]) -> str:
    """
    The rows as CSV with a header row: the union of their flattened columns, in the order
    first seen.
    """
    flat = [flatten(row) for row in table]
    columns: dict[str, None] = {}
    for row in flat:
        columns.update(dict.fromkeys(row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)
    return out.getvalue()


def _load(db: Path) -> StoredState:
    if not db.exists():
        raise InputError(f"cannot read {db}: no such database")
    if db.is_dir():
        raise InputError(f"cannot read {db}: a directory, not a database file")
    store = SqliteStore(db, read_only=True)  # no lock, no write: a live writer goes on
    try:
        return store.load()
    finally:
        store.close()


def _folder(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot write into {out}: {exc.strerror or exc}") from None


def export(args: argparse.Namespace) -> int:
    """
    Run ``execfsm export`` with its parsed `args`.
    """
    db = sqlite_file(args.db)
    out: Path = args.out
    try:
        state = _load(db)
    except StoreError as exc:
        raise InputError(f"cannot read {db}: {exc}") from None
    _folder(out)
    render = jsonl_text if args.format == "jsonl" else csv_text
    tables = rows(state)
    files = [
        NewFile(out / f"{name}.{args.format}", render(tables[name]).encode("utf-8"))
        for name in TABLES
    ]
    try:
        write_new_files(files)  # all or none, never over anything
    except NewFileError as exc:
        if exc.reason is None:
            raise InputError(
                f"{exc.path} exists; refusing to overwrite it (choose another --out)"
            ) from None
        raise InputError(f"cannot write {exc.path}: {exc.reason}") from None
    counts = ", ".join(
        f"{file.path.name} ({len(tables[n])})" for file, n in zip(files, TABLES, strict=True)
    )
    print(f"wrote to {out}/: {counts}")
    return 0
