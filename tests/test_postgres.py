"""
The PostgreSQL store's own promises, against a real server: several orchestrators (streams)
on one database, idempotency keys claimed once across them, advisory-lock ownership and a
standby taking over, dropped connections, schema versions, URLs.
"""

from __future__ import annotations

# ruff: noqa: E402 - the imports below need psycopg, checked first
from tests.pg_server import require_psycopg

require_psycopg()

import threading
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import psycopg
import pytest

from execfsm import OrderState, ReasonCode, SimulatedVenue, SteppingClock
from execfsm.clock import EPOCH
from execfsm.errors import (
    ConfigurationError,
    IdempotencyConflict,
    InProgressElsewhere,
    StoreError,
)
from execfsm.fsm.audit import AuditOutcome
from execfsm.governance.trail import verify_trail
from execfsm.ledger.postgres import PostgresStore, SchemaVersionError, load_streams
from execfsm.ledger.sqlite import StoreLocked
from execfsm.orchestrator import ExecutionOrchestrator
from execfsm.registry import builtin_machines
from execfsm.testing import paper_orchestrator
from execfsm.testing.postgres import PostgresServer
from tests.recon_settings import RECOVERY_ONLY
from tests.test_durability import Crash, Venue, intent


def session(
    url: str, stream: str, *, venue: Venue | None = None, **store: Any
) -> tuple[ExecutionOrchestrator, Venue]:
    clock = SteppingClock(EPOCH, timedelta(milliseconds=1))
    venue = venue if venue is not None else Venue(clock)
    orch = paper_orchestrator(
        venue,
        clock=clock,
        store=PostgresStore(url, stream=stream, **store),
        reconciliation=RECOVERY_ONLY,
    )
    return orch, venue


def store_of(orch: ExecutionOrchestrator) -> PostgresStore:
    store = orch._services.store
    assert isinstance(store, PostgresStore)
    return store


class TestStreams:
    def test_each_orchestrator_writes_its_own_chain(self, pg_url: str) -> None:
        """Two orchestrators on one database each write a gapless seq and chain of their
        own, and every stream verifies."""
        a, _ = session(pg_url, "a")
        b, _ = session(pg_url, "b")
        a.submit_intent(intent(1))
        b.submit_intent(intent(2))
        b.submit_intent(intent(3))
        a.close()
        b.close()

        streams = load_streams(pg_url)

        assert sorted(streams) == ["a", "b"]
        for state in streams.values():
            assert [r.seq for r in state.records] == list(range(1, len(state.records) + 1))
        assert len(streams["b"].orders) == 2
        assert len(streams["a"].orders) == 1


