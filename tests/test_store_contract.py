"""
The store contract, on every durable store: the same tests run on `SqliteStore` and on
`PostgresStore` (against a real PostgreSQL server, `tests.pg_server`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from execfsm import ExecutionEvent, Fill, OrderState, ReasonCode, SteppingClock
from execfsm.clock import EPOCH
from execfsm.errors import IdempotencyConflict, StoreError
from execfsm.ledger._group_commit import GroupCommitStore
from execfsm.ledger.audit import AuditLog
from execfsm.ledger.checkpoints import Signer
from execfsm.ledger.sqlite import SqliteStore, StoreLocked
from execfsm.ledger.store import IntentStatus
from execfsm.orchestrator import ExecutionOrchestrator
from execfsm.testing import order_for, paper_orchestrator
from tests.recon_settings import RECOVERY_ONLY
from tests.test_durability import Crash, Venue, intent

Store = GroupCommitStore
"""A SqliteStore or a PostgresStore (psycopg is imported only for the latter)."""


@attrs.define
class Kind:
    """How to open the stores of one test's database, of one kind."""

    name: str
    make: Callable[..., Store]
    """Opens a store on the test's database (keyword arguments as the store takes them)."""


@pytest.fixture(params=["sqlite", "postgres"])
def kind(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Kind]:
    if request.param == "sqlite":
        db = tmp_path / "s.db"
        yield Kind("sqlite", lambda **kw: SqliteStore(db, **kw))
    else:
        url = request.getfixturevalue("pg_url")  # skips (or in CI fails) without a server
        from execfsm.ledger.postgres import PostgresStore

        yield Kind("postgres", lambda **kw: PostgresStore(url, **kw))


def session(
    kind: Kind, *, venue: Venue | None = None, **store: Any
) -> tuple[ExecutionOrchestrator, Venue]:
    clock = SteppingClock(EPOCH, timedelta(milliseconds=1))
    venue = venue if venue is not None else Venue(clock)
    orch = paper_orchestrator(
        venue, clock=clock, store=kind.make(**store), reconciliation=RECOVERY_ONLY
    )
    return orch, venue


def close(orch: ExecutionOrchestrator) -> None:
    orch._services.store.close()


class TestRoundTrip:
    def test_reopen_gives_back_everything(self, kind: Kind) -> None:
        """Reopened, a store gives back the orders, positions and trail, and the trail goes
        on gaplessly."""
        first, _ = session(kind)
        for n in range(3):
            first.submit_intent(intent(n))
        first.submit_intent(intent(9, order_type="LIMIT", limit_price=Decimal(1)))
        orders, positions = first.get_order_ledger_snapshot(), first.get_position_ledger_snapshot()
        records = first.get_audit_log_snapshot()
        close(first)

        second, venue = session(kind)

        assert second.get_order_ledger_snapshot() == orders
        assert second.get_position_ledger_snapshot() == positions
        assert second.get_audit_log_snapshot()[: len(records)] == records
        assert second.audit_log.verify_chain().ok
        assert venue.submissions == []

    def test_load_round_trips_every_row(self, kind: Kind) -> None:
        """What a session stored loads back, row for row, in a read-only store."""
        orch, _ = session(kind)
        done = orch.submit_intent(intent(1))
        close(orch)
        reader = kind.make(read_only=True)
        try:
            state = reader.load()
        finally:
            reader.close()

        assert [e.status for e in state.intents] == [IntentStatus.DONE]
        assert state.intents[0].result == done
        assert list(state.orders) == [done.order]
        assert [r.seq for r in state.records] == list(range(1, len(state.records) + 1))


class TestIdempotency:
    def test_a_key_is_answered_from_the_store_after_reopen(self, kind: Kind) -> None:
        """A key used before the restart is a duplicate after it: nothing is sent again."""
        first, _ = session(kind)
        original = first.submit_intent(intent(1))
        close(first)
        second, venue = session(kind)

        again = second.submit_intent(intent(1))

        assert again == attrs.evolve(original, duplicate=True)
        assert venue.submissions == []

    def test_other_terms_after_reopen_conflict(self, kind: Kind) -> None:
        """A stored key reused with other terms is an IdempotencyConflict, nothing sent."""
        first, _ = session(kind)
        first.submit_intent(intent(1))
        close(first)
        second, venue = session(kind)

        with pytest.raises(IdempotencyConflict):
            second.submit_intent(intent(1, quantity=Decimal(2)))

        assert venue.submissions == []


