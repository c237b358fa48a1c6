"""
The SQLite store: round trips, write-ahead dispatch, recovery, group commit, bad conditions.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from execfsm import (
    ExecutionEvent,
    ExecutionOrchestrator,
    Order,
    OrderIntent,
    OrderState,
    PipelineState,
    ReasonCode,
    SimulatedVenue,
    SteppingClock,
)
from execfsm.clock import EPOCH
from execfsm.errors import StoreError
from execfsm.ids import canonical_json
from execfsm.ledger.audit import AuditLog, record_from_dict, record_hash, record_to_dict
from execfsm.ledger.sqlite import SqliteStore
from execfsm.risk import ConditionalRiskHook
from execfsm.testing import order_for, paper_orchestrator
from tests.recon_settings import RECOVERY_ONLY


class Crash(BaseException):
    """Stands in for the process dying: nothing catches it."""


class Venue(SimulatedVenue):
    """A simulated venue that can look into the database, or die, when it is called."""

    def __init__(self, *args: Any, on_submit: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_submit = on_submit

    def submit(self, order: Order, idempotency_key: str) -> Sequence[ExecutionEvent]:
        if self.on_submit is not None:
            self.on_submit(order, idempotency_key)
        return super().submit(order, idempotency_key)


def session(
    db: Path, *, venue: Venue | None = None, risk: Any = None
) -> tuple[ExecutionOrchestrator, Venue]:
    clock = SteppingClock(EPOCH, timedelta(milliseconds=1))
    venue = venue if venue is not None else Venue(clock)
    orch = paper_orchestrator(
        venue, clock=clock, risk_hook=risk, store=SqliteStore(db), reconciliation=RECOVERY_ONLY
    )
    return orch, venue


def close(orch: ExecutionOrchestrator) -> None:
    """Close the session's store, releasing its writer lock, as a stopped process would."""
    orch._services.store.close()


def fill_the_disk(orch: ExecutionOrchestrator) -> None:
    """The database may not grow any more: the next commit that needs a page fails."""
    store = orch._services.store
    assert isinstance(store, SqliteStore)
    pages = store.connection.execute("PRAGMA page_count").fetchone()[0]
    store.connection.execute(f"PRAGMA max_page_count={pages}")


def intent(n: int, **kw: Any) -> OrderIntent:
    fields: dict[str, Any] = {
        "symbol": "BTC/EUR",
        "side": "BUY",
        "quantity": Decimal(1),
        "order_type": "MARKET",
        "strategy_id": "d",
        "intent_id": f"i{n}",
    }
    fields.update(kw)
    return OrderIntent(**fields)


class TestRoundTrip:
    def test_restart_recovers_everything(self, tmp_path: Path) -> None:
        """After a restart the ledgers, results and trail are what they were, and the trail
        continues gaplessly."""
        db = tmp_path / "s.db"
        first, _ = session(db)
        results = [first.submit_intent(intent(n)) for n in range(3)]
        resting = first.submit_intent(intent(9, order_type="LIMIT", limit_price=Decimal(1)))
        orders, positions = first.get_order_ledger_snapshot(), first.get_position_ledger_snapshot()
        records = first.get_audit_log_snapshot()
        close(first)

        second, venue = session(db)
        again = second.submit_intent(intent(0))

        assert second.get_order_ledger_snapshot() == orders
        assert second.get_position_ledger_snapshot() == positions
        assert second.get_audit_log_snapshot()[: len(records)] == records
        assert again == attrs.evolve(results[0], duplicate=True)
        assert venue.submissions == []
        assert [o.client_order_id for o in second.recovery.in_flight] == [
            resting.order.client_order_id if resting.order else ""
        ]
        assert second.audit_log.verify_chain().ok
        assert second.get_audit_log_snapshot()[-1].seq == len(records) + 1

    def test_events_after_restart_apply_to_recovered_orders(self, tmp_path: Path) -> None:
        """A resting order recovered from the store still takes fills, exactly once."""
        db = tmp_path / "s.db"
        first, _ = session(db)
        resting = first.submit_intent(intent(1, order_type="LIMIT", limit_price=Decimal(59_000)))
        assert resting.order is not None
        order = first.order(resting.order.client_order_id)
        assert order is not None

        close(first)
        second, _ = session(db)
        from execfsm import Fill

        fill = ExecutionEvent.of_fill(order, "late", EPOCH, Fill("vf1", "1", "59000"))
        second.handle_event(fill)
        second.handle_event(fill)
        close(second)
        third, _ = session(db)

        recovered = third.order(resting.order.client_order_id)
        assert recovered is not None
        assert (recovered.state, recovered.filled_quantity) == (OrderState.FILLED, Decimal(1))
        assert third.get_position_ledger_snapshot()["BTC/EUR"].quantity == Decimal(1)

    def test_paused_intent_survives_a_restart(self, tmp_path: Path) -> None:
        """A paused intent can be resumed after a restart."""
        db = tmp_path / "s.db"
        risk = ConditionalRiskHook(review_quantity="0.5")
        first, _ = session(db, risk=risk)
        big = intent(1)
        paused = first.submit_intent(big)
        assert paused.pipeline_state is PipelineState.PAUSED
        close(first)

        second, venue = session(db, risk=risk)
        risk.approve(big)
        resumed = second.resume(paused.correlation_id)

        assert resumed.success
        assert venue.new_orders == [paused.idempotency_key]


