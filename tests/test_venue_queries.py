"""
The query capability: the simulated venue's reports against the orchestrator's ledgers, the
faulty venue's lagging, missing, wrong and failing answers, and the report types' rules.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execfsm import (
    ContractViolation,
    OrderIntent,
    OrderSide,
    OrderState,
    OrderType,
    QueryingAdapter,
    SimulatedVenue,
    SteppingClock,
)
from execfsm.adapters.reports import VenueFill, VenueOrderReport
from execfsm.clock import EPOCH
from execfsm.contracts import Fill, Order, TimeInForce
from execfsm.errors import ConfigurationError, TransientVenueError, VenueError
from execfsm.orchestrator import ExecutionOrchestrator
from execfsm.testing import Fault, FaultyVenue, WrongReport, paper_orchestrator
from tests.instrument_data import LISTS_UNPRICED, UNPRICED


class Session:
    """A paper orchestrator on a venue, recording every fill it books."""

    def __init__(self, *script: Fault, **venue: Any) -> None:
        self.clock = SteppingClock(EPOCH, timedelta(milliseconds=1))
        self.inner = SimulatedVenue(self.clock, **venue)
        self.venue = FaultyVenue(self.inner, script)
        self.orch: ExecutionOrchestrator = paper_orchestrator(
            self.venue, clock=self.clock, instruments=LISTS_UNPRICED
        )
        self.fills: list[tuple[str, Fill]] = []
        self.orch.subscribe_fills(
            lambda order, fill: self.fills.append((order.client_order_id, fill))
        )
        self.count = 0

    def submit(self, **kw: Any) -> Order:
        self.count += 1
        fields: dict[str, Any] = {
            "symbol": "BTC/EUR",
            "side": OrderSide.BUY,
            "quantity": Decimal(2),
            "order_type": OrderType.MARKET,
            "strategy_id": "queries",
            "intent_id": f"i{self.count}",
        }
        fields.update(kw)
        result = self.orch.submit_intent(OrderIntent(**fields))
        assert result.order is not None
        return result.order

    def order(self, client_order_id: str) -> Order:
        order = self.orch.order(client_order_id)
        assert order is not None
        return order

    def agrees(self) -> None:
        """Assert that every report equals our ledgers: orders, fills and positions."""
        for order in self.orch.get_order_ledger_snapshot():
            report = self.inner.order_report(order.client_order_id)
            assert report is not None
            assert (report.state, report.symbol, report.side) == (
                order.state,
                order.symbol,
                order.side,
            )
            assert (report.quantity, report.cum_quantity) == (order.quantity, order.filled_quantity)
            assert report.avg_price == order.average_fill_price
            ours = [
                (f.fill_id, f.quantity, f.price, f.fee)
                for c, f in self.fills
                if c == order.client_order_id
            ]
            theirs = [(f.exec_id, f.quantity, f.price, f.fee) for f in report.fills]
            assert theirs == ours
            assert report.leaves_quantity == (
                order.quantity - order.filled_quantity if order.state in OPEN else 0
            )
        ledger = {s: p.quantity for s, p in self.orch.get_position_ledger_snapshot().items()}
        assert {s: q for s, q in self.inner.positions().items() if q} == {
            s: q for s, q in ledger.items() if q
        }


OPEN = (OrderState.ACKNOWLEDGED, OrderState.PARTIALLY_FILLED)


class TestSimulatedVenueReports:
    def test_market_orders_with_partial_fills_agree_with_the_ledgers(self) -> None:
        """Market orders filled in parts, both sides, are reported as our ledgers hold them."""
        s = Session(partial_fills=("0.25", "0.75"), fee_bps=10)
        s.submit()
        s.submit(side=OrderSide.SELL, quantity=Decimal("0.5"))
        s.submit(symbol="ETH/EUR", quantity=Decimal(3))

        s.agrees()

        assert s.inner.positions() == {"BTC/EUR": Decimal("1.5"), "ETH/EUR": Decimal(3)}
        assert len(s.inner.fills_since(EPOCH)) == 6

    def test_a_resting_limit_is_open_then_filled(self) -> None:
        """A resting limit is an open order with all its quantity leaving, then filled."""
        s = Session()
        order = s.submit(order_type=OrderType.LIMIT, limit_price=Decimal(50000))
        s.agrees()
        report = s.inner.order_report(order.client_order_id)

        assert report is not None
        assert report.state is OrderState.ACKNOWLEDGED
        assert report.leaves_quantity == 2
        assert s.inner.open_orders() == (report,)

        s.inner.set_price("BTC/EUR", 49000)
        s.agrees()

        assert s.inner.open_orders() == ()
        assert s.order(order.client_order_id).state is OrderState.FILLED

    def test_a_cancelled_order_is_reported_cancelled(self) -> None:
        """A cancelled resting order is CANCELLED at the venue, nothing leaving."""
        s = Session()
        order = s.submit(order_type=OrderType.LIMIT, limit_price=Decimal(50000))
        s.orch.cancel(order.client_order_id)

        s.agrees()

        report = s.inner.order_report(order.client_order_id)
        assert report is not None
        assert (report.state, report.leaves_quantity) == (OrderState.CANCELLED, 0)

    def test_a_replaced_order_is_reported_with_its_new_terms(self) -> None:
        """After a replace the report carries the new quantity, and the fills at the new price."""
        s = Session()
        order = s.submit(order_type=OrderType.LIMIT, limit_price=Decimal(50000))
        s.orch.replace(order.client_order_id, quantity=Decimal(5), limit_price=Decimal(61000))

        s.agrees()

        report = s.inner.order_report(order.client_order_id)
        assert report is not None
        assert (report.state, report.quantity, report.cum_quantity) == (
            OrderState.FILLED,
            5,
            5,
        )

    def test_an_immediate_order_partly_filled_is_cancelled_with_its_fills(self) -> None:
        """An IOC order beyond the liquidity is CANCELLED with what it took."""
        s = Session(liquidity={"BTC/EUR": "0.5"})
        order = s.submit(time_in_force=TimeInForce.IOC)

        s.agrees()

        report = s.inner.order_report(order.client_order_id)
        assert report is not None
        assert (report.state, report.cum_quantity, report.leaves_quantity) == (
            OrderState.CANCELLED,
            Decimal("0.5"),
            0,
        )

    def test_an_expired_gtd_order_is_reported_expired(self) -> None:
        """A resting GTD order the venue expired is EXPIRED at the venue and here."""
        s = Session()
        later = EPOCH + timedelta(hours=1)
        order = s.submit(
            order_type=OrderType.LIMIT,
            limit_price=Decimal(50000),
            time_in_force=TimeInForce.GTD,
            expire_time=later,
        )
        s.inner.advance_to(later)

        s.agrees()

        report = s.inner.order_report(order.client_order_id)
        assert report is not None
        assert report.state is OrderState.EXPIRED

    def test_fills_since_a_time_leaves_earlier_fills_out(self) -> None:
        """Only fills at or after the given time are listed."""
        s = Session()
        s.submit()
        later = s.clock.now()
        second = s.submit(side=OrderSide.SELL)

        fills = s.inner.fills_since(later)

        assert [f.client_order_id for f in fills] == [second.client_order_id]

    def test_an_order_whose_answers_were_lost_is_still_reported(self) -> None:
        """The venue reports an order whose every submit answer was lost, filled; we hold it
        SUBMITTED with no fills."""
        lost = (Fault.TIMEOUT_AFTER_SEND,) * 3
        s = Session(*lost)
        order = s.submit()

        report = s.inner.order_report(order.client_order_id)

        assert s.order(order.client_order_id).state is OrderState.SUBMITTED
        assert report is not None
        assert (report.state, report.cum_quantity) == (OrderState.FILLED, 2)
        assert s.inner.positions() == {"BTC/EUR": Decimal(2)}
        assert s.venue.order_report(order.client_order_id) == report

    def test_an_unknown_order_is_none(self) -> None:
        """An id the venue never received is reported as None."""
        s = Session()

        assert s.inner.order_report("nobody") is None

    def test_rejected_order_is_reported_rejected(self) -> None:
        """A symbol the venue does not price (listed, so validation passes it) is REJECTED
        at the venue too."""
        s = Session()
        order = s.submit(symbol=UNPRICED)

        s.agrees()

        report = s.inner.order_report(order.client_order_id)
        assert report is not None
        assert report.state is OrderState.REJECTED


class TestQueryingAdapterProtocol:
    def test_simulated_and_faulty_venues_can_answer(self) -> None:
        """Both venues declare the query capability."""
        clock = SteppingClock(EPOCH, timedelta(milliseconds=1))
        inner = SimulatedVenue(clock)

        assert isinstance(inner, QueryingAdapter)
        assert isinstance(FaultyVenue(inner), QueryingAdapter)

    def test_an_adapter_without_the_queries_cannot(self) -> None:
        """An adapter with only submit, cancel and set_event_sink is not a QueryingAdapter."""

        class Plain:
            name = "plain"

            def submit(self, order: Order, idempotency_key: str) -> tuple[()]:
                return ()

            def cancel(self, order: Order) -> tuple[()]:
                return ()

            def set_event_sink(self, sink: object) -> None:
                return None

        assert not isinstance(Plain(), QueryingAdapter)


def faulty(**settings: Any) -> tuple[FaultyVenue, list[Order]]:
    """A faulty venue with `settings`, asked after three filled market orders."""
    s = Session()
    orders = [s.submit(), s.submit(symbol="ETH/EUR"), s.submit(side=OrderSide.SELL)]
    return FaultyVenue(s.inner, **settings), orders


class TestFaultyVenueQueries:
    def test_lagging_answers_show_the_venue_events_ago(self) -> None:
        """With query_lag 2 the last order (ACK and FILL) is not yet known."""
        venue, orders = faulty(query_lag=2)

        assert venue.order_report(orders[2].client_order_id) is None
        assert venue.order_report(orders[1].client_order_id) == venue.inner.order_report(
            orders[1].client_order_id
        )
        assert venue.positions() == {"BTC/EUR": Decimal(2), "ETH/EUR": Decimal(2)}

    def test_a_lag_of_one_shows_an_acknowledged_order_unfilled(self) -> None:
        """With query_lag 1 the last order is acknowledged, its fill not yet seen."""
        venue, orders = faulty(query_lag=1)
        report = venue.order_report(orders[2].client_order_id)

        assert report is not None
        assert (report.state, report.cum_quantity, report.fills) == (
            OrderState.ACKNOWLEDGED,
            0,
            (),
        )

    def test_forgotten_orders_are_unknown_everywhere(self) -> None:
        """A forgotten id is None and its fills are in no answer."""
        plain, orders = faulty()
        gone = orders[0].client_order_id
        venue = FaultyVenue(plain.inner, forget_orders=[gone])

        assert venue.order_report(gone) is None
        assert gone not in {f.client_order_id for f in venue.fills_since(EPOCH)}
        assert venue.positions() == {"BTC/EUR": Decimal(-2), "ETH/EUR": Decimal(2)}

    def test_a_forgotten_fraction_is_chosen_by_the_seed(self) -> None:
        """The same seed forgets the same orders, whatever is asked first; rate 1 forgets all."""
        ids = [o.client_order_id for o in faulty()[1]]

        def forgotten(seed: int, rate: float, order: list[str]) -> set[str]:
            venue, _ = faulty(seed=seed, forget_rate=rate)
            return {cid for cid in order if venue.order_report(cid) is None}

        assert forgotten(7, 0.5, ids) == forgotten(7, 0.5, ids[::-1])
        assert forgotten(7, 1.0, ids) == set(ids)
        assert forgotten(7, 0.0, ids) == set()
        assert {len(forgotten(seed, 0.5, ids)) for seed in range(20)} != {0}

    @pytest.mark.parametrize(
        ("how", "field", "expected"),
        [
            (WrongReport.OVERFILLED, "cum_quantity", Decimal(4)),
            (WrongReport.OTHER_SIDE, "side", OrderSide.SELL),
            (WrongReport.OTHER_SYMBOL, "symbol", "WRONG:BTC/EUR"),
        ],
    )
    def test_wrong_reports_contradict_our_order(
        self, how: WrongReport, field: str, expected: object
    ) -> None:
        """A wrong report is a valid report that contradicts the order it names."""
        s = Session()
        order = s.submit()
        venue = FaultyVenue(s.inner, wrong_reports={order.client_order_id: how})

        report = venue.order_report(order.client_order_id)

        assert report is not None
        assert getattr(report, field) == expected
        assert report != s.inner.order_report(order.client_order_id)

    def test_overfilled_report_is_more_than_we_ordered(self) -> None:
        """OVERFILLED reports fills summing to twice our quantity, with a fill we never had."""
        plain, orders = faulty()
        cid = orders[0].client_order_id
        venue = FaultyVenue(plain.inner, wrong_reports={cid: WrongReport.OVERFILLED})

        report = venue.order_report(cid)

        assert report is not None
        assert sum(f.quantity for f in report.fills) == 2 * orders[0].quantity
        assert report.fills[-1].exec_id == f"wrong-{cid}"

    def test_failing_queries_raise_a_venue_error(self) -> None:
        """query_failures makes the next queries raise TransientVenueError, then they answer."""
        venue, orders = faulty(query_failures=2)

        with pytest.raises(TransientVenueError, match="did not answer order_report"):
            venue.order_report(orders[0].client_order_id)
        with pytest.raises(VenueError):
            venue.positions()

        assert venue.order_report(orders[0].client_order_id) is not None
        assert venue.failed_queries == ["order_report", "positions"]

    def test_a_failure_rate_is_deterministic_given_the_seed(self) -> None:
        """Two venues with the same seed fail the same queries."""

        def failures(seed: int) -> list[bool]:
            venue, _ = faulty(seed=seed, query_failure_rate=0.5, rate=0)
            outcome = []
            for _ in range(20):
                try:
                    venue.open_orders()
                    outcome.append(False)
                except TransientVenueError:
                    outcome.append(True)
            return outcome

        assert failures(3) == failures(3)
        assert any(failures(3))
        assert not all(failures(3))

    @pytest.mark.parametrize(
        "bad",
        [
            {"query_lag": -1},
            {"forget_orders": "abc"},
            {"forget_rate": 2},
            {"wrong_reports": {"x": "OVERFILLED"}},
            {"query_failures": 1.5},
            {"query_failure_rate": -0.1},
        ],
    )
    def test_bad_query_settings_are_refused(self, bad: dict[str, Any]) -> None:
        """A bad query setting is a ConfigurationError naming it."""
        inner = SimulatedVenue(SteppingClock(EPOCH, timedelta(milliseconds=1)))

        with pytest.raises(ConfigurationError, match=next(iter(bad))):
            FaultyVenue(inner, **bad)


def report(**kw: Any) -> VenueOrderReport:
    fields: dict[str, Any] = {
        "client_order_id": "c1",
        "state": OrderState.PARTIALLY_FILLED,
        "symbol": "BTC/EUR",
        "side": OrderSide.BUY,
        "quantity": Decimal(2),
        "cum_quantity": Decimal(1),
        "leaves_quantity": Decimal(1),
        "avg_price": Decimal(100),
    }
    fields.update(kw)
    return VenueOrderReport(**fields)


def fill(**kw: Any) -> VenueFill:
    fields: dict[str, Any] = {
        "client_order_id": "c1",
        "exec_id": "e1",
        "symbol": "BTC/EUR",
        "side": "BUY",
        "quantity": "1",
        "price": "100",
        "fee": "0",
        "ts_event": EPOCH,
    }
    fields.update(kw)
    return VenueFill(**fields)


class TestReportTypes:
    def test_a_valid_report_keeps_decimals(self) -> None:
        """Strings and ints become Decimals; names become enum members."""
        r = report(
            quantity="2",
            state="FILLED",
            cum_quantity=2,
            leaves_quantity=0,
            fills=[fill(quantity="2")],
        )

        assert (r.quantity, r.state, r.fills[0].side) == (
            Decimal(2),
            OrderState.FILLED,
            OrderSide.BUY,
        )

    def test_the_order_terms_are_optional_and_converted(self) -> None:
        """Order type, limit price, time in force and venue id default to None; names and
        strings become members and Decimals."""
        r = report(order_type="limit", limit_price="50000", time_in_force="GTC")
        plain = report()

        assert (plain.order_type, plain.limit_price, plain.time_in_force) == (None, None, None)
        assert plain.venue_order_id is None
        assert (r.order_type, r.limit_price, r.time_in_force) == (
            OrderType.LIMIT,
            Decimal(50000),
            TimeInForce.GTC,
        )

    @pytest.mark.parametrize(
        ("kw", "message"),
        [
            ({"quantity": Decimal(-1)}, "quantity: must be greater than 0, got -1"),
            ({"cum_quantity": Decimal(3)}, "cum_quantity: order c1: must not exceed quantity 2"),
            ({"leaves_quantity": Decimal(2)}, "leaves_quantity: order c1: must not exceed"),
            ({"quantity": 2.0}, "quantity: must be a Decimal, an int or a decimal string"),
            ({"avg_price": 0.5}, "avg_price: must be a Decimal"),
            ({"avg_price": Decimal(0)}, "avg_price: must be greater than 0"),
            ({"fills": [fill(quantity="0.5")]}, "fills: order c1: fills must sum to cum_quantity"),
            ({"fills": [fill(client_order_id="c2")]}, "fills: order c1: must be VenueFills"),
            ({"state": "SLEEPING"}, "state: must be one of"),
            ({"order_type": "STOP"}, "order_type: must be one of"),
            ({"time_in_force": "FOREVER"}, "time_in_force: must be one of"),
            ({"limit_price": 1.5}, "limit_price: must be a Decimal"),
            ({"limit_price": Decimal(0)}, "limit_price: must be greater than 0"),
            ({"venue_order_id": 7}, "venue_order_id: must be None or of type str"),
        ],
    )
    def test_bad_reports_are_refused(self, kw: dict[str, Any], message: str) -> None:
        """A bad value is a ContractViolation naming the field, the rule and the value."""
        with pytest.raises(ContractViolation, match=message.replace("(", r"\(")):
            report(**kw)

    @pytest.mark.parametrize(
        ("kw", "message"),
        [
            ({"quantity": "-1"}, "fill quantity: must be greater than 0"),
            ({"price": 1.5}, "fill price: must be a Decimal"),
            ({"fee": "-0.1"}, "fill fee: must be >= 0"),
            ({"ts_event": EPOCH.replace(tzinfo=None)}, "ts_event: must be a timezone-aware"),
        ],
    )
    def test_bad_fills_are_refused(self, kw: dict[str, Any], message: str) -> None:
        """A bad fill value is a ContractViolation naming the field."""
        with pytest.raises(ContractViolation, match=message):
            fill(**kw)


class TestReportsAgreeOverRandomSessions:
    @settings(max_examples=25, deadline=None)
    @given(
        steps=st.lists(
            st.tuples(
                st.sampled_from(["market", "limit", "price", "cancel"]),
                st.sampled_from([OrderSide.BUY, OrderSide.SELL]),
                st.integers(min_value=1, max_value=5),
            ),
            max_size=12,
        )
    )
    def test_the_venue_and_our_ledgers_agree(self, steps: list[tuple[str, OrderSide, int]]) -> None:
        """After any session of orders, price moves and cancels on an honest venue, every
        report equals our ledgers."""
        s = Session(partial_fills=("0.5", "0.5"))
        resting: list[str] = []
        for action, side, n in steps:
            if action == "market":
                s.submit(side=side, quantity=Decimal(n))
            elif action == "limit":
                price = Decimal(60000 + (1 if side is OrderSide.SELL else -1) * 500 * n)
                order = s.submit(
                    side=side, quantity=Decimal(n), order_type=OrderType.LIMIT, limit_price=price
                )
                resting.append(order.client_order_id)
            elif action == "price":
                s.inner.set_price("BTC/EUR", 60000 + (n - 3) * 1000)
            elif resting:
                s.orch.cancel(resting.pop(0))

        s.agrees()
