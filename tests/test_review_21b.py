"""
Hostile review 21b of the FIX 4.4 adapter: defects the first review left, each asserted on
what a user relies on (the order's state and flags, the position, how long a request
waits), with bounded waits so a defect fails instead of hanging.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from execfsm import OrderState
from execfsm.adapters.fix import load_config
from execfsm.adapters.fix import mapping as m
from execfsm.adapters.fix.adapter import FixAdapter
from execfsm.clock import SystemClock
from execfsm.errors import ConfigurationError
from execfsm.testing.fix_acceptor import FixAcceptor
from tests.fix_rig import FixRig, eventually

SECRET = "hunter2-Pa55word"  # noqa: S105 - a test credential


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[FixRig]:
    made = FixRig(tmp_path)
    yield made
    made.close()


def report(
    cl: str, exec_id: str, exec_type: str, status: str, **tags: str
) -> list[tuple[int, str]]:
    fields = {
        m.ORDER_ID: "O9",
        m.CL_ORD_ID: cl,
        m.EXEC_ID: exec_id,
        m.EXEC_TYPE: exec_type,
        m.ORD_STATUS: status,
        m.SYMBOL: "BTC/EUR",
        m.SIDE: "1",
        m.ORDER_QTY: "1",
        m.CUM_QTY: "0",
        m.LEAVES_QTY: "1",
        m.AVG_PX: "0",
    }
    for key, value in tags.items():
        fields[int(key[1:])] = value
    return [(t, v) for t, v in fields.items() if v != ""]


def in_background(call: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = call()
        except Exception as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


class TestReportsThatContradictThemselves:
    def test_a_canceled_report_whose_ordstatus_says_filled_is_not_a_plain_cancel(
        self, rig: FixRig
    ) -> None:
        """An ExecType 4 (Canceled) report whose OrdStatus is 2 (Filled, CumQty 1) is refused
        or flags the order: the venue says the order traded in full, so it is never just
        CANCELLED with no fill and no flag."""
        result = rig.submit("1", "50000")
        cid = rig.order(result).client_order_id
        assert rig.order(result).state is OrderState.ACKNOWLEDGED
        rig.venue.send_report(report(cid, "XC1", "4", "2", t14="1", t151="0", t6="50000"))
        rig.settle()

        order = rig.order(result)
        assert order.recon_flags or rig.adapter.refused_reports, order

    def test_a_trade_whose_cumqty_contradicts_the_fills_is_not_booked_silently(
        self, rig: FixRig
    ) -> None:
        """A Trade of LastQty 0.4 saying CumQty 1, LeavesQty 0, OrdStatus Filled (the venue
        counts 0.6 more than we were ever told of) is refused or flags the order: the gap
        is never hidden behind a plain PARTIALLY_FILLED."""
        result = rig.submit("1", "50000")
        cid = rig.order(result).client_order_id
        rig.venue.send_report(
            report(cid, "XT1", "F", "2", t32="0.4", t31="50000", t14="1", t151="0", t6="50000")
        )
        rig.settle()

        order = rig.order(result)
        assert order.recon_flags or rig.adapter.refused_reports, order

    def test_an_execution_report_without_ordstatus_is_refused(self, rig: FixRig) -> None:
        """An ExecutionReport missing OrdStatus (39), a required field of FIX 4.4, is refused
        as unreadable (kept in `refused_reports`), never applied."""
        result = rig.submit("1", "50000")
        cid = rig.order(result).client_order_id
        rig.venue.send_report(report(cid, "XN1", "4", ""))
        rig.settle()

        assert rig.adapter.refused_reports, rig.order(result)
        assert rig.order(result).state is OrderState.ACKNOWLEDGED


class TestSessionLevelReject:
    def test_a_session_reject_of_our_new_order_ends_the_submit_at_once(
        self, tmp_path: Path
    ) -> None:
        """A session-level Reject (35=3) naming our NewOrderSingle (RefMsgType D, RefSeqNum)
        ends the submit at once, visibly (like a BusinessMessageReject), rather than
        leaving it to wait the whole ResponseTimeout."""
        rig = FixRig(tmp_path, extra="ResponseTimeout=8\n")
        try:
            rig.venue.hold_next_request()
            started = time.monotonic()
            thread, out = in_background(lambda: rig.submit("1", "50000"))
            assert eventually(lambda: len(rig.venue.held) == 1)
            rig.venue.held.clear()
            from quickfix import Session  # the seq number of our 35=D, as the venue saw it

            session = Session.lookupSession(rig.venue._session)
            ref_seq = str(session.getExpectedTargetNum() - 1)
            rig.venue.send_report(
                [(45, ref_seq), (372, "D"), (373, "5"), (58, "Value is incorrect")], kind="3"
            )
            thread.join(12)
            took = time.monotonic() - started
            assert not thread.is_alive()
            assert took < 4, f"the submit waited {took:.1f}s for a Reject sent at once: {out}"
        finally:
            rig.close()


def test_a_second_adapter_on_the_same_settings_is_refused_and_never_crashes() -> None:
    """A second FixAdapter on the settings of a running one (same FileStorePath, same
    CompIDs) is refused with a ConfigurationError, the running one stays logged on, and
    stopping both ends the process normally (never a segfault)."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.review21b_two_adapters"],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "PYTHONFAULTHANDLER": ""},
        check=False,
    )
    lines = done.stdout.splitlines()
    assert lines, f"exit {done.returncode}: {done.stderr[-500:]}"
    seen = json.loads(lines[0])
    assert seen["first_logged_on"], seen
    assert done.returncode == 0, (
        f"the process died (exit {done.returncode}) stopping the adapters: {seen}"
    )
    assert lines[-1] == "stopped", done.stdout
    assert seen["refused"], f"a second adapter on the same store was started: {seen}"
    assert seen["first_still_logged_on"], f"the second adapter logged the first out: {seen}"


