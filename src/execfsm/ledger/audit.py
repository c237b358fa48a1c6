"""
The in-memory audit log: gapless ``seq``, clock-stamped, sha256 hash-chained, queryable.

Each record's hash covers its canonical JSON (without ``hash``) including ``prev_hash``, so
editing, dropping or reordering any record breaks the chain at that record.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from hashlib import sha256
from threading import get_ident
from typing import Any

import attrs

from execfsm.contracts import ReasonCode
from execfsm.errors import AuditChainError, ReentrantCall
from execfsm.fsm.audit import GENESIS_HASH, AuditEntry, AuditOutcome, AuditRecord
from execfsm.ids import canonical_json, sha256_hex
from execfsm.ids import json_string as _encode
from execfsm.typing import Clock

_FIELDS = tuple(a.name for a in attrs.fields(AuditRecord))


def record_to_dict(record: AuditRecord) -> dict[str, Any]:
    """
    The record as plain JSON-ready values (enums as strings, ``ts`` as ISO 8601).
    """
    data = attrs.asdict(record, recurse=False)
    data["ts"] = record.ts.isoformat()
    data["outcome"] = record.outcome.value
    data["reason_code"] = None if record.reason_code is None else record.reason_code.value
    return data


def record_hash(data: dict[str, Any]) -> str:
    """
    The hash a record must carry: sha256 of the canonical JSON of every field but ``hash``.
    """
    return sha256_hex(canonical_json({k: v for k, v in data.items() if k != "hash"}))


def record_parts(
    seq: int,
    ts: str,
    correlation_id: str,
    client_order_id: str | None,
    machine: str,
    event: str,
    source: str | None,
    target: str | None,
    outcome: str,
    reason_code: str | None,
    detail: str,
    prev_hash: str,
) -> tuple[str, str]:
    """
    A record's canonical JSON without ``hash``, in two parts: ``hash`` sorts between them,
    so the text the hash covers is ``head + tail`` and the full record is
    ``head + '"hash":"<hex>",' + tail``. Written directly (the hot path), byte-identical to
    ``canonical_json(record_to_dict(...))``, which verification recomputes independently.
    """
    e = _encode
    return (
        f'{{"client_order_id":{"null" if client_order_id is None else e(client_order_id)},'
        f'"correlation_id":{e(correlation_id)},"detail":{e(detail)},"event":{e(event)},',
        f'"machine":{e(machine)},"outcome":{e(outcome)},"prev_hash":{e(prev_hash)},'
        f'"reason_code":{"null" if reason_code is None else e(reason_code)},"seq":{seq},'
        f'"source":{"null" if source is None else e(source)},'
        f'"target":{"null" if target is None else e(target)},"ts":{e(ts)}}}',
    )


def _with_hash(head: str, tail: str, hash_: str) -> str:
    return f'{head}"hash":{_encode(hash_)},{tail}'


def record_json(record: AuditRecord) -> str:
    """
    The canonical JSON line of a record, as exports and stores write it.
    """
    return _row_json(_row_of(record))


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

    if type(seq) is not int:  # bool is an int subclass; 1e999 parses as the float inf
        raise bad("seq", "an integer")
    texts = ("ts", "correlation_id", "machine", "event", "outcome", "detail", "prev_hash", "hash")
    for field in texts:
        if not isinstance(data[field], str):
            raise bad(field, "a string")
    for field in ("client_order_id", "source", "target", "reason_code"):
        if data[field] is not None and not isinstance(data[field], str):
            raise bad(field, "a string or null")
    try:
        ts = datetime.fromisoformat(data["ts"])
    except ValueError:
        raise bad("ts", "an ISO 8601 time") from None
    if ts.tzinfo is None:
        raise bad("ts", "a time with a UTC offset")
    try:
        outcome = AuditOutcome(data["outcome"])
    except ValueError:
        raise bad("outcome", f"one of {', '.join(AuditOutcome)}") from None
    try:
        reason = None if data["reason_code"] is None else ReasonCode(data["reason_code"])
    except ValueError:
        raise bad("reason_code", "a known reason code") from None
    return AuditRecord(
        seq=seq,
        ts=ts,
        correlation_id=data["correlation_id"],
        client_order_id=data["client_order_id"],
        machine=data["machine"],
        event=data["event"],
        source=data["source"],
        target=data["target"],
        outcome=outcome,
        reason_code=reason,
        detail=data["detail"],
        prev_hash=data["prev_hash"],
        hash=data["hash"],
    )


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


_Row = tuple[
    int, datetime, str, str | None, str, str, str | None, str | None, str, str | None, str, str, str
]
"""A stored record: `AuditRecord`'s fields in order, the outcome and reason code as their
string values. A tuple of strings, ints and a datetime is not tracked by the cyclic GC, so a
log of millions of records adds nothing to each full collection's work (an `AuditRecord` per
row made collections, and so the cost of an intent, grow with the length of a run)."""

_OUTCOMES = {o.value: o for o in AuditOutcome}
# An enum's ``.value`` is a descriptor call; these lookups are what the hot path pays instead.
_OUTCOME_VALUES = {o: o.value for o in AuditOutcome}
_REASON_VALUES = {r: r.value for r in ReasonCode}


def _record_of(row: _Row) -> AuditRecord:
    seq, ts, cor, cid, machine, event, source, target, outcome, reason, detail, prev, hash_ = row
    return AuditRecord(
        seq,
        ts,
        cor,
        cid,
        machine,
        event,
        source,
        target,
        _OUTCOMES[outcome],
        None if reason is None else ReasonCode(reason),
        detail,
        prev,
        hash_,
    )


def _row_of(record: AuditRecord) -> _Row:
    return (
        record.seq,
        record.ts,
        record.correlation_id,
        record.client_order_id,
        record.machine,
        record.event,
        record.source,
        record.target,
        record.outcome.value,
        None if record.reason_code is None else record.reason_code.value,
        record.detail,
        record.prev_hash,
        record.hash,
    )


_SEQ_BYTES = 8
"""The indexes (by order, correlation id, event) keep seqs packed in a `bytearray` per key:
appending is amortised O(1) like a list, and a bytearray, unlike a list, is not tracked by
the cyclic GC (one list per order and per intent made every full collection longer)."""


def _seqs(packed: bytes | bytearray) -> list[int]:
    # Native byte order, as memoryview.cast("Q") reads it. The views are released before
    # returning: a bytearray with a live view cannot grow.
    with memoryview(packed) as view, view.cast("Q") as seqs:
        return seqs.tolist()


_CORRELATION_FIELD, _ORDER_FIELD, _EVENT_FIELD = 2, 3, 5
"""The row fields the indexes key on: correlation id, client order id, event."""


def _seq_at(packed: bytearray, offset: int) -> int:
    return int.from_bytes(packed[offset : offset + _SEQ_BYTES], sys.byteorder)


def _row_json(row: _Row) -> str:
    seq, ts, cor, cid, machine, event, source, target, outcome, reason, detail, prev, hash_ = row
    head, tail = record_parts(
        seq, ts.isoformat(), cor, cid, machine, event, source, target, outcome, reason, detail, prev
    )
    return _with_hash(head, tail, hash_)


Line = tuple[int, str, str | None, str]
"""What a store takes for a record: ``seq``, ``correlation_id``, ``client_order_id`` and the
canonical JSON line."""


def _line(row: _Row) -> Line:
    return row[0], row[2], row[3], _row_json(row)


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


class UnitOfWork:
    """
    One unit of work of an `AuditLog` (see `AuditLog.unit`), a context manager: open from
    ``__enter__`` to ``__exit__``. A plain class, not a generator-based context manager:
    every intent opens two. The store that persists the log keeps what it stages meanwhile
    on the unit itself (`rows`), so staging finds it with one lookup.
    """

    __slots__ = ("first_seq", "last_seq", "log", "rows", "thread")

    def __init__(self, log: AuditLog | None, thread: int) -> None:
        self.log = log
        self.thread = thread
        self.first_seq = 0
        """No record of the unit comes before this seq (the log's length + 1 when it
        opened)."""
        self.last_seq = 0
        """No record of the unit comes after this seq: the log's length when it closed (so
        it may count records other threads wrote meanwhile; while open, the length when
        it opened)."""
        self.rows: Any = None
        """What the store staged with this unit (the store's own type; None: nothing)."""

    def __enter__(self) -> UnitOfWork:
        log = self.log
        if log is not None:
            with log._lock:
                self.last_seq = log._rows.count
                self.first_seq = self.last_seq + 1
                log._open_units[self] = self.first_seq
                log._units_by_thread[self.thread] = self
        return self

    def __exit__(self, kind: object, failure: BaseException | None, _tb: object) -> None:
        log = self.log
        if log is None:
            return
        del log._units_by_thread[self.thread]
        # No record of this unit can come later (a plain read: the count moves only after
        # a record is kept, and this thread wrote its own already).
        self.last_seq = log._rows.count
        hooks = log._unit_hooks
        try:
            if hooks is not None:
                # Its rows join the store's queue before it may commit; a unit that raised
                # midway is never committed: the store stops taking writes instead.
                hooks[0](self, failure)
        except BaseException as exc:
            if failure is None and hooks is not None:
                failure = exc  # its rows may not be queued: the store must stop too
                hooks[0](self, exc)
            raise
        finally:
            watermark = None  # None: waiters must see the store stopped
            if failure is None:
                with log._lock:
                    open_units = log._open_units
                    del open_units[self]
                    # The watermark moves only when the oldest open unit ends: waking the
                    # waiting flushes for any other would only put them back to sleep.
                    if not open_units:
                        watermark = log._rows.count
                    else:
                        oldest = min(open_units.values())
                        watermark = oldest - 1 if self.first_seq < oldest else -1
            # A failed unit stays open for good: the watermark never passes its records,
            # so no commit (not even one a leader had begun) can carry half of it.
            if hooks is not None and watermark != -1:
                hooks[1](watermark)


_NO_STORE_UNIT = UnitOfWork(None, 0)
"""The unit of every log no store persists: nothing to hold back, nothing to queue."""


class AuditLog:
    """
    An `AuditSink` that keeps records in memory, with the queries reviewers need.

    Args:
        clock: Stamps every record's ``ts``; inject a fixed clock for replayable output.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._rows = _Rows()
        self._head_hash = GENESIS_HASH
        """The hash of the last record: the next one's ``prev_hash``."""
        # The indexes, by the row field they key on (order, correlation id, event), built
        # when queried, from the rows added since: appending a record pays for none of
        # them. Plain dicts of str -> bytearray: the GC stops tracking such a dict (a
        # defaultdict, being a subclass, it would keep walking).
        self._indexes: dict[int, dict[str, bytearray]] = {
            _ORDER_FIELD: {},
            _CORRELATION_FIELD: {},
            _EVENT_FIELD: {},
        }
        self._indexed: dict[int, int] = dict.fromkeys(self._indexes, 0)
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
        self._unit_hooks: (
            tuple[
                Callable[[UnitOfWork, BaseException | None], None],
                Callable[[int | None], None],
            ]
            | None
        ) = None

    def append(self, entry: AuditEntry) -> AuditRecord:
        """
        Stamp, chain and store `entry`; the returned record is final.
        """
        seq = self.append_fields(
            entry.correlation_id,
            entry.client_order_id,
            entry.machine,
            entry.event,
            entry.source,
            entry.target,
            entry.outcome,
            entry.reason_code,
            entry.detail,
        )
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
        reason_code: ReasonCode | None,
        detail: str,
    ) -> int:
        """
        `append` without building an `AuditEntry` or an `AuditRecord` (the listener's hot
        path); returns the record's ``seq``.
        """
        with self._lock:
            rows = self._rows
            prev = self._head_hash
            seq = rows.count + 1
            ts = self._clock.now()
            outcome_value = _OUTCOME_VALUES[outcome]
            reason_value = None if reason_code is None else _REASON_VALUES[reason_code]
            head, tail = record_parts(
                seq,
                ts.isoformat(),
                correlation_id,
                client_order_id,
                machine,
                event,
                source,
                target,
                outcome_value,
                reason_value,
                detail,
                prev,
            )
            hash_ = sha256((head + tail).encode("utf-8")).hexdigest()
            self._head_hash = hash_
            rows.append(
                (
                    seq,
                    ts,
                    correlation_id,
                    client_order_id,
                    machine,
                    event,
                    source,
                    target,
                    outcome_value,
                    reason_value,
                    detail,
                    prev,
                    hash_,
                )
            )
            if self._lines is not None:
                self._lines.append(
                    (seq, correlation_id, client_order_id, _with_hash(head, tail, hash_))
                )
        return seq

    def _index(self, field: int) -> dict[str, bytearray]:
        """
        The index on row `field`, brought up to date with the rows added since it was last
        used: one tight loop per query instead of three index updates per record. Callers
        hold the lock.
        """
        index = self._indexes[field]
        start = self._indexed[field]
        if start < self._rows.count:
            to_bytes, order = int.to_bytes, sys.byteorder
            for row in self._rows.since(start):
                key: Any = row[field]  # a str (or None: no order) for these fields
                if key is None:
                    continue  # a record of no order
                packed = to_bytes(row[0], _SEQ_BYTES, order)
                seqs = index.get(key)
                if seqs is None:
                    index[key] = bytearray(packed)
                else:
                    seqs += packed
            self._indexed[field] = self._rows.count
        return index

    def __len__(self) -> int:
        return self._rows.count

    def _records(self, field: int, key: str) -> list[AuditRecord]:
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
            return _NO_STORE_UNIT  # nothing persists this log: nothing to isolate
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

    def on_units(
        self,
        staged: Callable[[UnitOfWork, BaseException | None], None],
        moved: Callable[[int | None], None],
    ) -> None:
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
                row = _row_of(record)
                self._rows.append(row)
                self._head_hash = row[12]

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
            packed = self._index(_CORRELATION_FIELD).get(correlation_id)
            if not packed:
                return None
            return _seq_at(packed, 0), _seq_at(packed, len(packed) - _SEQ_BYTES)

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
        return "".join(_row_json(row) + "\n" for row in rows)

    def verify_chain(self) -> ChainVerification:
        """
        Verify this log's hash chain and sequence.
        """
        return verify_records(self.records)
