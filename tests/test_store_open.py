"""
Opening a SQLite store: one writer per database, read-only stores, refused files left as they
were, corrupt rows refused by name, and the strict parse of a stored audit record.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from execfsm import ExecutionOrchestrator, OrderIntent
from execfsm.errors import AuditChainError, StoreError
from execfsm.ids import canonical_json
from execfsm.ledger.audit import AuditLog, record_from_dict, record_json
from execfsm.ledger.sqlite import SqliteStore, StoreLocked
from execfsm.testing import in_memory_audit, order_for, paper_orchestrator
from tests.test_audit import run_session

ROOT = Path(__file__).resolve().parent.parent

WRITER = """
import sys
from decimal import Decimal
from execfsm import ExecutionMode, ExecutionOrchestrator, OrderIntent
from execfsm.ledger.sqlite import SqliteStore

def intent(n):
    return OrderIntent("BTC/EUR", "BUY", Decimal(1), "MARKET", "w", intent_id=f"i{n}")

orch = ExecutionOrchestrator(execution_mode=ExecutionMode.PAPER, store=SqliteStore(sys.argv[1]))
orch.submit_intent(intent(1))
print("OPEN", flush=True)
sys.stdin.readline()
orch.submit_intent(intent(2))
print("WROTE", flush=True)
sys.stdin.readline()
orch._services.store.close()
print("CLOSED", flush=True)
sys.stdin.readline()
"""
"""A live writer in another process: opens the database, submits one intent, says OPEN and
waits; each line on stdin moves it on (a second intent, then closing the store)."""


class Writer:
    """The parent's handle on a `WRITER` process."""

    def __init__(self, db: Path) -> None:
        env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", WRITER, str(db)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.pid = self.process.pid
        self.expect("OPEN")

    def expect(self, word: str) -> None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        assert line == word, f"the writer said {line!r}, not {word!r}"

    def step(self, word: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        self.expect(word)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


@contextmanager
def live_writer(db: Path) -> Iterator[Writer]:
    writer = Writer(db)
    try:
        yield writer
    finally:
        writer.kill()


def files(directory: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of `directory`: its bytes and modification time."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(directory.iterdir())}


def data_files(directory: Path) -> dict[str, tuple[bytes, int]]:
    """`files` but the -shm: the WAL's shared-memory index, where every reader of a live
    database marks what it reads (SQLite rebuilds it from the WAL; it holds no data)."""
    return {k: v for k, v in files(directory).items() if not k.endswith("-shm")}


def intent(n: int) -> OrderIntent:
    return OrderIntent("BTC/EUR", "BUY", Decimal(1), "MARKET", "s", intent_id=f"i{n}")


def paper_session(db: Path) -> ExecutionOrchestrator:
    return paper_orchestrator(store=SqliteStore(db))


def stored_session(db: Path) -> None:
    """A closed database holding one filled intent."""
    orch = paper_session(db)
    orch.submit_intent(intent(1))
    orch._services.store.close()


def locked_message(db: Path, pid: int, *, ours: bool = False) -> str:
    lock = db.with_name(db.name + ".lock")
    holder = lock.read_text().strip()
    assert holder.startswith(f"pid={pid} host=")
    return (
        f"store {db}: another writer has it open: {lock} is held by {holder}"
        f"{' (this process)' if ours else ''}; a database has one writer at a time "
        "(read-only commands such as `execfsm audit verify --db` still work)"
    )


class TestWriterLock:
    def test_a_second_store_in_the_same_process_is_refused(self, tmp_path: Path) -> None:
        """A second writing store on an open database is refused at once, naming this process
        as the holder, and changes nothing."""
        db = tmp_path / "s.db"
        first = SqliteStore(db)
        before = files(tmp_path)

        with pytest.raises(StoreLocked) as refused:
            SqliteStore(db)

        assert str(refused.value) == locked_message(db, os.getpid(), ours=True)
        assert (refused.value.pid, refused.value.lock_path) == (os.getpid(), tmp_path / "s.db.lock")
        assert files(tmp_path) == before
        first.close()

    def test_close_releases_the_lock_and_keeps_the_file(self, tmp_path: Path) -> None:
        """After close the database opens again; the lock file stays and names the new holder;
        closing twice does nothing."""
        db = tmp_path / "s.db"
        first = SqliteStore(db)
        first.close()
        first.close()

        second = SqliteStore(db)

        assert (tmp_path / "s.db.lock").read_text().startswith(f"pid={os.getpid()} host=")
        second.close()

    def test_a_session_refused_at_recovery_does_not_keep_the_lock(self, tmp_path: Path) -> None:
        """A store whose recovery refused the database holds no lock once dropped: the error
        it raised does not keep it alive (no cyclic garbage to wait for), so a retry opens."""
        db = tmp_path / "s.db"
        stored_session(db)
        conn = sqlite3.connect(db)
        conn.execute("UPDATE intents SET status='SENT'")
        conn.commit()
        conn.close()
        with pytest.raises(StoreError, match="intents row"):
            paper_session(db)

        store = SqliteStore(db)

        assert store.read_only is False
        store.close()

    def test_a_store_in_another_process_is_refused(self, tmp_path: Path) -> None:
        """While another process has the database open, opening it is refused naming that
        process's pid, and neither the database nor its WAL changes."""
        db = tmp_path / "s.db"
        with live_writer(db) as writer:
            before = files(tmp_path)

            with pytest.raises(StoreLocked) as refused:
                SqliteStore(db)

            assert str(refused.value) == locked_message(db, writer.pid)
            assert refused.value.pid == writer.pid
            assert files(tmp_path) == before

    def test_the_other_process_closing_releases_it(self, tmp_path: Path) -> None:
        """Once the other process closes its store, the database opens here with its data."""
        db = tmp_path / "s.db"
        with live_writer(db) as writer:
            writer.step("WROTE")
            writer.step("CLOSED")

            store = SqliteStore(db)

            assert len(store.load().intents) == 2
            store.close()

    def test_a_killed_holder_releases_it(self, tmp_path: Path) -> None:
        """A writer killed with SIGKILL holds nothing: the database opens and recovers."""
        db = tmp_path / "s.db"
        with live_writer(db) as writer:
            writer.kill()

        orch = paper_session(db)

        assert orch.recovery.records > 0
        assert len(orch.submit_intents([intent(1), intent(2)])) == 2
        orch._services.store.close()


class TestReadOnly:
    def test_reads_a_database_a_live_writer_holds(self, tmp_path: Path) -> None:
        """A read-only store reads what a writer in another process has committed (from its
        WAL), takes no lock and changes no file; the writer goes on writing."""
        db = tmp_path / "s.db"
        with live_writer(db) as writer:
            before = data_files(tmp_path)

            store = SqliteStore(db, read_only=True)
            state = store.load()
            store.close()

            assert data_files(tmp_path) == before
            assert (tmp_path / "s.db-shm").exists()
            assert [e.status for e in state.intents] == ["DONE"]
            writer.step("WROTE")

    def test_leaves_no_wal_or_shm_beside_a_closed_database(self, tmp_path: Path) -> None:
        """Reading a closed database creates no -wal or -shm and changes no byte."""
        db = tmp_path / "s.db"
        stored_session(db)
        before = files(tmp_path)

        store = SqliteStore(db, read_only=True)
        state = store.load()
        store.close()

        assert files(tmp_path) == before
        assert sorted(before) == ["s.db", "s.db.lock"]
        assert len(state.intents) == 1

    def test_reads_again_when_a_writer_starts_meanwhile(self, tmp_path: Path) -> None:
        """A writer that opens the database and commits after the read-only store opened it
        is seen: the store reads again, through the WAL."""
        db = tmp_path / "s.db"
        stored_session(db)
        reader = SqliteStore(db, read_only=True)
        writer = paper_session(db)
        writer.submit_intent(intent(2))

        state = reader.load()

        assert len(state.intents) == 2
        reader.close()
        writer._services.store.close()

    def test_refuses_to_write(self, tmp_path: Path) -> None:
        """A read-only store refuses bind, stage and flush, so no orchestrator can use it."""
        db = tmp_path / "s.db"
        stored_session(db)
        before = files(tmp_path)
        store = SqliteStore(db, read_only=True)
        message = re.escape(f"store {db}: opened read-only, so it cannot")

        with pytest.raises(StoreError, match=f"^{message} bind an audit log$"):
            ExecutionOrchestrator(store=store)
        with pytest.raises(StoreError, match=f"^{message} write$"):
            store.stage_order(order_for(intent(3)))
        with pytest.raises(StoreError, match=f"^{message} write$"):
            store.flush()

        store.close()
        assert files(tmp_path) == before

    def test_refuses_a_missing_database(self, tmp_path: Path) -> None:
        """Reading creates nothing: a missing database is refused."""
        db = tmp_path / "s.db"

        with pytest.raises(StoreError) as refused:
            SqliteStore(db, read_only=True)

        assert str(refused.value) == f"store {db}: no such database (read-only: none is created)"
        assert files(tmp_path) == {}

    def test_an_empty_file_reads_as_an_empty_database(self, tmp_path: Path) -> None:
        """A 0-byte file holds nothing, and stays 0 bytes."""
        db = tmp_path / "s.db"
        db.touch()
        before = files(tmp_path)

        store = SqliteStore(db, read_only=True)
        state = store.load()
        store.close()

        assert (state.records, state.intents, state.orders, state.positions) == ((), (), (), ())
        assert files(tmp_path) == before


def foreign_rollback(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE customers(id)")
    conn.commit()
    conn.close()


def foreign_wal(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE customers(id)")
    conn.commit()
    conn.close()


def foreign_meta(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    conn.commit()
    conn.close()


def random_bytes(db: Path) -> None:
    db.write_bytes(bytes(range(256)) * 32)


def text(db: Path) -> None:
    db.write_text("symbol,side,quantity\nBTC/EUR,BUY,1\n")


def schema_version(value: str) -> Any:
    def make(db: Path) -> None:
        stored_session(db)
        (db.parent / "s.db.lock").unlink(missing_ok=True)  # as if never opened here
        conn = sqlite3.connect(db)
        conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (value,))
        conn.commit()
        conn.close()

    return make


FOREIGN = "not an execfsm database (tables ['customers']; missing " + str(
    ["audit", "intents", "meta", "orders", "positions"]
)


class TestRefusedFiles:
    @pytest.mark.parametrize(
        ("make", "why"),
        [
            (foreign_rollback, FOREIGN + ")"),
            (foreign_wal, FOREIGN + ")"),
            (
                foreign_meta,
                "not an execfsm database (tables ['meta']; missing "
                "['audit', 'intents', 'orders', 'positions'])",
            ),
            (random_bytes, "cannot open the database: file is not a database"),
            (text, "cannot open the database: file is not a database"),
            (
                schema_version("7"),
                "database schema version 7 is newer than this execfsm understands (1); "
                "upgrade execfsm",
            ),
            (schema_version("one"), "meta schema_version is not a version number: 'one'"),
            (schema_version("0"), "meta schema_version is not a version number: '0'"),
            (schema_version("9" * 5000), "meta schema_version is not a version number: '999"),
        ],
        ids=[
            "foreign",
            "foreign-wal",
            "foreign-meta",
            "random-bytes",
            "text",
            "newer",
            "not-a-number",
            "zero",
            "huge",
        ],
    )
    @pytest.mark.parametrize("read_only", [False, True], ids=["writer", "read-only"])
    def test_a_refused_file_is_left_as_it_was(
        self, tmp_path: Path, make: Any, why: str, read_only: bool
    ) -> None:
        """Opening refuses the file with a StoreError saying why, and leaves it byte for byte
        with its modification time; no -wal, -shm or lock file appears beside it."""
        db = tmp_path / "s.db"
        make(db)
        before = files(tmp_path)

        with pytest.raises(StoreError) as refused:
            SqliteStore(db, read_only=True) if read_only else SqliteStore(db)

        assert str(refused.value).startswith(f"store {db}: {why}")
        assert files(tmp_path) == before

    def test_an_empty_file_is_a_new_database(self, tmp_path: Path) -> None:
        """A 0-byte file is a new database, as SQLite treats it: the schema is written into it
        and it works."""
        db = tmp_path / "s.db"
        db.touch()

        orch = paper_session(db)
        result = orch.submit_intent(intent(1))
        orch._services.store.close()

        assert result.success
        reader = SqliteStore(db, read_only=True)
        assert len(reader.load().intents) == 1
        reader.close()

    def test_not_a_regular_file(self, tmp_path: Path) -> None:
        """A FIFO is refused without being opened (which would block)."""
        db = tmp_path / "s.db"
        os.mkfifo(db)

        with pytest.raises(StoreError) as refused:
            SqliteStore(db)

        assert str(refused.value) == f"store {db}: is not a regular file"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["s.db"]


def corrupt(db: Path, sql: str, *args: object) -> dict[str, tuple[bytes, int]]:
    """Change a stored session's rows with `sql`; return its files, as they are then."""
    conn = sqlite3.connect(db)
    conn.execute(sql, args)
    conn.commit()
    conn.close()
    return files(db.parent)


def first_record(db: Path) -> dict[str, Any]:
    conn = sqlite3.connect(db)
    (text,) = conn.execute("SELECT record FROM audit WHERE seq=1").fetchone()
    conn.close()
    data: dict[str, Any] = json.loads(text)
    return data


def first_order_id(db: Path) -> str:
    conn = sqlite3.connect(db)
    (cid,) = conn.execute("SELECT client_order_id FROM orders").fetchone()
    conn.close()
    return str(cid)


def order_row(db: Path, **changes: object) -> str:
    conn = sqlite3.connect(db)
    (text,) = conn.execute("SELECT snapshot FROM orders").fetchone()
    conn.close()
    return canonical_json({**json.loads(text), **changes})


class TestCorruptRows:
    def check(self, db: Path, expected: str, before: dict[str, tuple[bytes, int]]) -> None:
        for read_only in (False, True):
            store = SqliteStore(db, read_only=True) if read_only else SqliteStore(db)
            with pytest.raises(StoreError) as refused:
                store.load()
            with pytest.raises(StoreError, match=r"accepts no more writes|opened read-only"):
                store.stage_order(order_for(intent(9)))
            store.close()
            assert str(refused.value) == f"store {db}: {expected}"
            assert {k: v[0] for k, v in files(db.parent).items() if k != "s.db.lock"} == {
                k: v[0] for k, v in before.items() if k != "s.db.lock"
            }

    def test_seq_of_1e999(self, tmp_path: Path) -> None:
        """An audit row whose seq is 1e999 (an infinite float) is a StoreError naming the row,
        not an OverflowError."""
        db = tmp_path / "s.db"
        stored_session(db)
        data = {**first_record(db), "seq": "SEQ"}
        row = json.dumps(data).replace('"SEQ"', "1e999")
        before = corrupt(db, "UPDATE audit SET record=? WHERE seq=1", row)

        self.check(
            db,
            "audit record seq 1 is corrupt: audit record: seq must be an integer, got float inf",
            before,
        )

    @pytest.mark.parametrize(
        ("rewrite", "why"),
        [
            pytest.param(
                lambda t: t.replace('"fees":"0",', ""),
                "it is not in the form execfsm writes",
                id="a field missing",
            ),
            pytest.param(
                lambda t: t.replace("{", '{"extra":1,', 1),
                "it is not in the form execfsm writes",
                id="a field added",
            ),
            pytest.param(
                lambda t: t.replace("{", '{"quantity":"999",', 1),
                "it is not in the form execfsm writes",
                id="a key repeated",
            ),
            pytest.param(
                lambda t: t.replace('"fees":"0"', '"fees":" 0 "'),
                "it is not in the form execfsm writes",
                id="an amount loosely written",
            ),
            pytest.param(
                lambda t: t.replace('"fees":"0"', '"fees":"sNaN"'),
                "an amount is not a finite number",
                id="a signaling NaN",
            ),
            pytest.param(
                lambda t: t.replace('"fees":"0"', '"fees":"Infinity"'),
                "an amount is not a finite number",
                id="an infinite amount",
            ),
        ],
    )
    def test_order_row_not_as_written_is_refused(
        self, tmp_path: Path, rewrite: Any, why: str
    ) -> None:
        """An order row that parses but is not what execfsm wrote (a field missing or added,
        a key repeated, an amount loosely written or not finite) is refused naming the row;
        the file is left as it was."""
        db = tmp_path / "s.db"
        stored_session(db)
        cid = first_order_id(db)
        row = rewrite(order_row(db))
        assert row != order_row(db)
        before = corrupt(db, "UPDATE orders SET snapshot=?", row)

        for read_only in (False, True):
            store = SqliteStore(db, read_only=True) if read_only else SqliteStore(db)
            with pytest.raises(StoreError) as refused:
                store.load()
            store.close()
            assert f"orders row client_order_id={cid!r} is corrupt" in str(refused.value)
            assert why in str(refused.value)
        assert {k: v[0] for k, v in files(db.parent).items() if k != "s.db.lock"} == {
            k: v[0] for k, v in before.items() if k != "s.db.lock"
        }

    def test_row_holding_another_seq(self, tmp_path: Path) -> None:
        """An audit row whose record carries another seq than the row's is refused."""
        db = tmp_path / "s.db"
        stored_session(db)
        row = canonical_json({**first_record(db), "seq": 5})
        before = corrupt(db, "UPDATE audit SET record=? WHERE seq=1", row)

        self.check(db, "audit record seq 1 is corrupt: it holds seq 5", before)

    def test_audit_row_nested_too_deeply(self, tmp_path: Path) -> None:
        """A row of 100,000 nested lists is refused, not a RecursionError."""
        db = tmp_path / "s.db"
        stored_session(db)
        before = corrupt(db, "UPDATE audit SET record=? WHERE seq=2", "[" * 100_000)

        self.check(db, "audit record seq 2 is corrupt: nested too deeply to parse", before)

    def test_audit_row_not_text(self, tmp_path: Path) -> None:
        """A record stored as a blob is refused."""
        db = tmp_path / "s.db"
        stored_session(db)
        before = corrupt(db, "UPDATE audit SET record=? WHERE seq=2", b"{}")

        self.check(
            db, "audit record seq 2 is corrupt: TypeError: the column holds bytes, not text", before
        )

    def test_order_with_a_quantity_that_is_not_a_number(self, tmp_path: Path) -> None:
        """An order snapshot whose quantity is not a decimal names the order's row."""
        db = tmp_path / "s.db"
        stored_session(db)
        cid = first_order_id(db)
        before = corrupt(db, "UPDATE orders SET snapshot=?", order_row(db, quantity="lots"))

        self.check(
            db,
            f"orders row client_order_id={cid!r} is corrupt: Invalid decimal string - at "
            "`$.quantity`",
            before,
        )

    def test_order_row_holding_another_order(self, tmp_path: Path) -> None:
        """An order row whose snapshot is of another order is refused."""
        db = tmp_path / "s.db"
        stored_session(db)
        cid = first_order_id(db)
        before = corrupt(db, "UPDATE orders SET snapshot=?", order_row(db, client_order_id="x"))

        self.check(
            db,
            f"orders row client_order_id={cid!r} is corrupt: ValueError: it holds order 'x'",
            before,
        )

    def test_position_with_an_infinite_fill_count(self, tmp_path: Path) -> None:
        """A position whose fill_count is 1e999 names the position's row."""
        db = tmp_path / "s.db"
        stored_session(db)
        conn = sqlite3.connect(db)
        (snapshot,) = conn.execute("SELECT snapshot FROM positions").fetchone()
        conn.close()
        data = {**json.loads(snapshot), "fill_count": "N"}
        row = json.dumps(data).replace('"N"', "1e999")
        before = corrupt(db, "UPDATE positions SET snapshot=?", row)

        self.check(
            db,
            "positions row symbol='BTC/EUR' is corrupt: Number out of range - at `$.fill_count`",
            before,
        )

    def test_intent_with_an_unknown_status(self, tmp_path: Path) -> None:
        """An idempotency-index row with a status we never write names its key."""
        db = tmp_path / "s.db"
        stored_session(db)
        conn = sqlite3.connect(db)
        (key,) = conn.execute("SELECT idempotency_key FROM intents").fetchone()
        conn.close()
        before = corrupt(db, "UPDATE intents SET status='SENT'")

        self.check(
            db,
            f"intents row idempotency_key={key!r} is corrupt: ValueError: 'SENT' is not a "
            "valid IntentStatus",
            before,
        )

    def test_intent_with_a_result_that_is_a_list(self, tmp_path: Path) -> None:
        """A stored result that is JSON but not an object names its key."""
        db = tmp_path / "s.db"
        stored_session(db)
        conn = sqlite3.connect(db)
        (key,) = conn.execute("SELECT idempotency_key FROM intents").fetchone()
        conn.close()
        before = corrupt(db, "UPDATE intents SET result='[1]'")

        self.check(
            db,
            f"intents row idempotency_key={key!r} is corrupt: Expected `object`, got `array`",
            before,
        )


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
