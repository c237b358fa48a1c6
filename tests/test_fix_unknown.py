"""
Over FIX, a request the venue may have taken but did not answer (a dropped connection, a
timeout) is an unknown outcome: the order stays SUBMITTED and flagged, nothing is sent
twice, and reconciliation resolves it with a status request once the session is back.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from execfsm import OrderState, ReasonCode
from execfsm.adapters.fix import load_config
from execfsm.adapters.fix.adapter import FixAdapter
from execfsm.errors import OutcomeUnknown
from execfsm.reconciliation.findings import FindingKind
from tests.fix_rig import FixRig, eventually


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[FixRig]:
    made = FixRig(tmp_path, attempts=3, extra="ResponseTimeout=0.5\n")
    yield made
    made.close()


def sent_new_orders(rig: FixRig, cid: str) -> int:
    return rig.adapter.requests.count(("D", cid))


class TestDroppedConnection:
    """The venue takes a NewOrderSingle and drops the connection before it answers."""

    def test_a_dropped_dispatch_is_resolved_by_a_status_request(self, rig: FixRig) -> None:
        """Unknown outcome, flagged; after the reconnect a status request ACKs it; one 35=D."""
        rig.venue.drop_next_request()
        result = rig.submit("1", "50000")
        order = rig.order(result)

        assert order.state is OrderState.SUBMITTED
        assert ReasonCode.DISPATCH_OUTCOME_UNKNOWN in order.recon_flags
        assert eventually(lambda: rig.adapter.logged_on)
        report = rig.orch.reconcile()

        assert report.checks[0].finding is FindingKind.DIFFERS
        assert rig.order(result).state is OrderState.ACKNOWLEDGED
        assert rig.order(result).recon_flags == ()
        assert rig.venue.new_order_singles[order.client_order_id] == 1
        assert sent_new_orders(rig, order.client_order_id) == 1

    def test_answers_sent_while_down_arrive_by_resend(self, rig: FixRig) -> None:
        """The venue filled it while we were down: the resent reports fill it, recon agrees."""
        rig.venue.drop_next_request(answer_later=True)
        result = rig.submit("0.5")
        cid = rig.order(result).client_order_id
        assert rig.order(result).state is OrderState.SUBMITTED

        assert eventually(lambda: rig.order(result).state is OrderState.FILLED)
        rig.settle()
        report = rig.orch.reconcile()

        assert rig.position() == Decimal("0.5")
        assert report.checks[0].finding is FindingKind.AGREES
        assert rig.venue.new_order_singles[cid] == 1
        assert sent_new_orders(rig, cid) == 1

    def test_executions_never_received_leave_the_order_flagged(self, rig: FixRig) -> None:
        """The venue filled it and never told us: the status answer is incomplete, nothing is
        guessed, the order stays flagged and the pass says why."""
        rig.venue.drop_next_request()
        result = rig.submit("0.5")
        assert eventually(lambda: rig.adapter.logged_on)
        report = rig.orch.reconcile()

        order = rig.order(result)
        assert order.state is OrderState.SUBMITTED
        assert ReasonCode.DISPATCH_OUTCOME_UNKNOWN in order.recon_flags
        assert report.checks[0].finding is FindingKind.UNANSWERED
        assert "incomplete" in report.checks[0].detail
        assert rig.position() == 0


class TestTimeout:
    """The venue takes a request and never answers it."""

    def test_an_unanswered_submit_is_unknown_then_reconciled(self, rig: FixRig) -> None:
        """After ResponseTimeout the outcome is unknown; three attempts send one 35=D."""
        rig.venue.hold_next_request()
        result = rig.submit("1", "50000")
        cid = rig.order(result).client_order_id

        assert rig.order(result).state is OrderState.SUBMITTED
        assert sent_new_orders(rig, cid) == 1
        rig.orch.reconcile()
        assert rig.order(result).state is OrderState.ACKNOWLEDGED
        assert rig.venue.new_order_singles[cid] == 1

    def test_an_answer_after_the_timeout_is_applied_late(self, rig: FixRig) -> None:
        """The venue answers after ResponseTimeout: the late ACK and fills reach the order,
        the flag stays for reconciliation, which then agrees; one 35=D."""
        rig.venue.hold_next_request()
        result = rig.submit("0.5")
        cid = rig.order(result).client_order_id
        assert rig.order(result).state is OrderState.SUBMITTED

        rig.venue.release_held()
        rig.settle()
        assert rig.order(result).state is OrderState.FILLED
        assert rig.position() == Decimal("0.5")
        report = rig.orch.reconcile()

        assert report.checks[0].finding is FindingKind.AGREES
        assert rig.order(result).recon_flags == ()
        assert rig.venue.new_order_singles[cid] == 1
        assert sent_new_orders(rig, cid) == 1

    def test_an_unanswered_cancel_leaves_the_order_pending_then_reconciled(
        self, rig: FixRig
    ) -> None:
        """A cancel with no answer is an unknown outcome; the status request finds it CANCELLED."""
        result = rig.submit("1", "50000")
        cid = rig.order(result).client_order_id
        rig.venue.hold_next_request()
        rig.orch.cancel(cid)

        assert rig.order(result).state is OrderState.PENDING_CANCEL
        rig.orch.reconcile()
        assert rig.order(result).state is OrderState.CANCELLED

    def test_an_unanswered_replace_is_resolved_by_the_venues_terms(self, rig: FixRig) -> None:
        """A replace with no answer stays PENDING_REPLACE; the status request shows the new
        terms at the venue, so the order takes them."""
        result = rig.submit("1", "50000")
        cid = rig.order(result).client_order_id
        rig.venue.hold_next_request()
        rig.orch.replace(cid, quantity="2")

        assert rig.order(result).state is OrderState.PENDING_REPLACE
        rig.orch.reconcile()
        order = rig.order(result)
        assert order.state is OrderState.ACKNOWLEDGED
        assert order.quantity == Decimal(2)
        assert order.venue_client_order_id == f"{cid}.r1"


class TestNothingSentTwice:
    """A ClOrdID goes to the venue once."""

    def test_a_retried_submit_sends_nothing(self, rig: FixRig) -> None:
        """The adapter refuses to send a ClOrdID again: OutcomeUnknown, no second 35=D."""
        result = rig.submit("1", "50000")
        order = rig.order(result)

        with pytest.raises(OutcomeUnknown, match="not sent again"):
            rig.adapter.submit(order, order.idempotency_key)
        assert rig.venue.new_order_singles[order.client_order_id] == 1

    def test_the_venue_refuses_a_clordid_it_holds(self, rig: FixRig, tmp_path: Path) -> None:
        """A second adapter without the journal sends the ClOrdID again: the venue refuses it
        as a duplicate (one order there) and the adapter calls it unknown, not a reject."""
        result = rig.submit("1", "50000")
        order = rig.order(result)
        rig.adapter.stop(force=True)
        other = FixAdapter(load_config(rig.config_path), rig.clock, journal=tmp_path / "j2")
        try:
            assert other.start(wait=5)
            with pytest.raises(OutcomeUnknown, match="already holds"):
                other.submit(order, order.idempotency_key)
        finally:
            other.stop(force=True)
        assert rig.venue.new_order_singles[order.client_order_id] == 2
        assert len(rig.venue.book.orders) == 1

    def test_a_clordid_that_cannot_be_recorded_is_not_sent(
        self, rig: FixRig, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """If the ClOrdID journal cannot be written (disk full), nothing leaves: FAILED."""

        def full(*args: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(rig.adapter._journal, "record", full)
        result = rig.submit("1", "50000")

        assert rig.order(result).state is OrderState.FAILED
        assert "ClOrdID journal failed" in (result.reason_detail or "")
        assert rig.venue.new_order_singles[rig.order(result).client_order_id] == 0

    def test_a_request_while_logged_out_is_not_sent(self, rig: FixRig) -> None:
        """With the session down a submit never leaves: the dispatch is NOT_SENT, no 35=D."""
        rig.venue.disconnect()
        assert eventually(lambda: not rig.adapter.logged_on)
        result = rig.submit("1", "50000")

        assert not result.success
        assert rig.order(result).state is OrderState.FAILED
        assert rig.venue.new_order_singles[rig.order(result).client_order_id] == 0
