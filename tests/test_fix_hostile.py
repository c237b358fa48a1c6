"""
A lying or broken venue over FIX: reports for orders we never sent, fills beyond the
quantity, unreadable numbers, negative prices, unknown ExecTypes. None is applied silently
and none stops QuickFIX's thread: each is refused where it can be seen (the audit trail, the
order's flags, the adapter's refused reports and the log), and the session goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from execfsm import OrderState, ReasonCode
from execfsm.adapters.fix import mapping as m
from tests.fix_rig import FixRig, eventually


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


def still_works(rig: FixRig) -> None:
    """The session still takes and answers an order."""
    result = rig.submit("0.1")
    rig.settle()
    assert rig.order(result).state is OrderState.FILLED


class TestRefusedUpstream:
    """Readable reports the order machine refuses, in the audit trail."""

    def test_a_report_for_an_unknown_clordid_is_refused_in_the_trail(self, rig: FixRig) -> None:
        """A Trade naming a ClOrdID we never sent is audited refused EVENT_UNKNOWN_ORDER."""
        rig.venue.send_report(trade("nobody", "XX1", "1", "100"))
        rig.settle()

        refused = [r for r in rig.orch.get_audit_log_snapshot() if r.client_order_id == "nobody"]
        assert [r.reason_code for r in refused] == [ReasonCode.EVENT_UNKNOWN_ORDER]
        assert rig.orch.get_position_ledger_snapshot() == {}
        still_works(rig)

    def test_a_fill_beyond_the_quantity_is_refused_and_flagged(self, rig: FixRig) -> None:
        """A Trade taking more than the order's quantity is refused FILL_OVERFILL; no position."""
        result = rig.submit("1", "50000")
        cid = rig.order(result).client_order_id
        rig.venue.send_report(trade(cid, "XX2", "1.5", "50000"))
        rig.settle()

        order = rig.order(result)
        assert order.filled_quantity == 0
        assert ReasonCode.FILL_OVERFILL in order.recon_flags
        assert rig.trail(order)[-1].reason_code is ReasonCode.FILL_OVERFILL
        assert rig.position() == 0


