"""
The in-memory audit log: gapless ``seq``, clock-stamped, sha256 hash-chained, queryable.

Each record's hash covers its canonical JSON (without ``hash``) including ``prev_hash``, so
editing, dropping or reordering any record breaks the chain at that record.
"""

from __future__ import annotations

import hashlib
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from threading import get_ident

import attrs

from execfsm.enums import Reason
from execfsm.errors import AuditChainError, AuditWriteError, ReentrantCall
from execfsm.fsm.audit import GENESIS_HASH, AuditEntry, AuditOutcome, AuditRecord
from execfsm.ids import encode_fixed
from execfsm.ledger.records import (  # re-exported: where readers have always found them
    ChainVerification as ChainVerification,
)
from execfsm.ledger.records import (
    _record_of,
    _Row,
    _row_of,
)
from execfsm.ledger.records import record_from_dict as record_from_dict
from execfsm.ledger.records import record_hash as record_hash
from execfsm.ledger.records import record_json as record_json
from execfsm.ledger.records import record_to_dict as record_to_dict
from execfsm.ledger.records import verify_records as verify_records
from execfsm.ledger.units import NO_STORE_UNIT, UnitOfWork, UnitsMoved, UnitStaged
from execfsm.typing import Clock

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
        self._settle: Callable[[int], None] | None = None
        """The persisting store's flush (`settle`), or None."""
        self._closed: str | None = None
        """Why the log takes no more records (its store closed), or None."""

    @property
    def clock(self) -> Clock:
        """
        The clock that stamps the records (a store's checkpoints read it too).
        """
        return self._clock

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
            if self._closed is not None:
                raise AuditWriteError(f"audit: {machine} {event!r} not recorded: {self._closed}")
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

    @property
    def persisted(self) -> bool:
        """
        Whether a store persists this log (a store bound it).
        """
        return self._unit_hooks is not None

    def close(self, why: str) -> None:
        """
        Take no more records (the store that persists them closed): every later write
        raises `AuditWriteError` saying `why`, and the machine that tried stays where it was.
        """
        with self._lock:
            self._closed = why

    def on_settle(self, flush: Callable[[int], None]) -> None:
        """
        The persisting store's ``flush(through)``, which `settle` calls.
        """
        self._settle = flush

    def settle(self, through: int) -> None:
        """
        Return once the records up to seq `through` are durable: at once if no store
        persists this log, or if this thread holds a unit of work (its commit will carry
        them, with the rest of the unit).
        """
        flush = self._settle
        if flush is not None and get_ident() not in self._units_by_thread:
            flush(through)

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
