"""
The in-memory audit log: gapless ``seq``, clock-stamped, sha256 hash-chained, queryable.

Each record's hash covers its canonical JSON (without ``hash``) including ``prev_hash``, so
editing, dropping or reordering any record breaks the chain at that record.
"""

from __future__ import annotations

import hashlib
import re
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from threading import get_ident
from typing import Any

import attrs
import msgspec

from execfsm.enums import Reason, reason_of
from execfsm.errors import AuditChainError, ReentrantCall
from execfsm.fsm.audit import GENESIS_HASH, AuditEntry, AuditOutcome, AuditRecord
from execfsm.ids import encode_fixed
from execfsm.ledger.units import NO_STORE_UNIT, UnitOfWork, UnitsMoved, UnitStaged
from execfsm.typing import Clock


class _Row(msgspec.Struct, gc=False, omit_defaults=True):
    """
    A stored record: `AuditRecord`'s fields, ``ts`` as its ISO 8601 text. Its canonical JSON
    (`execfsm.ids.encode`) is the record's exported line, and, before ``hash`` is set, the
    text the hash covers (a field at its default is left out). Not tracked by the cyclic GC,
    so a log of millions of records adds nothing to each full collection's work.
    """

    seq: int
    ts: str
    correlation_id: str
    client_order_id: str | None
    machine: str
    event: str
    source: str | None
    target: str | None
    outcome: AuditOutcome
    reason_code: str | None
    """A `ReasonCode` or a registered `MachineReason` (`execfsm.enums.reason_of`)."""
    detail: str
    prev_hash: str
    hash: str | None = None


_FIELDS = tuple(a.name for a in attrs.fields(AuditRecord))


def _row_of(record: AuditRecord) -> _Row:
    return _Row(record.seq, record.ts.isoformat(), *attrs.astuple(record, recurse=False)[2:])


def _record_of(row: _Row) -> AuditRecord:
    values = msgspec.structs.astuple(row)
    reason = row.reason_code
    if reason is not None and type(reason) is str:  # read back from text: the code's enum
        values = (*values[:9], _known_reason(reason), *values[10:])
    return AuditRecord(values[0], datetime.fromisoformat(row.ts), *values[2:])


def _known_reason(text: str) -> Reason:
    reason = reason_of(text)
    if reason is None:  # a machine's own codes are known once its module is imported
        raise AuditChainError(f"reason_code {text!r} is not a known reason code", seq=-1)
    return reason


def record_to_dict(record: AuditRecord) -> dict[str, Any]:
    """
    The record as plain JSON-ready values (enums as strings, ``ts`` as ISO 8601).
    """
    data: dict[str, Any] = msgspec.to_builtins(_row_of(record))
    return data


def record_hash(data: dict[str, Any]) -> str:
    """
    The hash a record must carry: sha256 of the canonical JSON of every field but ``hash``.
    """
    return hashlib.sha256(encode_fixed({k: v for k, v in data.items() if k != "hash"})).hexdigest()


def record_json(record: AuditRecord) -> str:
    """
    The canonical JSON line of a record, as exports and stores write it.
    """
    return encode_fixed(_row_of(record)).decode()


_RULES = {
    **dict.fromkeys(_FIELDS, "a string"),
    **dict.fromkeys(("client_order_id", "source", "target", "reason_code"), "a string or null"),
    "seq": "an integer",
}
"""What each field of an exported record must be, as a refusal names it."""
_VALUE_RULES = {
    "outcome": f"one of {', '.join(AuditOutcome)}",
    "reason_code": "a known reason code",
}
"""What a string field's value must be, where a string is not enough."""
_AT_FIELD = re.compile(r"at `\$\.(\w+)`$")


