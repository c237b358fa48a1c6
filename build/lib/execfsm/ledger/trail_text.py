"""
Reading a trail's text back: one line, one record, and only in the one form execfsm writes.
"""

from __future__ import annotations

import json

from execfsm.errors import AuditChainError
from execfsm.fsm.audit import AuditRecord
from execfsm.ledger.audit import record_from_dict, record_json


def record_from_line(text: str, *, line: int | None = None) -> AuditRecord:
    """
    A record from one line of a trail, which must be byte for byte the line execfsm writes
    for that record: one of each field, keys sorted, no spaces, ``ts`` as written. A line that
    parses but differs (a key repeated, which readers resolve differently; another spacing,
    escaping or time format) is an `AuditChainError`, so no two texts of a trail verify.

    Raises:
        AuditChainError: the record is malformed, or not in the written form.
        ValueError: the line is not JSON (``json.JSONDecodeError``) or not readable.
        RecursionError: the line is nested too deeply to parse.
    """
    where = f"line {line}" if line is not None else "audit record"
    record = record_from_dict(json.loads(text), line=line)
    if record_json(record) != text:
        raise AuditChainError(
            f"{where} (record seq {record.seq}): not in the form execfsm writes (one of each "
            "field, keys sorted, no spaces, ts as written): a reader could see other values "
            "than the hash covers",
            seq=record.seq,
        )
    return record