class TestWriteAhead:
    def test_order_and_key_are_durable_before_the_venue_sees_them(self, tmp_path: Path) -> None:
        """When the adapter is called, another connection already reads the SUBMITTED order
        and its key as DISPATCHING."""
        db = tmp_path / "s.db"
        seen: list[tuple[str, str]] = []

        def look(order: Order, key: str) -> None:
            other = sqlite3.connect(db)
            status = other.execute(
                "SELECT status FROM intents WHERE idempotency_key=?", (key,)
            ).fetchone()
            snapshot = other.execute(
                "SELECT snapshot FROM orders WHERE client_order_id=?", (order.client_order_id,)
            ).fetchone()
            other.close()
            seen.append((status[0], json.loads(snapshot[0])["state"]))

        orch, _ = session(db, venue=Venue(SteppingClock(EPOCH), on_submit=look))
        orch.submit_intent(intent(1))

        assert seen == [("DISPATCHING", "SUBMITTED")]

    def test_crash_during_dispatch_is_never_sent_again(self, tmp_path: Path) -> None:
        """A process that dies inside the adapter call leaves the order SUBMITTED and its key
        written ahead; after restart the order is flagged and resubmitting sends nothing."""
        db = tmp_path / "s.db"

        def die(_order: Order, _key: str) -> None:
            raise Crash

        orch, _ = session(db, venue=Venue(SteppingClock(EPOCH), on_submit=die))
        with pytest.raises(Crash):
            orch.submit_intent(intent(1))
        close(orch)

        second, venue = session(db)
        result = second.submit_intent(intent(1))

        assert venue.submissions == []
        assert (result.success, result.reason_code) == (False, ReasonCode.DISPATCH_OUTCOME_UNKNOWN)
        assert result.order is not None
        assert result.order.state is OrderState.SUBMITTED
        assert result.order.recon_flags == (ReasonCode.DISPATCH_OUTCOME_UNKNOWN,)
        assert second.recovery.interrupted == (result.order.client_order_id,)

    def test_one_commit_ahead_and_one_after(self, tmp_path: Path) -> None:
        """A dispatched intent costs two commits: ahead of the venue and before returning."""
        db = tmp_path / "s.db"
        orch, _ = session(db)
        store = orch._services.store
        assert isinstance(store, SqliteStore)
        before = store.commits

        orch.submit_intent(intent(1))

        assert store.commits - before == 2


class TestBatchWriteAhead:
    def test_every_order_of_a_batch_is_durable_before_the_first_send(self, tmp_path: Path) -> None:
        """When the venue sees the batch's first order, another connection already reads
        every order of the batch SUBMITTED with its key DISPATCHING; the batch costs two
        commits."""
        db = tmp_path / "s.db"
        seen: list[list[str]] = []

        def look(_order: Order, _key: str) -> None:
            other = sqlite3.connect(db)
            seen.append([row[0] for row in other.execute("SELECT status FROM intents")])
            other.close()

        orch, venue = session(db, venue=Venue(SteppingClock(EPOCH), on_submit=look))
        store = orch._services.store
        assert isinstance(store, SqliteStore)
        before = store.commits

        results = orch.submit_intents([intent(n) for n in range(20)])

        assert seen[0] == ["DISPATCHING"] * 20
        assert len(venue.new_orders) == 20
        assert all(r.success for r in results)
        assert store.commits - before == 2

    def test_disk_full_at_the_write_ahead_sends_nothing_of_the_batch(self, tmp_path: Path) -> None:
        db = tmp_path / "s.db"
        orch, venue = session(db)
        orch.submit_intent(intent(1))
        fill_the_disk(orch)

        with pytest.raises(StoreError, match="full"):
            orch.submit_intents([intent(n, strategy_id="x" * 128) for n in range(2, 6)])

        assert len(venue.new_orders) == 1
        close(orch)
        reopened, _ = session(db)
        assert len(reopened.get_order_ledger_snapshot()) == 1

    def test_crash_inside_a_batch_sends_nothing_again(self, tmp_path: Path) -> None:
        """A process dying at the batch's third send: after restart every order of the
        batch (sent or not, its result not yet durable) is flagged, and none is resent."""
        db = tmp_path / "s.db"
        calls: list[str] = []

        def die_at_third(_order: Order, key: str) -> None:
            calls.append(key)
            if len(calls) == 3:
                raise Crash

        orch, _ = session(db, venue=Venue(SteppingClock(EPOCH), on_submit=die_at_third))
        batch = [intent(n) for n in range(5)]
        with pytest.raises(Crash):
            orch.submit_intents(batch)
        close(orch)

        second, venue = session(db)
        again = second.submit_intents(batch)

        assert venue.submissions == []
        assert len(second.recovery.interrupted) == 5
        assert all(r.reason_code is ReasonCode.DISPATCH_OUTCOME_UNKNOWN for r in again)


