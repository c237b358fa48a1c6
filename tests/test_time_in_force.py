"""
Time in force: the expiry contract, DAY orders' day end, the `expire_due` sweep against the
venue's EXPIRE, and IOC / FOK / GTD at the simulated venue.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from execfsm import (
    ConfigurationError,
    EventKind,
    ExecutionEvent,
    OrderState,
    ReasonCode,
    SimulatedVenue,
    SteppingClock,
)
from execfsm.cli import main
from execfsm.clock import EPOCH
from execfsm.contracts import Order, OrderIntent, TimeInForce
from execfsm.errors import ContractViolation
from execfsm.fsm.audit import AuditOutcome
from execfsm.fsm.guards import CONTRACT_GUARDS, expiry_fits_time_in_force
from execfsm.ids import canonical_json, idempotency_key
from execfsm.intents_file import IntentsFileError, read_intents
from execfsm.ledger.sqlite import SqliteStore
from execfsm.orchestrator import ExecutionOrchestrator
from execfsm.testing import order_for, paper_orchestrator
from tests.conftest import make_intent

LATER = EPOCH + timedelta(hours=1)
"""A GTD expiry an hour after the session starts (the stepping clock takes 1 ms a read)."""


def resting_gtd(expire_time: datetime = LATER, **overrides: object) -> OrderIntent:
    """
    A GTD buy limit below the market: it rests at the venue until it expires.
    """
    fields: dict[str, object] = {
        "limit_price": "1",
        "time_in_force": "GTD",
        "expire_time": expire_time,
    }
    fields.update(overrides)
    return make_intent(**fields)


def orchestrator(
    venue: SimulatedVenue | None = None, **settings: object
) -> tuple[ExecutionOrchestrator, SimulatedVenue]:
    """
    A paper orchestrator on a stepping clock from `EPOCH`, with its simulated venue.
    """
    clock = SteppingClock(EPOCH)
    venue = venue if venue is not None else SimulatedVenue(clock)
    return paper_orchestrator(venue, clock=clock, **settings), venue  # type: ignore[arg-type]


def records_of(orch: ExecutionOrchestrator, event: str) -> list[tuple[AuditOutcome, object]]:
    """
    (outcome, reason) of every order record of `event`, in order.
    """
    return [
        (r.outcome, r.reason_code)
        for r in orch.get_audit_log_snapshot()
        if r.machine == "order" and r.event == event
    ]


class TestExpiryContract:
    def test_gtd_without_expire_time_is_refused_at_validation(self) -> None:
        """A GTD intent without an expire_time fails at stage 2, naming the field."""
        orch, venue = orchestrator()

        result = orch.submit_intent(make_intent(time_in_force="GTD"))

        assert (result.stage_reached, result.reason_code) == (
            2,
            ReasonCode.VALIDATION_INVALID_FIELD,
        )
        assert "expire_time: a GTD order needs an expire_time" in result.reason_detail
        assert venue.submissions == []

    @pytest.mark.parametrize("time_in_force", ["GTC", "IOC", "FOK", "DAY"])
    def test_other_time_in_force_with_expire_time_is_refused(self, time_in_force: str) -> None:
        """An expire_time on a GTC, IOC, FOK or DAY intent fails at stage 2, naming its value."""
        orch, venue = orchestrator()

        result = orch.submit_intent(make_intent(time_in_force=time_in_force, expire_time=LATER))

        assert (result.stage_reached, result.reason_code) == (
            2,
            ReasonCode.VALIDATION_INVALID_FIELD,
        )
        assert result.reason_detail == (
            f"expire_time: a {time_in_force} order carries no expire_time (only GTD does), "
            f"got {LATER.isoformat()}"
        )
        assert venue.submissions == []

    def test_past_expire_time_is_refused_at_validation(self) -> None:
        """A GTD intent whose expire_time is not after the clock's now fails at stage 2."""
        orch, venue = orchestrator()

        result = orch.submit_intent(resting_gtd(EPOCH))

        assert (result.stage_reached, result.reason_code) == (
            2,
            ReasonCode.VALIDATION_INVALID_FIELD,
        )
        assert result.reason_detail.startswith(
            "expire_time: a GTD order must expire after it is received, got "
            "2026-01-01T00:00:00+00:00 (received 2026-01-01T00:00:00"
        )
        assert result.order is not None
        assert result.order.state is OrderState.FAILED
        assert venue.submissions == []

    def test_gtd_order_carries_the_intent_expire_time(self) -> None:
        """A GTD intent with a future expire_time is sent; its order keeps that time."""
        orch, venue = orchestrator()

        result = orch.submit_intent(resting_gtd())

        assert result.success
        assert result.order is not None
        assert (result.order.state, result.order.expire_time) == (OrderState.ACKNOWLEDGED, LATER)
        assert [o.expire_time for o in venue.resting_orders()] == [LATER]

    def test_guard_is_a_contract_guard_and_lets_a_day_order_carry_its_day_end(self) -> None:
        """The submit edge sees the DAY order's day end and accepts it; the DAY intent may not."""
        day_end = EPOCH + timedelta(days=1)
        order = order_for(make_intent(time_in_force="DAY")).with_changes(expire_time=day_end)

        expiry_fits_time_in_force(order)

        assert expiry_fits_time_in_force in CONTRACT_GUARDS
        with pytest.raises(ContractViolation) as caught:
            expiry_fits_time_in_force(make_intent(time_in_force="DAY", expire_time=day_end))
        assert (caught.value.field, caught.value.value) == ("expire_time", day_end)


