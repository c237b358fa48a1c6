"""
Review i19-h: anchoring the trail (signed checkpoints, published heads, keygen, export),
attacked as a forger and as an operator having a bad day. Each test is one defect; each
fails on the reviewed code.
"""

from __future__ import annotations

import contextlib
import io
import os
import sqlite3
import sys
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from execfsm.cli import main
from execfsm.clock import EPOCH, SteppingClock
from execfsm.contracts import ExecutionMode, OrderIntent
from execfsm.errors import KeyFileError, StoreError
from execfsm.ledger import checkpoints as checkpoints_module
from execfsm.ledger.checkpoints import load_signer, write_key_pair
from execfsm.ledger.sqlite import SqliteStore
from execfsm.orchestrator import ExecutionOrchestrator


@attrs.frozen
class Pair:
    private: Path
    public: Path


@pytest.fixture
def key(tmp_path: Path) -> Pair:
    folder = tmp_path / "key"
    folder.mkdir()
    private, public, _ = write_key_pair(folder)
    return Pair(private, public)


@pytest.fixture
def other_key(tmp_path: Path) -> Pair:
    folder = tmp_path / "other"
    folder.mkdir()
    private, public, _ = write_key_pair(folder)
    return Pair(private, public)


def session(db: Path, signing_key: Path | None = None, **store: object) -> ExecutionOrchestrator:
    signer = load_signer(signing_key) if signing_key is not None else None
    return ExecutionOrchestrator(
        execution_mode=ExecutionMode.PAPER,
        clock=SteppingClock(EPOCH),
        store=SqliteStore(db, signing_key=signer, **store),  # type: ignore[arg-type]
    )


def intent(n: int) -> OrderIntent:
    return OrderIntent("BTC/EUR", "BUY", Decimal(1), "MARKET", "a", intent_id=f"i{n}")  # type: ignore[arg-type]


