"""
``execfsm demo --venue fix``: the scripted demo session over FIX 4.4 against the scripted
acceptor, started in-process, ends as the paper session does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from execfsm.cli import main
from execfsm.demo import run_demo


def test_the_fix_demo_ends_every_order_as_the_paper_demo(tmp_path: Path) -> None:
    """Same session, same rows: every order ends in the same state over FIX as on paper."""
    paper = run_demo(tmp_path / "paper")
    fix = run_demo(tmp_path / "fix", venue_kind="fix")

    assert fix.chain_ok
    assert [r.order_state_now for r in fix.rows] == [r.order_state_now for r in paper.rows]
    assert [r.result.reason_code for r in fix.rows] == [r.result.reason_code for r in paper.rows]
    assert fix.venue_submissions == paper.venue_submissions == 5


def test_the_fix_demo_command_prints_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command exits 0 and prints the table, the venue submissions and an intact chain."""
    code = main(["demo", "--venue", "fix", "--out", str(tmp_path / "out")])

    out = capsys.readouterr().out
    assert code == 0
    assert "resting limit buy 0.2 BTC/EUR @ 59000, filled by a price move" in out
    assert "venue: FIX 4.4 over QuickFIX to the scripted acceptor on 127.0.0.1:" in out
    assert "venue submissions: 5 (the duplicate was not sent)" in out
    assert "audit chain: intact" in out
