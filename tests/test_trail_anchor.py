"""
Anchoring the audit trail: a published head (``audit head``, ``audit verify --expect-head``)
and checkpoints signed with the operator's Ed25519 key (``--signing-key``, ``--public-key``).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from execfsm.cli import main
from execfsm.clock import EPOCH, SteppingClock
from execfsm.contracts import ExecutionMode, OrderIntent
from execfsm.demo import run_demo
from execfsm.errors import KeyFileError, StoreError
from execfsm.fsm.audit import GENESIS_HASH, AuditRecord
from execfsm.ledger.audit import record_hash, record_json, record_to_dict, verify_records
from execfsm.ledger.checkpoints import (
    Checkpoint,
    checkpoint_from_line,
    checkpoint_json,
    load_signer,
    load_verifier,
    signed_bytes,
    write_key_pair,
)
from execfsm.ledger.sqlite import SqliteStore
from execfsm.ledger.trail_text import record_from_line
from execfsm.orchestrator import ExecutionOrchestrator

ROOT = Path(__file__).resolve().parent.parent


@attrs.frozen
class Keys:
    private: Path
    public: Path
    other_private: Path
    other_public: Path


@pytest.fixture(scope="module")
def signed_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Keys]:
    base = tmp_path_factory.mktemp("anchor")
    keys_dir, other_dir = base / "keys", base / "other"
    keys_dir.mkdir()
    other_dir.mkdir()
    private, public, _ = write_key_pair(keys_dir)
    other_private, other_public, _ = write_key_pair(other_dir)
    run_demo(base / "demo", signing_key=load_signer(private))
    return base / "demo", Keys(private, public, other_private, other_public)


@pytest.fixture
def demo(signed_demo: tuple[Path, Keys], tmp_path: Path) -> Path:
    """A copy of a signed demo session: demo.db, audit.jsonl and audit.jsonl.checkpoints."""
    out = tmp_path / "demo"
    out.mkdir()
    for name in ("demo.db", "audit.jsonl", "audit.jsonl.checkpoints"):
        shutil.copy(signed_demo[0] / name, out / name)
    return out


@pytest.fixture
def keys(signed_demo: tuple[Path, Keys]) -> Keys:
    return signed_demo[1]


def verify(*args: str | Path) -> tuple[int, str, str]:
    """Run ``execfsm audit verify`` in-process: exit code, stdout, stderr."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["audit", "verify", *map(str, args)])
    return code, out.getvalue(), err.getvalue()


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the ``execfsm`` command in a child process."""
    return subprocess.run(  # noqa: S603 - our own interpreter and command
        [sys.executable, "-m", "execfsm.cli", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )


def head_of(path: Path) -> str:
    last = path.read_text().splitlines()[-1]
    record = json.loads(last)
    return f"{record['seq']}:{record['hash']}"


def rehashed(records: list[AuditRecord]) -> list[AuditRecord]:
    """The records with every prev_hash and hash recomputed, by the project's own code."""
    out, prev = [], GENESIS_HASH
    for record in records:
        unhashed = attrs.evolve(record, prev_hash=prev, hash=None)
        fixed = attrs.evolve(unhashed, hash=record_hash(record_to_dict(unhashed)))
        out.append(fixed)
        prev = str(fixed.hash)
    return out


def forge_fill_price(lines: list[str]) -> tuple[list[str], int]:
    """The trail with its first fill's price raised, every hash recomputed; and its seq."""
    records = [record_from_line(line) for line in lines]
    seq = next(r.seq for r in records if r.event == "fill")
    fill = records[seq - 1]
    detail = json.loads(fill.detail)
    detail["price"] = str(Decimal(detail["price"]) + 1)
    records[seq - 1] = attrs.evolve(fill, detail=json.dumps(detail, separators=(",", ":")))
    forged = rehashed(records)
    assert verify_records(forged).ok
    return [record_json(r) for r in forged], seq


def checkpoints_of(path: Path) -> list[Checkpoint]:
    return [checkpoint_from_line(t, where="t") for t in path.read_text().splitlines()]


