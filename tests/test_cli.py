"""
The ``execfsm`` command line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from execfsm.cli import main
from execfsm.ledger.audit import AuditLog
from tests.test_audit import run_session


@pytest.fixture
def trail(tmp_path: Path, audit: AuditLog) -> Path:
    run_session(audit)
    path = tmp_path / "audit.jsonl"
    path.write_text(audit.export_jsonl(), encoding="utf-8")
    return path


class TestAuditVerify:
    def test_intact_trail_passes(self, trail: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """An untouched export verifies with exit 0."""
        code = main(["audit", "verify", str(trail)])

        assert code == 0
        assert "6 records, chain intact" in capsys.readouterr().out

    def test_tampered_trail_names_the_record(
        self, trail: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Changing one record's target fails with exit 1 naming that record's seq."""
        lines = trail.read_text().splitlines()
        record = json.loads(lines[2])
        record["target"] = "FILLED"
        lines[2] = json.dumps(record)
        trail.write_text("\n".join(lines) + "\n")

        code = main(["audit", "verify", str(trail)])

        assert code == 1
        assert "record seq 3" in capsys.readouterr().err

    def test_truncated_line_is_reported(
        self, trail: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A truncated line is reported by line number, not as a traceback."""
        trail.write_text(trail.read_text()[:-40])

        code = main(["audit", "verify", str(trail)])

        assert code == 1
        assert "line 6" in capsys.readouterr().err

    def test_missing_file_is_bad_input(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A missing file exits 2 with a message naming it."""
        code = main(["audit", "verify", str(tmp_path / "nope.jsonl")])

        assert code == 2
        assert "nope.jsonl" in capsys.readouterr().err
