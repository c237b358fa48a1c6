"""
The files anchoring writes and reads: a key pair and an export are written whole or not at
all, never over anything; key files are read bounded, and a private key others can read is
refused; one key per trail.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from execfsm import _new_files
from execfsm._new_files import NewFile, NewFileError, write_new_files
from execfsm.cli import main
from execfsm.clock import EPOCH, SteppingClock
from execfsm.contracts import ExecutionMode, OrderIntent
from execfsm.demo import run_demo
from execfsm.errors import KeyFileError, StoreError
from execfsm.ledger.audit import record_hash, record_json, record_to_dict
from execfsm.ledger.checkpoints import load_signer, load_verifier, write_key_pair
from execfsm.ledger.sqlite import SqliteStore
from execfsm.ledger.trail_text import record_from_line
from execfsm.orchestrator import ExecutionOrchestrator


def run(*args: str | Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*map(str, args)])
    return code, out.getvalue(), err.getvalue()


def session(db: Path, signing_key: Path | None = None) -> ExecutionOrchestrator:
    signer = load_signer(signing_key) if signing_key is not None else None
    return ExecutionOrchestrator(
        execution_mode=ExecutionMode.PAPER,
        clock=SteppingClock(EPOCH),
        store=SqliteStore(db, signing_key=signer),
    )


def intent(n: int) -> OrderIntent:
    return OrderIntent("BTC/EUR", "BUY", Decimal(1), "MARKET", "a", intent_id=f"i{n}")  # type: ignore[arg-type]


def pair(folder: Path) -> tuple[Path, Path, str]:
    folder.mkdir()
    return write_key_pair(folder)


class TestNewFiles:
    def test_both_files_are_written_and_no_temporary_file_stays(self, tmp_path: Path) -> None:
        write_new_files([NewFile(tmp_path / "a", b"A"), NewFile(tmp_path / "b", b"B")])

        assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]
        assert (tmp_path / "a").read_bytes() == b"A"

    def test_a_second_file_that_cannot_be_placed_removes_the_first(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Something appears at the second path between the check and the link."""
        real_link = os.link

        def racing_link(src: str, dst: str) -> None:
            if str(dst).endswith("b"):
                Path(dst).write_bytes(b"theirs")
            real_link(src, dst)

        monkeypatch.setattr(_new_files.os, "link", racing_link)
        with pytest.raises(NewFileError) as refused:
            write_new_files([NewFile(tmp_path / "a", b"A"), NewFile(tmp_path / "b", b"B")])

        assert refused.value.path == tmp_path / "b"
        assert refused.value.reason is None
        assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]
        assert (tmp_path / "b").read_bytes() == b"theirs"

    def test_a_file_system_without_hard_links_still_gets_both(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def no_links(src: str, dst: str) -> None:
            raise OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(_new_files.os, "link", no_links)
        write_new_files(
            [NewFile(tmp_path / "a", b"A"), NewFile(tmp_path / "b", b"B", 0o600, exact=True)]
        )

        assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]
        assert (tmp_path / "b").stat().st_mode & 0o777 == 0o600

    def test_a_dangling_symlink_is_in_the_way(self, tmp_path: Path) -> None:
        (tmp_path / "b").symlink_to(tmp_path / "nowhere")

        with pytest.raises(NewFileError, match="exists; refusing to overwrite it"):
            write_new_files([NewFile(tmp_path / "a", b"A"), NewFile(tmp_path / "b", b"B")])

        assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


class TestKeyFiles:
    def test_a_private_key_others_can_read_is_refused_naming_its_mode(self, tmp_path: Path) -> None:
        private, _, _ = pair(tmp_path / "k")
        private.chmod(0o644)

        with pytest.raises(KeyFileError, match="mode 0644 lets others read the private key"):
            load_signer(private)
        intents = tmp_path / "i.jsonl"
        intents.write_text("")
        code, _, err = run("run", intents, "--db", tmp_path / "s.db", "--signing-key", private)

        assert code == 2
        assert "chmod 600" in err

    def test_a_public_key_may_be_read_by_anyone(self, tmp_path: Path) -> None:
        _, public, key_id = pair(tmp_path / "k")

        assert load_verifier(public).key_id == key_id

    @pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
    def test_a_key_file_is_read_bounded(self) -> None:
        started = time.monotonic()

        with pytest.raises(KeyFileError, match="larger than 64 KiB"):
            load_verifier("/dev/zero")
        with pytest.raises(KeyFileError, match="larger than 64 KiB"):
            load_signer("/dev/zero")

        assert time.monotonic() - started < 5

    def test_keygen_into_a_missing_folder_is_a_usage_error(self, tmp_path: Path) -> None:
        code, _, err = run("audit", "keygen", "--out", tmp_path / "missing")

        assert code == 2
        assert "not a directory" in err


class TestOneKeyPerTrail:
    def test_run_with_another_key_exits_2_naming_both_keys(self, tmp_path: Path) -> None:
        _, _, first_id = pair(tmp_path / "k")
        other, _, other_id = pair(tmp_path / "o")
        db = tmp_path / "s.db"
        orch = session(db, tmp_path / "k" / "execfsm-signing.pem")
        orch.submit_intent(intent(1))
        orch.close()
        intents = tmp_path / "i.jsonl"
        intents.write_text("")

        code, _, err = run("run", intents, "--mode", "paper", "--db", db, "--signing-key", other)

        assert code == 2
        assert first_id in err
        assert other_id in err

    def test_a_store_never_recovered_signs_nothing_at_close(self, tmp_path: Path) -> None:
        """The head a keyed store opened over is signed at close only once recovery took the
        trail: a store whose session was never recovered signs nothing."""
        private, _, _ = pair(tmp_path / "k")
        db = tmp_path / "s.db"
        orch = session(db)
        orch.submit_intent(intent(1))
        orch.close()

        store = SqliteStore(db, signing_key=load_signer(private))
        store.load()
        store.close()

        assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM checkpoints").fetchone() == (0,)


def test_an_unsigned_demo_leaves_no_earlier_signed_demo_checkpoints(tmp_path: Path) -> None:
    """The demo writes its folder afresh: an earlier signed run's audit.jsonl.checkpoints
    would sit beside a trail it does not cover."""
    private, _, _ = pair(tmp_path / "k")
    out = tmp_path / "demo"
    run_demo(out, signing_key=load_signer(private))
    assert (out / "audit.jsonl.checkpoints").exists()

    run_demo(out)

    assert not (out / "audit.jsonl.checkpoints").exists()


def test_a_trail_recovery_refuses_is_not_signed_at_close(tmp_path: Path) -> None:
    """A keyed store opened over uncovered records whose chain holds but whose transitions
    recovery refuses is closed without signing them."""
    private, _, _ = pair(tmp_path / "k")
    db = tmp_path / "s.db"
    orch = session(db)
    orch.submit_intent(intent(1))
    orch.close()
    conn = sqlite3.connect(db)
    records = [
        record_from_line(t) for (t,) in conn.execute("SELECT record FROM audit ORDER BY seq")
    ]
    records[-1] = attrs.evolve(records[-1], event="teleport")
    prev = records[-2].hash
    unhashed = attrs.evolve(records[-1], prev_hash=prev, hash=None)
    records[-1] = attrs.evolve(unhashed, hash=record_hash(record_to_dict(unhashed)))
    conn.execute(
        "UPDATE audit SET record=? WHERE seq=?", (record_json(records[-1]), records[-1].seq)
    )
    conn.commit()
    conn.close()

    with pytest.raises(StoreError, match="recovery"):
        session(db, private)

    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM checkpoints").fetchone() == (0,)