class TestExpectHead:
    def test_the_untouched_trail_extends_its_published_head(self, demo: Path) -> None:
        """A trail verifies against the head it published, and against an earlier one."""
        trail = demo / "audit.jsonl"
        lines = trail.read_text().splitlines()
        earlier = json.loads(lines[9])

        results = [
            verify(trail, "--expect-head", head_of(trail)),
            verify(trail, "--expect-head", f"10:{earlier['hash']}"),
        ]

        assert [code for code, _, _ in results] == [0, 0]
        assert f"extends the published head {head_of(trail)}" in results[0][1]

    def test_a_cut_tail_fails_saying_the_trail_ends_before_the_head(self, demo: Path) -> None:
        """Removing the last lines passes the plain chain check but fails --expect-head."""
        trail = demo / "audit.jsonl"
        published = head_of(trail)
        lines = trail.read_text().splitlines()
        trail.write_text("\n".join(lines[:-3]) + "\n")

        plain = verify(trail)
        code, _, err = verify(trail, "--expect-head", published)

        assert plain[0] == 0
        assert code == 1
        assert (
            f"the trail ends before the published head seq {len(lines)} (its last record is "
            f"seq {len(lines) - 3}): records were removed from its end" in err
        )

    def test_a_rehashed_rewrite_before_the_head_fails_naming_the_head_record(
        self, demo: Path
    ) -> None:
        """A fill price edited and every hash recomputed fails --expect-head at the head."""
        trail = demo / "audit.jsonl"
        published = head_of(trail)
        forged, _ = forge_fill_price(trail.read_text().splitlines())
        trail.write_text("\n".join(forged) + "\n")

        code, _, err = verify(trail, "--expect-head", published)

        seq = published.split(":")[0]
        assert code == 1
        assert f"record seq {seq} has hash" in err
        assert f"the trail was rewritten at or before seq {seq}" in err

    def test_an_edit_without_rehashing_names_the_first_bad_record(self, demo: Path) -> None:
        """A record edited in place fails the chain, naming it, before any anchor."""
        trail = demo / "audit.jsonl"
        published = head_of(trail)
        lines = trail.read_text().splitlines()
        lines[4] = lines[4].replace('"outcome":"applied"', '"outcome":"refused"', 1)
        trail.write_text("\n".join(lines) + "\n")

        code, _, err = verify(trail, "--expect-head", published)

        assert code == 1
        assert "record seq 5: hash does not match content" in err

    @pytest.mark.parametrize(
        "cut",
        [
            pytest.param(lambda t: t[: t.rindex("\n", 0, len(t) - 1) + 40], id="mid-line"),
            pytest.param(lambda t: t + t.splitlines(keepends=True)[-1], id="duplicated-line"),
            pytest.param(
                lambda t: "".join(
                    (lambda ls: [*ls[:3], ls[4], ls[3], *ls[5:]])(t.splitlines(keepends=True))
                ),
                id="reordered-lines",
            ),
        ],
    )
    def test_damaged_texts_fail(self, demo: Path, cut: object) -> None:
        """A trail cut mid-line, with a duplicated line or two lines swapped fails."""
        trail = demo / "audit.jsonl"
        published = head_of(trail)
        trail.write_text(cut(trail.read_text()))  # type: ignore[operator]

        code, _, err = verify(trail, "--expect-head", published)

        assert code == 1
        assert err.startswith(f"FAIL {trail}: ")

    @pytest.mark.parametrize(
        "head", ["", "12", "0:" + "a" * 64, "x:" + "a" * 64, "3:" + "A" * 64, "3:abc"]
    )
    def test_a_malformed_head_is_a_usage_error(self, demo: Path, head: str) -> None:
        """SEQ:HASH that is not a record number and 64 hex digits exits 2, no traceback."""
        done = cli("audit", "verify", demo / "audit.jsonl", "--expect-head", head)

        assert done.returncode == 2
        assert "expected SEQ:HASH" in done.stderr
        assert "Traceback" not in done.stderr


class TestReplayable:
    def test_signing_stamps_the_records_as_a_session_without_a_key(
        self, signed_demo: tuple[Path, Keys], tmp_path: Path
    ) -> None:
        """Checkpoints read no clock: the signed demo's trail is the unsigned demo's, byte
        for byte, and each checkpoint is dated by the record it covers."""
        run_demo(tmp_path / "plain")
        signed = (signed_demo[0] / "audit.jsonl").read_text()

        assert signed == (tmp_path / "plain" / "audit.jsonl").read_text()
        stamps = {r["seq"]: r["ts"] for r in map(json.loads, signed.splitlines())}
        checkpoints = checkpoints_of(signed_demo[0] / "audit.jsonl.checkpoints")
        assert checkpoints
        assert all(c.ts == stamps[c.seq] for c in checkpoints)


