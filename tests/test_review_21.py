"""
Hostile review 21 of the FIX 4.4 adapter: each test is a defect found at its edges, asserted
on what a user relies on (the order, the position, the venue's count of NewOrderSingles,
the files on disk), with bounded waits so a defect fails instead of hanging.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from execfsm import OrderState, ReasonCode
from execfsm.adapters.fix import load_config
from execfsm.adapters.fix import mapping as m
from execfsm.adapters.fix.adapter import FixAdapter
from execfsm.cli import main
from execfsm.clock import SystemClock
from execfsm.errors import ConfigurationError, VenueError
from execfsm.testing.fix_acceptor import FixAcceptor
from tests.fix_rig import FixRig, eventually

SECRET = "hunter2-Pa55word"  # noqa: S105 - a test credential


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[FixRig]:
    made = FixRig(tmp_path)
    yield made
    made.close()


def trade(cl: str, exec_id: str, qty: str, px: str) -> list[tuple[int, str]]:
    return [
        (m.ORDER_ID, "O9"),
        (m.CL_ORD_ID, cl),
        (m.EXEC_ID, exec_id),
        (m.EXEC_TYPE, "F"),
        (m.ORD_STATUS, "1"),
        (m.SYMBOL, "BTC/EUR"),
        (m.SIDE, "1"),
        (m.LAST_QTY, qty),
        (m.LAST_PX, px),
        (m.CUM_QTY, qty),
        (m.LEAVES_QTY, "0"),
        (m.AVG_PX, px),
    ]


def in_background(call: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Run `call` on a thread of its own; its result or exception lands in the dict."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = call()
        except Exception as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def files_holding(folder: Path, needle: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


class TestReportsForOrdersWeNeverSent:
    def test_a_trade_under_a_clordid_we_never_sent_books_nothing_via_orig_clordid(
        self, rig: FixRig
    ) -> None:
        """A Trade whose ClOrdID we never sent is refused (EVENT_UNKNOWN_ORDER) even when its
        OrigClOrdID names one of our orders: it never fills that order."""
        result = rig.submit("1", "50000")
        cid = rig.order(result).client_order_id
        rig.venue.send_report([*trade("not-ours-7", "S1", "1", "50000"), (m.ORIG_CL_ORD_ID, cid)])
        rig.settle()

        assert rig.order(result).filled_quantity == 0
        assert rig.position() == 0
        refused = [
            r for r in rig.orch.get_audit_log_snapshot() if r.client_order_id == "not-ours-7"
        ]
        assert [r.reason_code for r in refused] == [ReasonCode.EVENT_UNKNOWN_ORDER]


class TestHostileConfig:
    def test_a_key_given_twice_in_a_section_is_refused(self, tmp_path: Path) -> None:
        """A settings file naming SocketConnectHost twice is refused in one line naming the
        key, never silently connected to whichever value came last."""
        path = tmp_path / "fix.cfg"
        path.write_text(
            "[DEFAULT]\nHeartBtInt=30\nFileStorePath=var/fix\n"
            "[SESSION]\nSenderCompID=EXECFSM\nTargetCompID=VENUE\n"
            "SocketConnectHost=prod.venue.example\nSocketConnectPort=9876\n"
            "SocketConnectHost=uat.venue.example\n"
        )
        with pytest.raises(ConfigurationError, match="SocketConnectHost"):
            load_config(path)

    def test_persist_messages_cannot_be_turned_on_by_another_spelling(self, tmp_path: Path) -> None:
        """PersistMessages is always N, however the operator spells the key (QuickFIX reads
        keys case-insensitively), so the FIX store never holds the Logon's password."""
        rig = FixRig(tmp_path, extra=f"Password={SECRET}\npersistmessages=Y\n")
        try:
            rig.submit("0.1")
            rig.settle()
            assert rig.venue.logons[-1].get(554) == SECRET  # the Logon carried it
            assert files_holding(tmp_path / "ours", SECRET) == []
        finally:
            rig.close()

    def test_a_password_key_in_another_case_never_shows_in_the_config_repr(
        self, tmp_path: Path
    ) -> None:
        """A credential key spelled `password` (QuickFIX keys are case-insensitive) is a
        secret too: its value never appears in the config's repr or QuickFIX's settings."""
        path = tmp_path / "fix.cfg"
        path.write_text(
            f"[DEFAULT]\nHeartBtInt=30\nFileStorePath=var/fix\npassword={SECRET}\n"
            "[SESSION]\nSenderCompID=EXECFSM\nTargetCompID=VENUE\n"
            "SocketConnectHost=127.0.0.1\nSocketConnectPort=9876\n"
        )
        try:
            config = load_config(path)
        except ConfigurationError as exc:  # refusing the key is fine, if the value is hidden
            shown = str(exc)
        else:
            shown = repr(config) + str(dict(config.settings))
        assert SECRET not in shown


