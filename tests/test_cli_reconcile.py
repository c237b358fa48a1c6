"""
``execfsm reconcile --db``: one full pass against the session's venue, re-opened on the
journal that ``execfsm run`` keeps beside the database.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from execfsm.adapters.dispatcher import Dispatcher, RetryPolicy
from execfsm.adapters.registry import AdapterRegistry
from execfsm.adapters.simulated import SimulatedVenue
from execfsm.cli import build_parser, main
from execfsm.cli_reconcile import close_venue
from execfsm.clock import SystemClock
from execfsm.contracts import ExecutionMode, OrderIntent, OrderSide, OrderType
from execfsm.ledger.sqlite import SqliteStore
from execfsm.orchestrator import ExecutionOrchestrator
from execfsm.reconciliation.findings import ReconPolicy
from execfsm.testing import Fault, FaultyVenue, WrongReport

PAPER = ExecutionMode.PAPER
LOST = OrderIntent(
    "BTC/EUR", OrderSide.BUY, Decimal("0.1"), OrderType.MARKET, "cli-test", intent_id="lost"
)


def _intents(path: Path, *rows: dict[str, str]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _row(symbol: str, intent_id: str, quantity: str = "0.01") -> dict[str, str]:
    return {
        "symbol": symbol,
        "side": "BUY",
        "quantity": quantity,
        "order_type": "MARKET",
        "strategy_id": "cli-test",
        "intent_id": intent_id,
    }


def _run(tmp_path: Path, *rows: dict[str, str]) -> Path:
    """`execfsm run` a small file in PAPER; returns the database (journal beside it)."""
    db = tmp_path / "session.db"
    file = _intents(tmp_path / "intents.jsonl", *rows)
    assert main(["run", str(file), "--mode", "paper", "--db", str(db)]) == 0
    assert (tmp_path / "session.db.venue.jsonl").is_file()
    return db


def _client_order_id(intent: OrderIntent) -> str:
    """The id an intent's order gets (a pure function of the intent)."""
    result = ExecutionOrchestrator(execution_mode=PAPER).submit_intent(intent)
    assert result.order is not None
    return result.order.client_order_id


def _faulty_session(
    db: Path,
    script: list[Fault],
    *,
    wrong_reports: dict[str, WrongReport] | None = None,
    reconcile: bool = False,
) -> str:
    """
    Re-open the session on its venue's journal behind a `FaultyVenue` and a one-attempt
    dispatcher, submit `LOST` (whose answer `script` spoils), optionally reconcile once,
    and close. Returns the order's id.
    """
    clock = SystemClock()
    venue = SimulatedVenue(clock, name="paper", journal=db.with_name(db.name + ".venue.jsonl"))
    faulty = FaultyVenue(venue, script, wrong_reports=wrong_reports)
    registry = AdapterRegistry()
    registry.register(PAPER, faulty)
    orchestrator = ExecutionOrchestrator(
        execution_mode=PAPER,
        registry=registry,
        clock=clock,
        store=SqliteStore(db),
        dispatcher=Dispatcher(RetryPolicy(max_attempts=1), sleep=lambda s: None),
        reconciliation=ReconPolicy(on_start=False),
    )
    try:
        result = orchestrator.submit_intent(LOST)
        assert result.order is not None
        cid = result.order.client_order_id
        order = orchestrator.order(cid)
        assert order is not None
        assert order.recon_flags
        if reconcile:
            orchestrator.reconcile()
    finally:
        orchestrator.close()
        close_venue(venue)
    return cid


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


