"""
The README's Python examples (and those of docs/*.md) run as written and print what their
comments say; its links to sections lead to sections; its reason-code table is complete.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
"""The engineering notes moved out of the README (docs/governance/ is generated)."""
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
EXAMPLES = [
    (path, block)
    for path in (README, *DOCS)
    for block in re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.S)
]


@pytest.mark.parametrize(
    ("path", "block"),
    EXAMPLES,
    ids=[f"{path.stem}-block{i}" for i, (path, _) in enumerate(EXAMPLES)],
)
def test_readme_example_prints_what_it_says(path: Path, block: str) -> None:
    """Each ```python block runs; its trailing `# ...` comment lines are its exact output."""
    out = io.StringIO()

    with contextlib.redirect_stdout(out):
        exec(compile(block, str(path), "exec"), {})  # noqa: S102 - our own docs

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


def _prose(path: Path) -> str:
    """A Markdown file without its code blocks and code spans, where links are not links."""
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    return re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", text)


def _anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown file (code blocks skipped)."""
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    anchors = set()
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


@pytest.mark.parametrize("path", [README, *DOCS, ROOT / "CHANGELOG.md"], ids=lambda p: p.name)
def test_links_to_sections_lead_to_sections(path: Path) -> None:
    """Every `](#anchor)` and `](file.md#anchor)` link names a heading of its file."""
    text = _prose(path)
    links = re.findall(r"\]\(([^)\s]*?)#([^)\s]+)\)", text)

    broken = [
        f"{target}#{anchor}"
        for target, anchor in links
        if anchor not in _anchors((path.parent / target) if target else path)
    ]

    assert broken == []


def test_links_to_files_lead_to_files() -> None:
    """Every relative link of the README and docs/ names a file or folder that exists."""
    broken = [
        f"{path.name}: {target}"
        for path in (README, *DOCS)
        for target in re.findall(r"\]\(([^)#\s:]+)(?:#[^)]*)?\)", _prose(path))
        if not (path.parent / target).exists()
    ]

    assert broken == []


def test_reason_code_table_lists_every_code() -> None:
    """The README's reason-code table has a row for every `ReasonCode` member, in enum order."""
    from execfsm import ReasonCode

    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Reason codes\n", 1)[1].split("\n## ")[0]
    rows = re.findall(r"^\| `([A-Z_]+)` \|", section, re.M)

    assert rows == [code.name for code in ReasonCode]
