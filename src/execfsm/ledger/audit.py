"""
The in-memory audit log: gapless ``seq``, clock-stamped, sha256 hash-chained, queryable.

Each record's hash covers its canonical JSON (without ``hash``) including ``prev_hash``, so
editing, dropping or reordering any record breaks the chain at that record.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from hashlib import sha256
from typing import Any

import attrs

from execfsm.contracts import ReasonCode
from execfsm.errors import AuditChainError
from execfsm.fsm.audit import GENESIS_HASH, AuditEntry, AuditOutcome, AuditRecord
from execfsm.ids import canonical_json, sha256_hex
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


_encode = json.encoder.encode_basestring  # the C encoder canonical_json uses for strings


def record_body(
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
    hash_: str | None = None,
) -> str:
    """
    The canonical JSON of a record, written directly (the hot path): byte-identical to
    ``canonical_json(record_to_dict(...))``, which verification recomputes independently.
    Without ``hash_`` it is the text the hash covers.
    """
    hashed = "" if hash_ is None else f'"hash":{_encode(hash_)},'
    e = _encode
    return (
        f'{{"client_order_id":{"null" if client_order_id is None else e(client_order_id)},'
        f'"correlation_id":{e(correlation_id)},"detail":{e(detail)},"event":{e(event)},'
        f'{hashed}"machine":{e(machine)},"outcome":{e(outcome)},"prev_hash":{e(prev_hash)},'
        f'"reason_code":{"null" if reason_code is None else e(reason_code)},"seq":{seq},'
        f'"source":{"null" if source is None else e(source)},'
        f'"target":{"null" if target is None else e(target)},"ts":{e(ts)}}}'
    )


def record_json(record: AuditRecord) -> str:
    """
    The canonical JSON line of a record, as exports and stores write it.
    """
    return record_body(
        record.seq,
        record.ts.isoformat(),
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


def record_from_dict(data: dict[str, Any], *, line: int | None = None) -> AuditRecord:
    """
    Rebuild a record from its exported form; a malformed one is an `AuditChainError`.
    """
    where = f"line {line}" if line is not None else "record"
    seq = data.get("seq") if isinstance(data, dict) else None
    if not isinstance(data, dict) or set(data) != set(_FIELDS):
        missing = sorted(set(_FIELDS) - set(data)) if isinstance(data, dict) else list(_FIELDS)
        extra = sorted(set(data) - set(_FIELDS)) if isinstance(data, dict) else []
        raise AuditChainError(
            f"audit {where}: fields do not match the schema (missing {missing}, extra {extra})",
            seq=seq if isinstance(seq, int) else -1,
        )
    try:
        return AuditRecord(
            seq=int(data["seq"]),
            ts=datetime.fromisoformat(data["ts"]),
            correlation_id=data["correlation_id"],
            client_order_id=data["client_order_id"],
            machine=data["machine"],
            event=data["event"],
            source=data["source"],
            target=data["target"],
            outcome=AuditOutcome(data["outcome"]),
            reason_code=None if data["reason_code"] is None else ReasonCode(data["reason_code"]),
            detail=data["detail"],
            prev_hash=data["prev_hash"],
            hash=data["hash"],
        )
    except (TypeError, ValueError) as exc:
        raise AuditChainError(
            f"audit {where}: bad value: {exc}", seq=seq if isinstance(seq, int) else -1
        ) from None


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


class AuditLog:
    """
    An `AuditSink` that keeps records in memory, with the queries reviewers need.

    Args:
        clock: Stamps every record's ``ts``; inject a fixed clock for replayable output.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._records: list[AuditRecord] = []
        self._by_order: defaultdict[str, list[AuditRecord]] = defaultdict(list)
        self._by_correlation: defaultdict[str, list[AuditRecord]] = defaultdict(list)
        self._by_event: defaultdict[str, list[AuditRecord]] = defaultdict(list)
        self._lock = threading.Lock()

    def append(self, entry: AuditEntry) -> AuditRecord:
        """
        Stamp, chain and store `entry`; the returned record is final.
        """
        return self.append_fields(
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
    ) -> AuditRecord:
        """
        `append` without building an `AuditEntry` first (the listener's hot path).
        """
        with self._lock:
            records = self._records
            prev = records[-1].hash if records else GENESIS_HASH
            seq = len(records) + 1
            ts = self._clock.now()
            body = record_body(
                seq,
                ts.isoformat(),
                correlation_id,
                client_order_id,
                machine,
                event,
                source,
                target,
                outcome.value,
                None if reason_code is None else reason_code.value,
                detail,
                prev,
            )
            record = AuditRecord(
                seq,
                ts,
                correlation_id,
                client_order_id,
                machine,
                event,
                source,
                target,
                outcome,
                reason_code,
                detail,
                prev,
                sha256(body.encode("utf-8")).hexdigest(),
            )
            self._keep(record)
            return record

    def _keep(self, record: AuditRecord) -> None:
        # Callers hold the lock.
        self._records.append(record)
        if record.client_order_id is not None:
            self._by_order[record.client_order_id].append(record)
        self._by_correlation[record.correlation_id].append(record)
        self._by_event[record.event].append(record)

    def __len__(self) -> int:
        return len(self._records)

    def records_since(self, seq: int) -> list[AuditRecord]:
        """
        The records after ``seq``, in order (what a store has not persisted yet).
        """
        with self._lock:
            return self._records[seq:]

    def restore(self, records: Iterable[AuditRecord]) -> None:
        """
        Load a verified trail (from a store) into an empty log; appends continue its chain.
        """
        with self._lock:
            if self._records:
                raise AuditChainError("audit: restore needs an empty log", seq=len(self._records))
            for record in records:
                self._keep(record)

    @property
    def records(self) -> Sequence[AuditRecord]:
        """
        Every record in ``seq`` order (a read-only copy).
        """
        return tuple(self._records)

    def by_order(self, client_order_id: str) -> list[AuditRecord]:
        """
        The records of one order, in ``seq`` order.
        """
        return list(self._by_order.get(client_order_id, ()))

    def by_correlation(self, correlation_id: str) -> list[AuditRecord]:
        """
        Every record of one intent (pipeline and order machines), in ``seq`` order.
        """
        return list(self._by_correlation.get(correlation_id, ()))

    def seq_range(self, correlation_id: str) -> tuple[int, int] | None:
        """
        The first and last ``seq`` of one intent's records, without copying them.
        """
        records = self._by_correlation.get(correlation_id)
        return (records[0].seq, records[-1].seq) if records else None

    def by_event(self, event: str) -> list[AuditRecord]:
        """
        Every record of one event name, in ``seq`` order.
        """
        return list(self._by_event.get(event, ()))

    def export_jsonl(self) -> str:
        """
        The canonical JSONL export: one canonical JSON record per line.
        """
        return "".join(record_json(r) + "\n" for r in self._records)

    def verify_chain(self) -> ChainVerification:
        """
        Verify this log's hash chain and sequence.
        """
        return verify_records(self.records)
