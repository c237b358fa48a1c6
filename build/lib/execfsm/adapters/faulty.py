"""
`FaultyVenue`: a simulated venue that misbehaves on purpose, scripted or seeded.

It wraps a `SimulatedVenue` and, per call, applies the next fault: exceptions of each class
(raised as taxonomy errors or as raw transport errors the adapter boundary must translate),
timeouts before and after the request left, duplicated and reordered events, overfills,
conflicting fill ids, fills after a cancel, partial-fill storms and slow answers. Its
answers to queries (`execfsm.typing.QueryingAdapter`) can lag, forget orders, be wrong, or
fail (`execfsm.adapters.query_faults`).
"""

from __future__ import annotations

import enum
import random
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

import attrs

from execfsm.adapters import _venue_book
from execfsm.adapters.dispatcher import MAX_DELAY_SECONDS
from execfsm.adapters.query_faults import QueryFaults, WrongReport
from execfsm.adapters.reports import VenueFill, VenueOrderReport
from execfsm.adapters.simulated import SimulatedVenue
from execfsm.contracts import EventKind, ExecutionEvent, Fill, Order, ReplaceRequest
from execfsm.errors import PermanentVenueError, TransientVenueError, VenueRejected
from execfsm.ids import stable_id
from execfsm.typing import EventSink
from execfsm.validators import callable_setting, instance_of, misconfigured, number_between


class Fault(enum.StrEnum):
    """
    What the venue does wrong on one call.
    """

    NONE = "NONE"
    TRANSIENT = "TRANSIENT"
    """Raises `TransientVenueError`; nothing was sent."""
    TIMEOUT_BEFORE_SEND = "TIMEOUT_BEFORE_SEND"
    """Raises a raw ``ConnectionRefusedError``: the request never left."""
    TIMEOUT_AFTER_SEND = "TIMEOUT_AFTER_SEND"
    """The venue takes the order, then the answer is lost: a raw ``TimeoutError``."""
    PERMANENT = "PERMANENT"
    """Raises `PermanentVenueError` (e.g. bad credentials); nothing was sent."""
    REJECTED = "REJECTED"
    """Raises `VenueRejected`; the venue refused the order."""
    UNKNOWN_EXCEPTION = "UNKNOWN_EXCEPTION"
    """Raises an exception nobody translates (an adapter bug)."""
    DUPLICATE_EVENTS = "DUPLICATE_EVENTS"
    """Every event is delivered twice."""
    FILL_BEFORE_ACK = "FILL_BEFORE_ACK"
    """Fills arrive before the ACK."""
    OVERFILL = "OVERFILL"
    """An extra fill for the full quantity follows the first real one."""
    CONFLICTING_FILL = "CONFLICTING_FILL"
    """A second fill reuses the first fill's id with another quantity."""
    FILL_AFTER_CANCEL = "FILL_AFTER_CANCEL"
    """On cancel: the CANCEL_ACK is followed by a fill of the remaining quantity."""
    PARTIAL_FILL_STORM = "PARTIAL_FILL_STORM"
    """Each fill is split into many small ones."""
    SLOW = "SLOW"
    """Answers correctly, but only after ``slow_seconds``."""
    FILL_BEFORE_REPLACE = "FILL_BEFORE_REPLACE"
    """On replace: a fill of half the remaining quantity, at the old terms, races ahead of
    the venue's answer."""


SEND_FAULTS = tuple(
    f for f in Fault if f not in (Fault.FILL_AFTER_CANCEL, Fault.FILL_BEFORE_REPLACE)
)
"""Faults that apply to `submit`."""

REPLACE_FAULTS = (
    Fault.NONE,
    Fault.TRANSIENT,
    Fault.TIMEOUT_BEFORE_SEND,
    Fault.TIMEOUT_AFTER_SEND,
    Fault.PERMANENT,
    Fault.REJECTED,
    Fault.UNKNOWN_EXCEPTION,
    Fault.DUPLICATE_EVENTS,
    Fault.FILL_BEFORE_REPLACE,
    Fault.SLOW,
)
"""Faults that apply to `replace`."""