class TestClaims:
    def test_a_key_done_elsewhere_is_answered_with_the_owners_result(self, pg_url: str) -> None:
        """A key another stream dispatched is a duplicate here: its result, nothing sent,
        and the duplicate is in this stream's trail."""
        a, _ = session(pg_url, "a")
        b, b_venue = session(pg_url, "b")
        original = a.submit_intent(intent(1))

        answer = b.submit_intent(intent(1))

        assert answer == attrs.evolve(original, duplicate=True)
        assert b_venue.submissions == []
        assert b.get_audit_log_snapshot()[-1].outcome is AuditOutcome.DUPLICATE

    def test_a_key_in_progress_elsewhere_is_refused_then_answered(self, pg_url: str) -> None:
        """While the owner is inside the venue call, another stream's submission of the key
        is refused (IDEMPOTENCY_IN_PROGRESS_ELSEWHERE, audited); once the owner is done, it
        gets the owner's result. The venue sees one order."""
        inside, go_on = threading.Event(), threading.Event()

        def hold(_order: Any, _key: str) -> None:
            inside.set()
            go_on.wait(10)

        a, a_venue = session(pg_url, "a", venue=Venue(SteppingClock(EPOCH), on_submit=hold))
        b, b_venue = session(pg_url, "b")
        owner = threading.Thread(target=a.submit_intent, args=(intent(1),))
        owner.start()
        assert inside.wait(10)
        with pytest.raises(InProgressElsewhere) as refused:
            b.submit_intent(intent(1))
        go_on.set()
        owner.join()
        later = b.submit_intent(intent(1))

        assert refused.value.reason is ReasonCode.IDEMPOTENCY_IN_PROGRESS_ELSEWHERE
        assert refused.value.owner == "a"
        assert any(
            r.reason_code is ReasonCode.IDEMPOTENCY_IN_PROGRESS_ELSEWHERE
            for r in b.get_audit_log_snapshot()
        )
        assert later.duplicate
        assert later.success
        assert len(a_venue.submissions) == 1
        assert b_venue.submissions == []

    def test_other_terms_elsewhere_conflict(self, pg_url: str) -> None:
        """A key another stream used with other terms is an IdempotencyConflict here."""
        a, _ = session(pg_url, "a")
        b, b_venue = session(pg_url, "b")
        a.submit_intent(intent(1))

        with pytest.raises(IdempotencyConflict):
            b.submit_intent(intent(1, quantity=Decimal(3)))

        assert b_venue.submissions == []

    def test_a_batch_with_a_key_in_progress_elsewhere_claims_nothing(self, pg_url: str) -> None:
        """A batch refused for a key in progress elsewhere releases the claims it made, so
        another stream can take those keys."""
        inside, go_on = threading.Event(), threading.Event()

        def hold(_order: Any, _key: str) -> None:
            inside.set()
            go_on.wait(10)

        a, _ = session(pg_url, "a", venue=Venue(SteppingClock(EPOCH), on_submit=hold))
        b, b_venue = session(pg_url, "b")
        c, c_venue = session(pg_url, "c")
        owner = threading.Thread(target=a.submit_intent, args=(intent(1),))
        owner.start()
        assert inside.wait(10)
        with pytest.raises(InProgressElsewhere):
            b.submit_intents([intent(2), intent(1)])
        go_on.set()
        owner.join()
        taken = c.submit_intent(intent(2))

        assert taken.success
        assert not taken.duplicate
        assert b_venue.submissions == []
        assert len(c_venue.submissions) == 1

    def test_racing_threads_of_two_streams_dispatch_each_key_once(self, pg_url: str) -> None:
        """Two orchestrators, four threads each, the same twelve keys: every key reaches a
        venue exactly once; every other answer is a duplicate or an in-progress refusal."""
        a, a_venue = session(pg_url, "a")
        b, b_venue = session(pg_url, "b")
        answers: list[str] = []

        def run(orch: ExecutionOrchestrator, offset: int) -> None:
            for n in range(12):
                try:
                    result = orch.submit_intent(intent((n + offset) % 12))
                    answers.append("dup" if result.duplicate else "sent")
                except InProgressElsewhere:
                    answers.append("elsewhere")

        threads = [
            threading.Thread(target=run, args=(orch, offset))
            for orch in (a, b)
            for offset in (0, 3, 6, 9)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        sent = [*a_venue.new_orders, *b_venue.new_orders]

        assert sorted(sent) == sorted(set(sent))
        assert len(sent) == 12
        assert answers.count("sent") == 12


class TestGroupsAcrossStreams:
    def test_a_group_whose_legs_another_stream_sent_is_refused_not_sent(self, pg_url: str) -> None:
        """The same OCO group submitted by two orchestrators: the second is refused with
        CONTINGENT_GROUP_REFUSED (its legs' keys were used by the first), nothing sent, and
        its store goes on taking work."""
        from tests.test_contingent import ManualVenue, oco

        first_venue, second_venue = ManualVenue(), ManualVenue()
        first = paper_orchestrator(first_venue, store=PostgresStore(pg_url, stream="a"))
        second = paper_orchestrator(second_venue, store=PostgresStore(pg_url, stream="b"))
        first.submit_group(oco())

        refused = second.submit_group(oco())

        assert refused.reason_code is ReasonCode.CONTINGENT_GROUP_REFUSED
        assert "already submitted" in refused.reason_detail
        assert second_venue.submitted == []
        assert len(first_venue.submitted) == 2
        assert second.submit_intent(intent(7)).success
        for state in load_streams(pg_url).values():
            assert verify_trail(state.records, builtin_machines()).ok

    def test_a_group_whose_held_leg_another_stream_sent_is_refused_up_front(
        self, pg_url: str
    ) -> None:
        """An OTO whose held child's key another stream already sent is refused at submit
        (CONTINGENT_GROUP_REFUSED), its parent not sent (a key used after the submit is
        flagged when the leg is released: tests/test_review_22.py)."""
        from execfsm.contingent import ContingentGroup
        from tests.test_contingent import ManualVenue, buy, sell

        a_venue, b_venue = ManualVenue(), ManualVenue()
        a = paper_orchestrator(a_venue, store=PostgresStore(pg_url, stream="a"))
        b = paper_orchestrator(b_venue, store=PostgresStore(pg_url, stream="b"))
        group = ContingentGroup.oto("o1", buy(100), sell(120))
        child = next(x for x in group.legs if x.role == "child")
        assert b.submit_intent(child.intent).success

        refused = a.submit_group(group)

        assert refused.reason_code is ReasonCode.CONTINGENT_GROUP_REFUSED
        assert "already submitted" in refused.reason_detail
        assert a_venue.submitted == []
        assert a.submit_intent(intent(7)).success
        for state in load_streams(pg_url).values():
            assert verify_trail(state.records, builtin_machines()).ok


class TestClaimsAfterACrash:
    def test_a_claim_no_unit_followed_is_dropped_when_its_stream_reopens(self, pg_url: str) -> None:
        """A key claimed by a stream that died before its write-ahead (both connections
        gone, the claim left behind) is dropped when that stream is opened again: then
        another stream may take the key."""
        first = PostgresStore(pg_url, stream="a")
        first.load()
        assert first.claim("k", intent(1)) is None
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                "INSERT INTO execfsm_claims SELECT 'k2', stream, intent FROM execfsm_claims"
            )
        assert first._claims_conn is not None
        first._claims_conn.close()  # died before the unit of work reached the database
        first.connection.close()
        first.close()
        again = PostgresStore(pg_url, stream="a")
        again.load()
        again.close()
        other = PostgresStore(pg_url, stream="b")
        other.load()

        assert other.claim("k", intent(1)) is None
        assert other.claim("k2", intent(1)) is None
        other.close()

    def test_a_claim_of_a_stream_no_store_owns_is_taken_over(self, pg_url: str) -> None:
        """A key claimed by a stream that died before its write-ahead is not in progress
        anywhere: no store owns that stream (its lock is free), so another stream drops the
        claim and takes the key, without waiting for the dead stream to be reopened; a
        claim of a stream whose store is open stays (in progress there)."""
        first = PostgresStore(pg_url, stream="a")
        first.load()
        assert first.claim("k", intent(1)) is None
        live = PostgresStore(pg_url, stream="c")
        live.load()
        assert live.claim("k3", intent(3)) is None
        assert first._claims_conn is not None
        first._claims_conn.close()  # died: the claim is left behind
        first.connection.close()
        first.close()
        other = PostgresStore(pg_url, stream="b")
        other.load()

        assert other.claim("k", intent(1)) is None
        held = other.claim("k3", intent(3))
        assert held is not None
        assert (held.owner, held.result) == ("c", None)
        other.close()
        live.close()


