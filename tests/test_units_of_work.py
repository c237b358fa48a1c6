"""
Units of work, idempotency conflicts, duplicates, recovery against the trail, cancels
written ahead: what the durable store holds after a crash, and what the caller is told.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from execfsm import (
    ExecutionEvent,
    Order,
    OrderIntent,
    OrderState,
    ReasonCode,
    SteppingClock,
)
from execfsm.clock import EPOCH
from execfsm.errors import IdempotencyConflict, ReentrantCall, StoreError
from execfsm.fsm.audit import AuditOutcome
from execfsm.governance import MACHINES
from execfsm.governance.trail import verify_trail
from execfsm.ledger.audit import AuditLog
from execfsm.ledger.replay import replay
from execfsm.ledger.sqlite import SqliteStore
from execfsm.ledger.units import UnitOfWork
from execfsm.orchestration.locks import stripe as _stripe
from execfsm.results import PipelineResult
from execfsm.risk import ALLOW, NullRiskHook
from execfsm.stages import intake
from execfsm.testing import order_for
from tests.test_durability import Crash, Venue, close, intent, session


def stored_seqs(db: Path) -> list[int]:
    with sqlite3.connect(db) as conn:
        return [seq for (seq,) in conn.execute("SELECT seq FROM audit ORDER BY seq")]


class TestUnitsOfWork:
    def test_a_commit_carries_no_record_of_a_unit_still_open(self, tmp_path: Path) -> None:
        """While one thread's unit is open, no commit stores its record or anything after
        it: another thread's intent waits (its result is not returned before it is
        durable), and both are stored, in order, once the unit ends."""
        db = tmp_path / "u.db"
        orch, _ = session(db)
        audit = orch.audit_log
        opened, release = threading.Event(), threading.Event()
        results = []

        def slow_unit() -> None:
            with audit.unit():
                audit.append_fields(
                    "cor-x", None, "pipeline", "note", "INTAKE", "INTAKE", AuditOutcome.APPLIED,
                    None, "held open",
                )  # fmt: skip
                opened.set()
                release.wait(10)

        holder = threading.Thread(target=slow_unit)
        submitter = threading.Thread(target=lambda: results.append(orch.submit_intent(intent(1))))
        holder.start()
        opened.wait(10)
        submitter.start()
        submitter.join(0.5)
        waiting, on_disk_while_open = submitter.is_alive(), stored_seqs(db)
        release.set()
        holder.join()
        submitter.join(10)

        assert waiting
        assert on_disk_while_open == []  # the open unit's record was seq 1: nothing passes it
        assert results[0].success
        assert stored_seqs(db) == list(range(1, len(audit) + 1))

    def test_a_unit_cannot_open_inside_another_on_the_same_thread(self, tmp_path: Path) -> None:
        """A risk hook that submits an intent of its own is refused clearly, not deadlocked."""
        orch, _ = session(tmp_path / "n.db")

        with orch.audit_log.unit(), pytest.raises(ReentrantCall, match="inside one of its own"):
            orch.submit_intent(intent(2))

    def test_positions_on_disk_are_the_replay_of_the_stored_trail(self, tmp_path: Path) -> None:
        """The positions table is booked from the committed fill records, so it equals a
        replay of the stored trail after every commit, whatever is in memory."""
        db = tmp_path / "p.db"
        orch, _ = session(db)
        for n in range(6):
            orch.submit_intent(intent(n, side="BUY" if n % 3 else "SELL"))
        close(orch)

        state = SqliteStore(db, read_only=True).load()

        assert {p.symbol: p for p in state.positions} == replay(state.records).positions
        assert state.positions


class TestIdempotencyConflicts:
    def test_a_reused_intent_id_with_other_terms_is_refused(self, tmp_path: Path) -> None:
        """BTC BUY 1 then ETH SELL 50 under the same intent_id: a typed error naming the
        differing terms, audited IDEMPOTENCY_CONFLICT, nothing sent, no ETH order."""
        orch, venue = session(tmp_path / "c.db")
        first = orch.submit_intent(intent(1))

        with pytest.raises(IdempotencyConflict) as caught:
            orch.submit_intent(intent(1, symbol="ETH/EUR", side="SELL", quantity=Decimal(50)))

        assert caught.value.reason is ReasonCode.IDEMPOTENCY_CONFLICT
        assert caught.value.idempotency_key == first.idempotency_key
        assert set(caught.value.differences) == {"symbol", "side", "quantity"}
        assert len(venue.submissions) == 1
        assert [o.symbol for o in orch.get_order_ledger_snapshot()] == ["BTC/EUR"]
        last = orch.audit_log.records[-1]
        assert (last.outcome, last.reason_code) == (
            AuditOutcome.REFUSED,
            ReasonCode.IDEMPOTENCY_CONFLICT,
        )
        assert "ETH/EUR" in last.detail
        assert verify_trail(orch.audit_log.records, MACHINES).ok

    def test_an_identical_resubmission_is_a_marked_duplicate(self, tmp_path: Path) -> None:
        """Only the same terms are a duplicate, and the result says so."""
        orch, venue = session(tmp_path / "d.db")
        first = orch.submit_intent(intent(1, quantity=Decimal("1")))

        again = orch.submit_intent(intent(1, quantity=Decimal("1.0")))  # the same amount

        assert again == attrs.evolve(first, duplicate=True)
        assert len(venue.submissions) == 1

    def test_a_batch_with_a_conflict_runs_nothing(self, tmp_path: Path) -> None:
        """A key repeated in a batch with other terms refuses the whole batch before any
        intent of it runs; the refusal is audited and the trail still verifies."""
        orch, venue = session(tmp_path / "b.db")
        before = len(orch.audit_log)

        with pytest.raises(IdempotencyConflict, match="quantity"):
            orch.submit_intents([intent(1), intent(2), intent(1, quantity=Decimal(7))])

        assert venue.submissions == []
        assert orch.get_order_ledger_snapshot() == []
        new = orch.audit_log.records[before:]
        assert [r.reason_code for r in new] == [ReasonCode.IDEMPOTENCY_CONFLICT]
        assert verify_trail(orch.audit_log.records, MACHINES).ok
        orch.submit_intents([intent(1), intent(2)])  # the batch without the conflict runs
        assert len(venue.submissions) == 2


class TestRecoveryAgainstTheTrail:
    def _filled_session(self, db: Path) -> str:
        orch, _ = session(db)
        results = [orch.submit_intent(intent(n)) for n in range(3)]
        close(orch)
        assert all(r.success for r in results)
        return results[1].correlation_id

    def test_deleted_rows_of_a_filled_intent_are_refused(self, tmp_path: Path) -> None:
        """A filled intent whose index and order rows were deleted is refused by name,
        instead of being sent again when resubmitted."""
        db = tmp_path / "r.db"
        correlation_id = self._filled_session(db)
        with sqlite3.connect(db) as conn:
            conn.execute("DELETE FROM intents WHERE correlation_id = ?", (correlation_id,))
            conn.execute(
                "DELETE FROM orders WHERE client_order_id = ?",
                ("ord-" + correlation_id.removeprefix("cor-"),),
            )

        with pytest.raises(StoreError, match="of the audit trail has no stored row"):
            session(db)

    def test_a_deleted_intent_row_alone_is_refused(self, tmp_path: Path) -> None:
        """The idempotency index must hold every intent of the trail."""
        db = tmp_path / "i.db"
        correlation_id = self._filled_session(db)
        with sqlite3.connect(db) as conn:
            conn.execute("DELETE FROM intents WHERE correlation_id = ?", (correlation_id,))

        with pytest.raises(StoreError, match=f"{correlation_id}.*no stored idempotency entry"):
            session(db)

    def test_an_edited_position_is_refused_naming_its_symbol(self, tmp_path: Path) -> None:
        """A position row that is not the replay of the trail is refused by symbol."""
        db = tmp_path / "q.db"
        self._filled_session(db)
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE positions SET snapshot = json_set(snapshot, '$.quantity', '99')")

        with pytest.raises(StoreError, match="stored position BTC/EUR"):
            session(db)

    def test_an_intent_row_with_another_status_is_refused(self, tmp_path: Path) -> None:
        """A DONE intent marked DISPATCHING would be reported interrupted: refused."""
        db = tmp_path / "s.db"
        correlation_id = self._filled_session(db)
        with sqlite3.connect(db) as conn:
            conn.execute(
                "UPDATE intents SET status = 'DISPATCHING', result = NULL WHERE correlation_id = ?",
                (correlation_id,),
            )

        with pytest.raises(StoreError, match=f"stored intent {correlation_id}"):
            session(db)

    def test_a_refused_store_is_left_as_it_was(self, tmp_path: Path) -> None:
        """Refusing a store at recovery writes nothing to it."""
        db = tmp_path / "x.db"
        correlation_id = self._filled_session(db)
        with sqlite3.connect(db) as conn:
            conn.execute("DELETE FROM intents WHERE correlation_id = ?", (correlation_id,))
        before = db.read_bytes()

        with pytest.raises(StoreError):
            session(db)

        assert db.read_bytes() == before


class CancelCrash(Venue):
    """A venue whose cancel call never returns: the process dies inside it."""

    def cancel(self, order: Order) -> Sequence[ExecutionEvent]:
        raise Crash


class TestCancelWrittenAhead:
    def test_a_crash_inside_the_cancel_call_leaves_the_order_flagged(self, tmp_path: Path) -> None:
        """The PENDING_CANCEL order is durable before the adapter is called; after a crash
        inside the call, recovery flags it CANCEL_OUTCOME_UNKNOWN for reconciliation."""
        db = tmp_path / "k.db"
        orch, _ = session(db)
        resting = orch.submit_intent(intent(1, order_type="LIMIT", limit_price=Decimal(1)))
        assert resting.order is not None
        close(orch)
        crashing = CancelCrash(orch._routes.clock)
        orch, _ = session(db, venue=crashing)

        with pytest.raises(Crash):
            orch.cancel(resting.order.client_order_id)
        close(orch)
        again, _ = session(db)

        order = again.order(resting.order.client_order_id)
        assert order is not None
        assert order.state is OrderState.PENDING_CANCEL
        assert ReasonCode.CANCEL_OUTCOME_UNKNOWN in order.recon_flags
        assert any(o.client_order_id == order.client_order_id for o in again.recovery.in_flight)

    def test_a_cancel_that_was_sent_is_marked_in_the_trail(self, tmp_path: Path) -> None:
        """Between the request and the venue's answer, the trail says the cancel left."""
        orch, _ = session(tmp_path / "m.db")
        resting = orch.submit_intent(intent(1, order_type="LIMIT", limit_price=Decimal(1)))
        assert resting.order is not None

        orch.cancel(resting.order.client_order_id)

        events = [
            (r.event, r.outcome) for r in orch.audit_log.by_order(resting.order.client_order_id)
        ]
        assert events[-3:] == [
            ("request_cancel", AuditOutcome.APPLIED),
            ("cancel_attempt", AuditOutcome.APPLIED),
            ("cancel_ack", AuditOutcome.APPLIED),
        ]