class TestHeadCommand:
    def test_head_prints_seq_hash_then_a_line_for_people(self, demo: Path) -> None:
        """``audit head`` prints SEQ:HASH of the file and the database alike, exit 0."""
        from_file = cli("audit", "head", demo / "audit.jsonl")
        from_db = cli("audit", "head", "--db", demo / "demo.db")

        first = from_file.stdout.splitlines()
        assert (from_file.returncode, from_db.returncode) == (0, 0)
        assert first[0] == head_of(demo / "audit.jsonl")
        assert from_db.stdout.splitlines()[0] == first[0]
        assert "--expect-head " + first[0] in first[1]

    def test_a_published_head_verifies_then_fails_once_cut(self, demo: Path) -> None:
        """The head printed verifies (exit 0); the trail cut before it exits 1."""
        trail = demo / "audit.jsonl"
        published = cli("audit", "head", trail).stdout.splitlines()[0]
        ok = cli("audit", "verify", trail, "--expect-head", published)
        trail.write_text("".join(trail.read_text().splitlines(keepends=True)[:-1]))
        cut = cli("audit", "verify", trail, "--expect-head", published)

        assert (ok.returncode, cut.returncode) == (0, 1)
        assert "trail ends before the published head" in cut.stderr

    def test_no_head_of_a_broken_trail(self, demo: Path) -> None:
        """A trail whose chain is broken has no head to publish: exit 1."""
        trail = demo / "audit.jsonl"
        lines = trail.read_text().splitlines()
        del lines[3]
        trail.write_text("\n".join(lines) + "\n")

        done = cli("audit", "head", trail)

        assert done.returncode == 1
        assert "record seq 5" in done.stderr
        assert done.stdout == ""


class TestEmptyTrail:
    def test_an_empty_file_is_empty_not_intact(self, tmp_path: Path) -> None:
        """An empty export is reported EMPTY with exit 1, never 'chain intact'."""
        trail = tmp_path / "audit.jsonl"
        trail.write_text("")

        code, out, err = verify(trail)

        assert code == 1
        assert "intact" not in out + err
        assert err.startswith(f"EMPTY {trail}: the trail has no records")

    def test_an_empty_database_is_empty_not_intact(self, tmp_path: Path) -> None:
        """A database with no records is reported EMPTY with exit 1."""
        db = tmp_path / "e.db"
        SqliteStore(db).close()

        code, out, err = verify("--db", db)

        assert code == 1
        assert "intact" not in out + err
        assert err.startswith(f"EMPTY {db}: the trail has no records")

    def test_allow_empty_makes_it_expected(self, tmp_path: Path) -> None:
        """With --allow-empty an empty trail is reported EMPTY and exits 0."""
        trail = tmp_path / "audit.jsonl"
        trail.write_text("")

        code, out, _ = verify(trail, "--allow-empty")

        assert code == 0
        assert out.startswith(f"EMPTY {trail}: the trail has no records (expected")

    def test_allow_empty_does_not_satisfy_an_anchor(self, tmp_path: Path, keys: Keys) -> None:
        """An empty trail never extends a head nor carries a checkpoint, --allow-empty or not."""
        trail = tmp_path / "audit.jsonl"
        trail.write_text("")

        head = verify(trail, "--allow-empty", "--expect-head", "1:" + "a" * 64)
        signed = verify(trail, "--allow-empty", "--public-key", keys.public)

        assert (head[0], signed[0]) == (1, 1)
        assert "no checkpoint" in signed[2]

    def test_head_of_an_empty_trail(self, tmp_path: Path) -> None:
        """``audit head`` of an empty trail says so, exit 1."""
        trail = tmp_path / "audit.jsonl"
        trail.write_text("")

        done = cli("audit", "head", trail)

        assert done.returncode == 1
        assert "EMPTY" in done.stderr