_INNER = instance_of(SimulatedVenue)
_SEED = instance_of(int, optional=True)
_RATE = number_between(0, 1)
_SLOW_SECONDS = number_between(0, MAX_DELAY_SECONDS)
_STORM_SIZE = number_between(1, 10_000, integer=True)
_SLEEP = callable_setting()
_QUERY_FAILURES = number_between(0, 1_000_000, integer=True)


def _faults(value: Iterable[Fault], field: str) -> tuple[Fault, ...]:
    """`value` as a tuple of `Fault`s, else a `ConfigurationError` naming `field`."""
    try:
        faults = tuple(value)
    except TypeError:
        faults = (value,)  # type: ignore[assignment]
    if isinstance(value, str) or not all(isinstance(fault, Fault) for fault in faults):
        raise misconfigured(field, "must be a sequence of Fault members", value)
    return faults


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


class FaultyVenue:
    """
    A `SimulatedVenue` with faults.

    Args:
        inner: The venue that really keeps the orders (its journal shows double orders).
        script: Faults for the next calls, in order; when it runs out, ``seed`` decides.
        seed: With a seed, each unscripted call draws a fault with probability ``rate``.
        rate: How often a seeded venue misbehaves.
        faults: Which faults a seeded venue draws from.
        slow_seconds: How long a SLOW answer takes: in [0, 86400].
        storm_size: How many pieces a PARTIAL_FILL_STORM splits each fill into: an int in
            [1, 10000].
        sleep: How SLOW waits (real time by default, so a dispatcher timeout can fire).
        query_lag: Queries answer as the venue was this many events ago.
        forget_orders: Client order ids that queries report as unknown.
        forget_rate: The fraction of other orders queries report as unknown, chosen by
            ``seed`` and the order's id (the same ones whatever is asked first).
        wrong_reports: Client order id → `WrongReport`: how its report contradicts it.
        query_failures: The next this many queries raise `TransientVenueError`.
        query_failure_rate: Then each query raises it with this probability, drawn from
            its own generator seeded by ``seed``.

    A bad setting (``rate`` outside [0, 1], a fault that is not a `Fault`, …) is refused
    with a `ConfigurationError` naming it.
    """

    def __init__(
        self,
        inner: SimulatedVenue,
        script: Iterable[Fault] = (),
        *,
        seed: int | None = None,
        rate: float = 0.3,
        faults: Sequence[Fault] = tuple(Fault),
        slow_seconds: float = 0.2,
        storm_size: int = 20,
        sleep: Callable[[float], None] = _sleep,
        query_lag: int = 0,
        forget_orders: Collection[str] = (),
        forget_rate: float = 0.0,
        wrong_reports: Mapping[str, WrongReport] | None = None,
        query_failures: int = 0,
        query_failure_rate: float = 0.0,
    ) -> None:
        _INNER.check(inner, "inner")
        _SEED.check(seed, "seed")
        _RATE.check(rate, "rate")
        _SLOW_SECONDS.check(slow_seconds, "slow_seconds")
        _STORM_SIZE.check(storm_size, "storm_size")
        _SLEEP.check(sleep, "sleep")
        self.inner = inner
        self.script: deque[Fault] = deque(_faults(script, "script"))
        self._rng = random.Random(seed) if seed is not None else None  # noqa: S311 - test faults
        self.rate = rate
        self.faults = _faults(faults, "faults")
        self.slow_seconds = slow_seconds
        self.storm_size = storm_size
        self._sleep = sleep
        self.applied: list[Fault] = []
        """Every fault applied, in call order."""
        wrong = {} if wrong_reports is None else wrong_reports
        self.query_faults = QueryFaults.checked(query_lag, forget_orders, forget_rate, wrong, seed)
        _QUERY_FAILURES.check(query_failures, "query_failures")
        _RATE.check(query_failure_rate, "query_failure_rate")
        self.query_failures = query_failures
        self.query_failure_rate = query_failure_rate
        self._query_rng = random.Random(f"{seed}|queries")  # noqa: S311 - test faults
        self.failed_queries: list[str] = []
        """Every query that raised, by name, in call order."""

    @property
    def name(self) -> str:
        """
        The inner venue's name, marked faulty.
        """
        return f"faulty-{self.inner.name}"

    def set_event_sink(self, sink: EventSink) -> None:
        """
        Late events come from the inner venue.
        """
        self.inner.set_event_sink(sink)

    def _next(self, allowed: Sequence[Fault]) -> Fault:
        if self.script:
            fault = self.script.popleft()
        elif self._rng is not None and self._rng.random() < self.rate:
            fault = self._rng.choice([f for f in self.faults if f in allowed] or [Fault.NONE])
        else:
            fault = Fault.NONE
        self.applied.append(fault)
        return fault

    def _raise_for(self, fault: Fault) -> None:
        if fault is Fault.TRANSIENT:
            raise TransientVenueError("venue throttled the request (429); nothing was sent")
        if fault is Fault.TIMEOUT_BEFORE_SEND:
            raise ConnectionRefusedError("connection refused before the request was sent")
        if fault is Fault.PERMANENT:
            raise PermanentVenueError("venue refused the credentials (401)")
        if fault is Fault.REJECTED:
            raise VenueRejected("venue rejected the order: price outside the allowed band")
        if fault is Fault.UNKNOWN_EXCEPTION:
            raise RuntimeError("adapter bug: unexpected payload")

    def submit(self, order: Order, idempotency_key: str) -> Sequence[ExecutionEvent]:
        """
        The inner venue's answer, spoiled by the next fault.
        """
        fault = self._next(SEND_FAULTS)
        self._raise_for(fault)
        if fault is Fault.SLOW:
            self._sleep(self.slow_seconds)
        events = list(self.inner.submit(order, idempotency_key))
        if fault is Fault.TIMEOUT_AFTER_SEND:
            raise TimeoutError("read timed out after the request was sent")
        return self._spoil(fault, order, events)

    def cancel(self, order: Order) -> Sequence[ExecutionEvent]:
        """
        The inner venue's cancel answer; FILL_AFTER_CANCEL adds a racing fill after the ack.
        """
        fault = self._next((Fault.NONE, Fault.TRANSIENT, Fault.FILL_AFTER_CANCEL))
        self._raise_for(fault)
        events = list(self.inner.cancel(order))
        if fault is Fault.FILL_AFTER_CANCEL and any(e.kind is EventKind.CANCEL_ACK for e in events):
            remaining = order.remaining_quantity
            price = order.limit_price or self.inner.price(order.symbol) or Decimal(1)
            if remaining > 0:
                fill = Fill(stable_id("fill-late", order.client_order_id), remaining, price)
                events.append(_event_like(events[-1], EventKind.FILL, "late", fill))
        return tuple(events)

    def replace(self, order: Order, request: ReplaceRequest) -> Sequence[ExecutionEvent]:
        """
        The inner venue's answer to an amend, spoiled by the next fault: errors and timeouts
        as for `submit` (TIMEOUT_AFTER_SEND: the venue replaced the order, the answer is
        lost), DUPLICATE_EVENTS, SLOW, and FILL_BEFORE_REPLACE (a racing fill first).
        """
        fault = self._next(REPLACE_FAULTS)
        self._raise_for(fault)
        if fault is Fault.SLOW:
            self._sleep(self.slow_seconds)
        events = list(self.inner.replace(order, request))
        if fault is Fault.TIMEOUT_AFTER_SEND:
            raise TimeoutError("read timed out after the replace was sent")
        if fault is Fault.DUPLICATE_EVENTS:
            return tuple(events + events)
        remaining = order.remaining_quantity
        if fault is Fault.FILL_BEFORE_REPLACE and events and remaining > 0:
            half = (remaining / 2).quantize(Decimal("1e-12"), rounding=ROUND_DOWN) or remaining
            price = order.limit_price or self.inner.price(order.symbol) or Decimal(1)
            fill = Fill(
                stable_id("fill-race", order.client_order_id, request.new_client_order_id),
                half,
                price,
            )
            return (_event_like(events[0], EventKind.FILL, "race", fill), *events)
        return tuple(events)

    # -- queries -------------------------------------------------------------------------

    def _answers(self, query: str, only: str | None = None) -> dict[str, VenueOrderReport]:
        """
        The inner venue's reports (or only the one `only` names, read from that order's
        events alone, at the same lag) as this venue answers `query`, or
        `TransientVenueError`.
        """
        failing = self.query_failures > 0
        if failing:
            self.query_failures -= 1
        elif self.query_failure_rate:
            failing = self._query_rng.random() < self.query_failure_rate
        if failing:
            self.failed_queries.append(query)
            raise TransientVenueError(f"venue did not answer {query} (503); nothing changed")
        return self.query_faults.spoil(self.inner.venue_reports(self.query_faults.lag, only))

    def order_report(self, client_order_id: str) -> VenueOrderReport | None:
        """
        The inner venue's report of the order, lagging, forgotten or wrong as set.
        """
        return self._answers("order_report", client_order_id).get(client_order_id)

    def open_orders(self) -> Sequence[VenueOrderReport]:
        """
        Working orders, from the same spoiled reports.
        """
        return _venue_book.open_orders(self._answers("open_orders"))

    def fills_since(self, ts: datetime) -> Sequence[VenueFill]:
        """
        Fills at or after `ts`, from the same spoiled reports.
        """
        return _venue_book.fills_since(self._answers("fills_since"), ts)

    def positions(self) -> Mapping[str, Decimal]:
        """
        Net position by symbol, from the same spoiled reports.
        """
        return _venue_book.positions(self._answers("positions"))

    def _spoil(
        self, fault: Fault, order: Order, events: list[ExecutionEvent]
    ) -> Sequence[ExecutionEvent]:
        fills = [(e, e.fill) for e in events if e.fill is not None]
        if fault is Fault.DUPLICATE_EVENTS:
            return tuple(events + events)
        if fault is Fault.FILL_BEFORE_ACK:
            return tuple(sorted(events, key=lambda e: e.kind is not EventKind.FILL))
        if not fills:
            return tuple(events)
        last_event, first_fill = fills[-1][0], fills[0][1]
        if fault is Fault.OVERFILL:
            # Right after the first fill: the whole quantity again, more than remains.
            fill_id = stable_id("fill-over", order.client_order_id)
            extra = _event_like(
                fills[0][0], EventKind.FILL, "over", Fill(fill_id, order.quantity, first_fill.price)
            )
            at = events.index(fills[0][0]) + 1
            return (*events[:at], extra, *events[at:])
        if fault is Fault.CONFLICTING_FILL:
            twin = attrs.evolve(first_fill, quantity=first_fill.quantity / 2)
            return (*events, _event_like(last_event, EventKind.FILL, "conflict", twin))
        if fault is Fault.PARTIAL_FILL_STORM:
            stormy: list[ExecutionEvent] = []
            for event in events:
                if event.fill is None:
                    stormy.append(event)
                    continue
                pieces = _split(event.fill, self.storm_size)
                stormy += [
                    _event_like(event, EventKind.FILL, f"s{i}", p) for i, p in enumerate(pieces)
                ]
            return tuple(stormy)
        return tuple(events)


def _split(fill: Fill, pieces: int) -> list[Fill]:
    """
    `pieces` fills whose quantities sum exactly to the fill's; fees split likewise.
    """
    step = (fill.quantity / pieces).quantize(Decimal("1e-12"), rounding=ROUND_DOWN)
    fee_step = (fill.fee / pieces).quantize(Decimal("1e-12"), rounding=ROUND_DOWN)
    parts = []
    for index in range(pieces):
        last = index == pieces - 1
        qty = fill.quantity - step * (pieces - 1) if last else step
        fee = fill.fee - fee_step * (pieces - 1) if last else fee_step
        if qty > 0:
            parts.append(Fill(f"{fill.fill_id}.{index}", qty, fill.price, fee))
    return parts


def _event_like(
    template: ExecutionEvent, kind: EventKind, tag: str, fill: Fill | None
) -> ExecutionEvent:
    return attrs.evolve(
        template,
        kind=kind,
        event_id=f"{template.event_id}-{tag}-{fill.fill_id if fill else ''}",
        fill=fill,
        reason_code=None,
        detail="",
        venue_order_id=None,
    )