class TestSession:
    def test_the_session_frees_a_lost_clients_locks_promptly(self, pg_url: str) -> None:
        """The store's connection asks the server for TCP keepalives (5 s idle, 3 probes 1 s
        apart) and a 10 s TCP user timeout, ends a session idle inside a transaction after
        10 s, and fails a statement waiting more than 10 s for a lock."""
        store = PostgresStore(pg_url)
        conn = store.connection
        shown = {
            name: conn.execute(f"SHOW {name}").fetchone()
            for name in (
                "tcp_keepalives_idle",
                "tcp_keepalives_interval",
                "tcp_keepalives_count",
                "tcp_user_timeout",
                "idle_in_transaction_session_timeout",
                "lock_timeout",
            )
        }
        store.close()

        assert shown == {
            "tcp_keepalives_idle": ("5",),
            "tcp_keepalives_interval": ("1",),
            "tcp_keepalives_count": ("3",),
            "tcp_user_timeout": ("10000",),  # ms
            "idle_in_transaction_session_timeout": ("10s",),
            "lock_timeout": ("10s",),
        }


class TestOwnership:
    def test_a_standby_takes_the_stream_when_the_owner_closes(self, pg_url: str) -> None:
        """A standby waiting on a stream's lock gets it once the owner's connection ends,
        recovers the stream and goes on with its seq."""
        owner, _ = session(pg_url, "a")
        owner.submit_intent(intent(1))
        records = len(owner.get_audit_log_snapshot())
        with pytest.raises(StoreLocked, match="owned by another orchestrator"):
            PostgresStore(pg_url, stream="a")
        got: list[PostgresStore] = []
        standby = threading.Thread(
            target=lambda: got.append(PostgresStore(pg_url, stream="a", wait=30))
        )
        standby.start()
        time.sleep(0.2)
        assert not got
        released = time.monotonic()
        store_of(owner).connection.close()  # the owner's connection drops
        standby.join()
        took = time.monotonic() - released
        clock = SteppingClock(EPOCH, timedelta(milliseconds=1))
        venue = Venue(clock)
        second = paper_orchestrator(venue, clock=clock, store=got[0], reconciliation=RECOVERY_ONLY)
        second.submit_intent(intent(2))

        assert took < 1.0
        assert second.recovery.records == records
        assert second.audit_log.verify_chain().ok
        assert len(venue.submissions) == 1