class TestSignedCheckpoints:
    def test_the_signed_demo_verifies_with_every_record_covered(
        self, demo: Path, keys: Keys
    ) -> None:
        """The file (with its sidecar) and the database verify with the public key, every
        record covered."""
        for target in (demo / "audit.jsonl", ("--db", demo / "demo.db")):
            args = target if isinstance(target, tuple) else (target,)
            code, out, _ = verify(*args, "--public-key", keys.public)

            assert code == 0
            assert "every record is covered by a checkpoint" in out
            assert "cannot be detected by checkpoints alone" in out

    def test_a_rehashed_forgery_passes_the_chain_but_fails_the_key(
        self, demo: Path, keys: Keys
    ) -> None:
        """An edited fill price with every hash recomputed passes the plain check and fails
        --public-key, naming the first checkpoint it breaks and that record."""
        trail = demo / "audit.jsonl"
        forged, edited = forge_fill_price(trail.read_text().splitlines())
        trail.write_text("\n".join(forged) + "\n")
        first_bad = next(
            c for c in checkpoints_of(demo / "audit.jsonl.checkpoints") if c.seq >= edited
        )
        before = max(
            c.seq for c in checkpoints_of(demo / "audit.jsonl.checkpoints") if c.seq < edited
        )

        plain = verify(trail)
        code, _, err = verify(trail, "--public-key", keys.public)

        assert plain[0] == 0
        assert code == 1
        number = checkpoints_of(demo / "audit.jsonl.checkpoints").index(first_bad) + 1
        assert (
            f"checkpoint {number} (seq {first_bad.seq}) no longer matches the trail: record "
            f"seq {first_bad.seq} has hash" in err
        )
        assert (
            f"the trail was rewritten between seq {before + 1} and seq {first_bad.seq} (the "
            f"checkpoint at seq {before} still matches)" in err
        )

    def test_a_rehashed_forgery_in_the_database_fails_the_key(self, demo: Path, keys: Keys) -> None:
        """The same forgery written into the database's audit table fails --public-key."""
        db = demo / "demo.db"
        conn = sqlite3.connect(db)
        lines = [t for (t,) in conn.execute("SELECT record FROM audit ORDER BY seq")]
        forged, _ = forge_fill_price(lines)
        conn.executemany(
            "UPDATE audit SET record=? WHERE seq=?", [(t, n) for n, t in enumerate(forged, 1)]
        )
        conn.commit()
        conn.close()

        plain = verify("--db", db)
        code, _, err = verify("--db", db, "--public-key", keys.public)

        assert plain[0] == 1  # the stored rows disagree with the forged trail's replay
        assert "recovery: stored position BTC/EUR" in plain[2]
        assert code == 1
        assert "no longer matches the trail" in err

    def test_another_key_fails_naming_the_checkpoint(self, demo: Path, keys: Keys) -> None:
        """Checkpoints checked with another operator's public key fail at the first one."""
        first = checkpoints_of(demo / "audit.jsonl.checkpoints")[0]

        code, _, err = verify(demo / "audit.jsonl", "--public-key", keys.other_public)

        assert code == 1
        assert f"checkpoint 1 (seq {first.seq}) is signed by key {first.key_id}, not by" in err

    def test_a_checkpoint_signed_by_another_key_fails(self, demo: Path, keys: Keys) -> None:
        """A checkpoint re-signed with another key, in the file, fails naming it."""
        sidecar = demo / "audit.jsonl.checkpoints"
        checkpoints = checkpoints_of(sidecar)
        other = load_signer(keys.other_private)
        checkpoints[2] = other.sign(checkpoints[2].seq, checkpoints[2].hash, checkpoints[2].ts)
        sidecar.write_text("".join(checkpoint_json(c) + "\n" for c in checkpoints))

        code, _, err = verify(demo / "audit.jsonl", "--public-key", keys.public)

        assert code == 1
        assert f"checkpoint 3 (seq {checkpoints[2].seq}) is signed by key {other.key_id}" in err

    def test_a_forged_checkpoint_line_fails(self, demo: Path, keys: Keys) -> None:
        """A checkpoint whose hash was changed to the forgery's, keeping the signature, fails."""
        sidecar = demo / "audit.jsonl.checkpoints"
        checkpoints = checkpoints_of(sidecar)
        checkpoints[1] = attrs_replace(checkpoints[1], hash="0" * 64)
        sidecar.write_text("".join(checkpoint_json(c) + "\n" for c in checkpoints))

        code, _, err = verify(demo / "audit.jsonl", "--public-key", keys.public)

        assert code == 1
        assert f"checkpoint 2 (seq {checkpoints[1].seq}) claims key" in err
        assert "signature does not verify" in err

    def test_a_checkpoint_beyond_the_end_fails(self, demo: Path, keys: Keys) -> None:
        """Records cut after a checkpoint was written: the checkpoint is beyond the end."""
        trail = demo / "audit.jsonl"
        lines = trail.read_text().splitlines(keepends=True)
        kept = len(lines) - 2
        beyond = next(c for c in checkpoints_of(demo / "audit.jsonl.checkpoints") if c.seq > kept)
        trail.write_text("".join(lines[:kept]))

        code, _, err = verify(trail, "--public-key", keys.public)

        assert code == 1
        assert (
            f"(seq {beyond.seq}) is beyond the end of the trail (its last record is seq "
            f"{kept}): records were removed from its end" in err
        )

    def test_repeated_and_reordered_checkpoints_fail(self, demo: Path, keys: Keys) -> None:
        """A checkpoint line repeated, or two swapped, fails: checkpoints must rise."""
        sidecar = demo / "audit.jsonl.checkpoints"
        lines = sidecar.read_text().splitlines(keepends=True)
        results = []
        for text in (
            "".join([*lines[:3], lines[2], *lines[3:]]),
            "".join([lines[1], lines[0], *lines[2:]]),
        ):
            sidecar.write_text(text)
            results.append(verify(demo / "audit.jsonl", "--public-key", keys.public))

        assert [code for code, _, _ in results] == [1, 1]
        assert all("checkpoints must rise" in err for _, _, err in results)

    def test_a_malformed_checkpoint_line_fails_naming_its_line(
        self, demo: Path, keys: Keys
    ) -> None:
        """A checkpoint line that is not in the written form fails naming the line."""
        sidecar = demo / "audit.jsonl.checkpoints"
        lines = sidecar.read_text().splitlines()
        lines[1] = lines[1].replace('"seq":', '"seq": ')
        sidecar.write_text("\n".join(lines) + "\n")

        code, _, err = verify(demo / "audit.jsonl", "--public-key", keys.public)

        assert code == 1
        assert f"{sidecar} line 2: not in the form execfsm writes" in err

    def test_no_checkpoints_fails_clearly(self, demo: Path, keys: Keys) -> None:
        """With --public-key, a trail with no checkpoints (no sidecar) fails, saying so."""
        (demo / "audit.jsonl.checkpoints").unlink()

        code, _, err = verify(demo / "audit.jsonl", "--public-key", keys.public)

        assert code == 1
        assert "the trail has no signed checkpoint" in err

    def test_the_signed_bytes_are_the_canonical_line_without_the_signature(
        self, demo: Path, keys: Keys
    ) -> None:
        """What is signed is exactly the checkpoint's canonical JSON minus ``signature``."""
        first = checkpoints_of(demo / "audit.jsonl.checkpoints")[0]

        expected = (
            f'{{"hash":"{first.hash}","key_id":"{first.key_id}","seq":{first.seq},'
            f'"ts":"{first.ts}","v":"execfsm-checkpoint/1"}}'
        ).encode()

        assert signed_bytes(first) == expected
        assert load_verifier(keys.public).signed(first)