class TestStop:
    def test_after_a_forced_stop_a_submit_never_leaves_and_is_not_unknown(
        self, tmp_path: Path
    ) -> None:
        """After `stop(force=True)` the session is logged out: a submit is refused as not
        sent (TransientVenueError), never left flagged DISPATCH_OUTCOME_UNKNOWN for an
        order that never left."""
        rig = FixRig(tmp_path)
        try:
            rig.adapter.stop(force=True)
            result = rig.submit("1")
            assert result.order is None or (
                ReasonCode.DISPATCH_OUTCOME_UNKNOWN not in result.order.recon_flags
            )
            assert result.reason_code is not ReasonCode.ADAPTER_TIMEOUT
        finally:
            rig.venue.stop()


class TestCutLastLine:
    """A crash may cut the last line of the adapter's JSON-lines files (they say so); the
    next run must still write whole records after it."""

    def test_the_inbox_opens_again_after_a_cut_line_and_a_further_run(self, tmp_path: Path) -> None:
        """A run after a crash that cut the inbox's last line leaves an inbox the run after
        it can open: the adapter starts again."""
        venue = FixAcceptor(tmp_path / "venue").start()
        try:
            first = FixRig(tmp_path, venue=venue)
            first.submit("0.1")
            first.settle()
            first.adapter.stop(force=True)
            inbox = tmp_path / "ours" / "execfsm-inbox.jsonl"
            with inbox.open("a", encoding="utf-8") as out:
                out.write('{"in": 99, "event": {"ki')  # killed mid-write
            second = FixRig(tmp_path, venue=venue)
            later = second.submit("0.2")
            assert eventually(lambda: second.order(later).filled_quantity > 0)
            assert second.adapter.drain(5)
            second.adapter.stop(force=True)

            third = FixAdapter(load_config(tmp_path / "fix.cfg"), SystemClock())
            third.stop()
        finally:
            venue.stop()

    def test_a_clordid_sent_after_a_cut_journal_line_is_never_sent_again(
        self, tmp_path: Path
    ) -> None:
        """After a crash that cut the ClOrdID journal's last line, an order sent in the next
        run is still known as sent in the run after: re-submitting it sends no second 35=D."""
        venue = FixAcceptor(tmp_path / "venue").start()
        try:
            first = FixRig(tmp_path, venue=venue)
            first.submit("0.1")
            first.settle()
            first.adapter.stop(force=True)
            journal = tmp_path / "ours" / "execfsm-clordids.jsonl"
            with journal.open("a", encoding="utf-8") as out:
                out.write('{"cid": "ord-')  # killed mid-write
            second = FixRig(tmp_path, venue=venue)
            sent = second.submit("0.3", "50000", intent_id="once")
            cid = second.order(sent).client_order_id
            assert second.adapter.drain(5)
            second.adapter.stop(force=True)

            third = FixRig(tmp_path, venue=venue)
            try:
                again = third.submit("0.3", "50000", intent_id="once")
                assert again.order is not None
                assert again.order.client_order_id == cid
                assert venue.new_order_singles[cid] == 1
            finally:
                third.adapter.stop(force=True)
        finally:
            venue.stop()


class TestAnswersThatNameAnotherRequest:
    def test_a_status_answer_about_another_order_is_never_its_report(self, rig: FixRig) -> None:
        """`order_report(A)` never returns what the venue said about order B (its ClOrdID,
        its state): an answer naming another ClOrdID is refused, not taken as A's."""
        a = rig.submit("1", "50000")
        b = rig.submit("1", "50000")
        a_id, b_id = rig.order(a).client_order_id, rig.order(b).client_order_id
        rig.orch.cancel(b_id)
        rig.settle()
        assert rig.order(b).state is OrderState.CANCELLED
        rig.venue.hold_next_request()  # the venue takes the 35=H and answers ...
        thread, out = in_background(lambda: rig.adapter.order_report(a_id))
        assert eventually(lambda: len(rig.venue.held) == 1)
        request_id = rig.adapter.requests[-1][1]
        about_b = rig.venue.book.status(  # ... about B, under A's request id
            rig.venue.book.find(b_id), b_id, [(m.ORD_STATUS_REQ_ID, request_id)]
        )
        rig.venue.send_report(about_b)
        thread.join(10)

        assert not thread.is_alive()
        report = out.get("result")
        assert isinstance(out.get("error"), VenueError) or (
            report is not None and report.state is OrderState.ACKNOWLEDGED
        ), report

    def test_a_cancel_reject_answering_a_replace_never_leaves_it_pending_unflagged(
        self, rig: FixRig
    ) -> None:
        """An OrderCancelReject naming our replace's ClOrdID (whatever its CxlRejResponseTo
        says) ends the replace or flags the order: it is never left PENDING_REPLACE, unflagged,
        even after a reconciliation."""
        result = rig.submit("1", "50000")
        cid = rig.order(result).client_order_id
        rig.venue.hold_next_request()
        thread, _ = in_background(lambda: rig.orch.replace(cid, quantity="2"))
        assert eventually(lambda: len(rig.venue.held) == 1)
        replace_id = rig.venue.received[-1][1]
        rig.venue.send_report(
            [
                (m.ORDER_ID, "O1"),
                (m.CL_ORD_ID, replace_id),
                (m.ORIG_CL_ORD_ID, cid),
                (m.ORD_STATUS, "0"),
                (m.CXL_REJ_RESPONSE_TO, "1"),
                (m.TEXT, "too late to replace"),
            ],
            kind="9",
        )
        thread.join(10)
        assert not thread.is_alive()
        rig.orch.reconcile()

        order = rig.order(result)
        assert order.state is not OrderState.PENDING_REPLACE or order.recon_flags, order


