"""
The strict parse of a stored or exported audit record.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from execfsm.errors import AuditChainError
from execfsm.ledger.audit import AuditLog, record_from_dict, record_json
from execfsm.testing import in_memory_audit
from tests.test_audit import run_session


def exported(audit: AuditLog) -> dict[str, Any]:
    run_session(audit)
    data: dict[str, Any] = json.loads(record_json(audit.records[0]))
    return data


class TestRecordFromDict:
    @pytest.mark.parametrize(
        ("field", "value", "rule", "shown"),
        [
            ("seq", True, "an integer", "bool True"),
            ("seq", 1.0, "an integer", "float 1.0"),
            ("seq", float("inf"), "an integer", "float inf"),
            ("seq", "1", "an integer", "str '1'"),
            ("ts", 0, "a string", "int 0"),
            ("ts", "yesterday", "an ISO 8601 time", "str 'yesterday'"),
            ("ts", "2026-01-01T00:00:00", "a time with a UTC offset", "str '2026-01-01T00:00:00'"),
            ("correlation_id", 7, "a string", "int 7"),
            ("machine", None, "a string", "NoneType None"),
            ("detail", ["x"], "a string", "list ['x']"),
            ("hash", {"a": 1}, "a string", "dict {'a': 1}"),
            ("client_order_id", 5, "a string or null", "int 5"),
            ("target", False, "a string or null", "bool False"),
            ("outcome", "won", "one of applied, refused, duplicate", "str 'won'"),
            ("reason_code", "BAD_LUCK", "a known reason code", "str 'BAD_LUCK'"),
            ("detail", 10**80, "a string", "int " + repr(10**80)[:57] + "..."),
        ],
    )
    def test_a_field_of_the_wrong_type_is_named(
        self, audit: AuditLog, field: str, value: object, rule: str, shown: str
    ) -> None:
        """A field of the wrong type or value is an AuditChainError naming the field, the rule
        and the value received."""
        data = {**exported(audit), field: value}

        with pytest.raises(AuditChainError) as refused:
            record_from_dict(data, line=3)

        assert str(refused.value) == f"line 3: {field} must be {rule}, got {shown}"
        assert refused.value.seq == (data["seq"] if type(data["seq"]) is int else -1)

    def test_a_well_typed_record_round_trips(self) -> None:
        """A record's exported form parses back into the identical record."""
        audit = in_memory_audit()
        run_session(audit)

        parsed = [record_from_dict(json.loads(record_json(r))) for r in audit.records]

        assert parsed == list(audit.records)