class TestDayOrders:
    def test_a_day_intent_sent_again_is_a_duplicate_not_a_conflict(self, tmp_path: Path) -> None:
        """A DAY order's expiry is the day's end the orchestrator set at intake, not a term
        the intent asked for: the same DAY intent again is answered as a duplicate (in the
        same session, after a restart, and by `execfsm run` on the same file twice)."""
        db = tmp_path / "s.db"
        first, _venue = orchestrator(store=SqliteStore(db))
        day = make_intent(limit_price="1", time_in_force="DAY")
        result = first.submit_intent(day)
        again = first.submit_intent(day)
        first.close()
        reopened, _ = orchestrator(store=SqliteStore(db))

        assert again.duplicate
        assert again.order == result.order
        assert reopened.submit_intent(day).duplicate
        file = tmp_path / "day.jsonl"
        file.write_text(canonical_json(day) + "\n", encoding="utf-8")
        run_db = str(tmp_path / "run.db")
        assert main(["run", str(file), "--mode", "paper", "--db", run_db]) == 0
        assert main(["run", str(file), "--mode", "paper", "--db", run_db]) == 0

    def test_day_order_expires_at_the_next_day_end(self) -> None:
        """A DAY order taken at 00:00 with the day ending 22:00 UTC expires at 22:00 that day."""
        orch, _venue = orchestrator(day_ends_at=time(22))

        result = orch.submit_intent(make_intent(limit_price="1", time_in_force="DAY"))

        assert result.order is not None
        assert result.order.expire_time == datetime(2026, 1, 1, 22, tzinfo=UTC)

    def test_day_order_after_the_day_end_expires_the_next_day(self) -> None:
        """With the default day end (00:00 UTC), an order at 00:00:00.000 expires a day later."""
        orch, _venue = orchestrator()

        result = orch.submit_intent(make_intent(limit_price="1", time_in_force="DAY"))

        assert result.order is not None
        assert result.order.expire_time == datetime(2026, 1, 2, tzinfo=UTC)

    @pytest.mark.parametrize(
        "bad", ["22:00", time(22, tzinfo=timezone(timedelta(hours=2))), EPOCH, None]
    )
    def test_bad_day_end_is_a_configuration_error(self, bad: object) -> None:
        """A day end that is not a UTC datetime.time is refused, naming the setting."""
        with pytest.raises(ConfigurationError) as caught:
            orchestrator(day_ends_at=bad)

        assert caught.value.field == "day_ends_at"

    def test_only_day_and_gtd_intents_read_the_clock_at_intake(self) -> None:
        """A GTC run's first record is the clock's first reading; a DAY run reads it once
        before (its day end), so a GTC trail is stamped as before."""
        plain, _ = orchestrator()
        plain.submit_intent(make_intent(limit_price="1"))
        day, _ = orchestrator()
        day.submit_intent(make_intent(limit_price="1", time_in_force="DAY"))

        assert plain.get_audit_log_snapshot()[0].ts == EPOCH
        assert day.get_audit_log_snapshot()[0].ts == EPOCH + timedelta(milliseconds=1)


