"""
The simulated venue: deterministic fills, resting limits, fees, slippage, rejects, cancels,
replaces.
"""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest

from execfsm import (
    ConfigurationError,
    EventKind,
    ExecutionEvent,
    Fill,
    Order,
    OrderState,
    ReasonCode,
    SimulatedVenue,
    SteppingClock,
)
from execfsm.adapters._answers import revived as _revived
from execfsm.adapters._answers import stored as _stored
from execfsm.clock import EPOCH
from execfsm.contracts import ReplaceRequest
from execfsm.testing import order_for
from tests.conftest import make_intent


def venue(**kw: object) -> SimulatedVenue:
    return SimulatedVenue(SteppingClock(EPOCH), **kw)  # type: ignore[arg-type]


class TestSimulatedVenue:
    def test_market_order_acks_and_fills_at_reference_plus_slippage(self) -> None:
        """A MARKET buy fills in full at the reference price plus slippage, with a bps fee."""
        v = venue(fee_bps=10, slippage_bps=5)
        order = order_for(make_intent(order_type="MARKET", limit_price=None))

        events = v.submit(order, "k1")

        assert [e.kind for e in events] == [EventKind.ACK, EventKind.FILL]
        fill = events[1].fill
        assert fill is not None
        assert (fill.quantity, fill.price, fill.fee) == (
            Decimal("1.0"),
            Decimal("60030"),
            Decimal("60.030"),
        )

    def test_partial_fill_schedule_sums_exactly(self) -> None:
        """A partial-fill schedule splits the quantity; the parts sum to it exactly."""
        v = venue(partial_fills=("0.3", "0.3", "0.4"))
        order = order_for(make_intent(quantity="0.7", order_type="MARKET", limit_price=None))

        fills = [e.fill for e in v.submit(order, "k1") if e.fill is not None]

        assert [f.quantity for f in fills] == [Decimal("0.21"), Decimal("0.21"), Decimal("0.28")]
        assert sum(f.quantity for f in fills) == Decimal("0.7")

    def test_non_marketable_limit_rests_then_fills(self) -> None:
        """A buy limit below the market rests; a price move through it fills it via the sink."""
        v = venue()
        delivered: list[object] = []
        v.set_event_sink(delivered.append)
        order = order_for(make_intent(limit_price="59000"))

        events = v.submit(order, "k1")
        moved = v.set_price("BTC/EUR", "59500")
        crossed = v.set_price("BTC/EUR", "59000")

        assert [e.kind for e in events] == [EventKind.ACK]
        assert moved == []
        assert [e.kind for e in crossed] == [EventKind.FILL]
        assert delivered == crossed
        assert v.resting_orders() == ()

    def test_unknown_symbol_is_rejected(self) -> None:
        """An unlisted symbol is answered with a REJECT carrying ADAPTER_REJECTED."""
        (event,) = venue().submit(order_for(make_intent(symbol="NOPE/EUR")), "k1")

        assert (event.kind, event.reason_code) == (EventKind.REJECT, ReasonCode.ADAPTER_REJECTED)
        assert "NOPE/EUR" in event.detail

    def test_same_key_never_fills_twice(self) -> None:
        """A second submit with the same key creates nothing: the venue repeats its original
        answer (same event and fill ids), so the order is never filled twice."""
        v = venue()
        order = order_for(make_intent(order_type="MARKET", limit_price=None))

        first = v.submit(order, "k1")
        second = v.submit(order, "k1")

        assert len(first) == 2
        assert second == first
        assert v.submissions == ["k1", "k1"]
        assert v.new_orders == ["k1"]

    def test_repeated_answers_are_equal_for_every_kind(self) -> None:
        """The venue remembers its answers as plain values; a repeat rebuilds them whole:
        a reject (reason, detail), an ACK (venue id) and fills (amounts, fees)."""
        v = venue(partial_fills=("0.3", "0.7"), fee_bps=7)
        for n, fields in enumerate(
            [
                {"symbol": "NOPE/EUR"},
                {"order_type": "MARKET", "limit_price": None},
                {"limit_price": Decimal(1)},
            ]
        ):
            order = order_for(make_intent(intent_id=f"r{n}", **fields))
            first = v.submit(order, f"k{n}")

            assert v.submit(order, f"k{n}") == first
        assert {e.kind for e in first} == {EventKind.ACK}

    def test_every_field_of_an_answer_is_remembered(self) -> None:
        """An event with every field set survives being remembered; a field added to
        ExecutionEvent fails here until the venue remembers it too."""
        fill = Fill("f", "0.5", "101.25", "0.03")
        event = ExecutionEvent(
            EventKind.FILL,
            "e",
            "o",
            "c",
            EPOCH,
            fill=fill,
            reason_code=ReasonCode.FILL_CONFLICT,
            detail="d",
            venue_order_id="v",
            causation_id="cause",
        )

        assert _revived(_stored(event)) == event
        assert len(_stored(event)) == len(attrs.fields(ExecutionEvent))

    def test_cancel_resting_and_not_open(self) -> None:
        """Cancelling a resting order acks; cancelling anything else is rejected."""
        v = venue()
        resting = order_for(make_intent(limit_price="1"))
        v.submit(resting, "k1")

        assert [e.kind for e in v.cancel(resting)] == [EventKind.CANCEL_ACK]
        assert [e.kind for e in v.cancel(resting)] == [EventKind.CANCEL_REJECT]

    def test_events_are_deterministic(self) -> None:
        """Two venues given the same orders produce identical events."""
        order = order_for(make_intent(order_type="MARKET", limit_price=None))

        assert venue().submit(order, "k") == venue().submit(order, "k")

    @pytest.mark.parametrize(
        "bad", [{"partial_fills": ("0.5", "0.4")}, {"prices": {"X": "0"}}, {"fee_bps": 1.5}]
    )
    def test_bad_configuration_is_a_clear_error(self, bad: dict[str, object]) -> None:
        """Fractions not summing to 1, non-positive prices and float settings are refused as
        settings, naming the one that is wrong."""
        with pytest.raises(ConfigurationError) as caught:
            venue(**bad)

        assert caught.value.field in {"partial_fills", "price of X", "fee_bps"}

    def test_order_state_is_untouched(self) -> None:
        """The venue reports events; it never edits the order it was given."""
        order = order_for(make_intent(order_type="MARKET", limit_price=None))

        venue().submit(order, "k")

        assert order.state is OrderState.CREATED