class TestTakeoverReconciles:
    def test_a_standby_asks_the_venue_about_the_dispatch_its_owner_died_in(
        self, pg_url: str, tmp_path: Path
    ) -> None:
        """The owner dies inside the venue call, after the venue took the order. The standby
        takes the stream with a venue that can answer (the same venue's journal): its
        startup reconciliation brings the order to the venue's state, flag cleared, and
        nothing is sent again."""
        journal = tmp_path / "venue.jsonl"
        clock = SteppingClock(EPOCH, timedelta(milliseconds=1))

        class DiesAfterTheVenueTookIt(SimulatedVenue):
            def submit(self, order: Any, idempotency_key: str) -> Any:
                super().submit(order, idempotency_key)
                raise Crash

        venue = DiesAfterTheVenueTookIt(clock, name="paper", journal=journal)
        owner = paper_orchestrator(
            venue,
            clock=clock,
            store=PostgresStore(pg_url, stream="a"),
            reconciliation=RECOVERY_ONLY,
        )
        with pytest.raises(Crash):
            owner.submit_intent(intent(1))
        store_of(owner).connection.close()  # the owner's process is gone
        venue.close()
        again = SimulatedVenue(clock, name="paper", journal=journal)
        standby = paper_orchestrator(
            again, clock=clock, store=PostgresStore(pg_url, stream="a", wait=10)
        )
        orders = standby.get_order_ledger_snapshot()
        startup = standby.startup_reconciliation

        assert standby.recovery.interrupted == (orders[0].client_order_id,)
        assert startup is not None
        assert startup.clean
        assert again.submissions == []
        assert (orders[0].state, orders[0].recon_flags) == (OrderState.FILLED, ())
        assert verify_trail(standby.get_audit_log_snapshot(), builtin_machines()).ok