class TestExpireDue:
    def test_expires_due_orders_only_and_only_once(self) -> None:
        """The sweep expires the due GTD order (audited, handed off, cancelled at the venue),
        leaves a later one and a GTC one, and a second sweep does nothing."""
        orch, venue = orchestrator()
        due = orch.submit_intent(resting_gtd(intent_id="due")).order
        later = orch.submit_intent(resting_gtd(LATER + timedelta(hours=1), intent_id="l")).order
        gtc = orch.submit_intent(make_intent(limit_price="1", intent_id="gtc")).order
        assert due is not None
        assert later is not None
        assert gtc is not None

        outcomes = orch.expire_due(LATER)
        again = orch.expire_due(LATER)

        assert [(o.outcome, o.reason_code) for o in outcomes] == [
            (AuditOutcome.APPLIED, ReasonCode.EXPIRED_BY_CLOCK)
        ]
        assert again == []
        states = {o.client_order_id: o.state for o in orch.get_order_ledger_snapshot()}
        assert states == {
            due.client_order_id: OrderState.EXPIRED,
            later.client_order_id: OrderState.ACKNOWLEDGED,
            gtc.client_order_id: OrderState.ACKNOWLEDGED,
        }
        assert records_of(orch, "expire") == [(AuditOutcome.APPLIED, ReasonCode.EXPIRED_BY_CLOCK)]
        assert records_of(orch, "cancel_attempt") == [(AuditOutcome.APPLIED, None)]
        assert orch.get_recon_snapshot()[-1].trigger == "expire_due"
        assert due.client_order_id not in {o.client_order_id for o in venue.resting_orders()}

    def test_now_defaults_to_the_clock(self) -> None:
        """Without `now` the sweep reads the injected clock: nothing is due an instant in."""
        orch, _venue = orchestrator()
        orch.submit_intent(resting_gtd())

        assert orch.expire_due() == []

    def test_naive_now_is_refused(self) -> None:
        """A naive `now` is refused, naming it."""
        orch, _venue = orchestrator()

        with pytest.raises(ContractViolation) as caught:
            orch.expire_due(datetime(2026, 1, 2))  # noqa: DTZ001 - the naive time refused

        assert caught.value.field == "now"

    def test_sqlite_store_reopened_shows_the_order_expired(self, tmp_path: Path) -> None:
        """On the SQLite store the expiry is durable: a reopened session sees it EXPIRED."""
        db = tmp_path / "tif.db"
        orch, _venue = orchestrator(store=SqliteStore(db))
        order = orch.submit_intent(resting_gtd()).order
        assert order is not None
        orch.expire_due(LATER)
        orch.close()

        reopened, _ = orchestrator(store=SqliteStore(db))
        try:
            expired = reopened.order(order.client_order_id)
            assert expired is not None
            assert (expired.state, expired.expire_time) == (OrderState.EXPIRED, LATER)
            assert reopened.recovery.in_flight == ()
            assert reopened.expire_due(LATER) == []
        finally:
            reopened.close()

    def test_venue_expire_after_the_sweep_is_a_repeat(self) -> None:
        """The venue's EXPIRE after our sweep is an EVENT_REPEATED duplicate: applied once."""
        orch, _venue = orchestrator()
        order = orch.submit_intent(resting_gtd()).order
        assert order is not None
        orch.expire_due(LATER)

        outcome = orch.handle_event(
            ExecutionEvent.of_kind(EventKind.EXPIRE, order, "venue-expire", LATER)
        )

        assert (outcome.outcome, outcome.reason_code) == (
            AuditOutcome.DUPLICATE,
            ReasonCode.EVENT_REPEATED,
        )
        assert records_of(orch, "expire") == [
            (AuditOutcome.APPLIED, ReasonCode.EXPIRED_BY_CLOCK),
            (AuditOutcome.DUPLICATE, ReasonCode.EVENT_REPEATED),
        ]

    def test_sweep_after_the_venue_expired_it_does_nothing(self) -> None:
        """When the venue's EXPIRE came first, the sweep passes the order by."""
        orch, venue = orchestrator()
        order = orch.submit_intent(resting_gtd()).order
        assert order is not None

        venue.advance_to(LATER)
        outcomes = orch.expire_due(LATER)

        assert outcomes == []
        expired = orch.order(order.client_order_id)
        assert expired is not None
        assert (expired.state, expired.recon_flags) == (OrderState.EXPIRED, ())
        assert records_of(orch, "expire") == [(AuditOutcome.APPLIED, None)]

    def test_a_cancel_the_venue_rejects_flags_the_expired_order(self) -> None:
        """If the venue will not drop an order we expired, reconciliation is asked to look."""

        class Stubborn(SimulatedVenue):
            def cancel(self, order: Order) -> Sequence[ExecutionEvent]:
                return (ExecutionEvent.of_kind(EventKind.CANCEL_REJECT, order, "no", LATER),)

        orch, _venue = orchestrator(Stubborn(SteppingClock(EPOCH)))
        order = orch.submit_intent(resting_gtd()).order
        assert order is not None

        orch.expire_due(LATER)

        expired = orch.order(order.client_order_id)
        assert expired is not None
        assert (expired.state, expired.recon_flags) == (
            OrderState.EXPIRED,
            (ReasonCode.EXPIRED_BY_CLOCK,),
        )
        assert records_of(orch, "cancel_attempt") == [
            (AuditOutcome.REFUSED, ReasonCode.ADAPTER_REJECTED)
        ]

    def test_an_order_with_a_cancel_out_is_left_to_the_venue(self) -> None:
        """A PENDING_CANCEL order is not expired: the venue's answer to the cancel comes first."""

        class Silent(SimulatedVenue):
            def cancel(self, order: Order) -> Sequence[ExecutionEvent]:
                return ()  # the answer comes later, through the sink

        orch, _venue = orchestrator(Silent(SteppingClock(EPOCH)))
        order = orch.submit_intent(resting_gtd()).order
        assert order is not None
        orch.cancel(order.client_order_id)

        outcomes = orch.expire_due(LATER)

        assert outcomes == []
        pending = orch.order(order.client_order_id)
        assert pending is not None
        assert pending.state is OrderState.PENDING_CANCEL

    def test_day_order_expires_by_the_sweep_at_its_day_end(self) -> None:
        """A DAY order is due at its day end, not an instant before."""
        orch, _venue = orchestrator(day_ends_at=time(22))
        orch.submit_intent(make_intent(limit_price="1", time_in_force="DAY"))
        day_end = datetime(2026, 1, 1, 22, tzinfo=UTC)

        before = orch.expire_due(day_end - timedelta(microseconds=1))
        at = orch.expire_due(day_end)

        assert (len(before), len(at)) == (0, 1)


