"""
Review 22 (hostile): the PostgreSQL store, several orchestrators on one database, standby
takeover, and the commands on a ``postgresql://`` URL.

Each test names the behaviour a user relies on; its docstring says what is promised. Every
test here fails against the code as reviewed.
"""

from __future__ import annotations

# ruff: noqa: E402 - the imports below need psycopg, checked first
from tests.pg_server import require_psycopg

require_psycopg()

import threading
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from execfsm.cli import main
from execfsm.errors import InProgressElsewhere, StoreError
from execfsm.testing.postgres import PostgresServer
from tests.test_cli_postgres import intents_file
from tests.test_durability import intent
from tests.test_postgres import session, store_of

SECRET = "s3cret-pw-zz"  # noqa: S105 - a made-up password the output must not show


def run_streams(url: str, tmp_path: Path, streams: dict[str, range]) -> None:
    for stream, ids in streams.items():
        file = intents_file(tmp_path, ids)
        journal = tmp_path / f"{stream}.venue.jsonl"
        argv = ["run", str(file), "--mode", "PAPER", "--db", url, "--stream", stream]
        assert main([*argv, "--venue-journal", str(journal)]) == 0


class TestPasswords:
    @pytest.mark.parametrize(
        "argv",
        [
            ["export", "--db", "URL", "--out", "out"],
            ["audit", "export", "--db", "URL", "--out", "trail.jsonl"],
            ["diagrams", "--db", "URL", "--out", "pictures"],
            ["demo", "--db", "URL", "--out", "demo"],
        ],
        ids=["export", "audit-export", "diagrams", "demo"],
    )
    def test_no_command_prints_the_password_of_a_postgresql_url(
        self,
        argv: list[str],
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A password in a --db URL is never printed, whatever the command (README: "A
        password in the URL is never printed")."""
        monkeypatch.chdir(tmp_path)
        url = f"postgresql://u:{SECRET}@127.0.0.1:1/db"

        code = main([url if arg == "URL" else arg for arg in argv])
        out = capsys.readouterr()

        assert code == 2
        assert SECRET not in out.out + out.err

    @pytest.mark.parametrize("command", ["recover", "verify"])
    def test_a_password_given_as_a_url_parameter_is_never_printed(
        self, command: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """libpq takes the password as ``?password=`` too: it is hidden like one in the
        user part."""
        url = f"postgresql://u@127.0.0.1:1/db?password={SECRET}"
        argv = (
            ["recover", "--db", url] if command == "recover" else ["audit", "verify", "--db", url]
        )

        code = main(argv)
        out = capsys.readouterr()

        assert code == 2
        assert SECRET not in out.out + out.err

    def test_a_store_error_never_holds_a_url_parameter_password(self) -> None:
        """A PostgresStore's errors and its url attribute hide a ``?password=``."""
        from execfsm.ledger.postgres import PostgresStore

        with pytest.raises(StoreError) as refused:
            PostgresStore(f"postgresql://u@127.0.0.1:1/db?password={SECRET}", connect_timeout=2)

        assert SECRET not in str(refused.value)


class TestAuditVerifyOnPostgres:
    def test_a_stream_whose_records_were_all_deleted_fails_verification(
        self, pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """``audit verify --db postgresql://…`` verifies every stream: a stream whose audit
        rows were deleted (its orders and keys still stored) is a failure, not left out."""
        run_streams(pg_url, tmp_path, {"a": range(2), "b": range(10, 12)})
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("DELETE FROM execfsm_audit WHERE stream = 'b'")

        code = main(["audit", "verify", "--db", pg_url])
        out = capsys.readouterr()

        assert code == 1, out.out
        assert "stream b" in out.err

    def test_a_deleted_stream_with_signed_checkpoints_fails_with_the_public_key(
        self, pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Every record of a signed stream removed under its checkpoints fails
        ``--public-key`` verification (README: "a trail whose every record was removed
        under its checkpoints fails")."""
        assert main(["audit", "keygen", "--out", str(tmp_path)]) == 0
        key = tmp_path / "execfsm-signing.pem"
        for stream, ids in {"a": range(2), "b": range(10, 12)}.items():
            argv = ["run", str(intents_file(tmp_path, ids)), "--mode", "PAPER", "--db", pg_url]
            argv += ["--stream", stream, "--signing-key", str(key)]
            assert main([*argv, "--venue-journal", str(tmp_path / f"{stream}.j")]) == 0
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("DELETE FROM execfsm_audit WHERE stream = 'b'")
        capsys.readouterr()

        code = main(
            [
                "audit",
                "verify",
                "--db",
                pg_url,
                "--public-key",
                str(tmp_path / "execfsm-signing.pub.pem"),
            ]
        )
        out = capsys.readouterr()

        assert code == 1, out.out
        assert "stream b" in out.err

    def test_trails_swapped_between_streams_fail_verification(
        self, pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """One desk's trail moved under another desk's stream name (the audit rows of two
        streams swapped) does not verify as both desks' intact trails."""
        run_streams(pg_url, tmp_path, {"a": range(2), "b": range(10, 13)})
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("UPDATE execfsm_audit SET stream = 'x' WHERE stream = 'a'")
            admin.execute("UPDATE execfsm_audit SET stream = 'a' WHERE stream = 'b'")
            admin.execute("UPDATE execfsm_audit SET stream = 'b' WHERE stream = 'x'")

        code = main(["audit", "verify", "--db", pg_url])
        out = capsys.readouterr()

        assert code == 1, out.out

    def test_a_trail_cut_below_its_stored_orders_fails_verification(
        self, pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The last records of a stream deleted while its orders table still holds their
        orders: ``audit verify --db`` fails, as ``recover`` of that stream does (it refuses
        the store: a stored order disagrees with its trail)."""
        run_streams(pg_url, tmp_path, {"a": range(3)})
        with psycopg.connect(pg_url, autocommit=True) as admin:
            last = admin.execute(
                "SELECT min(seq) FROM execfsm_audit WHERE stream = 'a' AND client_order_id = "
                "(SELECT client_order_id FROM execfsm_orders ORDER BY n DESC LIMIT 1)"
            ).fetchone()
            assert last is not None
            admin.execute("DELETE FROM execfsm_audit WHERE stream = 'a' AND seq >= %s", last)

        code = main(["audit", "verify", "--db", pg_url])
        out = capsys.readouterr()

        assert code == 1, out.out


class TestClaims:
    def test_a_failed_write_ahead_does_not_block_its_key_for_every_other_stream(
        self, pg_url: str
    ) -> None:
        """A write-ahead the database refused stores nothing and sends nothing; once that
        store is closed, another stream may submit the key (it is not in progress anywhere)."""
        a, a_venue = session(pg_url, "a")
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                "CREATE FUNCTION review_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'disk full (review)'; END $$"
            )
            admin.execute(
                "CREATE TRIGGER review_refuse BEFORE INSERT ON execfsm_orders "
                "FOR EACH ROW EXECUTE FUNCTION review_refuse()"
            )
        with pytest.raises(StoreError):
            a.submit_intent(intent(1))
        store_of(a).close()
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("DROP TRIGGER review_refuse ON execfsm_orders")
        b, b_venue = session(pg_url, "b")

        try:
            result = b.submit_intent(intent(1))
        except InProgressElsewhere as exc:
            pytest.fail(f"the key stays blocked by a store that stored nothing: {exc}")

        assert a_venue.submissions == []
        assert result.success
        assert len(b_venue.submissions) == 1


class TestHeldLegsAcrossStreams:
    def test_a_held_leg_whose_key_another_stream_sent_is_not_reported_released(
        self, pg_url: str
    ) -> None:
        """An OTO child held on stream a whose key stream b then sent: when a's parent
        fills, a's group does not report its child released and working with no order of
        its own at a's venue; the child that was not sent is flagged (or refused)."""
        from execfsm.contingent import ContingentGroup, GroupState
        from execfsm.contracts import EventKind
        from execfsm.ledger.postgres import PostgresStore
        from execfsm.testing import paper_orchestrator
        from tests.test_contingent import ManualVenue, buy, event, leg, sell

        a_venue, b_venue = ManualVenue(), ManualVenue()
        a = paper_orchestrator(a_venue, store=PostgresStore(pg_url, stream="a"))
        b = paper_orchestrator(b_venue, store=PostgresStore(pg_url, stream="b"))
        group = ContingentGroup.oto("o1", buy(100), sell(120))
        a.submit_group(group)
        child = next(x for x in group.legs if x.role == "child")
        b.submit_intent(child.intent)  # the held leg's key, used by another desk

        a.handle_event(event(leg(a, "o1", "parent"), EventKind.FILL, 4))
        status = a.contingent.status("o1")

        assert len(a_venue.submitted) == 1  # the parent only: the child was not sent here
        unsent_child_reported = bool(status.flags) or status.reason_code is not None
        assert status.state is not GroupState.RELEASED or unsent_child_reported, status

    def test_a_parent_fill_is_never_answered_with_another_streams_idempotency_conflict(
        self, pg_url: str
    ) -> None:
        """An OTO child held on stream a, its key then used by stream b with other terms:
        a's venue feed delivering the parent's fill gets no exception about b's intent (the
        fill is booked, the child's refusal is flagged on the group)."""
        import attrs

        from execfsm.contingent import ContingentGroup
        from execfsm.contracts import EventKind
        from execfsm.errors import IdempotencyConflict
        from execfsm.ledger.postgres import PostgresStore
        from execfsm.testing import paper_orchestrator
        from tests.test_contingent import ManualVenue, buy, event, leg, sell

        a_venue, b_venue = ManualVenue(), ManualVenue()
        a = paper_orchestrator(a_venue, store=PostgresStore(pg_url, stream="a"))
        b = paper_orchestrator(b_venue, store=PostgresStore(pg_url, stream="b"))
        group = ContingentGroup.oto("o1", buy(100), sell(120))
        a.submit_group(group)
        child = next(x for x in group.legs if x.role == "child")
        b.submit_intent(attrs.evolve(child.intent, quantity=Decimal(2)))

        try:
            a.handle_event(event(leg(a, "o1", "parent"), EventKind.FILL, 4))
        except IdempotencyConflict as exc:
            pytest.fail(f"a venue fill was answered with another stream's conflict: {exc}")
        status = a.contingent.status("o1")

        assert status.flags or status.reason_code is not None, status


class TestDefaultVenueJournal:
    def test_two_databases_run_from_one_folder_do_not_share_a_venue(
        self,
        pg_server: PostgresServer,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A session's simulated venue is its own: after running other intents into two
        databases from one folder (default journal), reconciling the second finds its
        venue holding its own orders only (clean, no position difference)."""
        monkeypatch.chdir(tmp_path)
        first, second = pg_server.database(), pg_server.database()
        try:
            (tmp_path / "one").mkdir()
            assert main(["run", str(intents_file(tmp_path / "one", range(3))), "--mode",
                         "PAPER", "--db", first]) == 0  # fmt: skip
            assert main(["run", str(intents_file(tmp_path, range(10, 12))), "--mode",
                         "PAPER", "--db", second]) == 0  # fmt: skip
            capsys.readouterr()
            code = main(["reconcile", "--db", second, "--mode", "PAPER"])
            report = capsys.readouterr().out
        finally:
            pg_server.drop(first)
            pg_server.drop(second)

        assert "position differences: 0" in report, report
        assert code == 0


class TestPublishedHeads:
    def test_a_published_head_of_one_stream_does_not_fail_the_other_streams(
        self, pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """``audit verify --db postgresql://… --expect-head`` on an untampered database with
        two streams reports no stream FAILed (a head is one stream's: it is checked against
        that stream, or the command asks for --stream)."""
        run_streams(pg_url, tmp_path, {"a": range(2), "b": range(10, 12)})
        capsys.readouterr()
        assert main(["audit", "head", "--db", pg_url, "--stream", "a"]) == 0
        published = capsys.readouterr().out.splitlines()[0]

        code = main(["audit", "verify", "--db", pg_url, "--expect-head", published])
        err = capsys.readouterr().err

        assert "FAIL" not in err, err
        assert code != 1


class TestWrongDatabase:
    @pytest.mark.parametrize("command", ["recover", "reconcile"])
    def test_recover_or_reconcile_of_a_database_without_a_session_changes_nothing(
        self,
        command: str,
        pg_url: str,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """``recover``/``reconcile --db`` naming a database that holds no session (a typo'd
        database name) is one line, exit 2, and the database is left as it was (as a
        SQLite path that does not exist is)."""
        monkeypatch.chdir(tmp_path)
        (tmp_path / "execfsm-main.venue.jsonl").write_text("")
        argv = ["recover", "--db", pg_url]
        if command == "reconcile":
            argv = ["reconcile", "--db", pg_url, "--mode", "PAPER"]

        code = main(argv)
        err = capsys.readouterr().err
        with psycopg.connect(pg_url, autocommit=True) as admin:
            tables = admin.execute(
                "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema()"
            ).fetchall()

        assert code == 2, err
        assert tables == []


class TestStandbyAcrossARestart:
    def test_a_standby_takes_the_stream_over_after_a_server_restart(
        self, pg_url: str, pg_server: PostgresServer
    ) -> None:
        """README: a server restart frees the owner's lock and the waiting standby then
        opens the stream; the standby does not give up because its own wait was cut."""
        from execfsm.ledger.postgres import PostgresStore

        if pg_server._dir is None:
            pytest.skip("restarts only a private cluster")
        owner, _ = session(pg_url, "a")
        owner.submit_intent(intent(1))
        got: list[object] = []

        def standby() -> None:
            try:
                got.append(PostgresStore(pg_url, stream="a", wait=60))
            except Exception as exc:  # noqa: BLE001 - what the standby ended with
                got.append(exc)

        waiting = threading.Thread(target=standby, daemon=True)
        waiting.start()
        waiting.join(0.5)
        assert not got  # it waits for the owner
        pg_server.restart()
        waiting.join(60)

        assert got, "the standby neither took the stream nor gave up within 60 s"
        assert isinstance(got[0], PostgresStore), got[0]
        got[0].close()


class TestRunWhileAKeyIsInProgressElsewhere:
    def test_run_reports_a_key_in_progress_in_another_stream_without_a_traceback(
        self, pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """``execfsm run --stream b`` with a key stream a is dispatching right now: reported
        (as an IdempotencyConflict is) with an exit status, never an uncaught
        InProgressElsewhere traceback."""
        from execfsm import OrderIntent, SteppingClock
        from execfsm.clock import EPOCH
        from tests.test_durability import Venue

        inside, go_on = threading.Event(), threading.Event()

        def hold(_order: object, _key: str) -> None:
            inside.set()
            go_on.wait(20)

        a, _ = session(pg_url, "a", venue=Venue(SteppingClock(EPOCH), on_submit=hold))
        same = OrderIntent("BTC/EUR", "BUY", Decimal(1), "MARKET", "cli", intent_id="i0")
        owner = threading.Thread(target=a.submit_intent, args=(same,), daemon=True)
        owner.start()
        try:
            assert inside.wait(20)
            file = intents_file(tmp_path, range(1))
            argv = ["run", str(file), "--mode", "PAPER", "--db", pg_url, "--stream", "b"]
            try:
                code: object = main([*argv, "--venue-journal", str(tmp_path / "b.jsonl")])
            except InProgressElsewhere as exc:
                code = exc
        finally:
            go_on.set()
            owner.join(20)
        out = capsys.readouterr()

        assert isinstance(code, int), code
        assert "in progress" in out.out + out.err
        assert "Traceback" not in out.err


class TestLostHost:
    def test_a_lost_host_frees_the_lock_even_while_the_server_was_sending_to_it(
        self, pg_url: str
    ) -> None:
        """README: a lost owner host frees the stream's lock about 8 s later. Keepalives
        only run on an idle socket: a host lost while the server still had an answer
        unacknowledged (a commit's reply) is dropped only on ``tcp_user_timeout``, which
        the session must set (else Linux retransmits for ~15 minutes)."""
        from execfsm.ledger.postgres import PostgresStore

        store = PostgresStore(pg_url)
        try:
            row = store.connection.execute("SHOW tcp_user_timeout").fetchone()
        finally:
            store.close()

        assert row is not None
        assert row[0] not in ("0", "0ms"), row


class TestExternalOrdersOfTwoAccounts:
    def test_two_streams_adopt_external_orders_that_share_a_client_order_id(
        self, pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Streams are accounts: each venue account holds a manual order "manual-1", and
        ``reconcile --adopt-external`` of each stream adopts its own (exit 0 both), rather
        than the second stream's store breaking because the first used that id."""
        from execfsm import Order, OrderIntent, SimulatedVenue, SystemClock

        def manual_order(journal: Path, n: int) -> None:
            venue = SimulatedVenue(SystemClock(), name="paper", journal=journal)
            asked = OrderIntent(
                "BTC/EUR", "BUY", Decimal(1), "LIMIT", "manual", limit_price=Decimal(1)
            )
            order = Order.from_intent(
                asked,
                client_order_id="manual-1",
                correlation_id=f"cor-manual-{n}",
                idempotency_key=f"manual-{n}",
            )
            venue.submit(order, f"manual-{n}")
            venue.close()

        run_streams(pg_url, tmp_path, {"a": range(1), "b": range(10, 11)})
        codes = []
        for n, stream in enumerate(("a", "b")):
            journal = tmp_path / f"{stream}.venue.jsonl"
            manual_order(journal, n)
            argv = ["reconcile", "--db", pg_url, "--stream", stream, "--mode", "PAPER"]
            codes.append(main([*argv, "--venue-journal", str(journal), "--adopt-external"]))
        err = capsys.readouterr().err

        assert codes == [0, 0], err
