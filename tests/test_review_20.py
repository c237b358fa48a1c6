"""
Hostile review of venue reconciliation (issue 20): each test is a promise of the README or of
the reconciler's docstrings that the current code breaks. One test per defect.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import attrs

from execfsm.adapters.reports import VenueFill, VenueOrderReport
from execfsm.clock import EPOCH
from execfsm.contracts import OrderState
from execfsm.reconciliation.machine import ReconState
from execfsm.testing import Fault
from tests.test_reconciliation_stateful import Session, intent

Spoil = Callable[[VenueOrderReport], VenueOrderReport]


def lying(spoil: Spoil, limit: str | None = "1") -> tuple[Session, str]:
    """A session whose venue took a LIMIT order (the answer lost) and answers queries about
    it spoiled by `spoil`; the order's client order id."""
    s = Session()
    real = s.venue.order_report

    def order_report(cid: str) -> VenueOrderReport | None:
        report = real(cid)
        return None if report is None else spoil(report)

    s.venue.order_report = order_report  # type: ignore[method-assign]
    cid = s.submit(intent(limit=limit), Fault.TIMEOUT_AFTER_SEND)
    assert s.order(cid).state is OrderState.SUBMITTED
    return s, cid


def venue_fill(report: VenueOrderReport, exec_id: str, qty: str, **kw: object) -> VenueFill:
    return VenueFill(
        report.client_order_id,
        exec_id,
        kw.get("symbol", report.symbol),  # type: ignore[arg-type]
        kw.get("side", report.side),  # type: ignore[arg-type]
        Decimal(qty),
        Decimal(100),
        Decimal(0),
        EPOCH,
    )


def test_a_venue_holding_another_quantity_is_not_agreed() -> None:
    """Flags clear only when order and venue agree. The venue says it holds the order for
    5 where we sent 1 (no replace): that is a report no honest venue gives for our order, to
    be held for an operator. Instead `compare` never looks at the report's quantity: the
    order is ACKed, agreed, and its DISPATCH_OUTCOME_UNKNOWN flag cleared
    (reconciliation/compare.py, `compare`: no check of report.quantity vs order.quantity)."""
    s, cid = lying(lambda r: attrs.evolve(r, quantity=Decimal(5), leaves_quantity=Decimal(5)))
    report = s.orch.reconcile()
    assert [c.state for c in report.checks] == [ReconState.HELD]
    assert s.order(cid).recon_flags


def test_a_venue_holding_another_limit_price_is_not_agreed() -> None:
    """Flags clear only when order and venue agree. The venue rests our LIMIT 1 order at 7
    (no replace pending): a buy at 7 is not the order we sent. `compare` ignores
    report.limit_price outside a pending replace, so the order is agreed and unflagged
    (reconciliation/compare.py, `compare`)."""
    s, cid = lying(lambda r: attrs.evolve(r, limit_price=Decimal(7)))
    report = s.orch.reconcile()
    assert [c.state for c in report.checks] == [ReconState.HELD]
    assert s.order(cid).recon_flags


def test_a_report_in_a_state_no_venue_holds_is_held_without_touching_the_order() -> None:
    """Impossible reports are HELD for an operator. A report that says SUBMITTED (a state
    only we hold; `VenueOrderReport.state` documents ACKNOWLEDGED..REJECTED but accepts any
    OrderState) is held, but only after an ACK was applied to the order from it:
    `_catch_up` proposes an ACK for any state but REJECTED (compare.py `_catch_up`), and the
    reconciler applies the events before checking they reach the venue's state
    (reconciler.py `_take`). The operator finds the order ACKNOWLEDGED on the word of a
    report we judged impossible."""
    s, cid = lying(lambda r: attrs.evolve(r, state=OrderState.SUBMITTED))
    report = s.orch.reconcile()
    assert [c.state for c in report.checks] == [ReconState.HELD]
    assert s.order(cid).state is OrderState.SUBMITTED


def test_a_report_naming_one_execution_twice_books_nothing_from_it() -> None:
    """Impossible reports are HELD, and a held order is not brought to anything. A report
    whose fills list execution X1 twice (0.5 + 0.5, cum 1) passes VenueOrderReport's
    validation (the sum is checked, not the ids: adapters/reports.py `__attrs_post_init__`);
    the reconciler applies ACK and X1 (booking 0.5 into the position) and only then holds
    the order, so a fill from a report it rejects is in the books."""

    def twice(r: VenueOrderReport) -> VenueOrderReport:
        f = venue_fill(r, "X1", "0.5")
        return attrs.evolve(
            r, state=OrderState.FILLED, cum_quantity=Decimal(1), leaves_quantity=0, fills=(f, f)
        )

    s, cid = lying(twice)
    report = s.orch.reconcile()
    assert [c.state for c in report.checks] == [ReconState.HELD]
    assert s.order(cid).filled_quantity == 0
    assert not any(p.quantity for p in s.orch.get_position_ledger_snapshot().values())


def test_a_fill_reported_in_another_symbol_is_not_booked_to_the_order() -> None:
    """A report that contradicts our order is for reconciliation to find (reports.py). The
    venue reports our BTC/EUR order FILLED by an execution in ETH/EUR; neither the report's
    validation (fills must be "of this order" but only the client order id is checked) nor
    `compare` (symbol and side checked on the report, never on its fills) notices: the
    ETH/EUR execution is booked as a BTC/EUR fill and the order agreed and unflagged."""

    def eth(r: VenueOrderReport) -> VenueOrderReport:
        f = venue_fill(r, "X1", "1", symbol="ETH/EUR")
        return attrs.evolve(
            r, state=OrderState.FILLED, cum_quantity=Decimal(1), leaves_quantity=0, fills=(f,)
        )

    s, cid = lying(eth)
    report = s.orch.reconcile()
    assert [c.state for c in report.checks] == [ReconState.HELD]
    assert s.order(cid).filled_quantity == 0
