"""
The simulated venue's journal: a venue restarted on it answers queries, repeats its answers,
and fills, cancels, replaces and expires its resting orders as a venue that never restarted.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execfsm import (
    ConfigurationError,
    EventKind,
    ExecutionEvent,
    Order,
    OrderSide,
    OrderState,
    OrderType,
    SimulatedVenue,
    SteppingClock,
)
from execfsm.clock import EPOCH
from execfsm.contracts import ReplaceRequest, TimeInForce
from execfsm.testing import order_for
from tests.conftest import make_intent

SETTINGS: dict[str, Any] = {"partial_fills": ("0.5", "0.5"), "fee_bps": 7}
LATER = EPOCH + timedelta(hours=1)


class Rig:
    """A journaled venue and its clock, restarted by `restart` on the same journal."""

    def __init__(self, path: Path, **kw: Any) -> None:
        self.path = path
        self.kw = {**SETTINGS, **kw}
        self.clock = SteppingClock(EPOCH)
        self.venue = SimulatedVenue(self.clock, journal=path, **self.kw)
        self.sent: list[tuple[Order, str]] = []
        self.count = 0

    def restart(self) -> SimulatedVenue:
        self.venue.close()
        self.venue = SimulatedVenue(self.clock, journal=self.path, **self.kw)
        return self.venue

    def submit(self, **kw: Any) -> tuple[Order, tuple[ExecutionEvent, ...]]:
        self.count += 1
        order = order_for(make_intent(intent_id=f"i{self.count}", **kw))
        self.sent.append((order, order.idempotency_key))
        return order, tuple(self.venue.submit(order, order.idempotency_key))


def answers(venue: SimulatedVenue) -> tuple[object, ...]:
    """Everything the venue answers when asked, and what still rests there."""
    return (
        venue.venue_reports(),
        tuple(venue.open_orders()),
        dict(venue.positions()),
        tuple(venue.fills_since(EPOCH)),
        venue.resting_orders(),
    )


def filled_market(rig: Rig) -> None:
    rig.submit(order_type="MARKET", limit_price=None)


def partly_filled_resting(rig: Rig) -> None:
    rig.submit(quantity="2", limit_price=Decimal(61000))  # marketable, beyond the liquidity


def cancelled(rig: Rig) -> None:
    order, _ = rig.submit()
    rig.venue.cancel(order)


def replaced(rig: Rig) -> None:
    order, _ = rig.submit()
    rig.venue.replace(order, replace_of(order, 1, order.client_order_id, "3", "55000"))


def expired_gtd(rig: Rig) -> None:
    rig.submit(time_in_force=TimeInForce.GTD, expire_time=LATER)
    rig.venue.advance_to(LATER)


def expired_day(rig: Rig) -> None:
    rig.count += 1
    order = order_for(make_intent(intent_id="day", time_in_force=TimeInForce.DAY))
    order = order.with_changes(expire_time=LATER)
    rig.sent.append((order, order.idempotency_key))
    rig.venue.submit(order, order.idempotency_key)
    rig.venue.advance_to(LATER)


def rejected(rig: Rig) -> None:
    rig.submit(symbol="NOPE/EUR")


def replace_of(order: Order, n: int, orig: str, quantity: str, price: str) -> ReplaceRequest:
    return ReplaceRequest(
        client_order_id=order.client_order_id,
        new_client_order_id=f"{order.client_order_id}.r{n}",
        orig_client_order_id=orig,
        quantity=Decimal(quantity),
        limit_price=Decimal(price),
    )


SCENARIOS: dict[str, Callable[[Rig], None]] = {
    "filled market": filled_market,
    "partly filled, resting": partly_filled_resting,
    "cancelled": cancelled,
    "replaced": replaced,
    "expired GTD": expired_gtd,
    "expired DAY": expired_day,
    "rejected unknown symbol": rejected,
}


class TestRestart:
    @pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
    def test_a_restarted_venue_answers_as_before(
        self, tmp_path: Path, scenario: Callable[[Rig], None]
    ) -> None:
        """Reports, open orders, positions, fills and resting orders are the same after a
        restart on the journal."""
        rig = Rig(tmp_path / "venue.journal", liquidity={"BTC/EUR": "0.5"})
        scenario(rig)
        before = answers(rig.venue)

        after = answers(rig.restart())

        assert after == before
        assert after[0]  # the venue knows the order

    @pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
    def test_a_known_key_is_answered_as_before(
        self, tmp_path: Path, scenario: Callable[[Rig], None]
    ) -> None:
        """A resubmit of a key from before the restart answers its original events and creates
        nothing."""
        rig = Rig(tmp_path / "venue.journal", liquidity={"BTC/EUR": "0.5"})
        scenario(rig)
        first = [tuple(rig.venue.submit(order, key)) for order, key in rig.sent]
        keys = list(rig.venue.new_orders)

        venue = rig.restart()
        again = [tuple(venue.submit(order, key)) for order, key in rig.sent]

        assert again == first
        assert all(again)
        assert venue.new_orders == keys

    def test_a_resting_order_fills_after_restart_with_new_fill_ids(self, tmp_path: Path) -> None:
        """A partly filled resting order fills its rest on a later set_price, with event and
        fill ids not used before the restart."""
        rig = Rig(tmp_path / "venue.journal", liquidity={"BTC/EUR": "0.5"})
        order, _ = rig.submit(quantity="1", limit_price=Decimal(59000))
        rig.venue.set_price("BTC/EUR", 58000)  # takes 0.5, in two fills
        old = rig.venue.fills_since(EPOCH)
        old_events = {e.event_id for _, e in rig.venue._book.since(0)}

        venue = rig.restart()
        events = venue.set_price("BTC/EUR", 58000)

        fills = [e.fill for e in events if e.fill is not None]
        assert sum(f.quantity for f in fills) == Decimal("0.5")
        assert not {f.fill_id for f in fills} & {f.exec_id for f in old}
        assert not {e.event_id for e in events} & old_events
        report = venue.order_report(order.client_order_id)
        assert report is not None
        assert (report.state, report.cum_quantity) == (OrderState.FILLED, Decimal(1))
        assert venue.resting_orders() == ()

    def test_a_resting_order_cancels_after_restart(self, tmp_path: Path) -> None:
        """A resting order from before the restart is cancelled by a cancel after it."""
        rig = Rig(tmp_path / "venue.journal")
        order, _ = rig.submit()

        events = rig.restart().cancel(order)

        assert [e.kind for e in events] == [EventKind.CANCEL_ACK]
        assert rig.venue.open_orders() == ()

    def test_a_replaced_order_is_found_by_its_new_id_after_restart(self, tmp_path: Path) -> None:
        """A second replace names the order by the id the first gave it, across a restart."""
        rig = Rig(tmp_path / "venue.journal")
        order, _ = rig.submit()
        first = replace_of(order, 1, order.client_order_id, "2", "51000")
        rig.venue.replace(order, first)

        events = rig.restart().replace(
            order, replace_of(order, 2, first.new_client_order_id, "3", "52000")
        )

        assert [e.kind for e in events] == [EventKind.REPLACE_ACK]
        (held,) = rig.venue.resting_orders()
        assert (held.quantity, held.limit_price) == (Decimal(3), Decimal(52000))

    def test_prices_survive_a_restart(self, tmp_path: Path) -> None:
        """A moved price is the price after a restart: the next market order fills at it."""
        rig = Rig(tmp_path / "venue.journal")
        rig.venue.set_price("ETH/EUR", "3100.5")

        venue = rig.restart()

        assert venue.price("ETH/EUR") == Decimal("3100.5")

    def test_reports_carry_the_order_terms(self, tmp_path: Path) -> None:
        """A report says the order's type, limit price, time in force and the venue's id."""
        rig = Rig(tmp_path / "venue.journal")
        order, events = rig.submit(time_in_force=TimeInForce.GTD, expire_time=LATER)

        report = rig.restart().order_report(order.client_order_id)

        assert report is not None
        assert (
            report.order_type,
            report.limit_price,
            report.time_in_force,
            report.venue_order_id,
        ) == (OrderType.LIMIT, Decimal(50000), TimeInForce.GTD, events[0].venue_order_id)
        assert report.venue_order_id is not None


class TestJournalFile:
    def test_lines_are_json_with_decimals_as_strings(self, tmp_path: Path) -> None:
        """Each line is one JSON object saying what it records; amounts are strings."""
        rig = Rig(tmp_path / "venue.journal", fee_bps=0, partial_fills=())
        rig.submit(order_type="MARKET", limit_price=None)

        lines = [json.loads(line) for line in rig.path.read_text().splitlines()]

        assert [line["record"] for line in lines] == ["order", "event", "event"]
        assert [line["event"]["kind"] for line in lines[1:]] == ["ACK", "FILL"]
        assert lines[2]["event"]["fill"]["price"] == "60000"
        assert lines[0]["order"]["quantity"] == "1.0"

    def test_a_torn_last_line_is_ignored(self, tmp_path: Path) -> None:
        """A last line cut short by a crash is left out, and the next line starts on its own."""
        rig = Rig(tmp_path / "venue.journal")
        rig.submit(order_type="MARKET", limit_price=None)
        before = answers(rig.venue)
        rig.venue.close()
        with rig.path.open("a") as journal:
            journal.write('{"record":"event","order":{"client_ord')

        assert answers(rig.restart()) == before
        rig.submit(side=OrderSide.SELL, order_type="MARKET", limit_price=None)
        after = answers(rig.venue)
        assert answers(rig.restart()) == after

    @pytest.mark.parametrize(
        "content",
        [
            b"SQLite format 3\x00 precious bytes, no newline",
            b'{"record":"order","key":"k1","ord',
        ],
    )
    def test_a_file_whose_only_line_has_no_newline_is_refused_and_left_intact(
        self, tmp_path: Path, content: bytes
    ) -> None:
        """A file with no newline at all is not taken for a torn last line: a
        ConfigurationError naming the journal, not one byte cut (even a record's beginning:
        no whole line shows the file is a journal)."""
        path = tmp_path / "notes.txt"
        path.write_bytes(content)

        with pytest.raises(ConfigurationError, match=r"line 1 .* no whole journal line"):
            SimulatedVenue(SteppingClock(EPOCH), journal=path)
        assert path.read_bytes() == content

    @pytest.mark.parametrize("tail", ["some notes", "k3", '"record":"event"'])
    def test_a_last_line_that_is_not_a_records_beginning_is_refused_and_left_intact(
        self, tmp_path: Path, tail: str
    ) -> None:
        """After whole lines, a last line without newline is cut only when it begins a
        record; anything else (text, a bare key) refuses the journal, the file intact."""
        rig = Rig(tmp_path / "venue.journal")
        rig.submit(order_type="MARKET", limit_price=None)
        rig.venue.close()
        with rig.path.open("a") as journal:
            journal.write(tail)
        before = rig.path.read_bytes()
        lines = before.count(b"\n") + 1

        with pytest.raises(ConfigurationError, match=f"line {lines} .* not the beginning of a"):
            SimulatedVenue(SteppingClock(EPOCH), journal=rig.path)
        assert rig.path.read_bytes() == before

    def test_blanks_after_the_last_newline_are_kept_and_appended_after(
        self, tmp_path: Path
    ) -> None:
        """Blanks after the last newline are no torn record: nothing is cut, and the next
        record, appended after them, reads back."""
        rig = Rig(tmp_path / "venue.journal")
        rig.submit(order_type="MARKET", limit_price=None)
        rig.venue.close()
        with rig.path.open("a") as journal:
            journal.write("  ")
        size = rig.path.stat().st_size

        rig.restart()
        rig.submit(side=OrderSide.SELL, order_type="MARKET", limit_price=None)
        after = answers(rig.venue)

        assert rig.path.stat().st_size > size
        assert answers(rig.restart()) == after

    def test_garbage_mid_file_is_refused(self, tmp_path: Path) -> None:
        """An unreadable line before the last is a ConfigurationError naming the journal and
        the line."""
        rig = Rig(tmp_path / "venue.journal")
        rig.submit(order_type="MARKET", limit_price=None)
        rig.venue.close()
        lines = rig.path.read_text().splitlines(keepends=True)
        lines.insert(1, '{"record": "event", "nonsense": 1}\n')
        rig.path.write_text("".join(lines))

        with pytest.raises(ConfigurationError, match=r"journal: line 2 is not a venue journal"):
            SimulatedVenue(SteppingClock(EPOCH), journal=rig.path)

    @pytest.mark.parametrize(
        ("old", "new", "message"),
        [
            ('"quantity":"1.0"', '"quantity":"-1"', "an amount is not finite or not above 0"),
            ('"price":"60000"', '"price":"NaN"', "an amount is not finite or not above 0"),
            ('"kind":"FILL"', '"kind":"SPLIT"', "Invalid enum value 'SPLIT'"),
        ],
    )
    def test_a_line_with_a_bad_value_is_refused(
        self, tmp_path: Path, old: str, new: str, message: str
    ) -> None:
        """A line that decodes but holds a value the venue never writes is refused too."""
        rig = Rig(tmp_path / "venue.journal", partial_fills=())
        rig.submit(order_type="MARKET", limit_price=None)
        rig.submit(order_type="MARKET", limit_price=None)
        rig.venue.close()
        text = rig.path.read_text()
        rig.path.write_text(text.replace(old, new, 1))

        with pytest.raises(ConfigurationError, match=message):
            SimulatedVenue(SteppingClock(EPOCH), journal=rig.path)

    def test_a_journal_the_venue_cannot_append_to_is_refused(self, tmp_path: Path) -> None:
        """A journal in a folder that does not exist is a ConfigurationError naming it."""
        with pytest.raises(ConfigurationError, match="journal: must be a file the venue can"):
            SimulatedVenue(SteppingClock(EPOCH), journal=tmp_path / "none" / "venue.journal")

    def test_an_old_keys_only_journal_still_loads(self, tmp_path: Path) -> None:
        """A journal of bare keys gives the venue its keys; it creates nothing for them again
        (no answer was kept), and appends new orders as records."""
        path = tmp_path / "venue.journal"
        path.write_text("k1\nk2\n")
        venue = SimulatedVenue(SteppingClock(EPOCH), journal=path)
        order = order_for(make_intent())

        assert venue.new_orders == ["k1", "k2"]
        assert venue.submit(order, "k1") == ()
        assert [e.kind for e in venue.submit(order, "k3")] == [EventKind.ACK]
        venue.close()
        again = SimulatedVenue(SteppingClock(EPOCH), journal=path)
        assert again.new_orders == ["k1", "k2", "k3"]
        assert again.resting_orders() == venue.resting_orders()


ACTIONS = ["market", "limit", "gtd", "price", "cancel", "replace", "advance", "resubmit", "nope"]


def step(venue: SimulatedVenue, action: str, side: OrderSide, n: int, k: int) -> object:
    """Do one thing to `venue`; what it answered."""
    if action in ("market", "limit", "gtd", "nope", "resubmit"):
        number = max(k - 1, 0) if action == "resubmit" else k
        price = Decimal(60000 + (1 if side is OrderSide.SELL else -1) * 500 * (n - 2))
        kw: dict[str, Any] = {"side": side, "quantity": Decimal(n), "limit_price": price}
        if action == "market":
            kw.update(order_type=OrderType.MARKET, limit_price=None)
        elif action == "gtd":
            kw.update(time_in_force=TimeInForce.GTD, expire_time=EPOCH + timedelta(hours=n))
        elif action == "nope":
            kw.update(symbol="NOPE/EUR")
        order = order_for(make_intent(intent_id=f"i{number}", **kw))
        return tuple(venue.submit(order, order.idempotency_key))
    if action == "price":
        return venue.set_price("BTC/EUR", 60000 + (n - 3) * 1000)
    if action == "advance":
        return venue.advance_to(EPOCH + timedelta(hours=n))
    resting = venue.resting_orders()
    if not resting:
        return None
    held = resting[n % len(resting)]
    if action == "cancel":
        return tuple(venue.cancel(held))
    request = ReplaceRequest(
        client_order_id=held.client_order_id,
        new_client_order_id=f"{held.client_order_id}.r{k}",
        orig_client_order_id=held.current_client_order_id,
        quantity=held.quantity + n,
        limit_price=Decimal(60000 + (1 if held.side is OrderSide.SELL else -1) * 300 * n),
    )
    return tuple(venue.replace(held, request))


class TestRestartOverRandomSessions:
    @settings(deadline=None)
    @given(
        steps=st.lists(
            st.tuples(
                st.sampled_from(ACTIONS),
                st.sampled_from([OrderSide.BUY, OrderSide.SELL]),
                st.integers(min_value=1, max_value=5),
            ),
            max_size=14,
        ),
        restart_at=st.integers(min_value=0, max_value=14),
    )
    def test_a_restarted_venue_answers_as_one_that_never_stopped(
        self, steps: list[tuple[str, OrderSide, int]], restart_at: int
    ) -> None:
        """After any session with a restart at any point, every answer (to the calls and to
        the queries) equals that of a venue without a journal that never restarted."""
        kw: dict[str, Any] = {**SETTINGS, "liquidity": {"BTC/EUR": "3"}}
        steady = SimulatedVenue(SteppingClock(EPOCH), **kw)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "venue.journal"
            clock = SteppingClock(EPOCH)
            venue = SimulatedVenue(clock, journal=path, **kw)
            for k, (action, side, n) in enumerate(steps):
                if k == restart_at:
                    venue.close()
                    venue = SimulatedVenue(clock, journal=path, **kw)
                assert step(venue, action, side, n, k) == step(steady, action, side, n, k)
                assert answers(venue) == answers(steady)
            venue.close()
            restarted = SimulatedVenue(clock, journal=path, **kw)
            restarted.close()

        assert answers(restarted) == answers(steady)
        assert restarted.new_orders == steady.new_orders