def record_from_dict(data: dict[str, Any], *, line: int | None = None) -> AuditRecord:
    """
    Rebuild a record from its exported form, strict about types as JSON gives them: ``seq``
    an integer (not a bool, not a float), ``ts`` an ISO 8601 time with a UTC offset, every
    other field a string (``client_order_id``, ``source``, ``target`` and ``reason_code``
    may be null), ``outcome`` and ``reason_code`` known values. Anything else is an
    `AuditChainError` naming the field and the value received.
    """
    where = f"line {line}" if line is not None else "audit record"
    seq = data.get("seq") if isinstance(data, dict) else None
    known_seq = seq if type(seq) is int else -1
    if not isinstance(data, dict) or set(data) != set(_FIELDS):
        missing = sorted(set(_FIELDS) - set(data)) if isinstance(data, dict) else list(_FIELDS)
        extra = sorted(set(data) - set(_FIELDS)) if isinstance(data, dict) else []
        raise AuditChainError(
            f"{where}: fields do not match the schema (missing {missing}, extra {extra})",
            seq=known_seq,
        )

    def bad(field: str, rule: str) -> AuditChainError:
        value = data[field]
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        return AuditChainError(
            f"{where}: {field} must be {rule}, got {type(value).__name__} {shown}", seq=known_seq
        )

    try:
        row = msgspec.convert(data, _Row)
    except msgspec.ValidationError as exc:
        field = _AT_FIELD.search(str(exc))
        if field is None:  # not a field's error: cannot happen with the schema checked
            raise AuditChainError(f"{where}: {exc}", seq=known_seq) from None
        rules = _VALUE_RULES if str(exc).startswith("Invalid enum value") else _RULES
        raise bad(field[1], rules[field[1]]) from None
    if row.hash is None:
        raise bad("hash", _RULES["hash"])
    if row.reason_code is not None and reason_of(row.reason_code) is None:
        namespace, dot, _ = row.reason_code.partition(".")
        unknown = f" (namespace {namespace!r}: is its machine registered?)" if dot else ""
        raise bad("reason_code", _VALUE_RULES["reason_code"] + unknown)
    try:
        ts = datetime.fromisoformat(row.ts)
    except ValueError:
        raise bad("ts", "an ISO 8601 time") from None
    if ts.tzinfo is None:
        raise bad("ts", "a time with a UTC offset")
    return _record_of(row)


@attrs.frozen
class ChainVerification:
    """
    The result of checking a trail: ``ok``, or the first bad record and what is wrong with it.
    """

    ok: bool
    records: int
    first_bad_seq: int | None = None
    problem: str = ""


def verify_records(records: Iterable[AuditRecord]) -> ChainVerification:
    """
    Check gapless ``seq`` from 1, the ``prev_hash`` links and every record's own hash.
    """
    expected_prev = GENESIS_HASH
    count = 0
    for count, record in enumerate(records, start=1):
        if record.seq != count:
            return ChainVerification(
                False, count - 1, record.seq, f"seq {record.seq}, expected {count}"
            )
        if record.prev_hash != expected_prev:
            return ChainVerification(False, count - 1, record.seq, "prev_hash does not link")
        if record_hash(record_to_dict(record)) != record.hash:
            return ChainVerification(False, count - 1, record.seq, "hash does not match content")
        expected_prev = record.hash
    return ChainVerification(True, count)


_CORRELATION_FIELD, _ORDER_FIELD, _EVENT_FIELD = "correlation_id", "client_order_id", "event"
"""The row fields the indexes key on: correlation id, client order id, event."""

Line = tuple[int, str, str | None, str]
"""What a store takes for a record: ``seq``, ``correlation_id``, ``client_order_id`` and the
canonical JSON line."""


def _seqs(packed: bytes | bytearray) -> list[int]:
    # The views are released before returning: a bytearray with a live view cannot grow.
    with memoryview(packed) as view, view.cast("Q") as seqs:
        return seqs.tolist()


def _line(row: _Row) -> Line:
    return row.seq, row.correlation_id, row.client_order_id, encode_fixed(row).decode()


_CHUNK = 1024


class _Rows:
    """
    Append-only rows: sealed chunks of `_CHUNK` rows (tuples) and one open list. A full
    collection of the cyclic GC visits every item of a list, tracked or not, so one list of
    every row made each collection cost as much as the trail is long; a sealed chunk it sees
    as one untracked tuple. Not thread-safe: the log's lock guards it.
    """

    def __init__(self) -> None:
        self._sealed: list[tuple[_Row, ...]] = []
        self._open: list[_Row] = []
        self.count = 0
        """How many rows (what ``len`` says, without a Python-level call)."""

    def __len__(self) -> int:
        return self.count

    def append(self, row: _Row) -> None:
        self._open.append(row)
        self.count += 1
        if len(self._open) == _CHUNK:
            self._sealed.append(tuple(self._open))
            self._open = []

    def __getitem__(self, index: int) -> _Row:
        chunk, offset = divmod(index, _CHUNK)
        if chunk < len(self._sealed):
            return self._sealed[chunk][offset]
        return self._open[offset]

    def since(self, start: int) -> list[_Row]:
        """The rows from index `start` on, in order."""
        in_sealed = len(self._sealed) * _CHUNK
        if start >= in_sealed:
            return self._open[start - in_sealed :]
        chunk, offset = divmod(start, _CHUNK)
        return [row for sealed in self._sealed[chunk:] for row in sealed][offset:] + self._open