class Interrupting:
    """A risk hook through which Ctrl-C arrives, in the middle of an intent's first unit."""

    def evaluate(self, intent: object) -> object:
        raise KeyboardInterrupt


class TestHalfDoneUnits:
    def test_an_interrupt_midway_stores_nothing_of_the_unit(self, tmp_path: Path) -> None:
        """Ctrl-C inside a unit leaves the database at the units before it: it reopens, and
        the interrupted intent runs afresh; the session that was interrupted takes no more
        writes rather than store half a unit."""
        db = tmp_path / "h.db"
        orch, _ = session(db)
        done = orch.submit_intent(intent(1))
        orch._risk.risk_hook = Interrupting()  # type: ignore[assignment]

        with pytest.raises(KeyboardInterrupt):
            orch.submit_intent(intent(2))
        orch._risk.risk_hook = NullRiskHook()
        with pytest.raises(StoreError, match="failed midway"):
            orch.submit_intent(intent(3))
        close(orch)
        again, venue = session(db)

        assert again.submit_intent(intent(1)) == attrs.evolve(done, duplicate=True)
        assert again.submit_intent(intent(2)).success
        assert len(venue.submissions) == 1


def finishes(target: Callable[[], object], seconds: float = 10) -> bool:
    """Run `target` on a daemon thread; True if it returned (or raised) within `seconds`."""
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    return not thread.is_alive()


