"""
End to end over FIX 4.4: the orchestrator, the `FixAdapter` and the scripted acceptor, one
ExecType (or reject path) at a time, each asserted on the order, its fills, the position and
the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from execfsm import OrderState, ReasonCode
from tests.fix_rig import FixRig, eventually


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[FixRig]:
    made = FixRig(tmp_path, partial_fills=("0.4", "0.6"))
    yield made
    made.close()


def outcomes(rig: FixRig, result: object) -> list[tuple[str, str]]:
    order = rig.order(result)  # type: ignore[arg-type]
    return [(r.event, str(r.outcome)) for r in rig.trail(order)]


class TestNewAndTrade:
    """ExecType 0 New and F Trade."""

    def test_a_market_order_is_acknowledged_then_filled_in_two_parts(self, rig: FixRig) -> None:
        """A market buy is ACKed at once, its two Trade reports fill it, the position grows."""
        result = rig.submit("0.5")
        rig.settle()
        order = rig.order(result)

        assert result.success
        assert result.order is not None
        assert result.order.state is OrderState.ACKNOWLEDGED
        assert order.state is OrderState.FILLED
        assert order.filled_quantity == Decimal("0.5")
        assert order.venue_order_id == "O1"
        assert rig.position() == Decimal("0.5")
        assert outcomes(rig, result) == [
            ("submit", "applied"),
            ("acknowledge", "applied"),
            ("fill", "applied"),
            ("fill", "applied"),
        ]
        assert rig.venue.new_order_singles[order.client_order_id] == 1

    def test_the_venue_knows_the_order_by_its_client_order_id(self, rig: FixRig) -> None:
        """ClOrdID is our client order id, derived from the idempotency key: the venue echoes it."""
        result = rig.submit("0.1", intent_id="same")
        order = rig.order(result)

        assert rig.venue.received[0] == ("D", order.client_order_id)
        assert rig.venue.book.find(order.client_order_id) is not None

    def test_a_resting_limit_fills_when_the_price_moves(self, rig: FixRig) -> None:
        """A limit below the market rests ACKNOWLEDGED; a price move fills it via the sink."""
        result = rig.submit("0.2", "59000")
        assert rig.order(result).state is OrderState.ACKNOWLEDGED

        rig.venue.set_price("BTC/EUR", "58900")
        rig.settle()

        order = rig.order(result)
        assert order.state is OrderState.FILLED
        assert order.average_fill_price == Decimal("58900")
        assert rig.position() == Decimal("0.2")

    def test_a_fee_reported_as_commission_is_booked(self, tmp_path: Path) -> None:
        """Commission (12) with CommType 3 is the fill's fee, exactly."""
        from execfsm.testing.fix_acceptor import FixAcceptor

        venue = FixAcceptor(tmp_path / "v", fee_bps=10).start()
        rig = FixRig(tmp_path, venue=venue)
        try:
            result = rig.submit("0.5")
            rig.settle()
            assert rig.order(result).fees == Decimal("30.0")
        finally:
            rig.close()


class TestRejects:
    """ExecType 8 Rejected and OrderCancelReject (35=9)."""

    def test_a_rejected_order_ends_rejected_with_no_position(self, rig: FixRig) -> None:
        """A venue reject is REJECTED with ADAPTER_REJECTED and the venue's text in the trail."""
        rig.venue.reject_symbols.add("ETH/EUR")
        result = rig.submit("1", symbol="ETH/EUR")
        order = rig.order(result)

        assert not result.success
        assert order.state is OrderState.REJECTED
        assert order.reason_code is ReasonCode.ADAPTER_REJECTED
        assert rig.position("ETH/EUR") == 0
        assert any("unknown symbol ETH/EUR" in r.detail for r in rig.trail(order))

    def test_a_cancel_rejected_by_the_venue_returns_the_order(self, rig: FixRig) -> None:
        """35=9 with CxlRejResponseTo 1 is a CANCEL_REJECT: the order is working again."""
        result = rig.submit("1", "50000")
        rig.venue.reject_cancels = True
        outcome = rig.orch.cancel(rig.order(result).client_order_id)

        assert outcome.order is not None
        assert outcome.order.state is OrderState.ACKNOWLEDGED
        assert ("cancel_reject", "applied") in outcomes(rig, result)

    def test_a_replace_rejected_by_the_venue_keeps_the_terms(self, rig: FixRig) -> None:
        """35=9 with CxlRejResponseTo 2 is a REPLACE_REJECT: quantity and price unchanged."""
        result = rig.submit("1", "50000")
        rig.venue.reject_replaces = True
        rig.orch.replace(rig.order(result).client_order_id, quantity="2", limit_price="50500")

        order = rig.order(result)
        assert order.state is OrderState.ACKNOWLEDGED
        assert order.quantity == Decimal(1)
        assert order.limit_price == Decimal(50000)
        assert order.venue_client_order_id is None
        assert ("replace_reject", "applied") in outcomes(rig, result)


