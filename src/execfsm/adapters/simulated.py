"""
`SimulatedVenue`: a deterministic venue for paper, shadow and testnet modes, and for tests.

Prices come from a table (with defaults for common symbols) and move only by `set_price`;
time passes for resting orders only by `advance_to`; event and fill ids derive from the
order's id, so the same session gives the same events.

Time in force: GTC, DAY and GTD orders fill what is marketable and rest; DAY and GTD ones
expire (EXPIRE) once `advance_to` passes their ``expire_time``. IOC fills what is marketable
at once and cancels the rest (CANCEL_ACK); FOK fills all at once or cancels all, unfilled. How
much one order can take at once is the symbol's `liquidity` (unlimited unless set).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from pathlib import Path

from execfsm.adapters._answers import StoredEvent, revived, stored
from execfsm.adapters._venue_book import QueryAnswers, VenueBook
from execfsm.adapters._venue_journal import open_journal
from execfsm.bounds import bounded_amount, on_grid
from execfsm.contracts import (
    EventKind,
    ExecutionEvent,
    Fill,
    Order,
    OrderSide,
    OrderType,
    ReasonCode,
    ReplaceRequest,
    TimeInForce,
    to_decimal,
)
from execfsm.errors import ConfigurationError, ContractViolation
from execfsm.ids import stable_id
from execfsm.instruments import SIMULATED_INSTRUMENTS
from execfsm.typing import Clock, EventSink
from execfsm.validators import (
    Rule,
    aware_datetime,
    has_methods,
    instance_of,
    misconfigured,
    number_between,
)

DEFAULT_PRICES: Mapping[str, Decimal] = {
    i.symbol: i.reference_price for i in SIMULATED_INSTRUMENTS if i.reference_price is not None
}
"""Reference prices for the symbols a fresh venue knows: its instruments' (BTC/EUR 60000,
ETH/EUR 3000, BTC/USD 65000, ETH/USD 3200)."""

_BPS = Decimal(10_000)
_ZERO = Decimal(0)
_PRICE_BOUNDS = bounded_amount(ReasonCode.VALIDATION_INVALID_PRICE)
_CLOCK = has_methods("now")
_NOW = aware_datetime(reason=None)
_IMMEDIATE = frozenset({TimeInForce.IOC, TimeInForce.FOK})
"""Times in force that never rest: what does not fill at once is cancelled."""
_NAME = instance_of(str)
_FEE_BPS = number_between(0, 10_000, decimal=True)
_SLIPPAGE_BPS = number_between(0, 10_000, decimal=True, strict_maximum=True)
_PRICES = Rule(
    lambda v: isinstance(v, Mapping) and all(isinstance(symbol, str) for symbol in v),
    "must be a mapping of symbol (str) to price",
)
_FRACTIONS = Rule(
    lambda v: isinstance(v, Sequence) and not isinstance(v, str | bytes),
    "must be a sequence of fractions",
)


class SimulatedVenue(QueryAnswers):
    """
    A deterministic in-process venue.

    Args:
        clock: Stamps every event.
        name: Shown in audit details.
        prices: Initial price table; defaults to `DEFAULT_PRICES`.
        fee_bps: Fee per fill, in basis points of its notional: in [0, 10000].
        slippage_bps: How far a marketable fill lands from the reference price, against the
            taker (never beyond a LIMIT order's price): in [0, 10000) (10000 would sell at 0).
        partial_fills: Fractions of the quantity each fill takes (e.g. ``("0.25", "0.75")``);
            empty means one fill. The last fill takes the exact remainder.
        journal: A file where the venue appends every order it creates, every event it
            emits and every price move before the call returns, and which it reads back when
            it starts to know them again: its own record, independent of ours, to prove
            across crashes that no key became two orders, and to answer queries after one.
        liquidity: The most of a symbol one order takes at one price (top-of-book size),
            by symbol; a symbol not listed is unlimited. What a resting order could not take
            fills when a later `set_price` finds it marketable again.

    A bad setting is refused with a `ConfigurationError` naming it. It answers queries
    (`execfsm.typing.QueryingAdapter`) truthfully from every event it emitted.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        name: str = "simulated",
        prices: Mapping[str, Decimal | int | str] | None = None,
        fee_bps: Decimal | int | str = 0,
        slippage_bps: Decimal | int | str = 0,
        partial_fills: Sequence[Decimal | int | str] = (),
        journal: Path | str | None = None,
        liquidity: Mapping[str, Decimal | int | str] | None = None,
    ) -> None:
        _CLOCK.check(clock, "clock")
        _NAME.check(name, "name")
        self._clock = clock
        self._name = name
        table = DEFAULT_PRICES if prices is None else prices
        _PRICES.check(table, "prices")
        _FRACTIONS.check(partial_fills, "partial_fills")
        depth = {} if liquidity is None else liquidity
        _PRICES.check(depth, "liquidity")
        try:  # the venue's settings: a bad one is a ConfigurationError naming it
            self._prices = {s: self._price(p, f"price of {s}") for s, p in table.items()}
            self._liquidity = {s: self._positive(q, f"liquidity of {s}") for s, q in depth.items()}
            self.fee_bps = to_decimal(fee_bps, "fee_bps")
            self.slippage_bps = to_decimal(slippage_bps, "slippage_bps")
            fractions = tuple(self._positive(f, "partial_fills") for f in partial_fills)
        except ContractViolation as exc:
            raise ConfigurationError(str(exc), field=exc.field or "", value=exc.value) from None
        _FEE_BPS.check(self.fee_bps, "fee_bps")
        _SLIPPAGE_BPS.check(self.slippage_bps, "slippage_bps")
        if fractions and sum(fractions) != 1:
            raise misconfigured("partial_fills", "fractions must sum to 1", partial_fills)
        self.partial_fills = fractions
        self._sink: EventSink | None = None
        held, self._journal = open_journal(journal)  # checks it, and reads it back
        self._responses: dict[str, tuple[StoredEvent, ...]] = held.responses
        self._resting: dict[str, Order] = held.resting
        self._event_counts: dict[str, int] = held.event_counts
        self._replaced_ids: dict[str, str] = held.replaced_ids  # ClOrdID after a replace -> id
        self._fill_counts: dict[str, int] = held.fill_counts
        self._prices.update(held.prices)
        self.submissions: list[str] = []
        """Every idempotency key sent to `submit`, in call order (including repeats)."""
        self.new_orders: list[str] = held.new_orders
        """The journal of keys that created an order here: a key twice is a double order."""
        self._lock = threading.RLock()
        self._book = VenueBook(held.entries)  # every event it emits: what it answers from
        if self._journal is not None:
            self._journal.watch(self._book, self._fill_counts)
        self._known_keys = set(self.new_orders)

    def close(self) -> None:
        """
        Close the journal, if any, before another venue opens it (it holds every line already).
        """
        if self._journal is not None:
            self._journal.close()

    @staticmethod
    def _price(value: Decimal | int | str, field: str) -> Decimal:
        """
        A reference price: kept to 14 places (a price moved by factors grows places), then
        refused unless positive and within the amount bounds (``1e20`` is not).
        """
        price = on_grid(to_decimal(value, field), ROUND_HALF_EVEN)
        _PRICE_BOUNDS.check(price, field)
        return SimulatedVenue._positive(price, field)

    @staticmethod
    def _positive(value: Decimal | int | str, field: str) -> Decimal:
        number = to_decimal(value, field)
        if number <= 0:
            raise ContractViolation(
                f"{field}: must be greater than 0, got {number}",
                reason=ReasonCode.VALIDATION_INVALID_PRICE,
                field=field,
                value=value,
            )
        return number

    @property
    def name(self) -> str:
        """
        The venue's name.
        """
        return self._name

    def set_event_sink(self, sink: EventSink) -> None:
        """
        Where late events (fills of resting orders) are delivered.
        """
        self._sink = sink

    def price(self, symbol: str) -> Decimal | None:
        """
        The current reference price of `symbol`, or None if the venue does not list it.
        """
        return self._prices.get(symbol)

    def resting_orders(self) -> tuple[Order, ...]:
        """
        LIMIT orders acknowledged but not yet filled or cancelled, in arrival order.
        """
        return tuple(self._resting.values())

    # -- the adapter protocol ---------------------------------------------------------------

    def submit(self, order: Order, idempotency_key: str) -> Sequence[ExecutionEvent]:
        """
        Accept, fill if marketable, or reject an unknown symbol. A key already seen creates
        nothing: the venue answers with its original response again (same event and fill
        ids), also after a restart on its journal, so it never fills twice and a retry after
        a lost answer learns what happened.
        """
        with self._lock:
            self.submissions.append(idempotency_key)
            known = self._responses.get(idempotency_key)
            if known is not None:
                return tuple(revived(stored) for stored in known)
            if idempotency_key in self._known_keys:
                return ()  # in a journal of bare keys (before answers were kept): no answer
            self.new_orders.append(idempotency_key)
            self._known_keys.add(idempotency_key)
            if self._journal is None:
                response = self._new_order(order, idempotency_key)
            else:
                self._journal.order(idempotency_key, order)
                with self._journal.recording(answers=idempotency_key):
                    response = self._new_order(order, idempotency_key)
            self._responses[idempotency_key] = tuple(stored(event) for event in response)
            return response

    def _new_order(self, order: Order, idempotency_key: str) -> tuple[ExecutionEvent, ...]:
        price = self._prices.get(order.symbol)
        if price is None:
            detail = f"unknown symbol {order.symbol!r}"
            return (
                self._event(
                    order, EventKind.REJECT, reason=ReasonCode.ADAPTER_REJECTED, detail=detail
                ),
            )
        events = [
            self._event(order, EventKind.ACK, venue_order_id=stable_id("ven", idempotency_key))
        ]
        marketable = self._marketable(order, price)
        available = self._available(order)
        if order.time_in_force is TimeInForce.FOK and available < order.quantity:
            marketable = False  # all at once or nothing
        rest = order
        if marketable:
            rest = self._take(order, price, events)
        if rest.remaining_quantity > 0:
            if order.time_in_force in _IMMEDIATE:
                detail = f"{order.time_in_force}: {rest.remaining_quantity} not filled at once"
                events.append(self._event(order, EventKind.CANCEL_ACK, detail=detail))
            else:
                self._resting[order.client_order_id] = rest
        return tuple(events)

    def _available(self, order: Order) -> Decimal:
        """
        How much `order` can take at once: its remaining quantity, up to the liquidity.
        """
        depth = self._liquidity.get(order.symbol)
        remaining = order.remaining_quantity
        return remaining if depth is None else min(remaining, depth)

    def _take(self, order: Order, price: Decimal, events: list[ExecutionEvent]) -> Order:
        """
        Fill what `order` can take at `price` (adding the events); the order as the venue
        holds it after, with what it filled.
        """
        quantity = self._available(order)
        events.extend(self._fills(order, price, quantity))
        return order.with_changes(filled_quantity=order.filled_quantity + quantity)

    def cancel(self, order: Order) -> Sequence[ExecutionEvent]:
        """
        Cancel a resting order; anything else is answered with CANCEL_REJECT.
        """
        with self._lock:
            if self._journal is None:
                return self._cancel(order)
            with self._journal.recording():
                return self._cancel(order)

    def _cancel(self, order: Order) -> Sequence[ExecutionEvent]:
        if self._resting.pop(order.client_order_id, None) is not None:
            return (self._event(order, EventKind.CANCEL_ACK),)
        return (
            self._event(order, EventKind.CANCEL_REJECT, detail="order is not open at the venue"),
        )

    def replace(self, order: Order, request: ReplaceRequest) -> Sequence[ExecutionEvent]:
        """
        Amend a resting order, found by the id the venue holds it under
        (``request.orig_client_order_id``): REPLACE_ACK when it rests and the new quantity is
        above what it filled, then fills if its new limit price is marketable (as `set_price`
        fills it). Anything else (an order that does not rest here: unknown, filled or
        cancelled; a stale orig id; a quantity not above its fills) is answered with
        REPLACE_REJECT saying why. Events name the order by its ``client_order_id``.
        """
        with self._lock:
            if self._journal is None:
                return self._replace(order, request)
            with self._journal.recording():
                return self._replace(order, request)

    def _replace(self, order: Order, request: ReplaceRequest) -> Sequence[ExecutionEvent]:
        orig = request.orig_client_order_id
        held = self._resting.get(self._replaced_ids.get(orig, orig))
        if (
            held is None
            or held.client_order_id != request.client_order_id
            or held.current_client_order_id != orig
        ):
            detail = f"no resting order has client order id {orig}"
            return (self._replace_reject(order, request, detail),)
        if request.quantity <= held.filled_quantity:
            detail = (
                f"new quantity {request.quantity} is not above the {held.filled_quantity} filled"
            )
            return (self._replace_reject(held, request, detail),)
        replaced = held.with_changes(
            quantity=request.quantity,
            limit_price=request.limit_price,
            venue_client_order_id=request.new_client_order_id,
        )
        self._replaced_ids.pop(orig, None)
        self._replaced_ids[request.new_client_order_id] = held.client_order_id
        detail = f"replaced {orig} by {request.new_client_order_id}"
        answers = request.new_client_order_id  # as FIX names the replace it answers (ClOrdID)
        events = [self._event(replaced, EventKind.REPLACE_ACK, detail=detail, causation_id=answers)]
        price = self._prices.get(replaced.symbol)
        if price is not None and self._marketable(replaced, price):
            replaced = self._take(replaced, price, events)
        if replaced.remaining_quantity > 0:
            self._resting[held.client_order_id] = replaced
        else:
            del self._resting[held.client_order_id]
        return tuple(events)

    def _replace_reject(self, order: Order, request: ReplaceRequest, detail: str) -> ExecutionEvent:
        answers = request.new_client_order_id
        return self._event(order, EventKind.REPLACE_REJECT, detail=detail, causation_id=answers)

    # -- market moves --------------------------------------------------------------------

    def set_price(self, symbol: str, price: Decimal | int | str) -> list[ExecutionEvent]:
        """
        Move a price; resting orders it makes marketable fill, and their events go to the sink.
        If the sink raises, the rest of the events still go to it; the first error is then
        raised.
        """
        new_price = self._price(price, f"price of {symbol}")
        events: list[ExecutionEvent] = []
        with self._lock:
            if self._journal is None:
                self._move(symbol, new_price, events)
            else:
                self._journal.price(symbol, new_price)
                with self._journal.recording():
                    self._move(symbol, new_price, events)
        self._deliver(events)
        return events

    def _move(self, symbol: str, price: Decimal, events: list[ExecutionEvent]) -> None:
        self._prices[symbol] = price
        crossed = [
            o for o in self._resting.values() if o.symbol == symbol and self._marketable(o, price)
        ]
        for order in crossed:
            rest = self._take(order, price, events)
            if rest.remaining_quantity > 0:
                self._resting[order.client_order_id] = rest
            else:
                del self._resting[order.client_order_id]

    def advance_to(self, now: datetime) -> list[ExecutionEvent]:
        """
        Let the venue's time reach `now` (timezone-aware): every resting DAY or GTD order
        whose ``expire_time`` is at or before it expires (EXPIRE, to the sink, as `set_price`
        delivers fills).
        """
        _NOW.check(now, "now")
        events: list[ExecutionEvent] = []
        with self._lock:
            if self._journal is None:
                self._expire(now, events)
            else:
                with self._journal.recording():
                    self._expire(now, events)
        self._deliver(events)
        return events

    def _expire(self, now: datetime, events: list[ExecutionEvent]) -> None:
        due = [
            o for o in self._resting.values() if o.expire_time is not None and o.expire_time <= now
        ]
        for order in due:
            del self._resting[order.client_order_id]
            detail = f"{order.time_in_force} expire_time {order.expire_time} passed"
            events.append(self._event(order, EventKind.EXPIRE, detail=detail))

    def _deliver(self, events: Sequence[ExecutionEvent]) -> None:
        """
        Send `events` to the sink, if any. If the sink raises, the rest of the events still
        go to it; the first error is then raised.
        """
        if self._sink is not None:  # outside the lock: the sink takes the orchestrator's locks
            errors: list[Exception] = []
            for event in events:  # every event is delivered, whatever the sink raises
                try:
                    self._sink(event)
                except Exception as exc:  # noqa: BLE001 - raised below, once all are in
                    errors.append(exc)
            if errors:
                raise errors[0]

    # -- internals -----------------------------------------------------------------------

    @staticmethod
    def _marketable(order: Order, price: Decimal) -> bool:
        if order.order_type is OrderType.MARKET or order.limit_price is None:
            return True
        if order.side is OrderSide.BUY:
            return order.limit_price >= price
        return order.limit_price <= price

    def _fill_price(self, order: Order, reference: Decimal) -> Decimal:
        slip = (
            on_grid(reference * self.slippage_bps / _BPS, ROUND_HALF_EVEN)
            if self.slippage_bps
            else _ZERO
        )
        if order.side is OrderSide.BUY:
            price = reference + slip
            return min(price, order.limit_price) if order.limit_price is not None else price
        price = reference - slip
        return max(price, order.limit_price) if order.limit_price is not None else price

    def _fills(self, order: Order, reference: Decimal, quantity: Decimal) -> list[ExecutionEvent]:
        price = self._fill_price(order, reference)
        fractions = self.partial_fills or (Decimal(1),)
        events = []
        done = Decimal(0)
        first = self._fill_counts.get(order.client_order_id, 0)  # earlier takes' fills
        for index, fraction in enumerate(fractions, start=1):
            last = index == len(fractions)
            qty = quantity - done if last else on_grid(quantity * fraction, ROUND_DOWN)
            if qty <= 0:
                continue
            done += qty
            self._fill_counts[order.client_order_id] = first + index
            fill = Fill(
                fill_id=stable_id("fill", order.client_order_id, first + index),
                quantity=qty,
                price=price,
                fee=on_grid(qty * price * self.fee_bps / _BPS, ROUND_HALF_EVEN)
                if self.fee_bps
                else _ZERO,
            )
            events.append(self._event(order, EventKind.FILL, fill=fill))
        return events

    def _event(
        self,
        order: Order,
        kind: EventKind,
        *,
        fill: Fill | None = None,
        reason: ReasonCode | None = None,
        detail: str = "",
        venue_order_id: str | None = None,
        causation_id: str | None = None,
    ) -> ExecutionEvent:
        count = self._event_counts.get(order.client_order_id, 0) + 1
        self._event_counts[order.client_order_id] = count
        event = ExecutionEvent(
            kind=kind,
            event_id=stable_id("evt", order.client_order_id, count),
            client_order_id=order.client_order_id,
            correlation_id=order.correlation_id,
            ts_event=self._clock.now(),
            fill=fill,
            reason_code=reason,
            detail=detail,
            venue_order_id=venue_order_id,
            causation_id=causation_id,
        )
        self._book.record(order, event)
        return event