class TestGroupCommit:
    """Concurrent flushes share commits, and each returns only once its own data is stored."""

    THREADS = 8

    def _slow_store(self, db: Path, fail: bool = False) -> tuple[SqliteStore, threading.Event]:
        store = SqliteStore(db)
        store.bind(AuditLog(SteppingClock(EPOCH)))
        entered = threading.Event()
        write = store._write

        def slow_write(*args: Any) -> None:
            entered.set()
            time.sleep(0.05)  # long enough for every other thread to queue behind it
            if fail:
                raise sqlite3.OperationalError("disk I/O error")
            write(*args)

        store._write = slow_write  # type: ignore[method-assign]
        return store, entered

    def _order(self, n: int) -> Order:
        return order_for(intent(n))

    def test_waiting_flushes_share_one_commit_and_see_their_rows(self, tmp_path: Path) -> None:
        """While one commit is in progress, other threads' flushes wait and the next commit
        carries all of them; every flush returns only when its order is in the database."""
        db = tmp_path / "g.db"
        store, entered = self._slow_store(db)
        store.stage_order(self._order(0))
        leader = threading.Thread(target=store.flush)
        leader.start()
        entered.wait()
        seen: dict[int, bool] = {}

        def follower(n: int) -> None:
            order = self._order(n)
            store.stage_order(order)
            store.flush()
            with sqlite3.connect(db) as other:
                row = other.execute(
                    "SELECT 1 FROM orders WHERE client_order_id = ?", (order.client_order_id,)
                ).fetchone()
            seen[n] = row is not None

        followers = [
            threading.Thread(target=follower, args=(n,)) for n in range(1, self.THREADS + 1)
        ]
        for thread in followers:
            thread.start()
        for thread in [leader, *followers]:
            thread.join()

        assert seen == dict.fromkeys(range(1, self.THREADS + 1), True)
        assert store.commits == 2  # the leader's, then one for all eight followers

    def test_a_failed_commit_fails_every_flush_waiting_on_it(self, tmp_path: Path) -> None:
        """A flush whose rows were in a failed commit raises; it never returns as if stored."""
        store, entered = self._slow_store(tmp_path / "f.db", fail=True)
        store.stage_order(self._order(0))
        errors: list[BaseException] = []

        def flush() -> None:
            try:
                store.flush()
            except StoreError as exc:
                errors.append(exc)

        leader = threading.Thread(target=flush)
        leader.start()
        entered.wait()
        store.stage_order(self._order(1))
        follower = threading.Thread(target=flush)
        follower.start()
        for thread in (leader, follower):
            thread.join()

        assert len(errors) == 2
        assert all("disk I/O error" in str(e) for e in errors)
        assert store.commits == 0

    def test_any_failure_while_writing_breaks_the_store(self, tmp_path: Path) -> None:
        """Not only database errors: any failure during a commit rolls it back and refuses
        further writes, instead of leaving an open transaction and silently lost rows."""
        store = SqliteStore(tmp_path / "x.db")
        store.bind(AuditLog(SteppingClock(EPOCH)))

        def broken_write(*_args: Any) -> None:
            raise TypeError("cannot serialise")

        store._write = broken_write  # type: ignore[method-assign]
        store.stage_order(self._order(0))

        with pytest.raises(StoreError, match="cannot serialise"):
            store.flush()
        with pytest.raises(StoreError, match="accepts no more writes"):
            store.stage_order(self._order(1))


