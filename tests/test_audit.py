"""
The audit listener and the in-memory audit log: records, chain, queries, determinism.
"""

from __future__ import annotations

import json
from datetime import timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from execfsm import (
    AuditOutcome,
    AuditRecord,
    AuditWriteError,
    EventKind,
    ExecutionEvent,
    Fill,
    OrderLifecycle,
    OrderState,
    ReasonCode,
)
from execfsm.clock import EPOCH, SteppingClock
from execfsm.fsm.audit import GENESIS_HASH, AuditEntry
from execfsm.ids import sha256_hex
from execfsm.ledger.audit import (
    _CHUNK,
    AuditLog,
    _Rows,
    record_from_dict,
    record_hash,
    record_json,
    record_to_dict,
    verify_records,
)
from execfsm.testing import FailingAuditSink, in_memory_audit, order_for
from tests.conftest import make_intent, previous_canonical_json


def run_session(audit: AuditLog) -> OrderLifecycle:
    """A short scripted order: submit, ack, two fills, one duplicate, one refusal."""
    lc = OrderLifecycle(order_for(make_intent()), audit)
    lc.send("submit")
    order = lc.order
    lc.apply(ExecutionEvent.ack(order, "e1", EPOCH, venue_order_id="V1"))
    lc.apply(ExecutionEvent.of_fill(order, "e2", EPOCH, Fill("f1", "0.4", "100")))
    lc.apply(ExecutionEvent.of_fill(order, "e3", EPOCH, Fill("f1", "0.4", "100")))
    lc.apply(ExecutionEvent.of_fill(order, "e4", EPOCH, Fill("f2", "0.9", "100")))
    lc.apply(ExecutionEvent.of_fill(order, "e5", EPOCH, Fill("f3", "0.6", "101", "0.01")))
    return lc


class TestRecords:
    def test_transition_record_is_complete(self, audit: AuditLog) -> None:
        """A submit writes one record with every field of the design, compared whole."""
        lc = OrderLifecycle(order_for(make_intent()), audit)

        lc.send("submit")

        (record,) = audit.records
        expected = AuditRecord(
            seq=1,
            ts=EPOCH,
            correlation_id=lc.correlation_id,
            client_order_id=lc.client_order_id,
            machine="order",
            event="submit",
            source="CREATED",
            target="SUBMITTED",
            outcome=AuditOutcome.APPLIED,
            reason_code=None,
            detail="",
            prev_hash=GENESIS_HASH,
            hash=record.hash,
        )
        assert record == expected
        assert len(record.hash) == 64

    def test_session_trail_in_order(self, audit: AuditLog) -> None:
        """Applied, duplicate and refused events appear in order with gapless seq."""
        run_session(audit)

        assert [(r.seq, r.event, r.target, r.outcome, r.reason_code) for r in audit.records] == [
            (1, "submit", "SUBMITTED", AuditOutcome.APPLIED, None),
            (2, "acknowledge", "ACKNOWLEDGED", AuditOutcome.APPLIED, None),
            (3, "fill", "PARTIALLY_FILLED", AuditOutcome.APPLIED, None),
            (4, "fill", None, AuditOutcome.DUPLICATE, ReasonCode.FILL_DUPLICATE),
            (5, "fill", None, AuditOutcome.REFUSED, ReasonCode.FILL_OVERFILL),
            (6, "fill", "FILLED", AuditOutcome.APPLIED, None),
        ]

    def test_reject_reason_is_recorded(self, audit: AuditLog) -> None:
        """An applied REJECT carries its reason code in the record."""
        lc = OrderLifecycle(order_for(make_intent()), audit)
        lc.send("submit")

        lc.apply(ExecutionEvent.reject(lc.order, "e1", EPOCH, ReasonCode.ADAPTER_REJECTED, "no"))

        assert (audit.records[-1].reason_code, audit.records[-1].detail) == (
            ReasonCode.ADAPTER_REJECTED,
            "no",
        )

    def test_queries(self, audit: AuditLog) -> None:
        """Records can be found by order, by correlation id and by event."""
        lc = run_session(audit)
        other = OrderLifecycle(order_for(make_intent(intent_id="other")), audit)
        other.send("submit")

        assert [r.seq for r in audit.by_order(lc.client_order_id)] == [1, 2, 3, 4, 5, 6]
        assert [r.seq for r in audit.by_correlation(other.correlation_id)] == [7]
        assert [r.seq for r in audit.by_event("submit")] == [1, 7]
        assert audit.by_order("nope") == []

    @given(
        steps=st.lists(
            st.tuples(st.sampled_from(["a", "b", "c"]), st.booleans()), min_size=1, max_size=40
        )
    )
    def test_queries_between_appends_see_every_record(self, steps: list[tuple[str, bool]]) -> None:
        """The indexes are built when queried: a query made between appends, and one made
        after a restore, sees exactly the records a scan of the trail finds."""
        audit = in_memory_audit()
        for name, query in steps:
            audit.append(
                AuditEntry(
                    correlation_id=f"cor-{name}",
                    client_order_id=None if name == "c" else f"ord-{name}",
                    machine="pipeline",
                    event=f"ev-{name}",
                    source=None,
                    target=None,
                    outcome=AuditOutcome.APPLIED,
                )
            )
            if query:
                for log in (audit, restored_copy(audit)):
                    records = log.records
                    for key in ("a", "b", "c"):
                        by_cor = [r for r in records if r.correlation_id == f"cor-{key}"]
                        assert log.by_correlation(f"cor-{key}") == by_cor
                        assert log.by_order(f"ord-{key}") == [
                            r for r in records if r.client_order_id == f"ord-{key}"
                        ]
                        assert log.by_event(f"ev-{key}") == [
                            r for r in records if r.event == f"ev-{key}"
                        ]
                        assert log.seq_range(f"cor-{key}") == (
                            (by_cor[0].seq, by_cor[-1].seq) if by_cor else None
                        )