class TestReconcilingWhatWeMissed:
    def test_an_order_filled_while_its_reports_were_lost_stays_flagged_after_a_full_pass(
        self, rig: FixRig
    ) -> None:
        """An order the venue filled in full while its reports never reached us (a venue
        that reset its sequence numbers resends nothing): a full reconciliation pass finds
        the venue's CumQty 1 against no execution received, cannot complete the answer, and
        leaves the order flagged, so the next reconcile() asks again; it is never left
        ACKNOWLEDGED, unflagged, with position 0, forgotten by the next pass."""
        result = rig.submit("1", "50000")
        cid = rig.order(result).client_order_id
        held = rig.venue.book.find(cid)
        assert held is not None
        rig.venue.book.trade(held, Decimal(1), Decimal(50000))  # its report never sent

        rig.orch.reconcile(full=True)
        again = rig.orch.reconcile()

        order = rig.order(result)
        assert order.recon_flags, f"unflagged after the pass: {order.state} {rig.position()}"
        assert [c.client_order_id for c in again.checks] == [cid], again.checks


class TestCancelAfterAnUnansweredReplace:
    def test_the_venues_cancel_of_an_order_it_replaced_unanswered_is_taken(
        self, rig: FixRig
    ) -> None:
        """Our replace to quantity 2 reached the venue but its answer never came (outcome
        unknown); we then cancel, and the venue cancels the order and says so (ExecType 4,
        OrderQty 2, its truth): that answer is taken and the order ends CANCELLED, never
        refused as "not our order" leaving it PENDING_CANCEL while the venue has it
        cancelled."""
        result = rig.submit("1", "50000")
        cid = rig.order(result).client_order_id
        rig.venue.hold_next_request()  # the replace is taken, its answer never sent
        thread, _ = in_background(lambda: rig.orch.replace(cid, quantity="2"))
        assert eventually(lambda: len(rig.venue.held) == 1)
        thread.join(10)
        assert not thread.is_alive()
        assert rig.order(result).state is OrderState.PENDING_REPLACE  # unknown, flagged

        rig.orch.cancel(cid)
        rig.settle()

        held = rig.venue.book.find(cid)
        assert held is not None
        assert held.status == "4"  # the venue cancelled it
        assert rig.order(result).state is OrderState.CANCELLED, (
            rig.order(result).state,
            [r.reason for r in rig.adapter.refused_reports],
        )


class TestTls:
    def test_socket_use_ssl_never_logs_on_in_plain_text(self, tmp_path: Path) -> None:
        """With SocketUseSSL=Y (a key the README says passes through), the session runs over
        TLS or not at all: against a plain-text venue it never logs on, so the Logon with
        the password never crosses the wire in clear."""
        venue = FixAcceptor(tmp_path / "venue").start()
        config = tmp_path / "fix.cfg"
        config.write_text(
            venue.initiator_config(
                tmp_path / "ours", extra=f"SocketUseSSL=Y\nUsername=trader7\nPassword={SECRET}\n"
            )
        )
        adapter = None
        try:
            adapter = FixAdapter(load_config(config), SystemClock())
            try:
                came = adapter.start(wait=2)
            except ConfigurationError:
                came = False
            assert not came, "logged on in plain text although SocketUseSSL=Y"
            assert not venue.logged_on.wait(0.5), "the venue took a plain-text Logon"
        finally:
            if adapter is not None:
                adapter.stop(force=True)
            venue.stop()