class TestBadConditions:
    def test_missing_directory(self, tmp_path: Path) -> None:
        """A database in a directory that does not exist is refused naming the directory."""
        with pytest.raises(StoreError, match="does not exist"):
            SqliteStore(tmp_path / "nope" / "s.db")

    @pytest.mark.parametrize("path", ["/proc/execfsm.db", "/sys/execfsm.db"])
    def test_read_only_location(self, path: str) -> None:
        """A location that cannot be written is refused when the store opens, not later."""
        with pytest.raises(StoreError, match="cannot open the database"):
            SqliteStore(path)

    def test_not_a_database(self, tmp_path: Path) -> None:
        """A file that is not SQLite is refused clearly."""
        bogus = tmp_path / "s.db"
        bogus.write_bytes(b"this is a spreadsheet, honest" * 100)

        with pytest.raises(StoreError, match="cannot open the database"):
            SqliteStore(bogus)

    def test_foreign_database(self, tmp_path: Path) -> None:
        """An SQLite file of another application is refused, not written into."""
        other = tmp_path / "s.db"
        sqlite3.connect(other).execute("CREATE TABLE customers(id)").connection.commit()

        with pytest.raises(StoreError, match="not an execfsm database"):
            SqliteStore(other)

    def test_newer_schema(self, tmp_path: Path) -> None:
        """A database written by a newer execfsm is refused, naming both versions."""
        db = tmp_path / "s.db"
        SqliteStore(db).close()
        conn = sqlite3.connect(db)
        conn.execute("UPDATE meta SET value='7' WHERE key='schema_version'")
        conn.commit()
        conn.close()

        with pytest.raises(StoreError, match="schema version 7 is newer"):
            SqliteStore(db)

    def test_disk_full_writes_nothing_of_the_intent(self, tmp_path: Path) -> None:
        """When the disk fills at the write-ahead commit, the venue is not called, nothing of
        the intent is stored, and the store refuses further work until reopened."""
        db = tmp_path / "s.db"
        orch, venue = session(db)
        orch.submit_intent(intent(1))
        fill_the_disk(orch)
        big = intent(2, strategy_id="x" * 128)

        with pytest.raises(StoreError, match="full"):
            orch.submit_intent(big)
        with pytest.raises(StoreError, match="reopen"):
            orch.submit_intent(intent(3))

        assert len(venue.new_orders) == 1
        close(orch)
        reopened, _ = session(db)
        assert [o.strategy_id for o in reopened.get_order_ledger_snapshot()] == ["d"]
        assert reopened.audit_log.verify_chain().ok

    def test_tampered_record_is_refused_at_its_seq(self, tmp_path: Path) -> None:
        """An edited audit row stops recovery, naming the record; nothing is appended."""
        db = tmp_path / "s.db"
        orch, _ = session(db)
        orch.submit_intent(intent(1))
        close(orch)
        conn = sqlite3.connect(db)
        (text,) = conn.execute("SELECT record FROM audit WHERE seq=3").fetchone()
        conn.execute(
            "UPDATE audit SET record=? WHERE seq=3", (text.replace("ROUTING", "DISPATCH", 1),)
        )
        conn.commit()
        count = conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0]

        with pytest.raises(StoreError, match="record seq 3"):
            session(db)

        assert conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0] == count

    def test_forged_rehashed_trail_is_refused(self, tmp_path: Path) -> None:
        """A trail rewritten with valid hashes but an illegal transition is refused too."""
        db = tmp_path / "s.db"
        orch, _ = session(db)
        orch.submit_intent(intent(1))
        close(orch)
        conn = sqlite3.connect(db)
        rows = conn.execute("SELECT seq, record FROM audit ORDER BY seq").fetchall()
        prev = "0" * 64
        for seq, text in rows:
            data = json.loads(text)
            if seq == 2:
                data["target"] = "ROUTING"
            data["prev_hash"] = prev
            data["hash"] = record_hash(data)
            prev = data["hash"]
            conn.execute(
                "UPDATE audit SET record=? WHERE seq=?",
                (canonical_json(record_to_dict(record_from_dict(data))), seq),
            )
        conn.commit()

        with pytest.raises(StoreError, match="seq 2"):
            session(db)

    def test_cli_recover_and_verify(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`execfsm recover` lists in-flight orders; `audit verify --db` checks the trail."""
        from execfsm.cli import main

        db = tmp_path / "s.db"
        orch, _ = session(db)
        orch.submit_intent(intent(1, order_type="LIMIT", limit_price=Decimal(1)))
        orch._services.store.close()

        assert main(["audit", "verify", "--db", str(db)]) == 0
        assert main(["recover", "--db", str(db)]) == 0
        out = capsys.readouterr().out
        assert "1 order(s) in flight" in out
        assert "ACKNOWLEDGED" in out
        assert main(["recover", "--db", str(tmp_path / "missing.db")]) == 2
