"""
The whole orchestrator against a FaultyVenue, driven by Hypothesis: random intents, faults,
price moves, cancels, replaces, duplicates, stray events, and busts and corrections of fills,
with the system's invariants checked after every step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import TypeVar, cast

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from execfsm import (
    ContractViolation,
    EventKind,
    ExecutionEvent,
    ExecutionMode,
    ExecutionOrchestrator,
    Fill,
    FillSubscriberError,
    IllegalTransition,
    Order,
    OrderIntent,
    OrderSide,
    OrderState,
    OrderType,
    SimulatedVenue,
    SteppingClock,
)
from execfsm.adapters.dispatcher import Dispatcher, RetryPolicy
from execfsm.adapters.faulty import SEND_FAULTS
from execfsm.clock import EPOCH
from execfsm.contracts import FINAL_ORDER_STATES, IN_FLIGHT_ORDER_STATES
from execfsm.governance import MACHINES
from execfsm.governance.trail import verify_trail
from execfsm.ids import idempotency_key
from execfsm.ledger.replay import replay
from execfsm.testing import Fault, FaultyVenue, paper_orchestrator
from tests.strategies import quantities

IN_FLIGHT = IN_FLIGHT_ORDER_STATES
SYMBOLS = ["BTC/EUR", "ETH/EUR", "XYZ/EUR"]
T = TypeVar("T")


class RecordingVenue(FaultyVenue):
    """A FaultyVenue that remembers every event it answered with, for re-delivery."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.answered: list[ExecutionEvent] = []

    def submit(self, order: Order, idempotency_key: str) -> Sequence[ExecutionEvent]:
        events = super().submit(order, idempotency_key)
        self.answered.extend(events)
        return events