def run(*args: str | Path) -> tuple[int, str, str]:
    """Run ``execfsm`` in-process: exit code, stdout, stderr (a traceback propagates)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*map(str, args)])
    return code, out.getvalue(), err.getvalue()


def count_checkpoints(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0])
    finally:
        conn.close()


def test_a_store_opened_with_another_key_refuses_to_sign_over_a_trail_of_one_key(
    tmp_path: Path, key: Pair, other_key: Pair
) -> None:
    """
    The operator relies on "one key per trail, so a key change starts a new database": an
    operator who starts a session with the wrong key file (a test key, last year's key) must
    be stopped before anything is written. Today the store opens, appends and signs with
    the second key, and the database can never again pass ``--public-key`` with either key.
    """
    db = tmp_path / "s.db"
    first = session(db, key.private)
    first.submit_intent(intent(1))
    first.close()
    signed = count_checkpoints(db)

    with pytest.raises(StoreError, match="key"):
        session(db, other_key.private)

    assert count_checkpoints(db) == signed
    assert run("audit", "verify", "--db", db, "--public-key", key.public)[0] == 0


def test_keygen_that_fails_midway_leaves_no_half_written_key_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    "Nothing half-written", and keygen "never overwrites": an operator whose disk fills
    while the public key is written must be able to run ``audit keygen`` again. Today the
    OSError escapes as is, the private key (and an empty public key file) stay behind, and
    every retry is refused with "exists; refusing to overwrite it".
    """
    real_write = os.write

    def full_disk(fd: int, data: bytes) -> int:
        if data.startswith(b"-----BEGIN PUBLIC KEY-----"):
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(checkpoints_module.os, "write", full_disk)
    with pytest.raises((KeyFileError, OSError)):
        write_key_pair(tmp_path)
    monkeypatch.undo()

    assert sorted(p.name for p in tmp_path.iterdir()) == []
    write_key_pair(tmp_path)  # the retry works


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")
def test_keygen_into_a_folder_it_cannot_write_is_a_clear_error_not_a_traceback() -> None:
    """
    CLI promise: exit 2 for bad input, a message, no traceback. ``audit keygen --out DIR``
    with a folder where files cannot be created (here /proc/self: a directory in which
    open(O_CREAT) fails with ENOENT; a read-only mount gives EROFS, a folder of another
    user EACCES) raises FileNotFoundError out of ``main``: a traceback, exit 1.
    """
    code, _, err = run("audit", "keygen", "--out", "/proc/self")

    assert code == 2
    assert "execfsm-signing.pem" in err


def test_export_refuses_to_leave_a_foreign_checkpoints_file_beside_its_trail(
    tmp_path: Path, key: Pair
) -> None:
    """
    ``audit export`` writes "a database's trail as JSONL, and its signed checkpoints to
    FILE.checkpoints (never overwrites)": what sits beside FILE is the database's. Exporting a
    database without checkpoints next to an older export's ``FILE.checkpoints`` writes FILE
    and leaves the foreign checkpoints beside it; ``verify FILE`` then says "it has signed
    checkpoints" and ``verify FILE --public-key`` accuses the honest trail of having been
    "rewritten at or before seq N". The export must refuse, writing nothing.
    """
    signed_db, plain_db = tmp_path / "signed.db", tmp_path / "plain.db"
    orch = session(signed_db, key.private)
    orch.submit_intent(intent(1))
    orch.close()
    orch = session(plain_db)
    orch.submit_intent(intent(9))
    orch.close()
    out = tmp_path / "trail.jsonl"
    assert run("audit", "export", "--db", signed_db, "--out", out)[0] == 0
    out.unlink()  # the old trail is gone; its .checkpoints file stays

    code, _, err = run("audit", "export", "--db", plain_db, "--out", out)

    assert code == 2
    assert "trail.jsonl.checkpoints" in err
    assert not out.exists()


def test_a_trail_emptied_under_its_checkpoints_names_the_first_checkpoint(
    tmp_path: Path, key: Pair
) -> None:
    """
    "A trail with its tail cut fails ... naming the first bad record or checkpoint", and a
    checkpoint beyond the end "means records were removed". A database whose every record
    was deleted but whose signed checkpoints remain fails ``--public-key`` (exit 1) with
    "carries no checkpoint", which is false and hides that records were removed: it must
    name checkpoint 1 as beyond the end of the trail.
    """
    db = tmp_path / "s.db"
    orch = session(db, key.private)
    orch.submit_intent(intent(1))
    orch.close()
    conn = sqlite3.connect(db)
    first = conn.execute("SELECT MIN(seq) FROM checkpoints").fetchone()[0]
    conn.execute("DELETE FROM audit")
    conn.commit()
    conn.close()

    code, _, err = run("audit", "verify", "--db", db, "--public-key", key.public)

    assert code == 1
    assert "carries no checkpoint" not in err
    assert f"checkpoint 1 (seq {first})" in err
    assert "removed" in err


def test_a_keyed_store_closed_over_uncovered_records_checkpoints_them(
    tmp_path: Path, key: Pair
) -> None:
    """
    "checkpoint_every=N: once N records follow the last one, and at close" (the existing
    test says "a closed store leaves none uncovered"), and a store's "first checkpoint vouches
    for everything before it". After a session without the key (or a crash with
    checkpoint_every > 1) the operator reopens with the key, recovers, and closes without new
    records: close writes nothing, and the trail stays uncovered, failing ``--public-key``.
    """
    db = tmp_path / "s.db"
    orch = session(db)
    orch.submit_intent(intent(1))
    orch.close()

    session(db, key.private).close()

    code, _, err = run("audit", "verify", "--db", db, "--public-key", key.public)
    assert code == 0, err


def test_a_checkpoints_file_that_cannot_be_read_is_bad_input(tmp_path: Path, key: Pair) -> None:
    """
    Exit codes: "1 a check failed, 2 bad usage or input". ``--checkpoints PATH`` names a file
    the verifier must read; a typo in PATH is silently read as "no checkpoints" and reported
    as a failed check (exit 1, "the trail has no signed checkpoint ... was its store opened
    with a signing key?"), pointing the auditor at the operator instead of at the typo. An
    explicitly named file that does not exist must be a usage error naming it, as a missing
    FILE or --public-key is.
    """
    db = tmp_path / "s.db"
    orch = session(db, key.private)
    orch.submit_intent(intent(1))
    orch.close()
    out = tmp_path / "trail.jsonl"
    assert run("audit", "export", "--db", db, "--out", out)[0] == 0
    missing = tmp_path / "trail.jsonl.checkpionts"

    code, _, err = run("audit", "verify", out, "--public-key", key.public, "--checkpoints", missing)

    assert code == 2
    assert str(missing) in err


def test_export_that_cannot_write_the_checkpoints_leaves_no_trail_file(
    tmp_path: Path, key: Pair
) -> None:
    """
    "Nothing half-written": ``audit export`` writes FILE and FILE.checkpoints as a pair. When
    the second cannot be written (here a dangling symlink where FILE.checkpoints goes: the
    existence check follows it and sees nothing, open("x") then fails), the command exits 2
    but FILE stays written without its checkpoints: a trail that fails ``--public-key`` with
    "no signed checkpoint", and every retry is refused because FILE exists.
    """
    db = tmp_path / "s.db"
    orch = session(db, key.private)
    orch.submit_intent(intent(1))
    orch.close()
    out = tmp_path / "trail.jsonl"
    Path(str(out) + ".checkpoints").symlink_to(tmp_path / "nowhere" / "x")

    code, _, _ = run("audit", "export", "--db", db, "--out", out)

    assert code == 2
    assert not out.exists()
