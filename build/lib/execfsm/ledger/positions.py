"""
`PositionLedger`: net position per symbol from booked fills.

Weighted-average cost, realized PnL on reductions, long/short flips, fees kept apart from PnL,
and each (order, fill id) booked at most once.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Iterable
from decimal import Decimal

import attrs

from execfsm.contracts import Fill, OrderSide

_ZERO = Decimal(0)


@attrs.frozen
class Position:
    """
    One symbol's net position. ``quantity`` is signed: positive long, negative short.
    """

    symbol: str
    quantity: Decimal = _ZERO
    average_cost: Decimal | None = None
    """Average entry price of the open quantity; None when flat."""
    realized_pnl: Decimal = _ZERO
    """Profit or loss of closed quantity, before fees."""
    fees: Decimal = _ZERO
    fill_count: int = 0

    def booked(self, side: OrderSide, fill: Fill) -> Position:
        """
        This position after `fill`.
        """
        signed = fill.quantity if side is OrderSide.BUY else -fill.quantity
        held, cost, realized = self.quantity, self.average_cost, self.realized_pnl
        if held == 0 or (held > 0) == (signed > 0):
            total = abs(held) + fill.quantity
            cost = ((cost or _ZERO) * abs(held) + fill.price * fill.quantity) / total
        else:
            closed = min(fill.quantity, abs(held))
            direction = 1 if held > 0 else -1
            realized += closed * (fill.price - (cost or _ZERO)) * direction
            if fill.quantity > abs(held):
                cost = fill.price  # flipped: the remainder opened at this price
            elif fill.quantity == abs(held):
                cost = None
        return Position(
            symbol=self.symbol,
            quantity=held + signed,
            average_cost=cost,
            realized_pnl=realized,
            fees=self.fees + fill.fee,
            fill_count=self.fill_count + 1,
        )


REVERSALS = "\x00reversal\x00"
"""Prefixed to an order's id in the key of a reversal's booking: order ids are ours and never
hold a NUL, so no fill a venue reports (whatever its id) can share a reversal's key."""


def reversal(side: OrderSide, fill: Fill) -> tuple[OrderSide, Fill]:
    """
    The booking that takes `fill` (booked on `side`) back, for a bust or a correction: the
    same fill on the other side, its fee refunded (book it with ``reversal=True``: a fill is
    taken back at most once). The position's quantity, fees and total PnL (realised plus
    unrealised at any mark) are then what they would be without the fill; realised PnL takes
    the reversal's difference to the average cost.
    """
    other = OrderSide.SELL if side is OrderSide.BUY else OrderSide.BUY
    return other, Fill(fill.fill_id, fill.quantity, fill.price, -fill.fee)


Booking = tuple[int, OrderSide, Fill, "Position | None", Position]
"""One fill booked in the live ledger, as a store receives it with its unit of work: the
seq of the fill's audit record (0 where the sink does not tell), the order's side, the
fill, and the position before (None if none) and after. A plain tuple: two per intent."""


def book_in_trail_order(positions: dict[str, Position], bookings: Iterable[Booking]) -> set[str]:
    """
    Book `bookings` into `positions` in the order of their fills' audit records, as a replay
    of the trail does; returns the symbols that changed. Where the live ledger booked the
    same fills in the same order (one thread, or threads on other symbols), its result is
    taken as it is; where threads booked a symbol out of trail order, it is booked again
    here, so `positions` always equals a replay of the committed trail.
    """
    touched: set[str] = set()
    for _seq, side, fill, before, after in sorted(bookings, key=_SEQ):
        symbol = after.symbol
        current = positions.get(symbol)
        if current is not before:
            booked = (current or Position(symbol)).booked(side, fill)
            # Once the orders agree again (the same fills booked, in another order), take
            # the live result, so later bookings are recognised by identity again.
            after = after if booked == after else booked
        positions[symbol] = after
        touched.add(symbol)
    return touched


_SEQ = operator.itemgetter(0)


class PositionLedger:
    """
    Positions by symbol; booking the same fill of the same order twice changes nothing.
    """

    def __init__(self) -> None:
        self._positions: dict[str, Position] = {}
        self._booked: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def book(
        self,
        client_order_id: str,
        symbol: str,
        side: OrderSide,
        fill: Fill,
        *,
        reversal: bool = False,
    ) -> tuple[Position | None, Position] | None:
        """
        Book `fill` of order `client_order_id` (or, with `reversal`, the reversal of one):
        the position before (None if there was none) and after; None if it was already
        booked.
        """
        key = (REVERSALS + client_order_id if reversal else client_order_id, fill.fill_id)
        with self._lock:
            if key in self._booked:
                return None
            before = self._positions.get(symbol)
            after = (before or Position(symbol)).booked(side, fill)
            self._positions[symbol] = after
            self._booked.add(key)
            return before, after

    def restore(self, positions: Iterable[Position], booked: Iterable[tuple[str, str]]) -> None:
        """
        Load recovered positions and the (order, fill id) pairs already booked.
        """
        with self._lock:
            self._positions = {p.symbol: p for p in positions}
            self._booked = set(booked)

    def find(self, symbol: str) -> Position | None:
        """
        The position in `symbol`, or None if nothing was ever booked in it.
        """
        return self._positions.get(symbol)

    def get(self, symbol: str) -> Position:
        """
        The position in `symbol` (flat if nothing was booked).
        """
        return self._positions.get(symbol) or Position(symbol)

    def snapshot(self) -> dict[str, Position]:
        """
        Every position, by symbol, sorted by symbol.
        """
        return dict(sorted(self._positions.items()))