class OrchestratorMachine(RuleBasedStateMachine):
    """One paper session on a misbehaving venue."""

    @initialize()
    def start(self) -> None:
        self.clock = SteppingClock(EPOCH, timedelta(milliseconds=1))
        self.inner = SimulatedVenue(self.clock, partial_fills=("0.25", "0.75"), fee_bps=5)
        self.venue = RecordingVenue(self.inner, sleep=lambda _s: None)
        self.orch = paper_orchestrator(
            self.venue,
            clock=self.clock,
            dispatcher=Dispatcher(RetryPolicy(max_attempts=3), sleep=lambda _s: None, seed=3),
        )
        self.booked: list[tuple[str, Decimal]] = []
        """(symbol, signed quantity) of every fill told to the subscribers, and (negated) of
        every fill a bust or correction took back (the subscribers are not told of those)."""
        self.heard: dict[str, list[Fill]] = {}
        """The fills each order's subscribers were told of, by client order id."""
        self.downstream_broken = False
        self.heard_downstream = 0
        self.orch.subscribe_fills(self._downstream)  # first: its failures must starve no one
        self.orch.subscribe_fills(self._heard)
        self.intents: list[OrderIntent] = []
        self.count = 0

    def _heard(self, order: Order, fill: Fill) -> None:
        self.booked.append((order.symbol, signed(order, fill.quantity)))
        self.heard.setdefault(order.client_order_id, []).append(fill)

    def _downstream(self, _order: Order, _fill: Fill) -> None:
        self.heard_downstream += 1
        if self.downstream_broken:
            raise ValueError("downstream is down")

    def _booking(self, call: Callable[[], T]) -> T:
        """`call()`; a FillSubscriberError only while the downstream subscriber is broken, and
        then its outcome."""
        try:
            return call()
        except FillSubscriberError as exc:
            failed = exc
        assert self.downstream_broken
        assert all(isinstance(error, ValueError) for error in failed.errors)
        return cast(T, failed.outcome)

    # -- rules ----------------------------------------------------------------------------

    @rule(broken=st.booleans())
    def downstream(self, broken: bool) -> None:
        self.downstream_broken = broken

    @rule(
        symbol=st.sampled_from(SYMBOLS),
        side=st.sampled_from(OrderSide),
        qty=quantities,
        limit=st.sampled_from([None, Decimal("0.9"), Decimal("1.1")]),
        fault=st.sampled_from(SEND_FAULTS),
    )
    def submit(
        self, symbol: str, side: OrderSide, qty: Decimal, limit: Decimal | None, fault: Fault
    ) -> None:
        intent = self._new_intent(symbol, side, qty, limit)
        self.venue.script.append(fault)
        self._booking(lambda: self.orch.submit_intent(intent))
        self.intents.append(intent)

    @rule(
        orders=st.lists(
            st.tuples(
                st.sampled_from(SYMBOLS),
                st.sampled_from(OrderSide),
                quantities,
                st.sampled_from([None, Decimal("0.9"), Decimal("1.1")]),
                st.sampled_from(SEND_FAULTS),
            ),
            min_size=1,
            max_size=4,
        ),
        data=st.data(),
    )
    def submit_batch(
        self,
        orders: list[tuple[str, OrderSide, Decimal, Decimal | None, Fault]],
        data: st.DataObject,
    ) -> None:
        batch = []
        for symbol, side, qty, limit, fault in orders:
            batch.append(self._new_intent(symbol, side, qty, limit))
            self.venue.script.append(fault)
        if self.intents and data.draw(st.booleans()):
            batch.insert(
                data.draw(st.integers(0, len(batch))), data.draw(st.sampled_from(self.intents))
            )
        results = self._booking(lambda: self.orch.submit_intents(batch))
        assert [r.idempotency_key for r in results] == [idempotency_key(i) for i in batch]
        self.intents.extend(i for i in batch if i not in self.intents)

    def _new_intent(
        self, symbol: str, side: OrderSide, qty: Decimal, limit: Decimal | None
    ) -> OrderIntent:
        self.count += 1
        price = self.inner.price(symbol) or Decimal(100)
        return OrderIntent(
            symbol,
            side,
            qty,
            OrderType.MARKET if limit is None else OrderType.LIMIT,
            "stateful",
            limit_price=None if limit is None else (price * limit).quantize(Decimal("0.01")),
            intent_id=f"i{self.count}",
        )

    @rule(data=st.data())
    def resubmit(self, data: st.DataObject) -> None:
        if self.intents:
            again = data.draw(st.sampled_from(self.intents))
            self._booking(lambda: self.orch.submit_intent(again))

    @rule(
        symbol=st.sampled_from(SYMBOLS[:2]),
        factor=st.sampled_from(["0.85", "0.95", "1.05", "1.15"]),
    )
    def move_price(self, symbol: str, factor: str) -> None:
        price = self.inner.price(symbol)
        assert price is not None
        self._booking(lambda: self.inner.set_price(symbol, price * Decimal(factor)))

    @rule(
        data=st.data(),
        fault=st.sampled_from([Fault.NONE, Fault.TRANSIENT, Fault.FILL_AFTER_CANCEL]),
    )
    def cancel(self, data: st.DataObject, fault: Fault) -> None:
        orders = [o for o in self.orch.get_order_ledger_snapshot() if o.state in IN_FLIGHT]
        if orders:
            target = data.draw(st.sampled_from(orders))
            self.venue.script.append(fault)
            self._booking(lambda: self.orch.cancel(target.client_order_id))

    @rule(data=st.data())
    def redeliver(self, data: st.DataObject) -> None:
        if self.venue.answered:
            event = data.draw(st.sampled_from(self.venue.answered))
            self._booking(lambda: self.orch.handle_event(event))

    @rule()
    def stray_event(self) -> None:
        fill = Fill("stray", "1", "1")
        self.orch.handle_event(
            ExecutionEvent(EventKind.FILL, "stray", "ord-unknown", "cor-unknown", EPOCH, fill=fill)
        )

    def _revised(self, event: ExecutionEvent) -> None:
        """Apply a bust or correction; what it took back leaves the expected position."""
        outcome = self._booking(lambda: self.orch.handle_event(event))
        if outcome.reversed_fill is not None:
            assert outcome.applied
            order = self.orch.order(event.client_order_id)
            assert order is not None
            self.booked.append((order.symbol, -signed(order, outcome.reversed_fill.quantity)))

    def _heard_fill(self, data: st.DataObject) -> tuple[Order, Fill] | None:
        """An order and one of the fills its subscribers heard of (busted since, maybe)."""
        cids = sorted(self.heard)
        if not cids:
            return None
        cid = data.draw(st.sampled_from(cids))
        return cast(Order, self.orch.order(cid)), data.draw(st.sampled_from(self.heard[cid]))

    @rule(data=st.data(), unknown=st.booleans())
    def bust(self, data: st.DataObject, unknown: bool) -> None:
        picked = self._heard_fill(data)
        if picked is not None:
            order, fill = picked
            self.count += 1
            fill_id = f"never-{self.count}" if unknown else fill.fill_id
            self._revised(ExecutionEvent.bust(order, f"bust-{self.count}", EPOCH, fill_id))

    @rule(
        data=st.data(),
        how=st.sampled_from(["up", "down", "complete", "overfill", "price"]),
    )
    def correct(self, data: st.DataObject, how: str) -> None:
        picked = self._heard_fill(data)
        if picked is not None:
            order, fill = picked
            room = order.quantity - order.filled_quantity + fill.quantity
            tick = Decimal("0.001")
            quantity = {
                "up": min(fill.quantity + tick, room),
                "down": max(fill.quantity - tick, tick),
                "complete": room,
                "overfill": room + tick,
                "price": fill.quantity,
            }[how]
            price = fill.price * Decimal("1.01") if how == "price" else fill.price
            self.count += 1
            corrected = Fill(f"corr-{self.count}", quantity, price.quantize(Decimal("0.01")))
            self._revised(
                ExecutionEvent.correction(
                    order, f"correct-{self.count}", EPOCH, fill.fill_id, corrected
                )
            )

    @rule(data=st.data(), how=st.sampled_from(["up", "down", "price"]))
    def replace(self, data: st.DataObject, how: str) -> None:
        replace = getattr(self.orch, "replace", None)
        live = (OrderState.ACKNOWLEDGED, OrderState.PARTIALLY_FILLED)
        orders = [o for o in self.orch.get_order_ledger_snapshot() if o.state in live]
        if replace is None or not orders:  # `replace` comes with the amend work (issue 17)
            return
        target = data.draw(st.sampled_from(orders))
        terms: dict[str, Decimal] = {}
        if how == "up":
            terms["quantity"] = target.quantity + Decimal("0.5")
        elif how == "down":
            terms["quantity"] = target.filled_quantity + Decimal("0.001")
        elif target.limit_price is not None:
            terms["limit_price"] = target.limit_price * Decimal("1.01")
        # A replace the order's terms or state refuse is refused before the venue.
        with contextlib.suppress(ContractViolation, IllegalTransition):
            self._booking(lambda: replace(target.client_order_id, **terms))

    # -- invariants -----------------------------------------------------------------------

    @invariant()
    def no_key_becomes_two_orders(self) -> None:
        assert len(set(self.inner.new_orders)) == len(self.inner.new_orders)

    @invariant()
    def positions_equal_booked_fills(self) -> None:
        expected: dict[str, Decimal] = {}
        for symbol, signed in self.booked:
            expected[symbol] = expected.get(symbol, Decimal(0)) + signed
        positions = self.orch.get_position_ledger_snapshot()
        assert {s: p.quantity for s, p in positions.items()} == expected

    @invariant()
    def positions_are_the_orders_counted_fills(self) -> None:
        expected: dict[str, Decimal] = {}
        for order in self.orch.get_order_ledger_snapshot():
            held = expected.get(order.symbol, Decimal(0))
            expected[order.symbol] = held + signed(order, order.filled_quantity)
        positions = self.orch.get_position_ledger_snapshot()
        assert {s: p.quantity for s, p in positions.items()} == {
            s: q for s, q in expected.items() if s in positions or q
        }

    @invariant()
    def every_subscriber_heard_every_booked_fill(self) -> None:
        assert self.heard_downstream == sum(len(fills) for fills in self.heard.values())

    @invariant()
    def orders_never_overfill_and_are_accounted_for(self) -> None:
        for order in self.orch.get_order_ledger_snapshot():
            assert order.filled_quantity <= order.quantity
            done = order.state in FINAL_ORDER_STATES
            assert order.remaining_quantity == (
                0 if done else order.quantity - order.filled_quantity
            )
            assert (
                order.state in FINAL_ORDER_STATES
                or order.state in IN_FLIGHT
                or order.needs_reconciliation
            ), order

    @invariant()
    def trail_verifies_and_rebuilds_the_ledgers(self) -> None:
        records = self.orch.get_audit_log_snapshot()
        verified = verify_trail(records, MACHINES)
        assert verified.ok, verified
        rebuilt = replay(records)
        assert rebuilt.positions == self.orch.get_position_ledger_snapshot()
        orders = {o.client_order_id: o for o in self.orch.get_order_ledger_snapshot()}
        assert {c: (o.state, o.filled_quantity, o.quantity) for c, o in rebuilt.orders.items()} == {
            c: (o.state, o.filled_quantity, o.quantity) for c, o in orders.items()
        }