def attrs_replace(checkpoint: Checkpoint, **changes: object) -> Checkpoint:
    import msgspec

    return msgspec.structs.replace(checkpoint, **changes)


def session(db: Path, signing_key: Path | None = None, **store: object) -> ExecutionOrchestrator:
    signer = load_signer(signing_key) if signing_key is not None else None
    return ExecutionOrchestrator(
        execution_mode=ExecutionMode.PAPER,
        clock=SteppingClock(EPOCH),
        store=SqliteStore(db, signing_key=signer, **store),  # type: ignore[arg-type]
    )


def intent(n: int) -> OrderIntent:
    return OrderIntent("BTC/EUR", "BUY", Decimal(1), "MARKET", "a", intent_id=f"i{n}")  # type: ignore[arg-type]


class TestStore:
    def test_a_store_reopened_without_a_key_keeps_old_checkpoints(
        self, tmp_path: Path, keys: Keys
    ) -> None:
        """Records written without a key follow the last checkpoint: the old checkpoints
        still verify, the records after them are counted as not covered, a failure unless
        --allow-uncovered."""
        db = tmp_path / "s.db"
        first = session(db, keys.private)
        first.submit_intent(intent(1))
        signed = len(first.audit_log.records)
        first.close()
        second = session(db)
        second.submit_intent(intent(2))
        total = len(second.audit_log.records)
        second.close()

        code, _, err = verify("--db", db, "--public-key", keys.public)
        allowed = verify("--db", db, "--public-key", keys.public, "--allow-uncovered")

        tail = (
            f"{total - signed} record(s) after seq {signed} not covered by a checkpoint; "
            "records removed after the last checkpoint cannot be detected by checkpoints alone"
        )
        assert total > signed
        assert code == 1
        assert tail in err
        assert allowed[0] == 0
        assert tail in allowed[1]

    def test_every_n_records(self, tmp_path: Path, keys: Keys) -> None:
        """checkpoint_every=N checkpoints once N records follow the last checkpoint, and
        the last records at close, so a closed store leaves none uncovered."""
        sparse, dense = tmp_path / "s.db", tmp_path / "t.db"
        orch = session(sparse, keys.private, checkpoint_every=1000)
        orch.submit_intent(intent(1))
        orch.submit_intent(intent(2))
        written = len(orch.audit_log.records)
        store = orch._services.store
        assert isinstance(store, SqliteStore)
        before_close = store.connection.execute("SELECT COUNT(*) FROM checkpoints").fetchone()
        orch.close()
        orch = session(dense, keys.private)
        orch.submit_intent(intent(1))
        orch.submit_intent(intent(2))
        orch.close()

        readers = [SqliteStore(db, read_only=True) for db in (sparse, dense)]
        sparse_state, dense_state = (reader.load() for reader in readers)
        for reader in readers:
            reader.close()

        assert before_close == (0,)
        assert [c.seq for c in sparse_state.checkpoints] == [written]
        assert len(dense_state.checkpoints) >= 4
        assert verify("--db", sparse, "--public-key", keys.public)[0] == 0

    def test_a_failed_checkpoint_write_stores_nothing_of_the_commit(
        self, tmp_path: Path, keys: Keys
    ) -> None:
        """A failure inside the commit, at the checkpoint row, rolls back its records too:
        what is stored is a prefix whose last record a checkpoint covers."""
        db = tmp_path / "s.db"
        orch = session(db, keys.private)
        orch.submit_intent(intent(1))
        durable = len(orch.audit_log.records)
        store = orch._services.store
        assert isinstance(store, SqliteStore)
        store.connection.execute(
            "CREATE TEMP TRIGGER no_checkpoint BEFORE INSERT ON main.checkpoints "
            "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )
        with pytest.raises(StoreError, match="injected failure"):
            orch.submit_intent(intent(2))
        store.close()  # the orchestrator's close would flush: the store refuses, as it must

        reader = SqliteStore(db, read_only=True)
        state = reader.load()
        reader.close()

        assert len(state.records) == durable
        assert state.checkpoints[-1].seq == durable
        assert verify("--db", db, "--public-key", keys.public)[0] == 0

    def test_a_database_made_before_checkpoints_still_opens(
        self, tmp_path: Path, keys: Keys
    ) -> None:
        """A database without the checkpoints table reads (no checkpoints), and a writer
        with a key adds the table and covers the old records with its first checkpoint."""
        db = tmp_path / "old.db"
        orch = session(db)
        orch.submit_intent(intent(1))
        orch.close()
        conn = sqlite3.connect(db)
        conn.execute("DROP TABLE checkpoints")
        conn.commit()
        conn.close()
        before = verify("--db", db, "--public-key", keys.public)

        orch = session(db, keys.private)
        orch.submit_intent(intent(2))
        orch.close()
        after = verify("--db", db, "--public-key", keys.public)

        assert before[0] == 1
        assert "no signed checkpoint" in before[2]
        assert after[0] == 0

    def test_a_writer_refuses_a_trail_its_checkpoints_deny(self, demo: Path) -> None:
        """A database rewritten and rehashed under its checkpoints is refused by any writer,
        key or not, naming the checkpoint: nothing is appended to it, nor signed over it."""
        db = demo / "demo.db"
        conn = sqlite3.connect(db)
        lines = [t for (t,) in conn.execute("SELECT record FROM audit ORDER BY seq")]
        forged, edited = forge_fill_price(lines)
        conn.executemany(
            "UPDATE audit SET record=? WHERE seq=?", [(t, n) for n, t in enumerate(forged, 1)]
        )
        conn.commit()
        conn.close()
        first_bad = next(
            c for c in checkpoints_of(demo / "audit.jsonl.checkpoints") if c.seq >= edited
        )

        with pytest.raises(StoreError) as refused:
            session(db)

        assert (
            f"checkpoint at seq {first_bad.seq} no longer matches audit record seq "
            f"{first_bad.seq}: the trail was rewritten after it was checkpointed; nothing is "
            "appended to it" in str(refused.value)
        )

    def test_a_writer_with_the_key_refuses_a_forged_signature(self, demo: Path, keys: Keys) -> None:
        """A checkpoint of the writer's key whose signature does not verify is refused when
        the key is given; without the key it cannot be told and the store opens."""
        db = demo / "demo.db"
        conn = sqlite3.connect(db)
        seq, text = conn.execute("SELECT seq, checkpoint FROM checkpoints LIMIT 1").fetchone()
        forged = attrs_replace(checkpoint_from_line(text, where="t"), signature="ab" * 64)
        conn.execute(
            "UPDATE checkpoints SET checkpoint=? WHERE seq=?", (checkpoint_json(forged), seq)
        )
        conn.commit()
        conn.close()

        with pytest.raises(StoreError, match=f"checkpoint at seq {seq}: its signature does not"):
            session(db, keys.private)
        session(db).close()

    def test_no_key_writes_no_checkpoint(self, tmp_path: Path) -> None:
        """Without a key the store writes no checkpoint row."""
        db = tmp_path / "s.db"
        orch = session(db)
        orch.submit_intent(intent(1))
        orch.close()

        rows = sqlite3.connect(db).execute("SELECT COUNT(*) FROM checkpoints").fetchone()

        assert rows == (0,)

    def test_a_read_only_store_takes_no_key(self, tmp_path: Path, keys: Keys) -> None:
        """A signing key given to a read-only store is refused."""
        db = tmp_path / "s.db"
        SqliteStore(db).close()

        with pytest.raises(StoreError, match="read-only store writes no checkpoints"):
            SqliteStore(db, read_only=True, signing_key=load_signer(keys.private))


class TestKeys:
    def test_keygen_writes_a_private_key_only_its_owner_reads(self, tmp_path: Path) -> None:
        """``audit keygen`` writes a 0600 private key and a public key, and never overwrites."""
        first = cli("audit", "keygen", "--out", tmp_path)
        second = cli("audit", "keygen", "--out", tmp_path)

        mode = stat.S_IMODE(os.stat(tmp_path / "execfsm-signing.pem").st_mode)
        assert first.returncode == 0
        assert mode == 0o600
        assert second.returncode == 2
        assert "exists; refusing to overwrite it" in second.stderr

    @pytest.mark.parametrize(
        ("command", "key", "message"),
        [
            ("run", "public", "is a public key; signing needs the operator's private key"),
            ("run", "garbage", "not a PEM private key"),
            ("run", "missing", "cannot read"),
            ("verify", "private", "is a private key; give the public key"),
            ("verify", "garbage", "not a PEM public key"),
        ],
    )
    def test_a_wrong_key_file_is_a_clear_error(
        self, tmp_path: Path, keys: Keys, command: str, key: str, message: str
    ) -> None:
        """A key file that is not a key, or the wrong half, exits 2 naming it, no traceback;
        a run refused for its key leaves no database behind."""
        garbage = tmp_path / "garbage.pem"
        garbage.write_text("not a key\n")
        path = {
            "public": keys.public,
            "private": keys.private,
            "garbage": garbage,
            "missing": tmp_path / "nope.pem",
        }[key]
        intents = tmp_path / "intents.jsonl"
        intents.write_text("")
        db = tmp_path / "r.db"
        args = (
            ("run", intents, "--db", db, "--signing-key", path)
            if command == "run"
            else ("audit", "verify", "--db", db, "--public-key", path)
        )

        done = cli(*args)

        assert done.returncode == 2
        assert message in done.stderr
        assert "Traceback" not in done.stderr
        assert not db.exists()

    def test_load_signer_refuses_a_public_key(self, keys: Keys) -> None:
        """The library refuses a public key where signing needs the private one."""
        with pytest.raises(KeyFileError, match="is a public key"):
            load_signer(keys.public)


class TestCliRun:
    def test_run_with_a_signing_key_then_export_and_verify(
        self, tmp_path: Path, keys: Keys
    ) -> None:
        """``run --signing-key`` signs; ``audit export`` writes the trail and its sidecar;
        both verify with the public key; a forgery of the export fails (exit 1)."""
        intents = tmp_path / "intents.jsonl"
        intents.write_text(
            "".join(
                json.dumps(
                    {
                        "symbol": "BTC/EUR",
                        "side": "BUY",
                        "quantity": "1",
                        "order_type": "MARKET",
                        "strategy_id": "s",
                        "intent_id": f"r{n}",
                    }
                )
                + "\n"
                for n in range(3)
            )
        )
        db, out = tmp_path / "r.db", tmp_path / "trail.jsonl"

        ran = cli("run", intents, "--db", db, "--mode", "PAPER", "--signing-key", keys.private)
        exported = cli("audit", "export", "--db", db, "--out", out)
        on_db = cli("audit", "verify", "--db", db, "--public-key", keys.public)
        on_file = cli("audit", "verify", out, "--public-key", keys.public)
        forged, _ = forge_fill_price(out.read_text().splitlines())
        out.write_text("\n".join(forged) + "\n")
        plain = cli("audit", "verify", out)
        signed = cli("audit", "verify", out, "--public-key", keys.public)

        assert [ran.returncode, exported.returncode, on_db.returncode, on_file.returncode] == [
            0,
            0,
            0,
            0,
        ], ran.stderr + exported.stderr + on_db.stderr + on_file.stderr
        assert Path(str(out) + ".checkpoints").exists()
        assert (plain.returncode, signed.returncode) == (0, 1)
        assert "no longer matches the trail" in signed.stderr


class TestMisuse:
    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (("--allow-uncovered",), "--checkpoints and --allow-uncovered go with --public-key"),
            (("--checkpoints", "x"), "--checkpoints and --allow-uncovered go with --public-key"),
            (("--expect-head",), "expected one argument"),
        ],
    )
    def test_options_without_their_partner_are_usage_errors(
        self, demo: Path, args: tuple[str, ...], message: str
    ) -> None:
        """An anchor option that cannot apply exits 2 with a message, no traceback."""
        done = cli("audit", "verify", demo / "audit.jsonl", *args)

        assert done.returncode == 2
        assert message in done.stderr
        assert "Traceback" not in done.stderr

    def test_checkpoints_file_is_for_file_trails(self, demo: Path, keys: Keys) -> None:
        """--checkpoints with --db is refused: a database keeps its own."""
        done = cli(
            "audit", "verify", "--db", demo / "demo.db", "--public-key", keys.public,
            "--checkpoints", demo / "audit.jsonl.checkpoints",
        )  # fmt: skip

        assert done.returncode == 2
        assert "--checkpoints is for a file trail" in done.stderr

    def test_an_explicit_checkpoints_file(self, demo: Path, keys: Keys) -> None:
        """A file trail's checkpoints may be given from elsewhere with --checkpoints."""
        moved = demo / "elsewhere.checkpoints"
        (demo / "audit.jsonl.checkpoints").rename(moved)

        code, _, _ = verify(
            demo / "audit.jsonl", "--public-key", keys.public, "--checkpoints", moved
        )

        assert code == 0


