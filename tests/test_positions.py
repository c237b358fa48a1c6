"""
Position ledger arithmetic: average cost, realized PnL, flips, fees, de-duplication.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from execfsm import Fill, OrderSide
from execfsm.ledger.positions import Booking, Position, PositionLedger, book_in_trail_order
from tests.strategies import prices, quantities

D = Decimal


def book(
    ledger: PositionLedger, side: OrderSide, qty: str, price: str, fee: str = "0", fid: str = ""
) -> None:
    ledger.book("o1", "BTC/EUR", side, Fill(fid or f"{side}-{qty}-{price}", qty, price, fee))


class TestPositionLedger:
    def test_weighted_average_cost(self) -> None:
        """Buys average their prices by quantity."""
        ledger = PositionLedger()
        book(ledger, OrderSide.BUY, "1", "100")
        book(ledger, OrderSide.BUY, "3", "120")

        position = ledger.get("BTC/EUR")

        assert (position.quantity, position.average_cost, position.realized_pnl) == (
            D(4),
            D(115),
            D(0),
        )

    def test_partial_close_realizes_pnl(self) -> None:
        """Selling part of a long realizes (price - cost) x qty and keeps the cost."""
        ledger = PositionLedger()
        book(ledger, OrderSide.BUY, "2", "100")
        book(ledger, OrderSide.SELL, "0.5", "110")

        position = ledger.get("BTC/EUR")

        assert (position.quantity, position.average_cost, position.realized_pnl) == (
            D("1.5"),
            D(100),
            D(5),
        )

    def test_flip_long_to_short(self) -> None:
        """Selling more than held closes the long and opens a short at the fill price."""
        ledger = PositionLedger()
        book(ledger, OrderSide.BUY, "1", "100")
        book(ledger, OrderSide.SELL, "3", "90")

        position = ledger.get("BTC/EUR")

        assert (position.quantity, position.average_cost, position.realized_pnl) == (
            D(-2),
            D(90),
            D(-10),
        )

    def test_short_close_realizes_inverse_pnl(self) -> None:
        """Covering a short below its cost is a profit."""
        ledger = PositionLedger()
        book(ledger, OrderSide.SELL, "2", "100")
        book(ledger, OrderSide.BUY, "2", "95")

        position = ledger.get("BTC/EUR")

        assert (position.quantity, position.average_cost, position.realized_pnl) == (
            D(0),
            None,
            D(10),
        )

    def test_fees_are_kept_apart(self) -> None:
        """Fees accumulate separately and never touch realized PnL."""
        ledger = PositionLedger()
        book(ledger, OrderSide.BUY, "1", "100", fee="0.1")
        book(ledger, OrderSide.SELL, "1", "100", fee="0.2")

        position = ledger.get("BTC/EUR")

        assert (position.fees, position.realized_pnl) == (D("0.3"), D(0))

    def test_same_fill_is_booked_once(self) -> None:
        """Booking the same fill of the same order again changes nothing."""
        ledger = PositionLedger()
        fill = Fill("f1", "1", "100")

        first = ledger.book("o1", "BTC/EUR", OrderSide.BUY, fill)
        second = ledger.book("o1", "BTC/EUR", OrderSide.BUY, fill)

        assert first is not None
        assert first[0] is None  # nothing was held before
        assert first[1].quantity == Decimal(1)
        assert second is None
        assert ledger.get("BTC/EUR").quantity == D(1)

    @given(
        st.lists(st.tuples(st.sampled_from(OrderSide), quantities, prices), min_size=1, max_size=30)
    )
    def test_quantity_is_the_signed_sum_of_fills(
        self, fills: list[tuple[OrderSide, Decimal, Decimal]]
    ) -> None:
        """Whatever the sequence, the position equals the signed sum of booked quantities."""
        ledger = PositionLedger()
        for index, (side, qty, price) in enumerate(fills):
            ledger.book("o", "X", side, Fill(f"f{index}", qty, price))

        expected = sum((q if s is OrderSide.BUY else -q for s, q, _ in fills), D(0))

        assert ledger.get("X").quantity == expected
        assert (ledger.get("X").average_cost is None) == (expected == 0)


class TestBookingInTrailOrder:
    def test_bookings_out_of_trail_order_are_booked_again_in_it(self) -> None:
        """Threads may book a symbol's fills out of the order of their audit records; the
        store's positions are then booked again in that order, as a replay would."""
        live = PositionLedger()
        fills = [
            ("a", OrderSide.BUY, Fill("a", "1", "100"), 1),
            ("b", OrderSide.BUY, Fill("b", "1", "200"), 3),  # booked live before c...
            ("c", OrderSide.SELL, Fill("c", "1", "150"), 2),  # ...whose record came first
        ]
        bookings: list[Booking] = []
        for order_id, side, fill, seq in fills:
            change = live.book(order_id, "X", side, fill)
            assert change is not None
            bookings.append((seq, side, fill, *change))
        in_trail_order = PositionLedger()
        for order_id, side, fill, _seq in sorted(fills, key=lambda f: f[3]):
            in_trail_order.book(order_id, "X", side, fill)
        stored: dict[str, Position] = {}

        touched = book_in_trail_order(stored, bookings)

        assert touched == {"X"}
        assert stored == in_trail_order.snapshot()
        assert stored["X"].realized_pnl == Decimal(50)
        assert live.get("X").realized_pnl == Decimal(0)  # the live order differs

    def test_once_the_orders_agree_again_the_live_positions_are_taken_again(self) -> None:
        """Two fills booked live out of trail order that end at the same position: from
        there on the stored positions are the live objects again (not booked a second
        time for ever after, which would cost every later commit)."""
        live = PositionLedger()
        bookings: list[Booking] = []
        for seq, fill in [
            (2, Fill("a", "1", "100")),
            (1, Fill("b", "1", "100")),
            (3, Fill("c", "2", "101")),
        ]:
            change = live.book(fill.fill_id, "X", OrderSide.BUY, fill)
            assert change is not None
            bookings.append((seq, OrderSide.BUY, fill, *change))
        stored: dict[str, Position] = {}

        book_in_trail_order(stored, bookings)

        assert stored["X"] is live.get("X")

    def test_bookings_in_trail_order_take_the_live_positions_as_they_are(self) -> None:
        """One thread books in trail order: the stored positions are the live ones."""
        live = PositionLedger()
        bookings: list[Booking] = []
        for seq, fill in enumerate([Fill("a", "1", "100"), Fill("b", "2", "101")], start=1):
            change = live.book("o", "X", OrderSide.BUY, fill)
            assert change is not None
            bookings.append((seq, OrderSide.BUY, fill, *change))
        stored: dict[str, Position] = {}

        book_in_trail_order(stored, bookings)

        assert stored["X"] is live.get("X")