class TestCancelReplace:
    """ExecType 4 Canceled and 5 Replaced, OrigClOrdID chaining."""

    def test_a_cancel_request_is_acknowledged(self, rig: FixRig) -> None:
        """35=F under a ClOrdID of its own, OrigClOrdID the order's: CANCELLED."""
        result = rig.submit("1", "50000")
        cid = rig.order(result).client_order_id
        outcome = rig.orch.cancel(cid)

        assert outcome.order is not None
        assert outcome.order.state is OrderState.CANCELLED
        assert rig.venue.received[-1] == ("F", f"{cid}.c1")
        assert rig.venue.book.find(cid) is not None
        assert rig.venue.book.find(cid).status == "4"  # type: ignore[union-attr]

    def test_a_replace_chains_the_client_order_ids(self, rig: FixRig) -> None:
        """35=G: new ClOrdID, OrigClOrdID the current one; a second replace chains on the first."""
        result = rig.submit("1", "50000")
        cid = rig.order(result).client_order_id
        rig.orch.replace(cid, quantity="2")
        rig.orch.replace(cid, limit_price="51000")

        order = rig.order(result)
        assert order.quantity == Decimal(2)
        assert order.limit_price == Decimal(51000)
        assert order.venue_client_order_id == f"{cid}.r2"
        assert rig.venue.received[-2:] == [("G", f"{cid}.r1"), ("G", f"{cid}.r2")]
        assert rig.venue.book.find(f"{cid}.r2") is rig.venue.book.find(cid)

    def test_a_fill_under_the_replaced_id_fills_our_order(self, rig: FixRig) -> None:
        """A Trade report naming the new ClOrdID is applied to the order."""
        result = rig.submit("1", "50000")
        cid = rig.order(result).client_order_id
        rig.orch.replace(cid, quantity="2")
        rig.venue.fill(f"{cid}.r1", "2", "50000")
        rig.settle()

        assert rig.order(result).state is OrderState.FILLED
        assert rig.position() == Decimal(2)


class TestVenueEndings:
    """ExecType 4 unsolicited, C Expired, 3 Done for day, and a fill after a cancel."""

    @pytest.mark.parametrize("ending", ["cancel", "expire", "done_for_day"])
    def test_the_venue_ends_a_resting_order(self, rig: FixRig, ending: str) -> None:
        """An unsolicited cancel is CANCELLED; Expired and Done for day are EXPIRED."""
        result = rig.submit("1", "50000")
        getattr(rig.venue, ending)(rig.order(result).client_order_id)
        rig.settle()

        expected = OrderState.CANCELLED if ending == "cancel" else OrderState.EXPIRED
        assert rig.order(result).state is expected
        assert rig.order(result).remaining_quantity == 0

    def test_a_fill_after_a_cancel_is_booked_and_flagged(self, rig: FixRig) -> None:
        """A late Trade on a cancelled order is booked, the order stays CANCELLED and is flagged."""
        result = rig.submit("1", "50000")
        cid = rig.order(result).client_order_id
        rig.orch.cancel(cid)
        rig.venue.fill(cid, "0.3", "50000")
        rig.settle()

        order = rig.order(result)
        assert order.state is OrderState.CANCELLED
        assert rig.position() == Decimal("0.3")
        assert ReasonCode.FILL_AFTER_FINAL in order.recon_flags


class TestBustAndCorrect:
    """ExecType H Trade Cancel and G Trade Correct."""

    def test_a_busted_fill_is_taken_back(self, rig: FixRig) -> None:
        """Trade Cancel names the ExecID: the fill and its position are reversed."""
        result = rig.submit("1", "50000")
        cid = rig.order(result).client_order_id
        exec_id = rig.venue.fill(cid, "0.4", "50000")
        rig.settle()
        assert rig.position() == Decimal("0.4")

        rig.venue.bust(cid, exec_id)
        rig.settle()

        order = rig.order(result)
        assert order.filled_quantity == 0
        assert rig.position() == 0
        assert ("trade_bust", "applied") in outcomes(rig, result)

    def test_a_corrected_fill_takes_its_new_terms(self, rig: FixRig) -> None:
        """Trade Correct replaces the execution's quantity and price under a new ExecID."""
        result = rig.submit("1", "50000")
        cid = rig.order(result).client_order_id
        exec_id = rig.venue.fill(cid, "0.4", "50000")
        rig.settle()
        rig.venue.correct(cid, exec_id, "0.3", "49000")
        rig.settle()

        order = rig.order(result)
        assert order.filled_quantity == Decimal("0.3")
        assert order.average_fill_price == Decimal(49000)
        assert rig.position() == Decimal("0.3")
        assert ("trade_correct", "applied") in outcomes(rig, result)


class TestDuplicates:
    """ExecID de-duplication, PossDupFlag and PossResend."""

    @pytest.mark.parametrize("flag", [43, 97])
    def test_a_resent_execution_is_a_visible_duplicate(self, rig: FixRig, flag: int) -> None:
        """The same ExecID again (PossDup or PossResend) fills nothing twice: audited duplicate."""
        result = rig.submit("1", "50000")
        cid = rig.order(result).client_order_id
        exec_id = rig.venue.fill(cid, "0.4", "50000")
        rig.settle()
        rig.venue.resend(exec_id, flag=flag)
        rig.settle()

        order = rig.order(result)
        assert order.filled_quantity == Decimal("0.4")
        assert rig.position() == Decimal("0.4")
        assert outcomes(rig, result)[-1] == ("fill", "duplicate")


class TestSequenceGap:
    """A gap in the venue's sequence numbers is filled by QuickFIX's resend protocol."""

    def test_a_gap_is_asked_for_and_the_message_processed_once(self, rig: FixRig) -> None:
        """The venue skips two MsgSeqNums: we send a ResendRequest, the fill is applied once."""
        result = rig.submit("1", "50000")
        cid = rig.order(result).client_order_id
        rig.venue.skip_sequence(2)
        rig.venue.fill(cid, "1", "50000")

        assert eventually(lambda: rig.order(result).state is OrderState.FILLED)
        rig.settle()
        assert rig.venue.admin_received["2"] >= 1
        assert rig.position() == Decimal(1)
        assert [e for e, _ in outcomes(rig, result)].count("fill") == 1
