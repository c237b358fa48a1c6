"""
`compare`: one order beside the venue's report, case by case (the rules the reconciler and
the reconciliation machine's guards rely on), without an orchestrator.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs
import pytest

from execfsm.adapters.reports import VenueFill, VenueOrderReport
from execfsm.contracts import (
    EventKind,
    Fill,
    Order,
    OrderSide,
    OrderState,
    OrderType,
    ReasonCode,
    ReplaceRequest,
)
from execfsm.errors import ConfigurationError
from execfsm.orchestrator import ExecutionOrchestrator
from execfsm.reconciliation.compare import agree, compare
from execfsm.reconciliation.findings import FindingKind, ReconPolicy

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ORDER = Order(
    client_order_id="o-1",
    correlation_id="c-1",
    idempotency_key="k-1",
    symbol="BTC/EUR",
    side=OrderSide.BUY,
    order_type=OrderType.LIMIT,
    quantity=Decimal("2"),
    strategy_id="s",
    limit_price=Decimal("100"),
    state=OrderState.SUBMITTED,
)


def fill(fid: str, qty: str = "1", price: str = "100") -> VenueFill:
    return VenueFill(
        "o-1", fid, "BTC/EUR", OrderSide.BUY, Decimal(qty), Decimal(price), Decimal(0), NOW
    )


def report(
    state: OrderState, *fills: VenueFill, quantity: str = "2", **kw: object
) -> VenueOrderReport:
    cum = sum((f.quantity for f in fills), Decimal(0))
    open_ = state in (OrderState.ACKNOWLEDGED, OrderState.PARTIALLY_FILLED)
    leaves = Decimal(quantity) - cum if open_ else Decimal(0)
    return VenueOrderReport(
        "o-1",
        state,
        kw.pop("symbol", "BTC/EUR"),
        kw.pop("side", OrderSide.BUY),
        Decimal(quantity),
        cum,
        leaves,
        None,
        fills,
        **kw,  # type: ignore[arg-type]
    )


def check(order: Order, venue: VenueOrderReport | None, fills: tuple[Fill, ...] = (), **kw: object):  # type: ignore[no-untyped-def]
    settings: dict[str, object] = {
        "sent": True,
        "unacknowledged": order.state is OrderState.SUBMITTED,
        "pending_replace": None,
        "tag": "7",
        "now": NOW,
    }
    settings.update(kw)
    return compare(order, fills, venue, **settings)  # type: ignore[arg-type]


def test_unknown_order_is_unknown() -> None:
    assert check(ORDER, None).kind is FindingKind.UNKNOWN


def test_never_sent_agrees_only_with_a_venue_that_does_not_know_it() -> None:
    assert check(ORDER, None, sent=False).kind is FindingKind.AGREES
    assert check(ORDER, report(OrderState.ACKNOWLEDGED), sent=False).kind is FindingKind.IMPOSSIBLE


def test_lost_answer_brings_ack_then_fills_in_the_venue_order() -> None:
    found = check(ORDER, report(OrderState.FILLED, fill("f1"), fill("f2")))
    assert found.kind is FindingKind.DIFFERS
    assert [e.kind for e in found.events] == [EventKind.ACK, EventKind.FILL, EventKind.FILL]
    assert [e.fill.fill_id for e in found.events[1:]] == ["f1", "f2"]  # type: ignore[union-attr]
    assert all(e.event_id.startswith("recon-7-o-1-") for e in found.events)


@pytest.mark.parametrize(
    ("state", "kind"),
    [
        (OrderState.CANCELLED, EventKind.CANCEL_ACK),
        (OrderState.EXPIRED, EventKind.EXPIRE),
        (OrderState.REJECTED, EventKind.REJECT),
    ],
)
def test_an_ended_order_ends_by_the_venue_event(state: OrderState, kind: EventKind) -> None:
    found = check(ORDER, report(state))
    assert found.kind is FindingKind.DIFFERS
    assert found.events[-1].kind is kind
    assert (found.events[0].kind is EventKind.ACK) is (state is not OrderState.REJECTED)


def test_a_cancel_that_did_not_take_is_rejected() -> None:
    pending = attrs.evolve(ORDER, state=OrderState.PENDING_CANCEL)
    found = check(pending, report(OrderState.ACKNOWLEDGED), unacknowledged=False)
    assert [e.kind for e in found.events] == [EventKind.CANCEL_REJECT]


def test_a_replace_answer_follows_the_venue_terms() -> None:
    pending = attrs.evolve(ORDER, state=OrderState.PENDING_REPLACE)
    replace = ReplaceRequest("o-1", "o-1.1", "o-1", Decimal("3"), Decimal("100"))
    taken = check(
        pending,
        report(OrderState.ACKNOWLEDGED, quantity="3"),
        pending_replace=replace,
        unacknowledged=False,
    )
    refused = check(
        pending, report(OrderState.ACKNOWLEDGED), pending_replace=replace, unacknowledged=False
    )
    assert [e.kind for e in taken.events] == [EventKind.REPLACE_ACK]
    assert taken.events[0].causation_id == "o-1.1"
    assert [e.kind for e in refused.events] == [EventKind.REPLACE_REJECT]


@pytest.mark.parametrize(
    "venue",
    [
        report(OrderState.ACKNOWLEDGED, side=OrderSide.SELL),
        report(OrderState.ACKNOWLEDGED, symbol="ETH/EUR"),
        report(OrderState.FILLED, fill("f1", "3"), quantity="3"),
    ],
    ids=["other side", "other symbol", "more filled than ordered"],
)
def test_impossible_reports(venue: VenueOrderReport) -> None:
    found = check(ORDER, venue)
    assert found.kind is FindingKind.IMPOSSIBLE
    assert found.reason is ReasonCode.RECON_REPORT_IMPOSSIBLE


def test_one_execution_with_other_terms_is_impossible() -> None:
    ours = (Fill("f1", Decimal("1"), Decimal("101")),)
    acked = attrs.evolve(ORDER, state=OrderState.PARTIALLY_FILLED, filled_quantity=Decimal(1))
    found = check(
        acked, report(OrderState.PARTIALLY_FILLED, fill("f1")), ours, unacknowledged=False
    )
    assert found.kind is FindingKind.IMPOSSIBLE
    assert "f1" in found.detail


def test_a_report_lacking_our_execution_is_behind_not_applied() -> None:
    ours = (Fill("f1", Decimal("1"), Decimal("100")),)
    acked = attrs.evolve(ORDER, state=OrderState.PARTIALLY_FILLED, filled_quantity=Decimal(1))
    found = check(acked, report(OrderState.ACKNOWLEDGED), ours, unacknowledged=False)
    assert found.kind is FindingKind.BEHIND
    assert not found.events


def test_we_ended_it_and_the_venue_still_works_it_is_behind() -> None:
    done = attrs.evolve(ORDER, state=OrderState.CANCELLED)
    assert (
        check(done, report(OrderState.ACKNOWLEDGED), unacknowledged=False).kind
        is FindingKind.BEHIND
    )


def test_agreement() -> None:
    acked = attrs.evolve(ORDER, state=OrderState.ACKNOWLEDGED)
    assert (
        check(acked, report(OrderState.ACKNOWLEDGED), unacknowledged=False).kind
        is FindingKind.AGREES
    )
    assert agree(OrderState.EXPIRED, OrderState.CANCELLED)
    assert agree(OrderState.FAILED, OrderState.REJECTED)
    assert not agree(OrderState.FILLED, OrderState.CANCELLED)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"not_found_after": 0}, "not_found_after"),
        ({"not_found_after": True}, "not_found_after"),
        ({"not_found_wait": 30}, "not_found_wait"),
        ({"not_found_wait": timedelta(seconds=-1)}, "not_found_wait"),
        ({"in_flight_after": "30s"}, "in_flight_after"),
        ({"on_start": 1}, "on_start"),
        ({"adopt_external": "yes"}, "adopt_external"),
    ],
)
def test_a_bad_policy_is_refused_naming_its_setting(
    settings: dict[str, object], field: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        ReconPolicy(**settings)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_an_orchestrator_refuses_a_policy_of_the_wrong_kind() -> None:
    with pytest.raises(ConfigurationError, match="reconciliation"):
        ExecutionOrchestrator(reconciliation="strict")  # type: ignore[arg-type]