_KILLED_WRITER = """
import sys
from decimal import Decimal
from execfsm import ExecutionMode, ExecutionOrchestrator, OrderIntent
from execfsm.ledger.checkpoints import load_signer
from execfsm.ledger.sqlite import SqliteStore

store = SqliteStore(sys.argv[1], signing_key=load_signer(sys.argv[2]))
orch = ExecutionOrchestrator(execution_mode=ExecutionMode.PAPER, store=store)
n = 0
while True:
    n += 1
    orch.submit_intent(OrderIntent("BTC/EUR", "BUY", Decimal(1), "MARKET", "k", intent_id=str(n)))
    print("R", n, flush=True)
"""


class TestCrash:
    @pytest.mark.parametrize("point", [1, 4, 9, 17])
    def test_a_killed_writer_leaves_every_record_covered(
        self, tmp_path: Path, keys: Keys, point: int
    ) -> None:
        """SIGKILL at any instant of a signed session leaves records and checkpoints
        together: the last record stored is the last one checkpointed."""
        db = tmp_path / "k.db"
        child = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", _KILLED_WRITER, str(db), str(keys.private)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert child.stdout is not None
        for _ in range(point):
            assert child.stdout.readline().startswith("R ")
        child.kill()
        child.wait()

        reader = SqliteStore(db, read_only=True)
        state = reader.load()
        reader.close()

        assert len(state.records) >= point
        assert state.checkpoints[-1].seq == state.records[-1].seq
        assert verify("--db", db, "--public-key", keys.public)[0] == 0