def signed(order: Order, quantity: Decimal) -> Decimal:
    """`quantity` as it moves the position of `order`'s side."""
    return quantity if order.side is OrderSide.BUY else -quantity


OrchestratorMachine.TestCase.settings = settings(
    settings.default, stateful_step_count=25, deadline=None
)
TestOrchestratorStateful = OrchestratorMachine.TestCase


def test_cancel_of_unknown_order_is_a_clear_error() -> None:
    """Cancelling an id that was never dispatched names the id."""
    orch = ExecutionOrchestrator(execution_mode=ExecutionMode.PAPER, clock=SteppingClock(EPOCH))

    with pytest.raises(ContractViolation, match="ord-nope"):
        orch.cancel("ord-nope")


def test_trail_with_a_bust_after_a_cancel_verifies() -> None:
    """The trail of a fill busted after its order was cancelled verifies."""
    clock = SteppingClock(EPOCH, timedelta(milliseconds=1))
    orch = paper_orchestrator(SimulatedVenue(clock), clock=clock)
    intent = OrderIntent(  # far below the market: it rests
        "BTC/EUR", OrderSide.BUY, Decimal(4), OrderType.LIMIT, "s", limit_price=Decimal(1)
    )
    order = cast(Order, orch.submit_intent(intent).order)
    fill = Fill("f1", Decimal(1), Decimal(1))
    orch.handle_event(
        ExecutionEvent(
            EventKind.FILL, "fill-1", order.client_order_id, order.correlation_id, EPOCH, fill=fill
        )
    )
    orch.cancel(order.client_order_id)
    order = cast(Order, orch.order(order.client_order_id))
    busted = orch.handle_event(ExecutionEvent.bust(order, "bust-1", EPOCH, "f1"))

    assert order.state is OrderState.CANCELLED
    assert busted.applied
    assert verify_trail(orch.get_audit_log_snapshot(), MACHINES).ok
