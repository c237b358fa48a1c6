"""
``audit verify --db`` and ``audit head --db`` on a SQLite database compare its rows with a
replay of its trail, as ``recover`` does: a trail cut at its end while its orders stay
stored is no longer "intact" (the chain alone cannot show a cut end).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from execfsm.cli import main


def session(tmp_path: Path) -> Path:
    intents = tmp_path / "intents.jsonl"
    intents.write_text(
        "".join(
            json.dumps(
                {
                    "symbol": "BTC/EUR",
                    "side": "BUY",
                    "quantity": f"0.0{n}",
                    "order_type": "MARKET",
                    "strategy_id": "s",
                    "intent_id": f"i{n}",
                }
            )
            + "\n"
            for n in (1, 2)
        )
    )
    db = tmp_path / "s.db"
    assert main(["run", str(intents), "--mode", "PAPER", "--db", str(db)]) == 0
    return db


def cut(db: Path, records: int) -> None:
    with sqlite3.connect(db) as conn:
        (last,) = conn.execute("SELECT max(seq) FROM audit").fetchone()
        conn.execute("DELETE FROM audit WHERE seq > ?", (last - records,))


class TestCutTrail:
    @pytest.mark.parametrize("command", [["audit", "verify"], ["audit", "head"]])
    def test_a_trail_cut_below_its_stored_orders_fails(
        self, command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The last records removed, the orders they moved still stored: FAIL, exit 1,
        naming the order that disagrees."""
        db = session(tmp_path)
        cut(db, 5)
        capsys.readouterr()

        code = main([*command, "--db", str(db)])
        err = capsys.readouterr().err

        assert code == 1
        assert "FAIL" in err
        assert "disagrees with its audit trail" in err

    def test_an_untouched_database_still_verifies(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The row check passes a database as the session left it."""
        db = session(tmp_path)
        capsys.readouterr()

        code = main(["audit", "verify", "--db", str(db)])

        assert code == 0
        assert "OK" in capsys.readouterr().out
