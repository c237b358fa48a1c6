"""
The README's Python examples run as written and print what their comments say.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_prints_what_it_says(block: str) -> None:
    """Each ```python block runs; its trailing `# ...` comment lines are its exact output."""
    out = io.StringIO()

    with contextlib.redirect_stdout(out):
        exec(compile(block, str(README), "exec"), {})  # noqa: S102 - our own README

    promised = [line[2:] for line in block.splitlines() if line.startswith("# ")]
    assert out.getvalue().splitlines() == promised


def test_readme_has_the_how_to() -> None:
    """The how-to shows a filled paper order and the live-blocked result."""
    text = "\n".join(BLOCKS)

    assert "success=True state=FILLED stage=8" in text
    assert "success=False reason=POLICY_LIVE_NOT_ENABLED order=FAILED" in text


def test_readme_shows_reconciliation() -> None:
    """The reconciliation section's examples resolve a lost answer and hold an impossible one."""
    text = "\n".join(BLOCKS)

    assert "# DIFFERS AGREED 2 True" in text
    assert "# sent 1 time(s)" in text
    assert "# ['HELD'] SUBMITTED" in text


def _transcript(command: str) -> list[str]:
    """The output the README shows after ``$ <command>``, up to the next ``$`` line."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"$ {command}") + 1
    end = next(i for i in range(start, len(lines)) if lines[i].startswith(("$ ", "```")))
    return lines[start:end]


def test_readme_reconcile_transcript_is_what_the_command_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's `execfsm reconcile` example is the command's output after a lost answer."""
    from execfsm.cli import main
    from execfsm.testing import Fault
    from tests.test_cli_reconcile import _faulty_session, _intents, _row

    monkeypatch.chdir(tmp_path)
    db = Path("execfsm.db")
    file = _intents(Path("intents.jsonl"), _row("BTC/EUR", "a"), _row("ETH/EUR", "b"))
    assert main(["run", str(file), "--mode", "paper", "--db", str(db)]) == 0
    _faulty_session(db, [Fault.TIMEOUT_AFTER_SEND])
    capsys.readouterr()

    code = main(["reconcile", "--db", str(db)])

    assert capsys.readouterr().out.splitlines() == _transcript("execfsm reconcile --db execfsm.db")
    assert code == 0
