"""
An audit record's stored and exported form: the row (`AuditRecord`'s fields, ``ts`` as text),
its canonical JSON line, its hash, reading an exported record back strictly, and checking a
chain of records.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import attrs
import msgspec

from execfsm.enums import Reason, reason_of
from execfsm.errors import AuditChainError
from execfsm.fsm.audit import GENESIS_HASH, AuditOutcome, AuditRecord
from execfsm.ids import encode_fixed


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