class TestWriteAhead:
    def test_key_and_order_are_durable_before_the_venue_call(self, kind: Kind) -> None:
        """When the adapter is called, a reader of the store sees the key DISPATCHING and
        the order SUBMITTED."""
        seen: list[tuple[str, str]] = []

        def look(order: Any, key: str) -> None:
            reader = kind.make(read_only=True)
            try:
                state = reader.load()
            finally:
                reader.close()
            entry = next(e for e in state.intents if e.idempotency_key == key)
            stored = next(o for o in state.orders if o.client_order_id == order.client_order_id)
            seen.append((entry.status.value, stored.state.value))

        orch, _ = session(kind, venue=Venue(SteppingClock(EPOCH), on_submit=look))
        orch.submit_intent(intent(1))

        assert seen == [("DISPATCHING", "SUBMITTED")]

    def test_crash_in_the_venue_call_is_never_sent_again(self, kind: Kind) -> None:
        """A process dying inside the adapter call leaves the order flagged at recovery,
        and resubmitting it sends nothing."""

        def die(_order: Any, _key: str) -> None:
            raise Crash

        orch, _ = session(kind, venue=Venue(SteppingClock(EPOCH), on_submit=die))
        with pytest.raises(Crash):
            orch.submit_intent(intent(1))
        close(orch)
        second, venue = session(kind)

        result = second.submit_intent(intent(1))

        assert venue.submissions == []
        assert result.reason_code is ReasonCode.DISPATCH_OUTCOME_UNKNOWN
        assert result.order is not None
        assert result.order.state is OrderState.SUBMITTED


class TestUnitsOfWork:
    def test_a_failed_commit_stores_nothing_and_breaks_the_store(self, kind: Kind) -> None:
        """A commit that fails stores nothing of its units; the store takes no more writes
        and the database reopens on the complete units before it."""
        orch, _ = session(kind)
        orch.submit_intent(intent(1))
        stored = len(orch.get_audit_log_snapshot())
        store = orch._services.store
        assert isinstance(store, GroupCommitStore)

        def broken(*_args: Any) -> None:
            raise OSError("disk on fire")

        store._write = broken  # type: ignore[method-assign]
        with pytest.raises(StoreError, match="disk on fire"):
            orch.submit_intent(intent(2))
        close(orch)
        second, venue = session(kind)

        assert second.recovery.records == stored
        assert venue.submissions == []

    def test_threads_share_commits_and_store_every_unit(self, kind: Kind) -> None:
        """Eight threads submitting at once: every result stored, fewer commits than
        units, and the reopened store recovers them all."""
        orch, venue = session(kind)
        results: dict[int, Any] = {}

        def submit(n: int) -> None:
            results[n] = orch.submit_intent(intent(n))

        threads = [threading.Thread(target=submit, args=(n,)) for n in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        store = orch._services.store
        assert isinstance(store, GroupCommitStore)
        commits = store.commits
        close(orch)
        second, _ = session(kind)

        assert all(r.success for r in results.values())
        assert commits <= 2 * 16 + 1
        assert second.recovery.records == len(orch.get_audit_log_snapshot())
        assert {o.client_order_id for o in second.get_order_ledger_snapshot()} == {
            r.order.client_order_id for r in results.values()
        }
        assert len(venue.submissions) == 16


class TestPositions:
    def test_positions_are_stored_as_a_replay_books_them(self, kind: Kind) -> None:
        """Fills arriving after the submission are booked, stored and recovered exactly."""
        orch, _ = session(kind)
        resting = orch.submit_intent(intent(1, order_type="LIMIT", limit_price=Decimal(100)))
        assert resting.order is not None
        order = orch.order(resting.order.client_order_id)
        assert order is not None
        orch.handle_event(ExecutionEvent.of_fill(order, "f", EPOCH, Fill("v1", "1", "100")))
        orch.submit_intent(intent(2))
        positions = orch.get_position_ledger_snapshot()
        close(orch)
        second, _ = session(kind)

        assert second.get_position_ledger_snapshot() == positions
        assert positions["BTC/EUR"].quantity == Decimal(2)


class TestCheckpoints:
    def test_signed_checkpoints_are_stored_and_checked_at_reopen(self, kind: Kind) -> None:
        """A store with a key signs its commits; reopened with the key, it verifies them;
        with another key it is refused."""
        signer = Signer.from_key(Ed25519PrivateKey.generate())
        orch, _ = session(kind, signing_key=signer)
        orch.submit_intent(intent(1))
        close(orch)
        reader = kind.make(read_only=True)
        try:
            state = reader.load()
        finally:
            reader.close()
        again, _ = session(kind, signing_key=signer)
        close(again)

        assert state.checkpoints
        assert state.checkpoints[-1].seq == state.records[-1].seq
        with pytest.raises(StoreError, match="one key per trail"):
            session(kind, signing_key=Signer.from_key(Ed25519PrivateKey.generate()))


class TestOneWriter:
    def test_a_second_writer_is_refused_and_a_reader_is_not(self, kind: Kind) -> None:
        """While a writer is open, a second writer is refused (StoreLocked) and a read-only
        store reads what it committed."""
        orch, _ = session(kind)
        orch.submit_intent(intent(1))

        with pytest.raises(StoreLocked):
            kind.make()
        reader = kind.make(read_only=True)
        try:
            assert len(reader.load().records) == len(orch.get_audit_log_snapshot())
        finally:
            reader.close()
        close(orch)
        kind.make().close()  # free again once the writer closed


def order_of(n: int) -> Any:
    return order_for(intent(n))


def test_a_store_refuses_writes_once_closed(kind: Kind) -> None:
    """A closed store stores nothing more: a flush of rows staged after close raises."""
    store = kind.make()
    log = AuditLog(SteppingClock(EPOCH))
    store.load()
    store.bind(log)
    store.close()

    store.stage_order(order_of(1))
    with pytest.raises(StoreError, match="nothing of it was stored"):
        store.flush()
