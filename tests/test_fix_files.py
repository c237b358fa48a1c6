"""
The FIX adapter's own files (the ClOrdID journal, the inbox) after a crash during their very
first write: the torn record is cut off and the adapter starts again, never refused for good.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from execfsm.adapters.fix._inbox import Inbox
from execfsm.adapters.fix._journal import ClOrdIdJournal
from execfsm.adapters.fix.mapping import OrderRef
from execfsm.contracts import OrderSide
from execfsm.errors import ConfigurationError

_REF = OrderRef("ord-1", "cor-1", "BTC/EUR", OrderSide.BUY, Decimal("0.5"), Decimal("50000"))


class TestTornFirstRecord:
    def test_a_journal_whose_only_line_is_torn_opens_empty_and_records_again(
        self, tmp_path: Path
    ) -> None:
        """A crash during the journal's first write (its ClOrdID was never sent) leaves a
        journal that opens empty, cut to nothing, and keeps the next record whole."""
        path = tmp_path / "execfsm-clordids.jsonl"
        path.write_text('{"clordid": "ord-1", "ci')

        journal = ClOrdIdJournal(path)
        journal.record("ord-1", _REF, "D")
        again = ClOrdIdJournal(path)

        assert again.sent("ord-1")
        assert again.ref("ord-1") == _REF
        assert path.read_text().count("\n") == 1

    def test_an_inbox_whose_only_line_is_torn_opens_empty(self, tmp_path: Path) -> None:
        """A crash during the inbox's first write leaves an inbox that opens with nothing
        pending, the torn record cut off the file."""
        path = tmp_path / "execfsm-inbox.jsonl"
        path.write_text('{"in": 1, "event": {"ki')

        inbox = Inbox(path)

        assert inbox.pending == []
        assert inbox.history == []
        assert path.read_bytes() == b""

    def test_a_first_line_that_is_no_record_is_still_refused(self, tmp_path: Path) -> None:
        """Text that is not the beginning of a record is not taken for a torn line: the
        journal is refused and left as it was."""
        path = tmp_path / "execfsm-clordids.jsonl"
        path.write_text("not a journal")

        with pytest.raises(ConfigurationError):
            ClOrdIdJournal(path)

        assert path.read_text() == "not a journal"