class TestSimulatedVenueTimeInForce:
    def test_ioc_fills_what_it_can_then_cancels_the_rest(self) -> None:
        """An IOC order larger than the liquidity fills it at once; the rest is cancelled."""
        clock = SteppingClock(EPOCH)
        orch, venue = orchestrator(SimulatedVenue(clock, liquidity={"BTC/EUR": "0.4"}))

        result = orch.submit_intent(
            make_intent(order_type="MARKET", limit_price=None, time_in_force="IOC")
        )

        assert result.order is not None
        assert (result.order.state, result.order.filled_quantity) == (
            OrderState.CANCELLED,
            Decimal("0.4"),
        )
        assert venue.resting_orders() == ()

    def test_ioc_that_is_not_marketable_is_cancelled_unfilled(self) -> None:
        """An IOC limit away from the market is acknowledged, then cancelled without a fill."""
        venue = SimulatedVenue(SteppingClock(EPOCH))

        events = venue.submit(order_for(make_intent(limit_price="1", time_in_force="IOC")), "k")

        assert [e.kind for e in events] == [EventKind.ACK, EventKind.CANCEL_ACK]
        assert venue.resting_orders() == ()

    @pytest.mark.parametrize(
        ("liquidity", "kinds"),
        [
            ("1.0", [EventKind.ACK, EventKind.FILL]),
            ("0.99", [EventKind.ACK, EventKind.CANCEL_ACK]),
        ],
    )
    def test_fok_fills_all_at_once_or_nothing(self, liquidity: str, kinds: list[EventKind]) -> None:
        """A FOK order fills in full when the liquidity allows, else is cancelled unfilled."""
        venue = SimulatedVenue(SteppingClock(EPOCH), liquidity={"BTC/EUR": liquidity})
        order = order_for(make_intent(order_type="MARKET", limit_price=None, time_in_force="FOK"))

        events = venue.submit(order, "k")

        assert [e.kind for e in events] == kinds
        assert sum(e.fill.quantity for e in events if e.fill is not None) in {
            Decimal(0),
            Decimal("1.0"),
        }

    def test_gtd_rests_then_expires_when_the_venue_time_passes(self) -> None:
        """A resting GTD order expires when `advance_to` reaches its expire_time, not before."""
        venue = SimulatedVenue(SteppingClock(EPOCH))
        seen: list[ExecutionEvent] = []
        venue.set_event_sink(seen.append)
        venue.submit(order_for(resting_gtd()), "k")

        early = venue.advance_to(LATER - timedelta(seconds=1))
        due = venue.advance_to(LATER)

        assert early == []
        assert [e.kind for e in due] == [EventKind.EXPIRE]
        assert seen == due
        assert venue.resting_orders() == ()

    def test_limited_liquidity_rests_the_rest_and_fills_it_later(self) -> None:
        """A GTC order takes the liquidity, rests the remainder, and fills it on a later price
        under new fill ids."""
        venue = SimulatedVenue(SteppingClock(EPOCH), liquidity={"BTC/EUR": "0.6"})
        order = order_for(make_intent(limit_price="60000"))

        first = [e.fill for e in venue.submit(order, "k") if e.fill is not None]
        later = [e.fill for e in venue.set_price("BTC/EUR", "59000") if e.fill is not None]

        assert [f.quantity for f in first + later] == [Decimal("0.6"), Decimal("0.4")]
        assert len({f.fill_id for f in first + later}) == 2
        assert venue.resting_orders() == ()


