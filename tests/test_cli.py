"""
The ``execfsm`` command line.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from execfsm.adapters.simulated import SimulatedVenue
from execfsm.cli import main
from execfsm.clock import EPOCH, SteppingClock
from execfsm.contracts import ExecutionEvent, ExecutionMode, Order, OrderIntent, ReasonCode
from execfsm.errors import StoreError
from execfsm.fsm.audit import AuditEntry, AuditOutcome
from execfsm.ledger.audit import AuditLog
from execfsm.ledger.sqlite import SqliteStore
from execfsm.orchestrator import ExecutionOrchestrator
from execfsm.results import PipelineResult
from tests.test_audit import run_session
from tests.test_store_open import ROOT, data_files, files, live_writer, stored_session

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def trail(tmp_path: Path, audit: AuditLog) -> Path:
    run_session(audit)
    path = tmp_path / "audit.jsonl"
    path.write_text(audit.export_jsonl(), encoding="utf-8")
    return path


class TestAuditVerify:
    def test_intact_trail_passes(self, trail: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """An untouched export verifies with exit 0."""
        code = main(["audit", "verify", str(trail)])

        assert code == 0
        assert "6 records, chain intact" in capsys.readouterr().out

    def test_tampered_trail_names_the_record(
        self, trail: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Changing one record's target fails with exit 1 naming that record's seq."""
        lines = trail.read_text().splitlines()
        record = json.loads(lines[2])
        record["target"] = "FILLED"
        lines[2] = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        trail.write_text("\n".join(lines) + "\n")

        code = main(["audit", "verify", str(trail)])

        assert code == 1
        assert "record seq 3" in capsys.readouterr().err

    @pytest.mark.parametrize(
        "rewrite",
        [
            pytest.param(lambda line: line.replace('{"', '{"event":"forged","', 1), id="key twice"),
            pytest.param(lambda line: line.replace('","', '", "', 1), id="a space"),
            pytest.param(lambda line: line.replace("+00:00", "Z", 1), id="ts as Z"),
            pytest.param(lambda line: line + "\r", id="CR at the end"),
        ],
    )
    def test_a_line_not_in_the_written_form_fails(
        self, trail: Path, capsys: pytest.CaptureFixture[str], rewrite: Any
    ) -> None:
        """A line that parses to the same record but is not the text execfsm writes (a key
        repeated first, a space, another time format, a CR) fails, naming line and record."""
        lines = trail.read_bytes().decode().split("\n")
        lines[2] = rewrite(lines[2])
        trail.write_bytes("\n".join(lines).encode())

        code = main(["audit", "verify", str(trail)])

        assert code == 1
        err = capsys.readouterr().err
        assert "line 3 (record seq 3): not in the form execfsm writes" in err

    def test_truncated_line_is_reported(
        self, trail: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A truncated line is reported by line number, not as a traceback."""
        trail.write_text(trail.read_text()[:-40])

        code = main(["audit", "verify", str(trail)])

        assert code == 1
        assert "line 6" in capsys.readouterr().err

    def test_missing_file_is_bad_input(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A missing file exits 2 with a message naming it."""
        code = main(["audit", "verify", str(tmp_path / "nope.jsonl")])

        assert code == 2
        assert "nope.jsonl" in capsys.readouterr().err

    def test_seq_of_1e999_is_a_failed_line(
        self, trail: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A record whose seq is 1e999 (an infinite float) fails naming its line, with exit 1,
        not an OverflowError traceback."""
        lines = trail.read_text().splitlines()
        lines[2] = lines[2].replace('"seq":3', '"seq":1e999')
        trail.write_text("\n".join(lines) + "\n")

        code = main(["audit", "verify", str(trail)])

        assert code == 1
        assert capsys.readouterr().err == (
            f"FAIL {trail}: line 3: seq must be an integer, got float inf\n"
        )

    @pytest.mark.parametrize(
        ("bad_line", "message"),
        [
            ("[" * 100_000, "line 2: nested too deeply"),
            (
                '{"seq":' + "9" * 5000 + "}",
                "line 2: not readable (Exceeds the limit (4300 digits) for integer string "
                "conversion: value has 5000 digits; use sys.set_int_max_str_digits() to "
                "increase the limit)",
            ),
            ('{"seq":true}', "line 2: fields do not match the schema"),
        ],
        ids=["nested", "huge-integer", "not-a-record"],
    )
    def test_unparseable_line_is_a_failed_line(
        self, trail: Path, capsys: pytest.CaptureFixture[str], bad_line: str, message: str
    ) -> None:
        """A line Python's JSON parser gives up on fails naming its line, with exit 1."""
        lines = trail.read_text().splitlines()
        lines[1] = bad_line
        trail.write_text("\n".join(lines) + "\n")

        code = main(["audit", "verify", str(trail)])

        assert code == 1
        assert capsys.readouterr().err.startswith(f"FAIL {trail}: {message}")


class TestAuditVerifyDb:
    def test_verifies_a_database_a_live_writer_holds(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`audit verify --db` reads a database another process is writing: exit 0, no lock
        taken, no file changed, and the writer goes on."""
        db = tmp_path / "s.db"
        with live_writer(db) as writer:
            before = data_files(tmp_path)

            code = main(["audit", "verify", "--db", str(db)])

            assert code == 0
            assert capsys.readouterr().out.startswith(f"OK {db}: ")
            assert data_files(tmp_path) == before
            writer.step("WROTE")

    def test_changes_nothing_in_a_closed_database(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Verifying a closed database leaves every file as it was, with no -wal or -shm."""
        db = tmp_path / "s.db"
        stored_session(db)
        before = files(tmp_path)

        code = main(["audit", "verify", "--db", str(db)])

        assert code == 0
        assert "records, chain intact" in capsys.readouterr().out
        assert files(tmp_path) == before

    def test_corrupt_row_is_a_failed_check(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A stored record whose seq is 1e999 fails with exit 1 naming the row, and the file
        stays as it was."""
        db = tmp_path / "s.db"
        stored_session(db)
        conn = sqlite3.connect(db)
        conn.execute("UPDATE audit SET record=replace(record, '\"seq\":2', '\"seq\":1e999')")
        conn.commit()
        conn.close()
        before = files(tmp_path)

        code = main(["audit", "verify", "--db", str(db)])

        assert code == 1
        assert capsys.readouterr().err == (
            f"FAIL {db}: store {db}: audit record seq 2 is corrupt: audit record: seq must be "
            "an integer, got float inf\n"
        )
        assert files(tmp_path) == before


@contextmanager
def dispatching_session(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A durable session in another process, stopped inside its third venue call."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    args = [str(tmp_path / "s.db"), str(tmp_path / "venue.journal"), "10", "2"]
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and driver
        [sys.executable, "-m", "tests.crash_driver", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("DISPATCHING"):
                break
        yield child
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()


class TestRecover:
    def test_a_live_session_is_refused_and_left_alone(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`recover` on a database whose session is inside a dispatch exits 2 naming the
        holder's pid, and touches nothing: the dispatch is not marked interrupted."""
        db = tmp_path / "s.db"
        with dispatching_session(tmp_path) as child:
            before = files(tmp_path)

            code = main(["recover", "--db", str(db)])

            err = capsys.readouterr().err
            assert code == 2
            lock = tmp_path / "s.db.lock"
            assert err == (
                f"execfsm recover: store {db}: another writer has it open: {lock} is held by "
                f"{lock.read_text().strip()}; a database has one writer at a time (read-only "
                "commands such as `execfsm audit verify --db` still work)\n"
            )
            assert f"pid={child.pid} " in err
            assert files(tmp_path) == before

    def test_after_the_session_died_it_recovers(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Once the session's process is killed, `recover` opens the database, flags the
        interrupted dispatch and releases the lock when it is done."""
        db = tmp_path / "s.db"
        with dispatching_session(tmp_path):
            pass

        code = main(["recover", "--db", str(db)])

        assert code == 0
        assert "1 dispatch(es) interrupted by the stop" in capsys.readouterr().out
        SqliteStore(db).close()

    def test_a_refused_database_is_released(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A database recovery refuses exits 1, and its lock is released at once."""
        db = tmp_path / "s.db"
        stored_session(db)
        conn = sqlite3.connect(db)
        conn.execute("UPDATE intents SET status='SENT'")
        conn.commit()
        conn.close()

        code = main(["recover", "--db", str(db)])

        assert code == 1
        assert "intents row idempotency_key=" in capsys.readouterr().err
        store = SqliteStore(db)  # opens: recover released the lock
        with pytest.raises(StoreError, match="intents row idempotency_key="):
            store.load()
        store.close()


class TestDemo:
    def test_demo_runs_every_path_and_writes_its_files(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The demo exits 0, prints the table with each path's outcome, and writes the trail."""
        out = tmp_path / "demo"

        code = main(["demo", "--out", str(out)])

        text = capsys.readouterr().out
        assert code == 0
        for expected in (
            "COMPLETED  FILLED",
            "VALIDATION_INVALID_QUANTITY",
            "VALIDATION_INVALID_PRICE",
            "RISK_BLOCKED",
            "PAUSED",
            "CANCELLED",
            "POLICY_LIVE_NOT_ENABLED",
            "audit chain: intact",
            "venue submissions: 5",
            "venue: the paper venue (simulated, in this process)",
        ):
            assert expected in text
        assert sorted(p.name for p in out.iterdir()) == [
            "audit-live-attempts.jsonl",
            "audit.jsonl",
            "demo.db",
            "demo.db.lock",
            "demo.db.venue.jsonl",
            "orders.json",
            "positions.json",
            "recon.jsonl",
            "trail",
        ]
        assert "replayed this session onto the machines' diagrams" in text
        assert main(["audit", "verify", "--db", str(out / "demo.db")]) == 0
        assert main(["audit", "verify", str(out / "audit.jsonl")]) == 0

    def test_demo_output_is_identical_across_runs(self, tmp_path: Path) -> None:
        """Two demo runs write byte-identical audit trails."""
        main(["demo", "--out", str(tmp_path / "a")])
        main(["demo", "--out", str(tmp_path / "b")])

        assert (tmp_path / "a" / "audit.jsonl").read_bytes() == (
            tmp_path / "b" / "audit.jsonl"
        ).read_bytes()


class TestRun:
    def write(self, tmp_path: Path, *lines: str) -> Path:
        path = tmp_path / "intents.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def test_replays_intents_in_paper_mode(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Each line becomes an intent; the summary counts outcomes by state and reason."""
        line = (
            '{"symbol":"BTC/EUR","side":"BUY","quantity":"0.1","order_type":"MARKET",'
            '"strategy_id":"s","intent_id":"%s"}'
        )
        path = self.write(tmp_path, line % "a", line % "b", line.replace('"0.1"', '"0"') % "c")

        code = main(["run", str(path), "--mode", "paper", "--db", str(tmp_path / "run.db")])

        out = capsys.readouterr().out
        assert code == 0
        assert "3 intents" in out
        assert "       2  COMPLETED  -" in out
        assert "       1  FAILED     VALIDATION_INVALID_QUANTITY" in out

    def test_batches_change_nothing_but_the_commits(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Batches of 3 and one intent at a time store the same results, orders and
        positions (all but the system clock's times), and print the same summary."""
        line = (
            '{"symbol":"BTC/EUR","side":"BUY","quantity":"%s","order_type":"MARKET",'
            '"strategy_id":"s","intent_id":"%s"}'
        )
        path = self.write(tmp_path, *(line % (q, n) for n, q in enumerate("1203012")))
        stored, summaries = [], []
        for batch in ("1", "3"):
            db = tmp_path / f"run-{batch}.db"
            code = main(["run", str(path), "--mode", "paper", "--db", str(db), "--batch", batch])
            assert code == 0
            summaries.append(capsys.readouterr().out.replace(str(db), "DB"))
            state = SqliteStore(db, read_only=True).load()
            stored.append(
                (
                    [
                        (i.idempotency_key, i.status, r.success, r.pipeline_state, r.reason_code)
                        for i in state.intents
                        if (r := i.result) is not None
                    ],
                    [
                        (o.client_order_id, o.state, o.filled_quantity, o.average_fill_price)
                        for o in state.orders
                    ],
                    state.positions,
                )
            )

        assert summaries[0] == summaries[1]
        assert "       5  COMPLETED  -" in summaries[0]
        assert stored[0] == stored[1]
        assert len(stored[0][0]) == len(stored[0][1]) == 7
        assert [p.quantity for p in stored[0][2]] == [Decimal(9)]

    @pytest.mark.parametrize("batch", ["0", "-3", "ten"])
    def test_bad_batch_size_is_refused(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], batch: str
    ) -> None:
        path = self.write(tmp_path, "")

        with pytest.raises(SystemExit):
            main(["run", str(path), "--db", str(tmp_path / "run.db"), "--batch", batch])

        assert "--batch: must be a whole number of at least 1" in capsys.readouterr().err

    def test_default_mode_is_live_blocked(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Without --mode nothing is dispatched."""
        path = self.write(
            tmp_path,
            '{"symbol":"BTC/EUR","side":"BUY","quantity":"1","order_type":"MARKET","strategy_id":"s"}',
        )

        main(["run", str(path), "--db", str(tmp_path / "run.db")])

        assert "BLOCKED    POLICY_LIVE_NOT_ENABLED" in capsys.readouterr().out

    @pytest.mark.parametrize(
        ("bad_line", "message"),
        [
            (
                '{"symbol":"BTC/EUR","side":"BUY","quantity":0.1,"order_type":"MARKET","strategy_id":"s"}',
                "line 2: quantity",
            ),
            (
                '{"symbol":"BTC/EUR","side":"BUY","quantity":"1","order_type":"MARKET"',
                "line 2: not valid JSON",
            ),
            ('["not", "an", "object"]', "line 2: intent: must be a JSON object"),
            (
                '{"symbol":"BTC/EUR","side":"BUY","quantity":"1","order_type":"MARKET","strategy_id":"s","leverage":5}',
                "line 2: intent: unknown field(s) leverage",
            ),
            ('{"symbol":"BTC/EUR","side":"BUY","quantity":"1","order_type":"MARKET"}', "line 2:"),
            (
                '{"symbol":"BTC/EUR","side":"HOLD","quantity":"1","order_type":"MARKET","strategy_id":"s"}',
                "line 2: side",
            ),
        ],
    )
    def test_malformed_line_is_reported_and_nothing_runs(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], bad_line: str, message: str
    ) -> None:
        """A bad line exits 2 naming its line number; no intent of the file is applied."""
        good = (
            '{"symbol":"BTC/EUR","side":"BUY","quantity":"1","order_type":"MARKET",'
            '"strategy_id":"s"}'
        )
        path = self.write(tmp_path, good, bad_line)

        code = main(["run", str(path), "--mode", "paper", "--db", str(tmp_path / "run.db")])

        captured = capsys.readouterr()
        assert code == 2
        assert message in captured.err
        assert "intents from" not in captured.out

    def test_every_bad_line_is_reported_and_no_database_is_created(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Three bad lines are all reported with their numbers; exit 2; the database is never
        created."""
        good = (
            '{"symbol":"BTC/EUR","side":"BUY","quantity":"1","order_type":"MARKET",'
            '"strategy_id":"s"}'
        )
        path = self.write(
            tmp_path,
            good,
            good[:-1] + ',"quantity":"1000"}',
            good,
            good.replace('"1"', "9" * 5000),
            good.replace('"1"', "NaN"),
        )
        db = tmp_path / "run.db"

        code = main(["run", str(path), "--mode", "paper", "--db", str(db)])

        captured = capsys.readouterr()
        assert code == 2
        assert captured.out == ""
        assert captured.err.splitlines() == [
            f"execfsm run: {path}: 3 bad lines, nothing was run:",
            '  line 2: duplicate key "quantity" in one object',
            f"  line 4: number {'9' * 24}... (5,000 characters) is longer than 40 characters; "
            "write quantities and prices as decimal strings",
            "  line 5: NaN is not a JSON number; numbers must be finite",
        ]
        assert not db.exists()

    def test_deep_nesting_is_bad_input_not_a_traceback(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A line nested 100,000 deep exits 2 naming the line."""
        path = self.write(tmp_path, "[" * 100_000 + "]" * 100_000)

        code = main(["run", str(path), "--db", str(tmp_path / "run.db")])

        assert code == 2
        assert "line 1: 200,000 characters long" in capsys.readouterr().err

    def test_bom_crlf_file_with_line_separator_in_a_string_runs(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A Windows-style file (BOM, CRLF) runs every line."""
        line = (
            '{"symbol":"BTC/EUR","side":"BUY","quantity":"1","order_type":"MARKET",'
            '"strategy_id":"s%s","intent_id":"%s"}'
        )
        path = tmp_path / "intents.jsonl"
        path.write_bytes(("\ufeff" + "".join(f"{line % (n, n)}\r\n" for n in "ab")).encode())

        code = main(["run", str(path), "--mode", "paper", "--db", str(tmp_path / "run.db")])

        assert code == 0
        assert "       2  COMPLETED  -" in capsys.readouterr().out

    def test_example_file_runs_in_paper_mode(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The shipped examples/intents.jsonl runs cleanly, so the README's example stays true."""
        path = EXAMPLES / "intents.jsonl"

        code = main(["run", str(path), "--mode", "PAPER", "--db", str(tmp_path / "ex.db")])

        captured = capsys.readouterr()
        assert code == 0
        assert captured.err == ""
        assert "5 intents" in captured.out
        assert "       5  COMPLETED  -" in captured.out


def submits_with(monkeypatch: pytest.MonkeyPatch, on_call: Callable[[int], None]) -> None:
    """
    Make every `SimulatedVenue.submit` call `on_call(n)` first, n counting from 1.
    """
    original = SimulatedVenue.submit
    calls = 0

    def submit(venue: SimulatedVenue, order: Order, key: str) -> Sequence[ExecutionEvent]:
        nonlocal calls
        calls += 1
        on_call(calls)
        return original(venue, order, key)

    monkeypatch.setattr(SimulatedVenue, "submit", submit)


class TestRunInterrupted:
    """Six market buys in batches of two: each venue call is one intent."""

    def write(self, tmp_path: Path) -> Path:
        line = (
            '{"symbol":"BTC/EUR","side":"BUY","quantity":"1","order_type":"MARKET",'
            '"strategy_id":"s","intent_id":"%d"}'
        )
        path = tmp_path / "intents.jsonl"
        path.write_text("".join(f"{line % n}\n" for n in range(6)), encoding="utf-8")
        return path

    def run(self, tmp_path: Path) -> int:
        return main(
            [
                "run",
                str(self.write(tmp_path)),
                "--mode",
                "paper",
                "--db",
                str(tmp_path / "run.db"),
                "--batch",
                "2",
            ]
        )

    def test_ctrl_c_stops_after_the_batch_in_progress(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """SIGINT during the second batch lets it finish, then stops with exit 130; both
        batches are durable, nothing is left in flight, and the handler is put back."""
        submits_with(monkeypatch, lambda n: signal.raise_signal(signal.SIGINT) if n == 3 else None)

        code = self.run(tmp_path)

        captured = capsys.readouterr()
        db = tmp_path / "run.db"
        assert code == 130
        assert captured.out == ""
        assert captured.err == (
            "execfsm run: interrupted after 4 of 6 intents; what was committed stays committed "
            f"(store {db})\n"
        )
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        reopened = ExecutionOrchestrator(execution_mode=ExecutionMode.PAPER, store=SqliteStore(db))
        assert reopened.recovery.in_flight == ()
        stored = SqliteStore(db, read_only=True).load().intents
        assert [i.result.success for i in stored if i.result is not None] == [True] * 4
        assert len(stored) == 4

    def test_second_ctrl_c_stops_inside_the_batch(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A second SIGINT stops at once, mid-batch: exit 130, no traceback, the earlier
        batch stays committed and the database opens again, flagging the cut dispatch."""

        def interrupt_twice(n: int) -> None:
            if n == 3:
                signal.raise_signal(signal.SIGINT)
                signal.raise_signal(signal.SIGINT)

        submits_with(monkeypatch, interrupt_twice)

        code = self.run(tmp_path)

        captured = capsys.readouterr()
        db = tmp_path / "run.db"
        assert code == 130
        assert captured.err == (
            "execfsm run: interrupted after 2 of 6 intents; what was committed stays committed "
            f"(store {db}); a batch was cut short: `execfsm recover --db {db}` lists the orders "
            "it left in flight\n"
        )
        reopened = ExecutionOrchestrator(execution_mode=ExecutionMode.PAPER, store=SqliteStore(db))
        # The send Ctrl-C cut is flagged at once; the order written ahead after it, at reopen.
        assert len(reopened.recovery.interrupted) == 1
        flagged = [
            o
            for o in reopened.get_order_ledger_snapshot()
            if ReasonCode.DISPATCH_OUTCOME_UNKNOWN in o.recon_flags
        ]
        assert len(flagged) == 2
        stored = SqliteStore(db, read_only=True).load().intents
        assert [i.result is not None and i.result.success for i in stored] == [
            True,
            True,
            False,
            False,
        ]

    def test_keyboard_interrupt_from_a_batch_is_a_clean_stop(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A KeyboardInterrupt raised inside a batch (no signal handler in between) ends the
        run with exit 130 and the one-line report, and the store is closed."""
        original = ExecutionOrchestrator.submit_intents
        calls = 0

        def submit_intents(
            orchestrator: ExecutionOrchestrator, intents: Iterable[OrderIntent]
        ) -> list[PipelineResult]:
            nonlocal calls
            calls += 1
            if calls == 3:
                raise KeyboardInterrupt
            return original(orchestrator, intents)

        monkeypatch.setattr(ExecutionOrchestrator, "submit_intents", submit_intents)
        closed: list[Path] = []
        original_close = SqliteStore.close

        def close(store: SqliteStore) -> None:
            closed.append(store.path)
            original_close(store)

        monkeypatch.setattr(SqliteStore, "close", close)

        code = self.run(tmp_path)

        assert code == 130
        assert "interrupted after 4 of 6 intents" in capsys.readouterr().err
        assert closed == [tmp_path / "run.db"]
        assert len(SqliteStore(tmp_path / "run.db").load().intents) == 4

    def test_running_the_file_again_finishes_it(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """After a clean stop, the same command runs the rest; the done intents are duplicates."""
        submits_with(monkeypatch, lambda n: signal.raise_signal(signal.SIGINT) if n == 1 else None)
        assert self.run(tmp_path) == 130
        monkeypatch.undo()
        capsys.readouterr()

        code = self.run(tmp_path)

        assert code == 0
        out = capsys.readouterr().out
        assert "       4  COMPLETED  -" in out  # the rest; the first two are duplicates
        assert "6 new" not in out
        assert ": 4 new, 2 duplicate(s)" in out
        assert len(SqliteStore(tmp_path / "run.db").load().intents) == 6

    def test_ctrl_c_while_reading_runs_nothing(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Ctrl-C before the file is read through exits 130 without creating the database."""

        def interrupted(_text: str) -> list[tuple[int, OrderIntent]]:
            raise KeyboardInterrupt

        monkeypatch.setattr("execfsm.cli_run.read_numbered_intents", interrupted)

        code = self.run(tmp_path)

        assert code == 130
        path = tmp_path / "intents.jsonl"
        assert capsys.readouterr().err == (
            f"execfsm run: interrupted while reading {path}; nothing was run\n"
        )
        assert not (tmp_path / "run.db").exists()


class TestRunCounts:
    LINE = (
        '{"symbol":"%s","side":"BUY","quantity":"%s","order_type":"MARKET",'
        '"strategy_id":"s","intent_id":"%s"}'
    )

    def write(self, tmp_path: Path, name: str, *lines: str) -> Path:
        path = tmp_path / name
        path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        return path

    def test_a_second_run_counts_duplicates_apart_from_new_work(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Running a file again reports its intents as duplicates, not as new completions."""
        path = self.write(tmp_path, "a.jsonl", *(self.LINE % ("BTC/EUR", "1", n) for n in "ab"))
        db = tmp_path / "c.db"
        assert main(["run", str(path), "--mode", "paper", "--db", str(db)]) == 0
        first = capsys.readouterr().out

        code = main(["run", str(path), "--mode", "paper", "--db", str(db)])

        again = capsys.readouterr().out
        assert code == 0
        assert ": 2 new, 0 duplicate(s)" in first
        assert "       2  COMPLETED  -" in first
        assert ": 0 new, 2 duplicate(s)" in again
        assert "COMPLETED" not in again

    def test_a_reused_intent_id_with_other_terms_stops_the_run(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A file that reuses an earlier run's intent_id for another order is refused with
        IDEMPOTENCY_CONFLICT, exit 2, and nothing of its batch is sent."""
        db = tmp_path / "k.db"
        first = self.write(tmp_path, "1.jsonl", self.LINE % ("BTC/EUR", "1", "x"))
        assert main(["run", str(first), "--mode", "paper", "--db", str(db)]) == 0
        capsys.readouterr()
        second = self.write(
            tmp_path,
            "2.jsonl",
            self.LINE % ("ETH/EUR", "2", "y"),
            self.LINE % ("ETH/EUR", "50", "x"),
        )

        code = main(["run", str(second), "--mode", "paper", "--db", str(db)])

        err = capsys.readouterr().err
        assert code == 2
        assert "idempotency key" in err
        assert "nothing was sent" in err
        assert "stopped after 0 of 2 intents" in err
        orders = SqliteStore(db, read_only=True).load().orders
        assert [o.symbol for o in orders] == ["BTC/EUR"]


class TestAuditVerifyExport:
    def test_a_line_separator_inside_a_detail_stays_in_its_record(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An export whose record detail holds U+2028 (valid in JSON) verifies: records are
        split on \\n only."""
        audit = AuditLog(SteppingClock(EPOCH))
        for n in range(2):
            audit.append(
                AuditEntry(
                    correlation_id=f"cor-{n}",
                    client_order_id=f"ord-{n}",
                    machine="order",
                    event="fill",
                    source=None,
                    target=None,
                    outcome=AuditOutcome.REFUSED,
                    reason_code=ReasonCode.EVENT_UNKNOWN_ORDER,
                    detail="venue said: line one\u2028line two",
                )
            )
        path = tmp_path / "audit.jsonl"
        path.write_text(audit.export_jsonl(), encoding="utf-8")

        code = main(["audit", "verify", str(path)])

        assert code == 0
        assert "2 records, chain intact" in capsys.readouterr().out


def test_a_reader_that_stops_early_ends_the_command_quietly() -> None:
    """``execfsm verify | head -1``: exit as a command killed by SIGPIPE, no traceback."""
    script = Path(sys.executable).parent / "execfsm"
    child = subprocess.Popen(  # noqa: S603 - our own console script
        [str(script), "verify", "--depth", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stderr is not None
    assert child.stdout.readline().startswith("PASS spec")
    child.stdout.close()  # the reader goes away while verify still has lines to print
    err = child.stderr.read()
    assert child.wait(timeout=300) == 128 + signal.SIGPIPE
    assert "Traceback" not in err
    assert "BrokenPipeError" not in err
