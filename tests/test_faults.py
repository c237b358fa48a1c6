"""
Dispatch under faults: one test per fault class, asserting the order's final state, the
reason code, the position and the audit trail; the retry policy; the kill switch.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from execfsm import (
    AuditOutcome,
    ConfigurationError,
    ExecutionMode,
    ExecutionOrchestrator,
    OrderIntent,
    OrderSide,
    OrderState,
    OrderType,
    PipelineState,
    ReasonCode,
    SimulatedVenue,
    SteppingClock,
)
from execfsm.adapters.dispatcher import Dispatcher, RetryPolicy
from execfsm.adapters.errors import VenueFailure, translate
from execfsm.clock import EPOCH
from execfsm.contracts import ExecutionEvent, Order
from execfsm.errors import (
    OutcomeUnknown,
    PermanentVenueError,
    TransientVenueError,
    VenueRejected,
)
from execfsm.governance import MACHINES
from execfsm.governance.trail import verify_trail
from execfsm.killswitch import FileKillSwitch
from execfsm.results import PipelineResult
from execfsm.testing import Fault, FaultyVenue, paper_orchestrator

QTY = Decimal(2)


class Rig:
    """An orchestrator in PAPER mode on a FaultyVenue, with a recording sleeper."""

    def __init__(self, *script: Fault, timeout: float | None = None, **venue: Any) -> None:
        self.clock = SteppingClock(EPOCH, timedelta(milliseconds=1))
        self.inner = SimulatedVenue(self.clock, **venue)
        self.venue = FaultyVenue(self.inner, script, slow_seconds=0.3)
        self.sleeps: list[float] = []
        self.orch = paper_orchestrator(
            self.venue,
            clock=self.clock,
            dispatcher=Dispatcher(
                RetryPolicy(max_attempts=3), timeout=timeout, sleep=self.sleeps.append
            ),
        )

    def submit(self, **kw: Any) -> PipelineResult:
        fields: dict[str, Any] = {
            "symbol": "BTC/EUR",
            "side": OrderSide.BUY,
            "quantity": QTY,
            "order_type": OrderType.MARKET,
            "strategy_id": "faults",
            "intent_id": "i1",
        }
        fields.update(kw)
        return self.orch.submit_intent(OrderIntent(**fields))

    def position(self) -> Decimal:
        position = self.orch.get_position_ledger_snapshot().get("BTC/EUR")
        return position.quantity if position is not None else Decimal(0)

    def attempts(self, result: PipelineResult) -> list[tuple[AuditOutcome, ReasonCode | None]]:
        return [
            (r.outcome, r.reason_code)
            for r in self.orch.audit_log.by_correlation(result.correlation_id)
            if r.event == "dispatch_attempt"
        ]

    def order_reasons(self, result: PipelineResult) -> list[ReasonCode | None]:
        assert result.order is not None
        records = self.orch.audit_log.by_order(result.order.client_order_id)
        return [r.reason_code for r in records if r.machine == "order"]

    def trail_ok(self) -> bool:
        return verify_trail(self.orch.get_audit_log_snapshot(), MACHINES).ok

    def state(self, result: PipelineResult) -> OrderState:
        assert result.order is not None
        order = self.orch.order(result.order.client_order_id)
        assert order is not None
        return order.state

    def flags(self, result: PipelineResult) -> tuple[ReasonCode, ...]:
        assert result.order is not None
        order = self.orch.order(result.order.client_order_id)
        assert order is not None
        return order.recon_flags


FAILED_ATTEMPT = (AuditOutcome.REFUSED, ReasonCode.ADAPTER_ERROR)
TIMED_OUT = (AuditOutcome.REFUSED, ReasonCode.ADAPTER_TIMEOUT)
ANSWERED = (AuditOutcome.APPLIED, None)


class TestSendFaults:
    def test_transient_error_is_retried(self) -> None:
        """A throttled send is retried after a backoff and the order fills once."""
        rig = Rig(Fault.TRANSIENT)

        result = rig.submit()

        assert (result.success, rig.state(result)) == (True, OrderState.FILLED)
        assert rig.attempts(result) == [FAILED_ATTEMPT, ANSWERED]
        assert rig.position() == QTY
        assert len(rig.sleeps) == 1
        assert 0.04 <= rig.sleeps[0] <= 0.06
        assert rig.trail_ok()

    def test_transient_errors_exhaust_the_attempts(self) -> None:
        """Three throttled sends fail the order with ADAPTER_ERROR; nothing reached the venue."""
        rig = Rig(Fault.TRANSIENT, Fault.TRANSIENT, Fault.TRANSIENT)

        result = rig.submit()

        assert (result.pipeline_state, result.stage_reached, result.reason_code) == (
            PipelineState.FAILED,
            5,
            ReasonCode.ADAPTER_ERROR,
        )
        assert rig.state(result) is OrderState.FAILED
        assert rig.flags(result) == ()
        assert rig.attempts(result) == [FAILED_ATTEMPT] * 3
        assert rig.inner.new_orders == []
        assert rig.position() == 0
        assert rig.trail_ok()

    def test_timeout_before_send_is_translated_and_retried(self) -> None:
        """A raw ConnectionRefusedError becomes a transient error: retried, then filled."""
        rig = Rig(Fault.TIMEOUT_BEFORE_SEND)

        result = rig.submit()

        assert rig.state(result) is OrderState.FILLED
        assert rig.attempts(result) == [FAILED_ATTEMPT, ANSWERED]
        assert rig.position() == QTY

    def test_timeout_after_send_retries_with_the_same_key(self) -> None:
        """The venue took the order but the answer was lost: the retry reuses the key, the
        venue answers as before, and there is still only one order."""
        rig = Rig(Fault.TIMEOUT_AFTER_SEND)

        result = rig.submit()

        assert rig.state(result) is OrderState.FILLED
        assert rig.attempts(result) == [TIMED_OUT, ANSWERED]
        assert rig.inner.submissions == [result.idempotency_key] * 2
        assert rig.inner.new_orders == [result.idempotency_key]
        assert rig.position() == QTY
        assert rig.trail_ok()

    def test_outcome_unknown_keeps_the_order_submitted_and_flagged(self) -> None:
        """When every answer is lost, the order is not failed: it stays SUBMITTED, flagged for
        reconciliation, and the run hands off with ADAPTER_TIMEOUT."""
        rig = Rig(Fault.TIMEOUT_AFTER_SEND, Fault.TIMEOUT_AFTER_SEND, Fault.TIMEOUT_AFTER_SEND)

        result = rig.submit()

        assert (result.success, result.pipeline_state, result.reason_code) == (
            False,
            PipelineState.COMPLETED,
            ReasonCode.ADAPTER_TIMEOUT,
        )
        assert rig.state(result) is OrderState.SUBMITTED
        assert rig.flags(result) == (ReasonCode.DISPATCH_OUTCOME_UNKNOWN,)
        assert result.recon is not None
        assert result.recon.recon_flags == (ReasonCode.DISPATCH_OUTCOME_UNKNOWN,)
        assert rig.inner.new_orders == [result.idempotency_key]
        assert rig.position() == 0
        assert rig.trail_ok()

    def test_permanent_error_is_not_retried(self) -> None:
        """A permanent error fails the order at once with ADAPTER_ERROR."""
        rig = Rig(Fault.PERMANENT)

        result = rig.submit()

        assert (rig.state(result), result.reason_code) == (
            OrderState.FAILED,
            ReasonCode.ADAPTER_ERROR,
        )
        assert "credentials" in result.reason_detail
        assert rig.attempts(result) == [FAILED_ATTEMPT]
        assert rig.sleeps == []
        assert rig.flags(result) == ()
        assert rig.position() == 0

    def test_venue_rejection_ends_rejected(self) -> None:
        """A rejection raised by the adapter ends the order REJECTED with ADAPTER_REJECTED."""
        rig = Rig(Fault.REJECTED)

        result = rig.submit()

        assert (rig.state(result), result.reason_code) == (
            OrderState.REJECTED,
            ReasonCode.ADAPTER_REJECTED,
        )
        assert rig.attempts(result) == [(AuditOutcome.REFUSED, ReasonCode.ADAPTER_REJECTED)]
        assert rig.position() == 0
        assert rig.trail_ok()

    def test_unknown_exception_fails_closed(self) -> None:
        """An exception nobody translates is not retried: FAILED, and flagged because we
        cannot tell whether the request left."""
        rig = Rig(Fault.UNKNOWN_EXCEPTION)

        result = rig.submit()

        assert (rig.state(result), result.reason_code) == (
            OrderState.FAILED,
            ReasonCode.ADAPTER_ERROR,
        )
        assert "RuntimeError: adapter bug" in result.reason_detail
        assert rig.attempts(result) == [FAILED_ATTEMPT]
        assert rig.flags(result) == (ReasonCode.DISPATCH_OUTCOME_UNKNOWN,)

    def test_slow_answer_times_out_and_the_retry_finds_the_order(self) -> None:
        """An answer slower than the per-attempt timeout counts as unknown; the retry with the
        same key completes the order, and the venue holds one order."""
        rig = Rig(Fault.SLOW, timeout=0.05)

        result = rig.submit()

        assert rig.state(result) is OrderState.FILLED
        assert rig.attempts(result) == [TIMED_OUT, ANSWERED]
        assert rig.inner.new_orders == [result.idempotency_key]
        assert rig.position() == QTY

    def test_an_answer_after_the_last_timeout_is_applied_when_it_comes(self) -> None:
        """Every attempt times out: the run ends ADAPTER_TIMEOUT with the order SUBMITTED and
        flagged. The venue did take it, and its answer, when it comes, is applied: the order
        fills, once, and the position is booked."""
        rig = Rig(Fault.SLOW, Fault.SLOW, Fault.SLOW, timeout=0.05)
        heard: list[Decimal] = []
        rig.orch.subscribe_fills(lambda _order, fill: heard.append(fill.quantity))

        result = rig.submit()

        assert result.reason_code is ReasonCode.ADAPTER_TIMEOUT
        assert result.order is not None
        assert result.order.state is OrderState.SUBMITTED
        assert rig.attempts(result) == [TIMED_OUT] * 3
        assert wait_until(lambda: rig.state(result) is OrderState.FILLED)
        assert wait_until(lambda: rig.order_reasons(result).count(ReasonCode.FILL_DUPLICATE) == 2)
        assert heard == [QTY]
        assert rig.position() == QTY
        assert rig.inner.new_orders == [result.idempotency_key]
        assert rig.flags(result) == (ReasonCode.DISPATCH_OUTCOME_UNKNOWN,)
        assert rig.trail_ok()


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Poll `condition` until it holds or `seconds` pass (late answers come on their own
    thread)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class TestEventFaults:
    def test_duplicate_events_are_applied_once(self) -> None:
        """Every event twice: fills book once, the repeats are audited as duplicates."""
        rig = Rig(Fault.DUPLICATE_EVENTS, partial_fills=("0.5", "0.5"))

        result = rig.submit()

        assert rig.state(result) is OrderState.FILLED
        assert rig.position() == QTY
        reasons = rig.order_reasons(result)
        assert reasons.count(ReasonCode.FILL_DUPLICATE) == 2
        assert reasons.count(ReasonCode.ACK_ABSORBED) == 1
        assert rig.trail_ok()

    def test_fill_before_ack(self) -> None:
        """Fills that overtake the ACK are applied; the late ACK is absorbed."""
        rig = Rig(Fault.FILL_BEFORE_ACK)

        result = rig.submit()

        assert rig.state(result) is OrderState.FILLED
        assert rig.order_reasons(result)[-1] is ReasonCode.ACK_ABSORBED
        assert rig.position() == QTY

    def test_overfill_is_refused_and_flagged(self) -> None:
        """A venue fill beyond the remaining quantity is refused, the real fills complete the
        order, and the order is flagged."""
        rig = Rig(Fault.OVERFILL, partial_fills=("0.5", "0.5"))

        result = rig.submit()

        assert rig.state(result) is OrderState.FILLED
        assert rig.position() == QTY
        assert ReasonCode.FILL_OVERFILL in rig.order_reasons(result)
        assert rig.flags(result) == (ReasonCode.FILL_OVERFILL,)
        assert rig.trail_ok()

    def test_conflicting_fill_id_is_refused_and_flagged(self) -> None:
        """A fill id reused with another quantity is refused; the order is flagged."""
        rig = Rig(Fault.CONFLICTING_FILL)

        result = rig.submit()

        assert rig.state(result) is OrderState.FILLED
        assert rig.position() == QTY
        assert rig.flags(result) == (ReasonCode.FILL_CONFLICT,)

    def test_partial_fill_storm_sums_exactly(self) -> None:
        """Twenty small fills per venue fill add up exactly to the quantity."""
        rig = Rig(Fault.PARTIAL_FILL_STORM)

        result = rig.submit(quantity=Decimal("1.7"))

        order = rig.orch.order(result.order.client_order_id if result.order else "")
        assert order is not None
        assert (order.state, order.filled_quantity) == (OrderState.FILLED, Decimal("1.7"))
        position = rig.orch.get_position_ledger_snapshot()["BTC/EUR"]
        assert (position.quantity, position.fill_count) == (Decimal("1.7"), 20)

    def test_fill_after_cancel_is_booked_and_flagged(self) -> None:
        """A fill racing the cancel arrives after CANCEL_ACK: the order stays CANCELLED, the
        fill is booked in the position, and the order is flagged."""
        rig = Rig(Fault.NONE, Fault.FILL_AFTER_CANCEL)
        result = rig.submit(order_type=OrderType.LIMIT, limit_price=Decimal(50_000))
        assert result.order is not None

        rig.orch.cancel(result.order.client_order_id)

        assert rig.state(result) is OrderState.CANCELLED
        assert rig.flags(result) == (ReasonCode.FILL_AFTER_FINAL,)
        assert rig.position() == QTY
        assert rig.trail_ok()

    def test_cancel_that_fails_transiently_leaves_the_order_where_it_was(self) -> None:
        """A cancel the venue never received is refused and audited; the order returns to
        where it was (ACKNOWLEDGED), is not flagged, and can be cancelled again."""
        rig = Rig(Fault.NONE, Fault.TRANSIENT)
        result = rig.submit(order_type=OrderType.LIMIT, limit_price=Decimal(50_000))
        assert result.order is not None

        outcome = rig.orch.cancel(result.order.client_order_id)

        assert (outcome.outcome, outcome.reason_code) == (
            AuditOutcome.REFUSED,
            ReasonCode.ADAPTER_ERROR,
        )
        assert rig.state(result) is OrderState.ACKNOWLEDGED
        assert rig.flags(result) == ()
        assert rig.trail_ok()


class TestTranslation:
    @pytest.mark.parametrize(
        ("raw", "kind"),
        [
            (ConnectionRefusedError("x"), TransientVenueError),
            (TimeoutError("x"), OutcomeUnknown),
            (ConnectionResetError("x"), OutcomeUnknown),
            (BrokenPipeError("x"), OutcomeUnknown),
            (PermanentVenueError("x"), PermanentVenueError),
        ],
    )
    def test_transport_errors_map_to_the_taxonomy(
        self, raw: Exception, kind: type[Exception]
    ) -> None:
        """Transport exceptions are classified in one place by whether the request left."""
        assert isinstance(translate(raw), kind)

    @pytest.mark.parametrize("raw", [RuntimeError("x"), KeyError("x"), ValueError("x")])
    def test_unknown_errors_stay_unknown(self, raw: Exception) -> None:
        """What the mapping does not know is not guessed at."""
        assert translate(raw) is None

    @pytest.mark.parametrize(
        ("raw", "rejected", "unknown", "transient", "reason", "detail"),
        [
            (
                ConnectionRefusedError("x"),
                False,
                False,
                True,
                ReasonCode.ADAPTER_ERROR,
                "cancel to v: ConnectionRefusedError: x",
            ),
            (
                TimeoutError("x"),
                False,
                True,
                False,
                ReasonCode.ADAPTER_TIMEOUT,
                "cancel to v: TimeoutError: x",
            ),
            (
                VenueRejected("band"),
                True,
                False,
                False,
                ReasonCode.ADAPTER_ERROR,
                "cancel to v: band",
            ),
            (
                RuntimeError("bug"),
                False,
                False,
                False,
                ReasonCode.ADAPTER_ERROR,
                "cancel to v: RuntimeError: bug",
            ),
        ],
    )
    def test_a_failed_request_is_told_by_one_map(
        self,
        raw: Exception,
        rejected: bool,
        unknown: bool,
        transient: bool,
        reason: ReasonCode,
        detail: str,
    ) -> None:
        """Every venue request reads what its call raised through the same translation."""
        failure = VenueFailure.of(raw, "cancel to v")

        assert (
            failure.rejected,
            failure.unknown,
            failure.transient,
            failure.reason,
            failure.detail,
        ) == (rejected, unknown, transient, reason, detail)


class CancelRaises(SimulatedVenue):
    """A paper venue whose cancel raises `raise_on_cancel` (or cancels, when None)."""

    raise_on_cancel: Exception | None = RuntimeError("unset")

    def cancel(self, order: Order) -> tuple[ExecutionEvent, ...]:
        if self.raise_on_cancel is not None:
            raise self.raise_on_cancel
        return tuple(super().cancel(order))


class TestCancelFaults:
    @pytest.mark.parametrize(
        ("raw", "reason", "state", "flagged"),
        [
            (ConnectionRefusedError("refused"), ReasonCode.ADAPTER_ERROR, "ACKNOWLEDGED", False),
            (TransientVenueError("throttled"), ReasonCode.ADAPTER_ERROR, "ACKNOWLEDGED", False),
            (TimeoutError("lost"), ReasonCode.ADAPTER_TIMEOUT, "PENDING_CANCEL", True),
            (OutcomeUnknown("reset"), ReasonCode.ADAPTER_TIMEOUT, "PENDING_CANCEL", True),
            (VenueRejected("too late"), ReasonCode.ADAPTER_REJECTED, "ACKNOWLEDGED", False),
            (PermanentVenueError("credentials"), ReasonCode.ADAPTER_ERROR, "PENDING_CANCEL", True),
            (RuntimeError("bug"), ReasonCode.ADAPTER_ERROR, "PENDING_CANCEL", True),
        ],
    )
    def test_a_cancel_that_raises_is_translated_like_a_dispatch(
        self,
        raw: Exception,
        reason: ReasonCode,
        state: str,
        flagged: bool,
    ) -> None:
        """A cancel's failure is refused and audited with the reason the venue map gives. A
        cancel that never left, or that the venue refused, leaves the order where it was; one
        that may have reached the venue leaves it PENDING_CANCEL and flagged."""
        orch, order_id = self._resting_order(raw)

        outcome = orch.cancel(order_id)

        order = orch.order(order_id)
        assert order is not None
        attempts = [
            (r.outcome, r.reason_code)
            for r in orch.audit_log.by_order(order_id)
            if r.event == "cancel_attempt"
        ]
        assert (outcome.outcome, outcome.reason_code, outcome.detail) == (
            AuditOutcome.REFUSED,
            reason,
            VenueFailure.of(raw, "cancel to v").detail,
        )
        assert attempts == [(AuditOutcome.REFUSED, reason)]
        assert order.state is OrderState(state)
        assert order.recon_flags == ((reason,) if flagged else ())
        assert orch.audit_log.verify_chain().ok

    @pytest.mark.parametrize("raw", [TransientVenueError("throttled"), VenueRejected("busy")])
    def test_a_cancel_that_did_not_take_can_be_sent_again(self, raw: Exception) -> None:
        """After a cancel that never left or was refused, the next cancel is sent and taken."""
        orch, order_id = self._resting_order(raw)
        orch.cancel(order_id)
        venue = orch.registry.get(ExecutionMode.PAPER)
        assert isinstance(venue, CancelRaises)
        venue.raise_on_cancel = None

        outcome = orch.cancel(order_id)

        assert outcome.order.state is OrderState.CANCELLED

    @staticmethod
    def _resting_order(raw: Exception) -> tuple[ExecutionOrchestrator, str]:
        clock = SteppingClock(EPOCH, timedelta(milliseconds=1))
        venue = CancelRaises(clock, name="v")
        venue.raise_on_cancel = raw
        orch = paper_orchestrator(venue, clock=clock)
        result = orch.submit_intent(
            OrderIntent(
                "BTC/EUR",
                OrderSide.BUY,
                QTY,
                OrderType.LIMIT,
                "faults",
                limit_price=Decimal(1),
                intent_id="c1",
            )
        )
        assert result.order is not None
        return orch, result.order.client_order_id


class TestRetryPolicy:
    def test_backoff_is_exponential_and_capped(self) -> None:
        """Without jitter the delays double up to the cap."""
        policy = RetryPolicy(max_attempts=6, base_delay=0.1, multiplier=2, max_delay=0.5, jitter=0)
        rng = random.Random(0)

        assert [policy.delay(n, rng) for n in range(1, 6)] == [0.1, 0.2, 0.4, 0.5, 0.5]

    def test_jitter_is_seeded(self) -> None:
        """The same seed gives the same jittered delays, within the jitter band."""
        policy = RetryPolicy(base_delay=1, jitter=0.2)

        first = [policy.delay(1, random.Random(7)) for _ in range(3)]
        second = [policy.delay(1, random.Random(7)) for _ in range(3)]

        assert first == second
        assert all(0.8 <= d <= 1.2 for d in first)

    def test_backoff_past_a_float_stays_at_the_cap(self) -> None:
        """The largest allowed growth overflows a float long before the last retry: the
        delay is the cap (zero for a zero base), never an OverflowError."""
        rng = random.Random(0)
        grows = RetryPolicy(max_attempts=1000, base_delay=1, multiplier=100.0, jitter=0)
        still = RetryPolicy(max_attempts=1000, base_delay=0.0, multiplier=100.0, jitter=0)

        assert grows.delay(999, rng) == grows.max_delay
        assert still.delay(999, rng) == 0.0

    @pytest.mark.parametrize(
        "bad", [{"max_attempts": 0}, {"max_attempts": 1.5}, {"base_delay": -1}, {"jitter": "x"}]
    )
    def test_bad_policy_is_a_clear_error(self, bad: dict[str, Any]) -> None:
        """Nonsense retry settings are refused naming the field."""
        with pytest.raises(ConfigurationError, match=next(iter(bad))):
            RetryPolicy(**bad)


class TestKillSwitch:
    def test_api_kill_switch_blocks_every_intent(self) -> None:
        """While the API switch is on, intents stop at the risk gate; releasing resumes."""
        rig = Rig()
        rig.orch.activate_kill_switch("desk halt")

        blocked = rig.submit(intent_id="a")
        rig.orch.release_kill_switch()
        allowed = rig.submit(intent_id="b")

        assert (blocked.stage_reached, blocked.reason_code, blocked.reason_detail) == (
            3,
            ReasonCode.RISK_KILL_SWITCH_ACTIVE,
            "desk halt",
        )
        assert rig.inner.new_orders == [allowed.idempotency_key]
        assert allowed.success

    @pytest.mark.parametrize(
        ("content", "active"),
        [
            ("off\n", False),
            ("OFF", False),
            ("on", True),
            ("active: maintenance", True),
            ("maybe", True),
            ("", True),
        ],
    )
    def test_file_kill_switch(self, tmp_path: Path, content: str, active: bool) -> None:
        """Only an explicit "off" lets trading run; anything unrecognised halts it."""
        path = tmp_path / "kill"
        path.write_text(content)

        assert FileKillSwitch(path).status().active is active

    def test_missing_or_unreadable_file_halts(self, tmp_path: Path) -> None:
        """A missing file and a directory both count as active (fail closed)."""
        assert FileKillSwitch(tmp_path / "missing").status().active
        assert FileKillSwitch(tmp_path).status().active

    def test_file_switch_on_the_orchestrator(self, tmp_path: Path) -> None:
        """The orchestrator reads the file for every intent."""
        path = tmp_path / "kill"
        path.write_text("on")
        clock = SteppingClock(EPOCH)
        orch = ExecutionOrchestrator(
            execution_mode=ExecutionMode.PAPER, clock=clock, kill_switch=FileKillSwitch(path)
        )

        first = orch.submit_intent(
            OrderIntent("BTC/EUR", "BUY", Decimal(1), "MARKET", "k", intent_id="1")
        )
        path.write_text("off")
        second = orch.submit_intent(
            OrderIntent("BTC/EUR", "BUY", Decimal(1), "MARKET", "k", intent_id="2")
        )

        assert first.reason_code is ReasonCode.RISK_KILL_SWITCH_ACTIVE
        assert second.success

    def test_switch_that_raises_halts(self) -> None:
        """A kill switch whose check raises is treated as active."""

        class Broken:
            def status(self) -> Any:
                raise OSError("nfs stale handle")

        orch = ExecutionOrchestrator(
            execution_mode=ExecutionMode.PAPER, clock=SteppingClock(EPOCH), kill_switch=Broken()
        )

        result = orch.submit_intent(OrderIntent("BTC/EUR", "BUY", Decimal(1), "MARKET", "k"))

        assert result.reason_code is ReasonCode.RISK_KILL_SWITCH_ACTIVE
        assert "nfs stale handle" in result.reason_detail