class AuditLog:
    """
    An `AuditSink` that keeps records in memory, with the queries reviewers need.

    Args:
        clock: Stamps every record's ``ts``; inject a fixed clock for replayable output.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._last_now: object = None
        self._last_ts = ""
        """The text of the last instant the clock gave: a fixed clock's is written once."""
        self._rows = _Rows()
        self._head_hash = GENESIS_HASH
        """The hash of the last record: the next one's ``prev_hash``."""
        # The indexes, by the row field they key on (order, correlation id, event), built
        # when queried, from the rows added since: appending a record pays for none of
        # them. Plain dicts of str -> seqs packed in a bytearray (8 bytes each, native
        # order): the GC tracks no bytearray (an `array` it does) nor, once it has looked,
        # such a dict (a defaultdict, a subclass, it would keep walking).
        self._indexes: dict[str, dict[str, bytearray]] = {
            field: {} for field in (_ORDER_FIELD, _CORRELATION_FIELD, _EVENT_FIELD)
        }
        self._indexed: dict[str, int] = dict.fromkeys(self._indexes, 0)
        """How many rows each index covers."""
        self._lines: list[Line] | None = None
        """Lines a store has not taken yet (None: nobody collects them)."""
        self._lock = threading.Lock()
        self._open_units: dict[UnitOfWork, int] = {}
        """Open units of work -> the first seq any of their records can have."""
        self._units_by_thread: dict[int, UnitOfWork] = {}
        """The open unit of each thread that has one (units do not nest)."""
        self.units_by_thread: Mapping[int, UnitOfWork] = self._units_by_thread
        """The open unit of work of each thread that has one, by `threading.get_ident`: a
        live, read-only view, for a store that stages rows with the current unit and looks
        it up on every row."""
        self._unit_hooks: tuple[UnitStaged, UnitsMoved] | None = None

    def append(self, entry: AuditEntry) -> AuditRecord:
        """
        Stamp, chain and store `entry`; the returned record is final.
        """
        seq = self.append_fields(*attrs.astuple(entry, recurse=False))
        with self._lock:
            return _record_of(self._rows[seq - 1])

    def append_fields(
        self,
        correlation_id: str,
        client_order_id: str | None,
        machine: str,
        event: str,
        source: str | None,
        target: str | None,
        outcome: AuditOutcome,
        reason_code: Reason | None,
        detail: str,
    ) -> int:
        """
        `append` without building an `AuditEntry` or an `AuditRecord` (the listener's hot
        path); returns the record's ``seq``.
        """
        with self._lock:
            now = self._clock.now()
            if now is not self._last_now:
                self._last_now, self._last_ts = now, now.isoformat()
            row = _Row(
                self._rows.count + 1,
                self._last_ts,
                correlation_id,
                client_order_id,
                machine,
                event,
                source,
                target,
                outcome,
                reason_code,
                detail,
                self._head_hash,
            )
            # Without its hash the row encodes as the text the hash covers.
            row.hash = self._head_hash = hashlib.sha256(encode_fixed(row)).hexdigest()
            self._rows.append(row)
            if self._lines is not None:
                self._lines.append(_line(row))
        return row.seq

    def _index(self, field: str) -> dict[str, bytearray]:
        """
        The index on row `field`, brought up to date with the rows added since it was last
        used: one tight loop per query instead of three index updates per record. Callers
        hold the lock.
        """
        index = self._indexes[field]
        start = self._indexed[field]
        if start < self._rows.count:
            for row in self._rows.since(start):
                key = getattr(row, field)
                if key is None:
                    continue  # a record of no order
                packed = row.seq.to_bytes(8, sys.byteorder)
                seqs = index.get(key)
                if seqs is None:
                    index[key] = bytearray(packed)
                else:
                    seqs += packed
            self._indexed[field] = self._rows.count
        return index

    def __len__(self) -> int:
        return self._rows.count

    def _records(self, field: str, key: str) -> list[AuditRecord]:
        with self._lock:
            index = self._index(field)
            rows = [self._rows[seq - 1] for seq in _seqs(index.get(key, b""))]
        return [_record_of(row) for row in rows]

    def collect_lines(self, since: int) -> None:
        """
        From now on keep each new record's canonical JSON line (with the records after
        ``since`` that are here already) until `take_lines`: for a store that persists them,
        so that a line is written once, when its hash is computed.
        """
        with self._lock:
            self._lines = [_line(row) for row in self._rows.since(since)]

    def take_lines(self, through: int | None = None) -> list[Line]:
        """
        The `Line` of each record kept since the last call, in order (see
        `collect_lines`), up to seq `through` if given: the later ones stay for the next call.
        """
        with self._lock:
            if not self._lines:
                return []
            lines = self._lines
            cut = len(lines) if through is None else max(0, through - lines[0][0] + 1)
            taken, self._lines = lines[:cut], lines[cut:]
        return taken

    # -- units of work --------------------------------------------------------------------

    def unit(self) -> UnitOfWork:
        """
        A unit of work: the records this thread writes inside it, and what a store stages
        meanwhile, become durable together, never apart. While a unit is open, `watermark`
        stays below its first record, so a store's commit (which takes records only up to
        the watermark) never carries a record of an unfinished unit. Units are short: they
        never span a venue call. They do not nest: a unit opened inside another one on the
        same thread could never be made durable before the outer one ends. A log that no
        store persists (see `on_units`) has nothing to isolate: its units do nothing.
        """
        if self._unit_hooks is None:
            return NO_STORE_UNIT  # nothing persists this log: nothing to isolate
        thread = get_ident()
        if thread in self._units_by_thread:
            raise ReentrantCall(
                "audit: a unit of work was opened inside another on the same thread (an "
                "orchestrator called from a risk hook or from inside its own run?)"
            )
        return UnitOfWork(self, thread)

    def in_unit(self) -> bool:
        """
        True while this thread has a unit of work open.
        """
        return get_ident() in self._units_by_thread

    def watermark(self) -> int:
        """
        The highest seq below which every record belongs to a finished unit of work (or to
        none): what a store may commit.
        """
        with self._lock:
            if self._open_units:
                return min(self._open_units.values()) - 1
            return self._rows.count

    def on_units(self, staged: UnitStaged, moved: UnitsMoved) -> None:
        """
        Hooks for the store that persists this log: `staged(unit, failure)` runs as a unit
        ends, before its records may be committed (the store queues the rows it kept on
        ``unit.rows``, tagged with the unit's seqs); `moved(watermark)` once the
        `watermark` has moved past it (the store wakes the flushes waiting for that seq),
        with None when the unit failed (the waiters must see the store stopped).
        """
        self._unit_hooks = (staged, moved)

    def restore(self, records: Iterable[AuditRecord]) -> None:
        """
        Load a verified trail (from a store) into an empty log; appends continue its chain.
        """
        with self._lock:
            if self._rows:
                raise AuditChainError("audit: restore needs an empty log", seq=len(self._rows))
            for record in records:
                self._rows.append(_row_of(record))
                self._head_hash = record.hash

    @property
    def records(self) -> Sequence[AuditRecord]:
        """
        Every record in ``seq`` order (a read-only copy).
        """
        with self._lock:
            rows = self._rows.since(0)
        return tuple(_record_of(row) for row in rows)

    def by_order(self, client_order_id: str) -> list[AuditRecord]:
        """
        The records of one order, in ``seq`` order.
        """
        return self._records(_ORDER_FIELD, client_order_id)

    def by_correlation(self, correlation_id: str) -> list[AuditRecord]:
        """
        Every record of one intent (pipeline and order machines), in ``seq`` order.
        """
        return self._records(_CORRELATION_FIELD, correlation_id)

    def seq_range(self, correlation_id: str) -> tuple[int, int] | None:
        """
        The first and last ``seq`` of one intent's records, without copying them.
        """
        with self._lock:
            seqs = _seqs(self._index(_CORRELATION_FIELD).get(correlation_id, b""))
            return (seqs[0], seqs[-1]) if seqs else None

    def by_event(self, event: str) -> list[AuditRecord]:
        """
        Every record of one event name, in ``seq`` order.
        """
        return self._records(_EVENT_FIELD, event)

    def export_jsonl(self) -> str:
        """
        The canonical JSONL export: one canonical JSON record per line.
        """
        with self._lock:
            rows = self._rows.since(0)
        return "".join(encode_fixed(row).decode() + "\n" for row in rows)

    def verify_chain(self) -> ChainVerification:
        """
        Verify this log's hash chain and sequence.
        """
        return verify_records(self.records)