def replace_of(
    order: Order, n: int, orig: str, quantity: str, limit_price: str | None = "50000"
) -> ReplaceRequest:
    return ReplaceRequest(
        client_order_id=order.client_order_id,
        new_client_order_id=f"{order.client_order_id}.r{n}",
        orig_client_order_id=orig,
        quantity=Decimal(quantity),
        limit_price=None if limit_price is None else Decimal(limit_price),
    )


class TestSimulatedReplace:
    def test_replace_of_a_resting_order_is_acknowledged_with_its_new_terms(self) -> None:
        """A resting order takes the new quantity and price, and keeps resting under its new id."""
        v = venue()
        order = order_for(make_intent())
        v.submit(order, "k1")

        (ack,) = v.replace(order, replace_of(order, 1, order.client_order_id, "3", "50500"))

        (resting,) = v.resting_orders()
        assert (ack.kind, ack.client_order_id) == (EventKind.REPLACE_ACK, order.client_order_id)
        assert (resting.quantity, resting.limit_price) == (Decimal(3), Decimal(50500))
        assert resting.current_client_order_id == f"{order.client_order_id}.r1"

    def test_a_replaced_limit_that_is_now_marketable_fills(self) -> None:
        """A new limit price through the market fills the order at once, after the ack."""
        v = venue(partial_fills=("0.5", "0.5"))
        order = order_for(make_intent())
        v.submit(order, "k1")

        events = v.replace(order, replace_of(order, 1, order.client_order_id, "2", "61000"))

        assert [e.kind for e in events] == [EventKind.REPLACE_ACK, EventKind.FILL, EventKind.FILL]
        assert sum(e.fill.quantity for e in events if e.fill is not None) == Decimal(2)
        assert {e.fill.price for e in events if e.fill is not None} == {Decimal(60000)}
        assert v.resting_orders() == ()

    def test_the_venue_finds_the_order_by_the_chain_of_ids(self) -> None:
        """A second replace names the first's new id as orig; the stale original id is
        rejected."""
        v = venue()
        order = order_for(make_intent())
        v.submit(order, "k1")
        v.replace(order, replace_of(order, 1, order.client_order_id, "2"))

        stale = v.replace(order, replace_of(order, 2, order.client_order_id, "3"))
        chained = v.replace(order, replace_of(order, 2, f"{order.client_order_id}.r1", "3"))

        assert [e.kind for e in stale] == [EventKind.REPLACE_REJECT]
        assert [e.kind for e in chained] == [EventKind.REPLACE_ACK]
        assert v.resting_orders()[0].quantity == Decimal(3)

    @pytest.mark.parametrize("gone", ["unknown", "filled", "cancelled"])
    def test_replace_of_an_order_that_does_not_rest_is_rejected(self, gone: str) -> None:
        """An unknown, filled or cancelled order is answered REPLACE_REJECT, with why."""
        v = venue()
        order = order_for(make_intent())
        if gone != "unknown":
            v.submit(order, "k1")
        if gone == "filled":
            v.set_price("BTC/EUR", "49000")
        if gone == "cancelled":
            v.cancel(order)

        (event,) = v.replace(order, replace_of(order, 1, order.client_order_id, "2"))

        assert event.kind is EventKind.REPLACE_REJECT
        assert "no resting order" in event.detail
        assert v.resting_orders() == ()

    def test_replace_to_a_quantity_not_above_the_fills_is_rejected(self) -> None:
        """A new quantity at or below what the venue filled is answered REPLACE_REJECT."""
        v = venue()
        order = order_for(make_intent())
        v.submit(order, "k1")

        (event,) = v.replace(order, replace_of(order, 1, order.client_order_id, "0"))

        assert event.kind is EventKind.REPLACE_REJECT
        assert "not above" in event.detail
        assert v.resting_orders()[0].quantity == Decimal("1.0")