class TestRefusedByTheAdapter:
    """Reports the adapter cannot read: refused, logged, kept, never applied."""

    @pytest.mark.parametrize(
        ("qty", "px", "why"),
        [
            ("abc", "100", "LastQty(32) is not a decimal"),
            ("1e3", "100", "LastQty(32) is not a decimal"),
            ("0.5", "-100", "fill price"),
            ("0", "100", "fill quantity"),
            ("0.5", "NaN", "LastPx(31) is not a decimal"),
        ],
    )
    def test_an_unreadable_trade_is_refused_and_the_session_lives(
        self, rig: FixRig, caplog: pytest.LogCaptureFixture, qty: str, px: str, why: str
    ) -> None:
        """A Trade with a non-numeric, exponent, zero or negative figure is refused visibly."""
        result = rig.submit("1", "50000")
        cid = rig.order(result).client_order_id
        with caplog.at_level(logging.ERROR):
            rig.venue.send_report(trade(cid, "XX3", qty, px))
            assert eventually(lambda: len(rig.adapter.refused_reports) == 1)

        assert why in rig.adapter.refused_reports[0].reason
        assert rig.adapter.refused_reports[0].cl_ord_id == cid
        assert "FIX message refused" in caplog.text
        assert rig.order(result).filled_quantity == 0
        still_works(rig)

    @pytest.mark.parametrize(("tag", "value"), [(m.SIDE, "2"), (m.SYMBOL, "ETH/EUR")])
    def test_a_trade_with_other_terms_than_the_order_is_refused(
        self, rig: FixRig, tag: int, value: str
    ) -> None:
        """A Trade naming our order with another Side or Symbol is refused, nothing booked."""
        result = rig.submit("1", "50000")
        cid = rig.order(result).client_order_id
        rig.venue.send_report(
            [(t, value if t == tag else v) for t, v in trade(cid, "X7", "1", "1")]
        )

        assert eventually(lambda: len(rig.adapter.refused_reports) == 1)
        assert "the order is BUY BTC/EUR" in rig.adapter.refused_reports[0].reason
        assert rig.order(result).filled_quantity == 0
        assert rig.orch.get_position_ledger_snapshot() == {}

    def test_an_unsolicited_duplicate_clordid_reject_rejects_nothing(self, rig: FixRig) -> None:
        """OrdRejReason 6 (duplicate ClOrdID) says the order is there: never a REJECT of it."""
        result = rig.submit("1", "50000")
        cid = rig.order(result).client_order_id
        fields = [(t, "8" if t == m.EXEC_TYPE else v) for t, v in trade(cid, "X8", "1", "1")]
        rig.venue.send_report([*fields, (m.ORD_REJ_REASON, "6")])

        assert eventually(lambda: len(rig.adapter.refused_reports) == 1)
        assert "already holds ClOrdID" in rig.adapter.refused_reports[0].reason
        assert rig.order(result).state is OrderState.ACKNOWLEDGED

    def test_an_unknown_exec_type_is_refused(self, rig: FixRig) -> None:
        """ExecType D (Restated) is not one execfsm reads: refused, nothing applied."""
        result = rig.submit("1", "50000")
        cid = rig.order(result).client_order_id
        fields = [(t, "D" if t == m.EXEC_TYPE else v) for t, v in trade(cid, "XX4", "1", "1")]
        rig.venue.send_report(fields)

        assert eventually(lambda: len(rig.adapter.refused_reports) == 1)
        assert "ExecType(150) 'D'" in rig.adapter.refused_reports[0].reason
        assert rig.order(result).state is OrderState.ACKNOWLEDGED

    def test_a_message_type_we_do_not_read_is_refused(self, rig: FixRig) -> None:
        """An application message other than 35=8 or 35=9 is refused, named by its MsgType."""
        rig.venue.send_report([(m.TEXT, "hello")], kind="B")

        assert eventually(lambda: len(rig.adapter.refused_reports) == 1)
        assert "MsgType B" in rig.adapter.refused_reports[0].reason
        still_works(rig)

    def test_a_report_without_exec_id_is_refused(self, rig: FixRig) -> None:
        """A Trade without ExecID cannot be de-duplicated: refused."""
        result = rig.submit("1", "50000")
        cid = rig.order(result).client_order_id
        rig.venue.send_report([f for f in trade(cid, "X", "1", "1") if f[0] != m.EXEC_ID])

        assert eventually(lambda: len(rig.adapter.refused_reports) == 1)
        assert "ExecID(17) is missing" in rig.adapter.refused_reports[0].reason
        assert rig.position() == Decimal(0)


def test_a_business_reject_of_our_new_order_ends_it_at_once_unknown(rig: FixRig) -> None:
    """A BusinessMessageReject (35=j) naming our NewOrderSingle's ClOrdID ends the submit at
    once (not after ResponseTimeout), its outcome unknown: the order is flagged."""
    rig.venue.hold_next_request()  # the venue takes the 35=D and never answers it
    out: dict[str, object] = {}
    began = time.monotonic()
    thread = threading.Thread(target=lambda: out.update(result=rig.submit("1", "50000")))
    thread.start()
    assert eventually(lambda: len(rig.venue.held) == 1)
    cid = rig.venue.received[-1][1]
    rig.venue.send_report(
        [
            (m.REF_MSG_TYPE, "D"),
            (m.BUSINESS_REJECT_REF_ID, cid),
            (m.BUSINESS_REJECT_REASON, "3"),
            (m.TEXT, "unsupported"),
            (45, "2"),  # RefSeqNum
        ],
        kind="j",
    )
    thread.join(10)

    assert time.monotonic() - began < 1.5  # ResponseTimeout is 2 s
    order = rig.order(out["result"])  # type: ignore[arg-type]
    assert ReasonCode.DISPATCH_OUTCOME_UNKNOWN in order.recon_flags
    assert rig.adapter.refused_reports == []