class TestReconcileResolves:
    def test_a_lost_dispatch_answer_is_resolved_then_nothing_is_left(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The order whose answer was lost takes the venue's fill (exit 0); then nothing is left."""
        db = _run(tmp_path, _row("BTC/EUR", "a"), _row("ETH/EUR", "b"))
        cid = _faulty_session(db, [Fault.TIMEOUT_AFTER_SEND])
        capsys.readouterr()

        first = main(["reconcile", "--db", str(db)])
        out = capsys.readouterr().out
        second = main(["reconcile", "--db", str(db)])
        again = capsys.readouterr().out

        assert first == 0, out
        assert "resolved: 1 order(s)" in out
        assert f"  {cid}  DIFFERS" in out
        assert "AGREED" in out
        assert "clean: nothing left" in out
        assert second == 0, again
        assert "resolved: 0 order(s)" in again
        assert "left unresolved: 0 order(s)" in again
        assert "position differences: 0" in again
        assert "clean: nothing left" in again

    def test_orders_in_flight_that_agree_are_counted_not_listed(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A resting order the venue holds as we do was not resolved: it is counted (exit 0)."""
        resting = {**_row("BTC/EUR", "resting"), "order_type": "LIMIT", "limit_price": "1000"}
        db = _run(tmp_path, resting)
        capsys.readouterr()

        code = main(["reconcile", "--db", str(db)])
        out = capsys.readouterr().out

        assert code == 0, out
        assert "resolved: 0 order(s)\nagreed: 1 other order(s) in flight" in out

    def test_an_order_the_venue_never_had_is_ended_by_the_not_found_rule(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A send that failed before reaching the venue ends NOT_FOUND, never re-sent (exit 0)."""
        db = _run(tmp_path, _row("XYZ/EUR", "unlisted"))  # the venue rejects it: no position
        cid = _faulty_session(db, [Fault.UNKNOWN_EXCEPTION])
        capsys.readouterr()
        argv = ["reconcile", "--db", str(db), "--not-found-after", "1", "--not-found-wait", "0"]

        first = main(argv)
        out = capsys.readouterr().out
        second = main(argv)
        again = capsys.readouterr().out

        assert first == 0, out
        assert f"  {cid}  UNKNOWN    NOT_FOUND" in out
        assert "it never reached the venue; not re-sent" in out
        assert second == 0, again
        assert "resolved: 0 order(s)" in again
        assert "clean: nothing left" in again

    def test_an_unknown_order_waits_for_more_answers(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """With the default rule one 'unknown' answer is not enough: left unresolved, exit 1."""
        db = _run(tmp_path, _row("XYZ/EUR", "unlisted"))
        cid = _faulty_session(db, [Fault.UNKNOWN_EXCEPTION])
        capsys.readouterr()

        code = main(["reconcile", "--db", str(db)])
        out = capsys.readouterr().out

        assert code == 1
        assert f"  {cid}  unknown    the venue does not know order {cid} (1 of 3 answers" in out
        assert "NOT CLEAN" in out


class TestReconcileLeavesWork:
    def test_a_held_order_exits_1(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """An order held for an operator (an impossible report) is listed as held, exit 1."""
        db = _run(tmp_path, _row("XYZ/EUR", "unlisted"))
        cid = _client_order_id(LOST)
        _faulty_session(
            db,
            [Fault.TIMEOUT_AFTER_SEND],
            wrong_reports={cid: WrongReport.OTHER_SIDE},
            reconcile=True,
        )
        capsys.readouterr()

        code = main(["reconcile", "--db", str(db)])
        out = capsys.readouterr().out

        assert code == 1
        assert f"  {cid}  held       held for an operator: order {cid}: the venue holds it" in out
        assert "NOT CLEAN" in out


class TestReconcileRefuses:
    def test_a_missing_database(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """No database: exit 2, one line naming it."""
        code = main(["reconcile", "--db", str(tmp_path / "none.db")])

        assert code == 2
        assert "no such database" in _one_line_error(capsys)

    def test_a_missing_journal(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A database without its venue journal: no venue to ask, exit 2, nothing touched."""
        db = _run(tmp_path, _row("XYZ/EUR", "unlisted"))
        journal = tmp_path / "session.db.venue.jsonl"
        journal.unlink()
        before = db.read_bytes()
        capsys.readouterr()

        code = main(["reconcile", "--db", str(db)])

        assert code == 2
        assert f"no venue journal at {journal}: there is no venue to ask" in _one_line_error(capsys)
        assert db.read_bytes() == before

    def test_a_database_a_live_session_holds_is_refused_and_its_journal_left_alone(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """While another writer holds the store: exit 2, one line, the journal byte for byte
        as it was (a line the live venue is writing is not cut)."""
        db = _run(tmp_path, _row("XYZ/EUR", "unlisted"))
        journal = tmp_path / "session.db.venue.jsonl"
        with journal.open("a", encoding="utf-8") as file:
            file.write('{"record":"ord')  # a line being written as we look
        before = journal.read_bytes()
        live = SqliteStore(db)
        capsys.readouterr()
        try:
            code = main(["reconcile", "--db", str(db)])
            line = _one_line_error(capsys)
        finally:
            live.close()

        assert code == 2
        assert "execfsm reconcile:" in line
        assert journal.read_bytes() == before

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            (b"precious notes, not a database", "file is not a database"),
            (None, "a directory, not a database file"),
        ],
    )
    def test_a_database_path_that_is_not_a_database_is_bad_input(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        content: bytes | None,
        message: str,
    ) -> None:
        """A --db that is no database (a file of something else, a folder) is bad input, as
        for `execfsm run`: exit 2 (not 1, "something is left"), one line, the file intact."""
        db = tmp_path / "notes.db"
        if content is None:
            db.mkdir()
        else:
            db.write_bytes(content)
        journal = tmp_path / "venue.jsonl"
        journal.write_text("", encoding="utf-8")

        code = main(["reconcile", "--db", str(db), "--venue-journal", str(journal)])

        assert code == 2
        assert message in _one_line_error(capsys)
        assert content is None or db.read_bytes() == content

    @pytest.mark.parametrize("command", ["reconcile", "run"])
    def test_a_store_that_cannot_open_leaves_a_torn_journal_uncut(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
    ) -> None:
        """The store opens before the venue journal: when it cannot (not a database), the
        journal's torn last line is not cut, exit 2 with one line."""
        _run(tmp_path, _row("XYZ/EUR", "unlisted"))
        journal = tmp_path / "session.db.venue.jsonl"
        with journal.open("a", encoding="utf-8") as file:
            file.write('{"record":"ord')  # a line being written as we look
        before = journal.read_bytes()
        notdb = tmp_path / "notes.db"
        notdb.write_bytes(b"precious notes, not a database")
        file_args = [] if command == "reconcile" else [str(tmp_path / "intents.jsonl")]
        capsys.readouterr()

        code = main(
            [command, *file_args, "--db", str(notdb), "--venue-journal", str(journal)]
            + (["--mode", "paper"] if command == "run" else [])
        )

        assert code == 2
        assert "file is not a database" in _one_line_error(capsys)
        assert journal.read_bytes() == before

    def test_a_journal_given_elsewhere_is_used(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--venue-journal names the journal when it is not beside the database."""
        db = _run(tmp_path, _row("XYZ/EUR", "unlisted"))
        moved = tmp_path / "elsewhere.jsonl"
        (tmp_path / "session.db.venue.jsonl").rename(moved)
        capsys.readouterr()

        code = main(["reconcile", "--db", str(db), "--venue-journal", str(moved)])

        assert code == 0
        assert f"(journal {moved})" in capsys.readouterr().out

    @pytest.mark.parametrize(
        ("flags", "message"),
        [
            ([], "give --db PATH"),
            (["--not-found-after", "0"], "--not-found-after: must be a whole number"),
            (["--not-found-after", "two"], "--not-found-after: must be a whole number"),
            (["--not-found-wait", "-1"], "--not-found-wait: must be a number of seconds"),
            (["--not-found-wait", "nan"], "--not-found-wait: must be a number of seconds"),
            (["--mode", "live"], "--mode: must be one of PAPER, SHADOW, TESTNET"),
            (["--mode", "live_blocked"], "--mode: must be one of PAPER, SHADOW, TESTNET"),
        ],
    )
    def test_bad_flags(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        flags: list[str],
        message: str,
    ) -> None:
        """A bad flag is refused before anything is opened: exit 2, one line."""
        db = [] if not flags else ["--db", str(tmp_path / "x.db")]

        code = main(["reconcile", *db, *flags])

        assert code == 2
        assert message in _one_line_error(capsys)
        assert not (tmp_path / "x.db").exists()

    def test_help_describes_every_option_with_its_default(self) -> None:
        """--help names each option of the command and its default."""
        parser = build_parser()
        command = next(
            action.choices["reconcile"]
            for action in parser._actions
            if isinstance(action.choices, dict) and "reconcile" in action.choices
        )
        text = command.format_help()
        flat = " ".join(text.split())

        for option in (
            "--db",
            "--mode",
            "--venue-journal",
            "--adopt-external",
            "--not-found-after",
            "--not-found-wait",
        ):
            assert option in text
        assert "(default PAPER)" in flat
        assert "(default DB.venue.jsonl," in flat
        assert "(default: only report them)" in flat
        assert "(default 3)" in flat
        assert "(default 30)" in flat
        assert "Exit 0 when nothing is left, 1 when something is, 2 for bad input" in flat


class TestRunKeepsTheJournal:
    def test_run_in_paper_keeps_the_venue_journal_beside_the_database(self, tmp_path: Path) -> None:
        """`execfsm run --mode paper` writes DB.venue.jsonl; the default mode writes none."""
        db = _run(tmp_path, _row("BTC/EUR", "a"))
        blocked = tmp_path / "blocked.db"
        file = _intents(tmp_path / "more.jsonl", _row("BTC/EUR", "b"))

        code = main(["run", str(file), "--db", str(blocked)])

        assert db.with_name("session.db.venue.jsonl").stat().st_size > 0
        assert code == 0
        assert not (tmp_path / "blocked.db.venue.jsonl").exists()

    def test_recover_points_at_reconcile(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`execfsm recover` names `execfsm reconcile` for the orders in flight."""
        db = _run(tmp_path, _row("XYZ/EUR", "unlisted"))
        capsys.readouterr()

        code = main(["recover", "--db", str(db)])

        assert code == 0
        assert f"(`execfsm reconcile --db {db}` asks it)" in capsys.readouterr().out
