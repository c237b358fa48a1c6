"""
What a FIX venue can and cannot answer when reconciliation asks (35=H, 35=AF; no positions,
no fills by time), and several threads trading over one session at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from execfsm import OrderSide, OrderState
from execfsm.errors import PermanentVenueError
from tests.fix_rig import FixRig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[FixRig]:
    made = FixRig(tmp_path, partial_fills=("0.5", "0.5"))
    yield made
    made.close()


class TestQueries:
    """Status and mass status requests, answered from the venue's book."""

    def test_an_order_the_venue_never_had_is_none(self, rig: FixRig) -> None:
        """35=H for an unknown ClOrdID: the venue says Unknown order, the report is None."""
        assert rig.adapter.order_report("ord-never") is None

    def test_a_status_request_reports_the_order_as_the_venue_holds_it(self, rig: FixRig) -> None:
        """35=H for a resting order: ACKNOWLEDGED, its quantity and limit price, no fills."""
        result = rig.submit("0.3", "50000")
        report = rig.adapter.order_report(rig.order(result).client_order_id)

        assert report is not None
        assert report.state is OrderState.ACKNOWLEDGED
        assert report.quantity == Decimal("0.3")
        assert report.limit_price == Decimal(50000)
        assert report.venue_order_id == "O1"

    def test_a_status_report_lists_executions_after_busts_and_corrections(
        self, rig: FixRig
    ) -> None:
        """The executions a status report carries follow the venue's busts and corrections."""
        result = rig.submit("1", "50000")
        cid = rig.order(result).client_order_id
        first = rig.venue.fill(cid, "0.4", "50000")
        second = rig.venue.fill(cid, "0.1", "50000")
        rig.venue.bust(cid, first)
        corrected = rig.venue.correct(cid, second, "0.2", "49000")
        rig.settle()
        report = rig.adapter.order_report(cid)

        assert report is not None
        assert [(f.exec_id, f.quantity, f.price) for f in report.fills] == [
            (corrected, Decimal("0.2"), Decimal(49000))
        ]
        assert report.cum_quantity == Decimal("0.2")
        assert rig.order(result).filled_quantity == Decimal("0.2")

    def test_open_orders_lists_the_working_ones(self, rig: FixRig) -> None:
        """35=AF: only the working orders, by ClOrdID; none is an empty list."""
        assert rig.adapter.open_orders() == ()
        resting = rig.submit("0.3", "50000")
        rig.submit("0.1")
        rig.settle()

        [report] = rig.adapter.open_orders()
        assert report.client_order_id == rig.order(resting).client_order_id

    def test_a_full_pass_finds_a_venue_order_we_never_sent(self, rig: FixRig) -> None:
        """An order placed elsewhere on the session is reported external; positions are
        unavailable, and the pass says so."""
        placed = {11: "elsewhere-1", 55: "BTC/EUR", 54: "2", 38: "2", 40: "2", 44: "70000"}
        rig.venue.book.add(placed)
        report = rig.orch.reconcile(full=True)

        [external] = report.external
        assert external.client_order_id == "elsewhere-1"
        assert external.side is OrderSide.SELL
        assert external.limit_price == Decimal(70000)
        assert "does not report positions" in report.unavailable

    def test_positions_and_fills_since_are_not_answered(self, rig: FixRig) -> None:
        """An order session cannot tell positions or fills by time: a VenueError says so."""
        with pytest.raises(PermanentVenueError, match="positions"):
            rig.adapter.positions()
        with pytest.raises(PermanentVenueError, match="fills since"):
            rig.adapter.fills_since(datetime(2026, 1, 1, tzinfo=UTC))


class TestThreads:
    """One session, many threads: answers reach the right order, late fills the sink."""

    def test_threads_submitting_at_once_all_fill_once(self, rig: FixRig) -> None:
        """Four threads, twenty market orders with two fills each: all FILLED, one 35=D each."""

        def one(i: int) -> str:
            result = rig.submit("0.1", intent_id=f"t{i}")
            return rig.order(result).client_order_id

        with ThreadPoolExecutor(4) as pool:
            ids = list(pool.map(one, range(20)))
        rig.settle()

        assert all(rig.orch.order(i).state is OrderState.FILLED for i in ids)  # type: ignore[union-attr]
        assert rig.position() == Decimal(2)
        assert all(rig.venue.new_order_singles[i] == 1 for i in ids)
        assert rig.adapter.delivery_failures == ()

    def test_a_cancel_racing_a_fill_books_the_fill_whatever_wins(self, rig: FixRig) -> None:
        """A cancel from one thread while the venue fills the order: the fill is booked once,
        the order ends FILLED or CANCELLED (flagged), nothing is lost or raised."""
        results = [rig.submit("1", "50000") for _ in range(5)]
        ids = [rig.order(r).client_order_id for r in results]
        with ThreadPoolExecutor(2) as pool:
            fills = [pool.submit(rig.venue.fill, cid, "1", "50000") for cid in ids]
            cancels = [pool.submit(rig.orch.cancel, cid) for cid in ids]
            for future in (*fills, *cancels):
                future.result()
        rig.settle()

        assert rig.position() == Decimal(5)
        assert rig.adapter.delivery_failures == ()
        for cid in ids:
            order = rig.orch.order(cid)
            assert order is not None
            assert order.state in (OrderState.FILLED, OrderState.CANCELLED)
            assert order.filled_quantity == 1
