"""
The command line without the ``postgres`` extra: SQLite work as before, and a
``postgresql://`` database refused in one line that names the extra (psycopg is an optional
dependency, so nothing outside the PostgreSQL store may import it).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import execfsm

_WITHOUT_PSYCOPG = """
import builtins, sys
real = builtins.__import__
def refuse(name, *args, **kwargs):
    if name.split(".")[0] == "psycopg":
        raise ImportError("No module named 'psycopg'")
    return real(name, *args, **kwargs)
builtins.__import__ = refuse
from execfsm.cli import main
sys.exit(main(sys.argv[1:]))
"""
SRC = str(Path(execfsm.__file__).resolve().parents[1])


def cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", _WITHOUT_PSYCOPG, *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=False,
    )


class TestWithoutPsycopg:
    def test_a_postgresql_url_names_the_extra_in_one_line(self, tmp_path: Path) -> None:
        """``recover --db postgresql://…`` says to install execfsm[postgres], exit 2, and
        never shows the URL's password."""
        done = cli("recover", "--db", "postgresql://u:secret-pw@127.0.0.1:1/x", cwd=tmp_path)

        assert done.returncode == 2, done.stderr
        assert "execfsm[postgres]" in done.stderr
        assert "secret-pw" not in done.stdout + done.stderr
        assert "Traceback" not in done.stderr

    def test_sqlite_sessions_run_as_before(self, tmp_path: Path) -> None:
        """``run`` into a SQLite file and ``recover`` of it work with no psycopg at all."""
        intents = tmp_path / "intents.jsonl"
        intents.write_text(
            '{"symbol": "BTC/EUR", "side": "BUY", "quantity": "0.01", "order_type": "MARKET",'
            ' "strategy_id": "s", "intent_id": "i1"}\n'
        )

        ran = cli("run", str(intents), "--mode", "PAPER", "--db", "s.db", cwd=tmp_path)
        recovered = cli("recover", "--db", "s.db", cwd=tmp_path)

        assert ran.returncode == 0, ran.stderr
        assert recovered.returncode == 0, recovered.stderr
