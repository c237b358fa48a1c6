"""
The commands on a PostgreSQL database (``--db postgresql://…``): run, recover, reconcile,
audit verify of every stream; a bad URL or an unreachable server is one line, exit 2, and a
password is never printed.
"""

from __future__ import annotations

# ruff: noqa: E402 - the imports below need psycopg, checked first
from tests.pg_server import require_psycopg

require_psycopg()

import json
import urllib.parse
from pathlib import Path

import psycopg
import pytest

from execfsm.cli import main
from execfsm.cli_reconcile import database_label


def intents_file(tmp_path: Path, ids: range) -> Path:
    path = tmp_path / "intents.jsonl"
    lines = [
        json.dumps(
            {
                "symbol": "BTC/EUR",
                "side": "BUY",
                "quantity": "1",
                "order_type": "MARKET",
                "strategy_id": "cli",
                "intent_id": f"i{n}",
            }
        )
        for n in ids
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def with_password(url: str, password: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(
        parts._replace(netloc=f"{parts.username}:{password}@{parts.hostname}:{parts.port}")
    )


class TestCommands:
    def test_run_recover_reconcile_and_verify_every_stream(
        self,
        pg_url: str,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Two streams run into one database; recover and reconcile one; audit verify checks
        both streams; the password given in the URL appears in no output."""
        monkeypatch.chdir(tmp_path)
        url = with_password(pg_url, "pw-not-shown")  # trust auth: any password is accepted
        file = intents_file(tmp_path, range(3))
        run = ["run", str(file), "--mode", "PAPER", "--db", url]

        assert main([*run, "--stream", "a"]) == 0
        assert main([*run, "--stream", "b"]) == 0  # every key is a's: answered, nothing sent
        assert main(["recover", "--db", url, "--stream", "a"]) == 0
        assert main(["recover", "--db", url, "--stream", "b"]) == 0
        assert main(["reconcile", "--db", url, "--stream", "a"]) == 0
        assert main(["audit", "verify", "--db", url]) == 0
        out = capsys.readouterr()

        assert "pw-not-shown" not in out.out + out.err
        assert "stream a: " in out.out
        assert "stream b: " in out.out
        assert "3 duplicate(s)" in out.out
        assert (tmp_path / f"execfsm-{database_label(url)}-a.venue.jsonl").exists()

    def test_a_tampered_stream_fails_verification(
        self, pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A record changed in the database fails audit verify, naming its stream."""
        file = intents_file(tmp_path, range(2))
        assert main(["run", str(file), "--mode", "PAPER", "--db", pg_url,
                     "--venue-journal", str(tmp_path / "j.jsonl")]) == 0  # fmt: skip
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(  # record 2 replaced by record 3
                "UPDATE execfsm_audit SET record = (SELECT record FROM execfsm_audit "
                "WHERE seq = 3) WHERE seq = 2"
            )

        assert main(["audit", "verify", "--db", pg_url]) == 1
        assert "stream main" in capsys.readouterr().err


class TestBadTargets:
    @pytest.mark.parametrize("command", ["recover", "reconcile"])
    def test_a_database_without_a_session_is_refused_and_left_empty(
        self, command: str, pg_url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """recover and reconcile on a database with no execfsm tables: exit 2, one line,
        and no table is created."""
        assert main([command, "--db", pg_url]) == 2
        with psycopg.connect(pg_url, autocommit=True) as conn:
            tables = conn.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
            ).fetchone()

        assert "no execfsm schema" in capsys.readouterr().err
        assert tables == (0,)

    def test_the_demo_refuses_a_postgresql_url(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The demo writes a new SQLite file: a URL as its --db is bad input."""
        url = "postgresql://u:pw@127.0.0.1:1/db"

        assert main(["demo", "--out", str(tmp_path / "d"), "--db", url]) == 2
        assert "not a PostgreSQL database" in capsys.readouterr().err

    @pytest.mark.parametrize("command", ["run", "recover", "verify"])
    def test_an_unreachable_server_is_one_line_exit_2(
        self, command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """No server at the URL: exit 2, one line naming it without the password."""
        url = "postgresql://u:secret-pw@127.0.0.1:1/db"
        argv = {
            "run": ["run", str(intents_file(tmp_path, range(1))), "--db", url],
            "recover": ["recover", "--db", url],
            "verify": ["audit", "verify", "--db", url],
        }[command]

        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "secret-pw" not in err
        assert "cannot connect" in err
        assert err.count("\n") == 1