def restored_copy(audit: AuditLog) -> AuditLog:
    """A new log restored from `audit`'s records."""
    copy = in_memory_audit()
    copy.restore(audit.records)
    return copy


class TestAuditBeforeCommit:
    def test_failing_sink_blocks_the_transition(self) -> None:
        """A sink that raises leaves the machine in its source state and the order unchanged."""
        sink = FailingAuditSink(fail_after=0)
        lc = OrderLifecycle(order_for(make_intent()), sink)
        before = lc.order

        with pytest.raises(AuditWriteError, match="submit"):
            lc.send("submit")

        assert lc.current_state_value is OrderState.CREATED
        assert lc.order == before
        assert len(sink.inner) == 0

    def test_failing_sink_blocks_a_fill(self) -> None:
        """A fill whose record cannot be written is not applied: no quantity, no state change."""
        sink = FailingAuditSink(fail_after=2)
        lc = OrderLifecycle(order_for(make_intent()), sink)
        lc.send("submit")
        lc.send("acknowledge")

        with pytest.raises(AuditWriteError):
            lc.apply(ExecutionEvent.of_fill(lc.order, "e", EPOCH, Fill("f1", "0.5", "10")))

        assert lc.current_state_value is OrderState.ACKNOWLEDGED
        assert lc.order.filled_quantity == 0
        assert lc.fills == ()
        assert len(sink.inner) == 2

    def test_machine_recovers_after_a_failed_write(self) -> None:
        """Once the sink works again, the same event applies normally."""
        sink = FailingAuditSink(fail_after=0)
        lc = OrderLifecycle(order_for(make_intent()), sink)
        with pytest.raises(AuditWriteError):
            lc.send("submit")
        sink.fail_after = 10

        lc.send("submit")

        assert lc.order.state is OrderState.SUBMITTED
        assert [r.event for r in sink.inner.records] == ["submit"]


class TestChain:
    def test_chain_verifies(self, audit: AuditLog) -> None:
        """An untouched log verifies."""
        run_session(audit)

        result = audit.verify_chain()

        assert (result.ok, result.records) == (True, 6)

    @pytest.mark.parametrize(
        ("seq", "change"),
        [
            (3, {"target": "FILLED"}),
            (1, {"detail": "edited"}),
            (5, {"reason_code": None}),
        ],
    )
    def test_edited_record_is_caught_at_its_seq(
        self, audit: AuditLog, seq: int, change: dict[str, object]
    ) -> None:
        """Editing any field of a record breaks verification at that record."""
        run_session(audit)
        records = list(audit.records)
        records[seq - 1] = attrs.evolve(records[seq - 1], **change)

        result = verify_records(records)

        assert (result.ok, result.first_bad_seq) == (False, seq)

    def test_dropped_record_is_caught(self, audit: AuditLog) -> None:
        """Dropping a record breaks the sequence where the gap is."""
        run_session(audit)
        records = list(audit.records)
        del records[2]

        result = verify_records(records)

        assert (result.ok, result.first_bad_seq) == (False, 4)

    def test_export_round_trips(self, audit: AuditLog) -> None:
        """Each exported line parses back into the identical record."""
        run_session(audit)

        lines = audit.export_jsonl().splitlines()
        parsed = [record_from_dict(json.loads(line)) for line in lines]

        assert parsed == list(audit.records)


class TestDeterminism:
    def test_same_inputs_same_bytes(self) -> None:
        """The same session on the same clock exports byte-identical JSONL."""
        exports = []
        for _ in range(2):
            log = AuditLog(SteppingClock(EPOCH, timedelta(microseconds=250)))
            run_session(log)
            exports.append(log.export_jsonl().encode())

        assert exports[0] == exports[1]
        assert b'"ts":"2026-01-01T00:00:00.000250+00:00"' in exports[0]

    def test_refusal_of_event_kind_is_named(self) -> None:
        """A refused venue event is recorded under its machine event name."""
        audit = in_memory_audit()
        lc = OrderLifecycle(order_for(make_intent()), audit)

        lc.apply(ExecutionEvent.of_kind(EventKind.EXPIRE, lc.order, "e1", EPOCH))

        assert (audit.records[-1].event, audit.records[-1].outcome) == (
            "expire",
            AuditOutcome.REFUSED,
        )