class TestRestartAndDemo:
    def test_a_stopped_adapter_started_again_delivers_the_venues_later_reports(
        self, tmp_path: Path
    ) -> None:
        """After `stop()` and `start()` again the session logs on and the venue's later
        reports (the fills after the ACK) reach the orchestrator, as on the first start."""
        rig = FixRig(tmp_path, partial_fills=("0.4", "0.6"))
        try:
            rig.adapter.stop()
            assert rig.adapter.start(wait=5)
            result = rig.submit("0.5")
            assert eventually(lambda: rig.order(result).filled_quantity == Decimal("0.5"), 3)
            assert rig.position() == Decimal("0.5")
        finally:
            rig.close()

    def test_the_fix_demo_never_deletes_a_folder_it_did_not_write(self, tmp_path: Path) -> None:
        """`execfsm demo --venue fix --out DIR` leaves a user's file in DIR/fix alone (the
        paper demo removes only its own files; --db that exists is refused)."""
        out = tmp_path / "out"
        (out / "fix").mkdir(parents=True)
        mine = out / "fix" / "notes.txt"
        mine.write_text("the operator's own notes")

        code = main(["demo", "--venue", "fix", "--out", str(out)])

        assert mine.exists(), f"demo exited {code} and removed {mine}"


class TestTermsTheVenueChanged:
    def test_an_ack_for_a_thousand_times_the_quantity_is_not_taken_silently(
        self, rig: FixRig
    ) -> None:
        """An ACK (ExecType 0) whose OrderQty is 1000 for our order of 1 is refused or flags
        the order: the venue working another quantity than ours is never a plain ACK."""
        rig.venue.hold_next_request()
        thread, out = in_background(lambda: rig.submit("1", "50000"))
        assert eventually(lambda: len(rig.venue.held) == 1)
        kind, fields = rig.venue.held[0]
        rig.venue.held[0] = (
            kind,
            [(t, "1000" if t in (m.ORDER_QTY, m.LEAVES_QTY) else v) for t, v in fields],
        )
        rig.venue.release_held()
        thread.join(10)
        assert not thread.is_alive()
        rig.settle()

        order = rig.order(out["result"])
        assert order.recon_flags or rig.adapter.refused_reports, order

    def test_a_buy_filled_above_its_limit_is_not_booked_silently(self, rig: FixRig) -> None:
        """A Trade for a buy limit 50000 at LastPx 70000 (through the limit) is refused or
        flags the order: it is never booked as a plain fill."""
        result = rig.submit("1", "50000")
        cid = rig.order(result).client_order_id
        rig.venue.send_report(trade(cid, "L1", "1", "70000"))
        rig.settle()

        order = rig.order(result)
        assert rig.position() == 0 or order.recon_flags, order


def test_the_fix_demo_without_quickfix_says_so_in_one_line(tmp_path: Path) -> None:
    """`execfsm demo --venue fix` where QuickFIX is not installed exits non-zero with one
    line naming what to install (execfsm[fix]), never a traceback."""
    script = (
        "import sys\n"
        "sys.modules['quickfix'] = None  # QuickFIX not installed\n"
        "from execfsm.cli import main\n"
        f"sys.exit(main(['demo', '--venue', 'fix', '--out', {str(tmp_path / 'out')!r}]))\n"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter, our own script
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")},
        check=False,
    )

    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr[-400:]
    assert "execfsm[fix]" in done.stderr or "quickfix" in done.stderr.lower()


def run_support(mode: str) -> subprocess.CompletedProcess[str]:
    """`tests.review21_double_start` in a process of its own (bounded)."""
    root = Path(__file__).parents[1]
    return subprocess.run(  # noqa: S603 - our own interpreter and support module
        [sys.executable, "-m", "tests.review21_double_start", mode],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=root,
        env={**os.environ, "PYTHONPATH": f"{root / 'src'}{os.pathsep}{root}"},
        check=False,
    )


class TestProcessCrashes:
    def test_starting_the_adapter_twice_never_crashes_the_process(self) -> None:
        """A second `adapter.start()` on a running adapter is refused or does nothing; the
        process never dies (here: a segmentation fault, the first running QuickFIX
        initiator dropped while its thread runs)."""
        done = run_support("twice")

        assert done.returncode == 0, (done.returncode, done.stdout, done.stderr[-300:])
        assert "DONE" in done.stdout

    def test_a_started_adapter_dropped_unstopped_never_crashes_the_process(self) -> None:
        """A started adapter that goes out of scope without `stop()` (an exception in the
        caller's code) never kills the process (here: a segmentation fault when collected)."""
        done = run_support("dropped")

        assert done.returncode == 0, (done.returncode, done.stdout, done.stderr[-300:])
        assert "DONE" in done.stdout