class TestConnectionLoss:
    def test_a_dropped_connection_before_the_write_ahead_sends_nothing(
        self, pg_url: str, pg_server: PostgresServer
    ) -> None:
        """The server ends the writer's connection: the next intent's write-ahead fails, the
        adapter is not called, the caller gets a StoreError; a new store recovers."""
        orch, venue = session(pg_url, "a")
        orch.submit_intent(intent(1))
        pid = store_of(orch).connection.info.backend_pid
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

        with pytest.raises(StoreError, match="nothing of it was stored"):
            orch.submit_intent(intent(2))
        orch._services.store.close()
        again, again_venue = session(pg_url, "a")

        assert len(venue.submissions) == 1
        assert again.submit_intent(intent(1)).duplicate
        assert again.submit_intent(intent(2)).success
        assert len(again_venue.submissions) == 1

    def test_a_connection_dropped_inside_the_write_ahead_commits_nothing(
        self, pg_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The server ends the connection inside the write-ahead transaction (its records
        already inserted): nothing of the unit is stored, the venue is not called, the
        caller gets a StoreError; a new store recovers the units before it."""
        orch, venue = session(pg_url, "a")
        orch.submit_intent(intent(1))
        before = len(orch.get_audit_log_snapshot())
        store = store_of(orch)
        write_intents = store._write_intents

        def drop_then_write(*args: Any) -> None:
            with psycopg.connect(pg_url, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(%s)", (store.connection.info.backend_pid,)
                )
            write_intents(*args)

        monkeypatch.setattr(store, "_write_intents", drop_then_write)
        with pytest.raises(StoreError, match="nothing of it was stored"):
            orch.submit_intent(intent(2))
        store.close()
        again, again_venue = session(pg_url, "a")

        assert len(venue.submissions) == 1
        assert again.recovery.records == before
        assert again.submit_intent(intent(2)).success
        assert len(again_venue.submissions) == 1

    def test_a_server_restart_breaks_the_store_and_nothing_is_lost(
        self, pg_url: str, pg_server: PostgresServer
    ) -> None:
        """After a server restart the open store refuses (no send), and a reopened store
        holds every committed unit."""
        if pg_server._dir is None:
            pytest.skip("restarts only a private cluster")
        orch, venue = session(pg_url, "a")
        done = orch.submit_intent(intent(1))
        pg_server.restart()

        with pytest.raises(StoreError):
            orch.submit_intent(intent(2))
        orch._services.store.close()
        again, _ = session(pg_url, "a")

        assert len(venue.submissions) == 1
        assert again.submit_intent(intent(1)) == attrs.evolve(done, duplicate=True)


class TestOpening:
    def test_a_newer_schema_is_refused_and_left_alone(self, pg_url: str) -> None:
        """A database of a newer schema version is a SchemaVersionError, nothing changed."""
        PostgresStore(pg_url).close()
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("UPDATE execfsm_schema_version SET version = 99")

        with pytest.raises(SchemaVersionError, match="schema version 99 is newer") as refused:
            PostgresStore(pg_url)
        assert isinstance(refused.value, ConfigurationError)
        with psycopg.connect(pg_url, autocommit=True) as admin:
            row = admin.execute("SELECT version FROM execfsm_schema_version").fetchone()
        assert row == (99,)

    def test_stores_opening_an_empty_database_at_once_create_one_schema(self, pg_url: str) -> None:
        """Six stores opening a new database at the same instant: one creates the schema,
        the others wait for it and use it."""
        opened: list[object] = []
        start = threading.Barrier(6)

        def open_one(n: int) -> None:
            start.wait()
            try:
                PostgresStore(pg_url, stream=f"s{n}").close()
                opened.append(n)
            except StoreError as exc:
                opened.append(exc)

        threads = [threading.Thread(target=open_one, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert sorted(map(str, opened)) == [str(n) for n in range(6)]

    def test_an_unreachable_server_is_one_line_without_the_password(self) -> None:
        """A server that cannot be reached is a StoreError naming the URL, password hidden."""
        with pytest.raises(StoreError) as refused:
            PostgresStore("postgresql://u:s3cret@127.0.0.1:1/db", connect_timeout=2)

        assert "s3cret" not in str(refused.value)
        assert "u:***@127.0.0.1:1" in str(refused.value)
        assert "\n" not in str(refused.value)

    def test_a_url_that_does_not_parse_is_refused(self) -> None:
        """A malformed URL is a StoreError, not a driver traceback."""
        with pytest.raises(StoreError, match="cannot connect"):
            PostgresStore("postgresql://u:pw@[bad/db")


class TestSchemaVersion2:
    def test_a_version_1_database_is_migrated_and_keeps_its_session(self, pg_url: str) -> None:
        """A database of schema version 1 (orders keyed on the client order id alone) is
        migrated when a writer opens it: its session recovers as it was, and afterwards
        two streams may each store an order of the same client order id."""
        a, venue = session(pg_url, "a")
        done = a.submit_intent(intent(1))
        store_of(a).close()
        with psycopg.connect(pg_url, autocommit=True) as admin:  # back to version 1's shape
            admin.execute("ALTER TABLE execfsm_orders DROP CONSTRAINT execfsm_orders_pkey")
            admin.execute("ALTER TABLE execfsm_orders ADD PRIMARY KEY (client_order_id)")
            admin.execute("ALTER TABLE execfsm_streams DROP COLUMN wrote")
            admin.execute("UPDATE execfsm_schema_version SET version = 1")
        assert "a" in load_streams(pg_url)  # read-only: version 1 is read, not migrated

        again, _ = session(pg_url, "a", venue=venue)
        b, _ = session(pg_url, "b")
        with psycopg.connect(pg_url, autocommit=True) as admin:
            version = admin.execute("SELECT version FROM execfsm_schema_version").fetchone()
            key = admin.execute(
                "SELECT array_agg(a.attname ORDER BY a.attname) FROM pg_index i JOIN "
                "pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                "WHERE i.indrelid = 'execfsm_orders'::regclass AND i.indisprimary"
            ).fetchone()
            wrote = admin.execute("SELECT wrote FROM execfsm_streams WHERE stream = 'a'").fetchone()
            cid = admin.execute("SELECT client_order_id FROM execfsm_orders").fetchone()
            assert cid is not None
            # stream b stores an order of the same id (an adopted external order would)
            admin.execute(
                "INSERT INTO execfsm_orders (client_order_id, stream, snapshot) "
                "VALUES (%s, 'b', '{}')",
                cid,
            )

        assert version == (2,)
        assert key == (["client_order_id", "stream"],)
        assert wrote == (True,)
        assert again.submit_intent(intent(1)) == attrs.evolve(done, duplicate=True)
        assert len(venue.submissions) == 1
        store_of(again).close()
        store_of(b).close()

    def test_a_stream_whose_rows_were_all_deleted_is_still_verified(self, pg_url: str) -> None:
        """A stream that committed records and then lost every row (its trail, orders,
        keys) is not left out of load_streams: it fails, named."""
        a, _ = session(pg_url, "a")
        a.submit_intent(intent(1))
        store_of(a).close()
        with psycopg.connect(pg_url, autocommit=True) as admin:
            for table in ("audit", "intents", "orders", "positions", "checkpoints", "claims"):
                admin.execute(f"DELETE FROM execfsm_{table}")  # noqa: S608 - fixed names

        with pytest.raises(StoreError, match="stream a: it committed audit records"):
            load_streams(pg_url)
        assert load_streams(pg_url, "b") == {}  # one stream only: the others are not read


class TestOrphanedClaims:
    def test_a_claim_whose_stream_lost_its_lock_does_not_block_the_key(self, pg_url: str) -> None:
        """A stream that claimed a key and then lost the connection holding its lock (its
        process alive, its write-ahead never stored) can send nothing more: another stream
        submitting the key takes it over and sends it, rather than being told it is in
        progress elsewhere until the stream is reopened."""
        from execfsm.ids import idempotency_key

        a, a_venue = session(pg_url, "a")
        store = store_of(a)
        assert store.claim(idempotency_key(intent(1)), intent(1)) is None
        pid = store.connection.info.backend_pid
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        b, b_venue = session(pg_url, "b")

        result = b.submit_intent(intent(1))

        assert result.success
        assert len(b_venue.submissions) == 1
        assert a_venue.submissions == []
        with pytest.raises(StoreError):
            a.submit_intent(intent(1))
        assert a_venue.submissions == []