class TestRecordJson:
    @given(
        texts=st.lists(st.text(), min_size=5, max_size=5),
        optional=st.lists(st.one_of(st.none(), st.text()), min_size=3, max_size=3),
        seq=st.integers(min_value=1, max_value=10**9),
        outcome=st.sampled_from(AuditOutcome),
        reason=st.one_of(st.none(), st.sampled_from(ReasonCode)),
    )
    def test_record_json_equals_the_previous_release(
        self,
        texts: list[str],
        optional: list[str | None],
        seq: int,
        outcome: AuditOutcome,
        reason: ReasonCode | None,
    ) -> None:
        """A record's JSON line, and the text its hash covers, are byte-identical to what the
        previous release's encoder wrote, for any text."""
        record = AuditRecord(
            seq=seq,
            ts=EPOCH + timedelta(microseconds=seq),
            correlation_id=texts[0],
            client_order_id=optional[0],
            machine=texts[1],
            event=texts[2],
            source=optional[1],
            target=optional[2],
            outcome=outcome,
            reason_code=reason,
            detail=texts[3],
            prev_hash=texts[4],
            hash="h",
        )

        data = {**attrs.asdict(record, recurse=False), "ts": record.ts.isoformat()}
        covered = {k: v for k, v in data.items() if k != "hash"}

        assert record_json(record) == previous_canonical_json(data)
        assert record_to_dict(record) == json.loads(previous_canonical_json(data))
        assert record_hash(data) == sha256_hex(previous_canonical_json(covered))


_ENTRY = st.builds(
    AuditEntry,
    correlation_id=st.sampled_from(["c1", "c2", "c3"]),
    client_order_id=st.one_of(st.none(), st.sampled_from(["o1", "o2"])),
    machine=st.sampled_from(["order", "pipeline"]),
    event=st.sampled_from(["submit", "fill", "ack"]),
    source=st.one_of(st.none(), st.text(max_size=3)),
    target=st.one_of(st.none(), st.text(max_size=3)),
    outcome=st.sampled_from(AuditOutcome),
    reason_code=st.one_of(st.none(), st.sampled_from(ReasonCode)),
    detail=st.text(max_size=10),
)


class TestStorage:
    @given(entries=st.lists(_ENTRY, max_size=60))
    def test_queries_equal_filtering_the_trail(self, entries: list[AuditEntry]) -> None:
        """Each index answers exactly what filtering every record would, in seq order."""
        audit = in_memory_audit()
        returned = [audit.append(e) for e in entries]
        records = list(audit.records)

        assert records == returned
        for key in ("o1", "o2", "none"):
            assert audit.by_order(key) == [r for r in records if r.client_order_id == key]
        for key in ("c1", "c2", "c3", "none"):
            mine = [r for r in records if r.correlation_id == key]
            assert audit.by_correlation(key) == mine
            assert audit.seq_range(key) == ((mine[0].seq, mine[-1].seq) if mine else None)
        for event in ("submit", "fill", "ack", "none"):
            assert audit.by_event(event) == [r for r in records if r.event == event]

    @given(entries=st.lists(_ENTRY, min_size=1, max_size=30), since=st.integers(0, 30))
    def test_restore_and_lines_taken(self, entries: list[AuditEntry], since: int) -> None:
        """A restored log continues the same chain; the lines a store takes are the export's
        lines, each once, from the seq it asked for."""
        audit = in_memory_audit()
        for entry in entries[: len(entries) // 2]:
            audit.append(entry)
        audit.collect_lines(min(since, len(audit)))
        for entry in entries[len(entries) // 2 :]:
            audit.append(entry)
        restored = in_memory_audit()
        restored.restore(audit.records)
        audit.append(entries[0])
        restored.append(entries[0])

        assert restored.records == audit.records
        assert restored.export_jsonl() == audit.export_jsonl()
        assert restored.verify_chain().ok
        lines = audit.take_lines()
        expected = audit.records[min(since, len(entries) // 2) :]
        assert [line[:3] for line in lines] == [
            (r.seq, r.correlation_id, r.client_order_id) for r in expected
        ]
        assert [line[3] for line in lines] == [record_json(r) for r in expected]
        assert audit.take_lines() == []
        assert restored.take_lines() == []  # nobody asked this log to collect

    @given(n=st.integers(0, 2 * _CHUNK + 5), start=st.integers(0, 2 * _CHUNK + 10))
    def test_chunked_rows_read_as_one_list(self, n: int, start: int) -> None:
        """Rows sealed in chunks read back as the list they were appended as."""
        rows, plain = _Rows(), []
        for i in range(n):
            rows.append((i,))  # type: ignore[arg-type]
            plain.append((i,))

        assert len(rows) == n
        assert rows.since(start) == plain[start:]
        assert [rows[i] for i in range(n)] == plain