class TestIntentsFiles:
    LINE = (
        '{"symbol":"BTC/EUR","side":"BUY","quantity":"1","order_type":"LIMIT",'
        '"limit_price":"1","strategy_id":"s","time_in_force":"GTD","expire_time":%s}'
    )

    def test_expire_time_with_an_offset_is_read(self) -> None:
        """An ISO 8601 expire_time with an offset becomes an aware datetime."""
        (intent,) = read_intents(self.LINE % '"2026-12-01T18:00:00+01:00"')

        assert intent.expire_time == datetime(2026, 12, 1, 17, tzinfo=UTC)
        assert intent.time_in_force is TimeInForce.GTD

    def test_naive_expire_time_is_refused_clearly(self) -> None:
        """A time without an offset is refused, saying an offset is needed."""
        with pytest.raises(IntentsFileError) as caught:
            read_intents(self.LINE % '"2026-12-01T17:00:00"')

        assert str(caught.value.errors[0]) == (
            "line 1: expire_time: must be an ISO 8601 time with a UTC offset (e.g. "
            '2026-12-01T17:00:00+00:00 or ...Z), got "2026-12-01T17:00:00" (no offset)'
        )

    def test_cli_run_sends_a_gtd_intent(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`execfsm run` takes a GTD intent with its expire_time through the pipeline."""
        path = tmp_path / "intents.jsonl"
        path.write_text(self.LINE % '"2999-01-01T00:00:00Z"' + "\n", encoding="utf-8")

        code = main(["run", str(path), "--mode", "paper", "--db", str(tmp_path / "run.db")])

        assert code == 0
        assert "COMPLETED" in capsys.readouterr().out


class TestIdempotencyKeys:
    def test_key_of_an_intent_without_expire_time_is_the_previous_release_key(self) -> None:
        """An intent without expire_time keeps the terms and key release 0.1.0 gave it."""
        intent = OrderIntent(
            symbol="BTC/EUR", side="BUY", quantity="0.5", order_type="MARKET", strategy_id="s1"
        )

        assert canonical_json(intent) == (
            '{"intent_id":null,"limit_price":null,"order_type":"MARKET","quantity":"0.5",'
            '"session_id":"default","side":"BUY","strategy_id":"s1","symbol":"BTC/EUR",'
            '"time_in_force":"GTC"}'
        )
        assert idempotency_key(intent) == (
            "6afc76ce2a07543cca4a087836fbab56622c1c39f94b2768c9d9b0e1aa1387bb"
        )

    def test_expire_time_is_part_of_the_key(self) -> None:
        """Two GTD intents without ids that differ only in their expire_time differ in key."""
        one = resting_gtd(LATER, intent_id=None)
        other = resting_gtd(LATER + timedelta(seconds=1), intent_id=None)

        assert idempotency_key(one) != idempotency_key(other)