class TestCallsBack:
    def test_subscribers_on_two_threads_hedging_each_other_do_not_deadlock(
        self, tmp_path: Path
    ) -> None:
        """Each thread's fill subscriber submits a hedge whose lock the other thread's
        intent holds: subscribers are told after the locks are released, so both finish."""
        orch, _ = session(tmp_path / "h.db")
        hedges: dict[str, OrderIntent] = {}

        def stripe(order_intent: OrderIntent) -> int:
            return _stripe(intake.identify(order_intent))

        def hedge_on(target: int, prefix: str) -> OrderIntent:
            n = 0
            while stripe(candidate := intent(0, intent_id=f"{prefix}{n}")) != target:
                n += 1
            return candidate

        first, second = intent(1), intent(2)
        hedges[intake.identify(first)] = hedge_on(stripe(second), "h1-")
        hedges[intake.identify(second)] = hedge_on(stripe(first), "h2-")

        def hedge(order: Order, _fill: object) -> None:
            follow_up = hedges.pop(order.idempotency_key, None)
            if follow_up is not None:
                orch.submit_intent(follow_up)

        orch.subscribe_fills(hedge)
        threads = [threading.Thread(target=orch.submit_intent, args=(i,)) for i in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)

        assert not any(thread.is_alive() for thread in threads)
        assert hedges == {}
        assert len(orch.get_order_ledger_snapshot()) == 4

    def test_a_risk_hook_calling_its_orchestrator_is_refused_not_hung(self, tmp_path: Path) -> None:
        """A risk hook that resubmits a known intent gets ReentrantCall (so the intent is
        BLOCKED with RISK_EVALUATION_FAILED) instead of waiting forever on its own unit,
        and other threads go on."""
        calls: list[str] = []

        class CallingBack:
            def evaluate(self, candidate: OrderIntent) -> object:
                if candidate.intent_id == "i2":
                    calls.append("back")
                    orch.submit_intent(intent(1))
                return ALLOW

        orch, _ = session(tmp_path / "r.db", risk=CallingBack())
        orch.submit_intent(intent(1))
        results: list[PipelineResult] = []

        assert finishes(lambda: results.append(orch.submit_intent(intent(2))))
        assert finishes(lambda: results.append(orch.submit_intent(intent(3))))
        assert calls == ["back"]
        assert [r.reason_code for r in results] == [ReasonCode.RISK_EVALUATION_FAILED, None]
        assert "ReentrantCall" in results[0].reason_detail

    def test_ctrl_c_inside_the_venue_call_leaves_the_intent_answered(self, tmp_path: Path) -> None:
        """Ctrl-C while the venue has the order: the order is flagged at once and the
        intent's result kept, so resubmitting it is a duplicate (no second send, no error)
        and the session goes on."""
        interrupted = [True]

        class Interrupted(Venue):
            def submit(self, order: Order, key: str) -> Sequence[ExecutionEvent]:
                events = super().submit(order, key)  # the venue has it
                if interrupted.pop() if interrupted else False:
                    raise KeyboardInterrupt
                return events

        db = tmp_path / "v.db"
        orch, venue = session(db, venue=Interrupted(SteppingClock(EPOCH)))

        with pytest.raises(KeyboardInterrupt):
            orch.submit_intent(intent(1))
        again = orch.submit_intent(intent(1))
        other = orch.submit_intent(intent(2))
        close(orch)
        reopened, _ = session(db)

        assert again.duplicate
        assert again.reason_code is ReasonCode.DISPATCH_OUTCOME_UNKNOWN
        assert again.order is not None
        assert ReasonCode.DISPATCH_OUTCOME_UNKNOWN in again.order.recon_flags
        assert venue.submissions == [again.idempotency_key, other.idempotency_key]
        assert other.success
        assert reopened.recovery.interrupted == ()

    def test_a_unit_whose_end_is_interrupted_stops_the_store_not_every_thread(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Ctrl-C landing while a unit hands its rows to the store: the store stops taking
        writes (a clear StoreError for the next caller), instead of a watermark pinned
        forever and every later flush hung."""
        orch, _ = session(tmp_path / "e.db")
        store = orch._services.store
        assert isinstance(store, SqliteStore)
        finished = store._unit_finished
        once = [True]

        def interrupted(unit: UnitOfWork, failure: BaseException | None = None) -> None:
            if once.pop() if once else False:
                raise KeyboardInterrupt
            finished(unit, failure)

        monkeypatch.setattr(store, "_unit_finished", interrupted)
        orch.audit_log.on_units(store._unit_finished, store._wake)
        errors: list[BaseException] = []

        with pytest.raises(KeyboardInterrupt):
            orch.submit_intent(intent(1))

        def later() -> None:
            try:
                orch.submit_intent(intent(2))
            except StoreError as exc:
                errors.append(exc)

        assert finishes(later)
        assert len(errors) == 1
        assert "failed midway" in str(errors[0])


class TestRefusedStores:
    def test_a_store_refused_at_recovery_is_released(self, tmp_path: Path) -> None:
        """The writer lock of a store refused at recovery is let go at once: opening the
        database again in the same process is refused for what it holds, not as locked."""
        db = tmp_path / "l.db"
        orch, _ = session(db)
        orch.submit_intent(intent(1))
        close(orch)
        with sqlite3.connect(db) as conn:
            conn.execute("DELETE FROM intents")

        for _ in range(2):
            with pytest.raises(StoreError, match="no stored idempotency entry"):
                session(db)

    def test_an_order_row_with_another_side_is_refused(self, tmp_path: Path) -> None:
        """An order row whose side (or symbol, or quantity) is not the trail's is refused:
        positions booked from it would no longer be a replay of the trail."""
        db = tmp_path / "s.db"
        orch, _ = session(db)
        orch.submit_intent(intent(1, order_type="LIMIT", limit_price=Decimal(1)))
        close(orch)
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE orders SET snapshot = json_set(snapshot, '$.side', 'SELL')")

        with pytest.raises(StoreError, match=r"SELL.*disagrees with its audit trail.*BUY"):
            session(db)


class TestInterleavedUnits:
    def test_a_finished_unit_straddling_an_open_one_is_never_cut(self, tmp_path: Path) -> None:
        """Unit A (records 1 and 3) ends while unit B (record 2) is still open: no commit
        may take record 1 without A's record 3 and rows, so until B ends nothing of A is
        stored (a commit below B's first record used to cut A in two, and a crash then
        left a database refused at every later open)."""
        db = tmp_path / "i.db"
        store = SqliteStore(db)
        audit = AuditLog(SteppingClock(EPOCH))
        store.load()
        store.bind(audit)
        a_wrote, b_wrote, a_done, release = (threading.Event() for _ in range(4))

        def note(unit: str) -> None:
            audit.append_fields(
                f"cor-{unit}", None, "pipeline", "note", "INTAKE", "INTAKE",
                AuditOutcome.APPLIED, None, unit,
            )  # fmt: skip

        def unit_a() -> None:
            with audit.unit():
                note("a")
                a_wrote.set()
                b_wrote.wait(10)
                note("a")
                store.stage_order(order_for(intent(1)))
            a_done.set()

        def unit_b() -> None:
            a_wrote.wait(10)
            with audit.unit():
                note("b")
                b_wrote.set()
                release.wait(10)

        threads = [threading.Thread(target=unit_a), threading.Thread(target=unit_b)]
        for thread in threads:
            thread.start()
        a_done.wait(10)
        flusher = threading.Thread(target=store.flush, args=(1,))  # asks for record 1 only
        flusher.start()
        flusher.join(0.5)
        with sqlite3.connect(db) as conn:
            rows_while_open = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
        seqs_while_open = stored_seqs(db)
        release.set()
        for thread in [*threads, flusher]:
            thread.join(10)
        store.flush()

        assert (seqs_while_open, rows_while_open) == ([], 0)
        assert stored_seqs(db) == [1, 2, 3]
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 1
