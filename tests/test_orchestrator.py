"""
The orchestrator end to end: stage ordering, failures, idempotency, live blocking, ledgers,
recon hand-off, and events after dispatch.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execfsm import (
    AdapterRegistry,
    AuditOutcome,
    BlockingRiskHook,
    ConfigurationError,
    ContractViolation,
    EventKind,
    ExecutionEvent,
    ExecutionMode,
    ExecutionOrchestrator,
    LivePolicy,
    Order,
    OrderIntent,
    OrderSide,
    OrderState,
    OrderType,
    PipelineResult,
    PipelineState,
    ReasonCode,
    RiskVerdict,
    SimulatedVenue,
    SteppingClock,
)
from execfsm.adapters.dispatcher import Dispatcher
from execfsm.clock import EPOCH, FixedClock
from execfsm.risk import ConditionalRiskHook, NullRiskHook
from execfsm.testing import Fault, FaultyVenue, paper_orchestrator
from tests.conftest import make_intent
from tests.instrument_data import LISTS_UNPRICED, UNPRICED


def market(
    qty: str = "0.5", symbol: str = "BTC/EUR", intent_id: str = "m1", **kw: Any
) -> OrderIntent:
    return OrderIntent(
        symbol, OrderSide.BUY, Decimal(qty), OrderType.MARKET, "t", intent_id=intent_id, **kw
    )


class SpyVenue(SimulatedVenue):
    """A simulated venue that counts submit calls and can be told to raise."""

    def __init__(self, *args: Any, fail_with: Exception | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.fail_with = fail_with

    def submit(self, order: Order, idempotency_key: str) -> Sequence[ExecutionEvent]:
        if self.fail_with is not None:
            self.submissions.append(idempotency_key)
            raise self.fail_with
        return super().submit(order, idempotency_key)


def orchestrator(
    mode: ExecutionMode = ExecutionMode.PAPER,
    risk: Any = None,
    venue: SimulatedVenue | None = None,
    **kw: Any,
) -> tuple[ExecutionOrchestrator, SimulatedVenue]:
    clock = SteppingClock(EPOCH, timedelta(milliseconds=1))
    venue = venue if venue is not None else SpyVenue(clock)
    orch = paper_orchestrator(venue, clock=clock, mode=mode, risk_hook=risk or NullRiskHook(), **kw)
    return orch, venue


class TestStageOrdering:
    def test_success_reaches_stage_8(self) -> None:
        """A valid paper market order passes all eight stages in order and fills."""
        orch, _ = orchestrator()

        result = orch.submit_intent(market())

        assert (result.success, result.stage_reached, result.pipeline_state) == (
            True,
            8,
            PipelineState.COMPLETED,
        )
        assert result.order is not None
        assert result.order.state is OrderState.FILLED
        pipeline = [
            (r.event, r.target)
            for r in orch.audit_log.by_correlation(result.correlation_id)
            if r.machine == "pipeline"
        ]
        assert pipeline == [
            ("intake_done", "VALIDATION"),
            ("validate", "RISK_GATE"),
            ("allow", "ROUTING"),
            ("route", "DISPATCH"),
            ("dispatch_attempt", "DISPATCH"),
            ("dispatched", "EVENT_HANDLING"),
            ("events_applied", "POST_TRADE"),
            ("booked", "RECON_HANDOFF"),
            ("handed_off", "COMPLETED"),
        ]

    @pytest.mark.parametrize(
        ("intent", "stage", "state", "reason"),
        [
            (market(qty="0"), 2, PipelineState.FAILED, ReasonCode.VALIDATION_INVALID_QUANTITY),
            (market(qty="-1"), 2, PipelineState.FAILED, ReasonCode.VALIDATION_INVALID_QUANTITY),
            (
                make_intent(limit_price=None),
                2,
                PipelineState.FAILED,
                ReasonCode.VALIDATION_INVALID_PRICE,
            ),
            (
                make_intent(limit_price=Decimal(-5)),
                2,
                PipelineState.FAILED,
                ReasonCode.VALIDATION_INVALID_PRICE,
            ),
            (market(symbol=""), 2, PipelineState.FAILED, ReasonCode.VALIDATION_INVALID_SYMBOL),
        ],
    )
    def test_validation_failures_stop_at_stage_2(
        self, intent: OrderIntent, stage: int, state: PipelineState, reason: ReasonCode
    ) -> None:
        """Contract violations stop the run at validation with the field's reason code; the
        order fails and nothing is dispatched."""
        orch, venue = orchestrator()

        result = orch.submit_intent(intent)

        assert (
            result.success,
            result.stage_reached,
            result.pipeline_state,
            result.reason_code,
        ) == (
            False,
            stage,
            state,
            reason,
        )
        assert result.order is not None
        assert result.order.state is OrderState.FAILED
        assert venue.submissions == []

    def test_invalid_price_detail_names_limit_price(self) -> None:
        """A LIMIT order without a price is reported naming `limit_price`."""
        orch, _ = orchestrator()

        result = orch.submit_intent(make_intent(limit_price=None))

        assert "limit_price" in result.reason_detail

    def test_risk_block_stops_at_stage_3_with_the_hooks_reason(self) -> None:
        """A BLOCK decision ends BLOCKED at stage 3 with RISK_BLOCKED and the hook's reason."""
        orch, venue = orchestrator(risk=BlockingRiskHook("desk closed"))

        result = orch.submit_intent(market())

        assert (result.stage_reached, result.pipeline_state, result.reason_code) == (
            3,
            PipelineState.BLOCKED,
            ReasonCode.RISK_BLOCKED,
        )
        assert result.reason_detail == "desk closed"
        assert venue.submissions == []

    def test_live_blocked_stops_at_stage_4(self) -> None:
        """The default mode stops at routing with POLICY_LIVE_NOT_ENABLED and the order FAILED."""
        orch = ExecutionOrchestrator(risk_hook=NullRiskHook())

        result = orch.submit_intent(market())

        assert orch.execution_mode is ExecutionMode.LIVE_BLOCKED
        assert (result.success, result.stage_reached, result.reason_code) == (
            False,
            4,
            ReasonCode.POLICY_LIVE_NOT_ENABLED,
        )
        assert result.reason_detail == "Live execution is governance-blocked"
        assert result.order is not None
        assert result.order.state is OrderState.FAILED


class TestFailurePropagation:
    def test_adapter_exception_fails_the_order_with_its_message(self) -> None:
        """An adapter that raises ends the run FAILED at stage 5 with ADAPTER_ERROR and the
        message kept."""
        clock = SteppingClock(EPOCH)
        orch, _ = orchestrator(venue=SpyVenue(clock, fail_with=ConnectionError("socket closed")))

        result = orch.submit_intent(market())

        assert (result.stage_reached, result.pipeline_state, result.reason_code) == (
            5,
            PipelineState.FAILED,
            ReasonCode.ADAPTER_ERROR,
        )
        assert "socket closed" in result.reason_detail
        assert result.order is not None
        assert result.order.state is OrderState.FAILED

    def test_an_exception_escaping_the_dispatcher_leaves_the_intent_answered(self) -> None:
        """The dispatcher's own code raising after the venue took the order (its sleeper,
        between attempts): the order is flagged at once and the intent's result kept, so the
        exception reaches the caller, resubmitting is a duplicate (no second send, no
        KeyError) and the session goes on."""

        def broken_sleep(_seconds: float) -> None:
            raise RuntimeError("sleeper broke")

        clock = SteppingClock(EPOCH)
        venue = FaultyVenue(SimulatedVenue(clock), [Fault.TIMEOUT_AFTER_SEND])
        orch = paper_orchestrator(venue, clock=clock, dispatcher=Dispatcher(sleep=broken_sleep))

        with pytest.raises(RuntimeError, match="sleeper broke"):
            orch.submit_intent(market())
        again = orch.submit_intent(market())
        other = orch.submit_intent(market(intent_id="m2"))
        flags = [
            r
            for r in orch.audit_log.records
            if r.reason_code is ReasonCode.DISPATCH_OUTCOME_UNKNOWN
        ]

        assert again.duplicate
        assert again.reason_code is ReasonCode.DISPATCH_OUTCOME_UNKNOWN
        assert "RuntimeError" in again.reason_detail
        assert again.order is not None
        assert again.order.state is OrderState.SUBMITTED
        assert ReasonCode.DISPATCH_OUTCOME_UNKNOWN in again.order.recon_flags
        assert flags
        assert venue.inner.submissions == [again.idempotency_key, other.idempotency_key]
        assert other.success

    def test_venue_reject_completes_unsuccessfully(self) -> None:
        """A venue REJECT (a listed symbol the venue does not price) leaves the order REJECTED
        and the result unsuccessful."""
        orch, _ = orchestrator(instruments=LISTS_UNPRICED)

        result = orch.submit_intent(market(symbol=UNPRICED))

        assert result.success is False
        assert result.order is not None
        assert result.order.state is OrderState.REJECTED
        assert result.reason_code is ReasonCode.ADAPTER_REJECTED

    def test_unlisted_symbol_stops_at_validation(self) -> None:
        """A symbol the instrument registry does not list never reaches the venue: it stops
        FAILED at stage 2 with VALIDATION_INVALID_SYMBOL (the venue rejected it before)."""
        orch, venue = orchestrator()

        result = orch.submit_intent(market(symbol="XYZ/EUR"))

        assert (result.pipeline_state, result.stage_reached, result.reason_code) == (
            PipelineState.FAILED,
            2,
            ReasonCode.VALIDATION_INVALID_SYMBOL,
        )
        assert venue.submissions == []

    def test_risk_hook_that_raises_blocks(self) -> None:
        """A risk hook that raises blocks the intent (fail closed) with RISK_EVALUATION_FAILED."""

        class Broken:
            def evaluate(self, intent: OrderIntent) -> RiskVerdict:
                raise RuntimeError("limits service down")

        orch, venue = orchestrator(risk=Broken())

        result = orch.submit_intent(market())

        assert (result.pipeline_state, result.reason_code) == (
            PipelineState.BLOCKED,
            ReasonCode.RISK_EVALUATION_FAILED,
        )
        assert "limits service down" in result.reason_detail
        assert venue.submissions == []

    def test_risk_hook_answering_garbage_blocks(self) -> None:
        """A hook that returns something other than a RiskVerdict blocks too."""

        class Sloppy:
            def evaluate(self, intent: OrderIntent) -> Any:
                return "ALLOW"

        orch, _ = orchestrator(risk=Sloppy())

        result = orch.submit_intent(market())

        assert result.reason_code is ReasonCode.RISK_EVALUATION_FAILED

    def test_pause_then_resume_reevaluates_risk(self) -> None:
        """A PAUSE waits at stage 3; resume asks the hook again and, once allowed, completes."""
        risk = ConditionalRiskHook(review_quantity="1")
        orch, venue = orchestrator(risk=risk)
        intent = market(qty="2")

        paused = orch.submit_intent(intent)
        still = orch.resume(paused.correlation_id)
        risk.approve(intent)
        resumed = orch.resume(still.correlation_id)

        assert (paused.pipeline_state, paused.stage_reached, paused.reason_code) == (
            PipelineState.PAUSED,
            3,
            ReasonCode.RISK_PAUSED,
        )
        assert paused.order is not None
        assert paused.order.state is OrderState.CREATED
        assert still.pipeline_state is PipelineState.PAUSED
        assert (resumed.success, resumed.stage_reached) == (True, 8)
        assert len(venue.submissions) == 1

    def test_abandon_blocks_a_paused_intent(self) -> None:
        """Abandoning a paused intent ends it BLOCKED and fails its order."""
        orch, _ = orchestrator(risk=ConditionalRiskHook(review_quantity="1"))
        paused = orch.submit_intent(market(qty="2"))

        result = orch.abandon(paused.correlation_id)

        assert result.pipeline_state is PipelineState.BLOCKED
        assert result.order is not None
        assert result.order.state is OrderState.FAILED

    @pytest.mark.parametrize("reason", [12345, None, "x" * 1025, "line\nbreak"])
    def test_abandon_with_a_bad_reason_keeps_the_pause(self, reason: Any) -> None:
        """A reason that is not a bounded text is refused before anything changes: nothing
        is audited and the intent stays paused, to be resumed or abandoned."""
        orch, _ = orchestrator(risk=ConditionalRiskHook(review_quantity="1"))
        paused = orch.submit_intent(market(qty="2"))
        before = len(orch.audit_log.records)

        with pytest.raises(ContractViolation) as caught:
            orch.abandon(paused.correlation_id, reason)
        after = len(orch.audit_log.records)
        result = orch.abandon(paused.correlation_id, "operator said no")

        assert caught.value.field == "reason"
        assert after == before
        assert result.pipeline_state is PipelineState.BLOCKED
        assert result.reason_detail == "operator said no"

    def test_resume_of_unknown_intent_is_a_clear_error(self) -> None:
        """Resuming something that is not paused names the correlation id."""
        orch, _ = orchestrator()

        with pytest.raises(ContractViolation, match="cor-nope"):
            orch.resume("cor-nope")


class TestIdempotency:
    def test_same_intent_twice_calls_the_adapter_once(self) -> None:
        """A resubmitted intent returns the original result, is not sent, and is audited."""
        orch, venue = orchestrator()

        first = orch.submit_intent(market())
        second = orch.submit_intent(market())

        assert second == attrs.evolve(first, duplicate=True)  # the same values, marked
        assert (first.duplicate, second.duplicate) == (False, True)
        assert len(venue.submissions) == 1
        last = orch.audit_log.records[-1]
        assert (last.outcome, last.reason_code, last.correlation_id) == (
            AuditOutcome.DUPLICATE,
            ReasonCode.DUPLICATE_INTENT,
            first.correlation_id,
        )

    def test_different_intents_get_different_keys(self) -> None:
        """Distinct intent ids make identical orders distinct, each sent once."""
        orch, venue = orchestrator()

        a = orch.submit_intent(market(intent_id="a"))
        b = orch.submit_intent(market(intent_id="b"))

        assert a.idempotency_key != b.idempotency_key
        assert a.correlation_id != b.correlation_id
        assert len(venue.submissions) == 2

    def test_adapter_receives_the_idempotency_key(self) -> None:
        """The key handed to the venue is the result's idempotency key."""
        orch, venue = orchestrator()

        result = orch.submit_intent(market())

        assert venue.submissions == [result.idempotency_key]

    def test_not_an_intent_is_refused(self) -> None:
        """Submitting a dict instead of an OrderIntent is a clear contract error."""
        orch, _ = orchestrator()

        with pytest.raises(ContractViolation, match="intent: must be an OrderIntent"):
            orch.submit_intent({"symbol": "BTC/EUR"})  # type: ignore[arg-type]


class TestDefaultBlocked:
    @pytest.mark.parametrize(
        "mode", [ExecutionMode.PAPER, ExecutionMode.SHADOW, ExecutionMode.TESTNET]
    )
    def test_simulated_modes_dispatch_by_default(self, mode: ExecutionMode) -> None:
        """PAPER, SHADOW and TESTNET each get a simulated venue by default and fill."""
        orch = ExecutionOrchestrator(risk_hook=NullRiskHook(), execution_mode=mode)

        result = orch.submit_intent(market())

        assert result.success
        assert result.order is not None
        assert result.order.state is OrderState.FILLED

    def test_live_without_policy_is_blocked(self) -> None:
        """Mode LIVE with a live adapter but no LivePolicy never dispatches."""
        orch, venue = orchestrator(mode=ExecutionMode.LIVE)

        result = orch.submit_intent(market())

        assert (result.stage_reached, result.reason_code) == (4, ReasonCode.POLICY_LIVE_NOT_ENABLED)
        assert "no LivePolicy" in result.reason_detail
        assert venue.submissions == []

    def test_live_with_expired_policy_is_blocked(self) -> None:
        """An expired LivePolicy blocks like no policy at all."""
        policy = LivePolicy("cro", "pilot", expires_at=EPOCH - timedelta(seconds=1))
        orch, venue = orchestrator(mode=ExecutionMode.LIVE, live_policy=policy)

        result = orch.submit_intent(market())

        assert result.reason_code is ReasonCode.POLICY_LIVE_NOT_ENABLED
        assert "expired" in result.reason_detail
        assert venue.submissions == []

    def test_live_with_policy_but_no_adapter_is_blocked(self) -> None:
        """A valid policy without a registered live adapter still blocks."""
        policy = LivePolicy("cro", "pilot", expires_at=EPOCH + timedelta(days=1))
        orch = ExecutionOrchestrator(
            risk_hook=NullRiskHook(),
            execution_mode=ExecutionMode.LIVE,
            live_policy=policy,
            clock=SteppingClock(EPOCH),
        )

        result = orch.submit_intent(market())

        assert result.reason_code is ReasonCode.POLICY_LIVE_NOT_ENABLED
        assert "no live adapter" in result.reason_detail

    def test_live_with_policy_and_adapter_dispatches(self) -> None:
        """All three conditions together are the only way to reach a live venue."""
        policy = LivePolicy("cro", "pilot", expires_at=EPOCH + timedelta(days=1))
        orch, venue = orchestrator(mode=ExecutionMode.LIVE, live_policy=policy)

        result = orch.submit_intent(market())

        assert result.success
        assert len(venue.submissions) == 1

    def test_mode_as_string_is_refused(self) -> None:
        """Only an ExecutionMode member selects a mode; a config string does not."""
        with pytest.raises(ConfigurationError, match="execution_mode"):
            ExecutionOrchestrator(execution_mode="LIVE")  # type: ignore[arg-type]

    def test_mode_without_adapter(self) -> None:
        """A mode with no registered adapter is blocked with POLICY_NO_ADAPTER."""
        orch = ExecutionOrchestrator(
            risk_hook=NullRiskHook(),
            execution_mode=ExecutionMode.PAPER,
            registry=AdapterRegistry(),
            clock=SteppingClock(EPOCH),
        )

        result = orch.submit_intent(market())

        assert (result.stage_reached, result.reason_code) == (4, ReasonCode.POLICY_NO_ADAPTER)


class TestLedgersAndRecon:
    def test_order_and_position_ledgers_after_fills(self) -> None:
        """Fills update the order ledger and the position ledger (average cost, fees)."""
        clock = SteppingClock(EPOCH)
        venue = SpyVenue(clock, fee_bps=10, partial_fills=("0.25", "0.75"))
        orch, _ = orchestrator(venue=venue)

        result = orch.submit_intent(market(qty="2"))
        orders = orch.get_order_ledger_snapshot()
        position = orch.get_position_ledger_snapshot()["BTC/EUR"]

        assert [(o.client_order_id, o.state, o.filled_quantity) for o in orders] == [
            (result.order.client_order_id if result.order else "", OrderState.FILLED, Decimal(2))
        ]
        assert (position.quantity, position.average_cost, position.fill_count) == (
            Decimal(2),
            Decimal(60000),
            2,
        )
        assert position.fees == Decimal("120.000")

    def test_recon_handoff_record(self) -> None:
        """Stage 8 hands off the order, its position and the audit seq range of the intent."""
        orch, _ = orchestrator()

        result = orch.submit_intent(market())

        recon = result.recon
        assert recon is not None
        records = orch.audit_log.by_correlation(result.correlation_id)
        assert (recon.order, recon.position.quantity) == (result.order, Decimal("0.5"))
        assert (recon.audit_seq_first, recon.audit_seq_last) == (records[0].seq, records[-2].seq)
        assert recon.recon_flags == ()
        assert orch.get_recon_snapshot() == (recon,)

    def test_fill_subscribers_hear_each_booked_fill(self) -> None:
        """Subscribers are called once per booked fill."""
        venue = SpyVenue(SteppingClock(EPOCH), partial_fills=("0.5", "0.5"))
        orch, _ = orchestrator(venue=venue)
        heard: list[tuple[str, Decimal]] = []
        orch.subscribe_fills(
            lambda order, fill: heard.append((order.client_order_id, fill.quantity))
        )

        result = orch.submit_intent(market(qty="1"))

        assert result.order is not None
        assert heard == [(result.order.client_order_id, Decimal("0.5"))] * 2

    def test_audit_trail_is_deterministic(self) -> None:
        """Two identical sessions on the same clock export byte-identical audit trails."""
        exports = []
        for _ in range(2):
            orch, _ = orchestrator()
            orch.submit_intent(market())
            orch.submit_intent(market(qty="0", intent_id="m2"))
            exports.append(orch.audit_log.export_jsonl())

        assert exports[0] == exports[1]
        assert orch.audit_log.verify_chain().ok


class TestAfterDispatch:
    def test_resting_limit_fills_when_price_crosses(self) -> None:
        """A non-marketable limit rests ACKNOWLEDGED and fills when the price moves through it."""
        orch, venue = orchestrator()
        intent = OrderIntent(
            "BTC/EUR", "BUY", Decimal("0.2"), "LIMIT", "t", limit_price=Decimal(59000)
        )

        result = orch.submit_intent(intent)
        assert result.order is not None
        venue.set_price("BTC/EUR", "58900")

        assert result.order.state is OrderState.ACKNOWLEDGED
        now = orch.order(result.order.client_order_id)
        assert now is not None
        assert now.state is OrderState.FILLED
        assert now.average_fill_price == Decimal(58900)  # the better price once it crossed
        assert orch.get_position_ledger_snapshot()["BTC/EUR"].quantity == Decimal("0.2")
        assert orch.get_recon_snapshot()[-1].trigger == "FILL"

    def test_cancel_resting_order(self) -> None:
        """Cancelling a resting order goes PENDING_CANCEL then CANCELLED on the venue's ack."""
        orch, venue = orchestrator()
        intent = OrderIntent("ETH/EUR", "SELL", Decimal(1), "LIMIT", "t", limit_price=Decimal(3500))
        result = orch.submit_intent(intent)
        assert result.order is not None

        outcome = orch.cancel(result.order.client_order_id)

        assert outcome.applied
        assert outcome.order is not None
        assert outcome.order.state is OrderState.CANCELLED
        events = [r.event for r in orch.audit_log.by_order(result.order.client_order_id)]
        assert events[-3:] == ["request_cancel", "cancel_attempt", "cancel_ack"]
        assert venue.resting_orders() == ()

    def test_cancel_of_filled_order_is_refused(self) -> None:
        """A cancel for an order that is already FILLED is refused and changes nothing."""
        orch, _ = orchestrator()
        result = orch.submit_intent(market())
        assert result.order is not None

        outcome = orch.cancel(result.order.client_order_id)

        assert (outcome.outcome, outcome.reason_code) == (
            AuditOutcome.REFUSED,
            ReasonCode.ILLEGAL_TRANSITION,
        )

    def test_event_for_unknown_order_is_refused_and_audited(self) -> None:
        """An event naming no known order is refused with EVENT_UNKNOWN_ORDER and audited."""
        orch, _ = orchestrator()
        stray = ExecutionEvent(EventKind.ACK, "e-x", "ord-ghost", "cor-ghost", EPOCH)

        outcome = orch.handle_event(stray)

        assert (outcome.outcome, outcome.reason_code) == (
            AuditOutcome.REFUSED,
            ReasonCode.EVENT_UNKNOWN_ORDER,
        )
        last = orch.audit_log.records[-1]
        assert (last.client_order_id, last.reason_code) == (
            "ord-ghost",
            ReasonCode.EVENT_UNKNOWN_ORDER,
        )

    def test_late_fill_after_cancel_is_booked_and_flagged(self) -> None:
        """A venue fill after the order was cancelled is booked in the position and flagged."""
        orch, _ = orchestrator()
        intent = OrderIntent("ETH/EUR", "BUY", Decimal(1), "LIMIT", "t", limit_price=Decimal(2000))
        result = orch.submit_intent(intent)
        assert result.order is not None
        orch.cancel(result.order.client_order_id)
        cancelled = orch.order(result.order.client_order_id)
        assert cancelled is not None

        from execfsm import Fill

        orch.handle_event(ExecutionEvent.of_fill(cancelled, "late", EPOCH, Fill("lf", "1", "2000")))

        now = orch.order(result.order.client_order_id)
        assert now is not None
        assert now.state is OrderState.CANCELLED
        assert now.recon_flags == (ReasonCode.FILL_AFTER_FINAL,)
        assert orch.get_position_ledger_snapshot()["ETH/EUR"].quantity == Decimal(1)
        assert orch.get_recon_snapshot()[-1].recon_flags == (ReasonCode.FILL_AFTER_FINAL,)


# Speed-shaped checks (Python lines per intent, objects the cyclic GC walks) are in
# bench/checks.py; `make bench` runs them and fails if one does.


def _fixed_orchestrator(risk: Any) -> tuple[ExecutionOrchestrator, SimulatedVenue]:
    clock = FixedClock(EPOCH)
    venue = SimulatedVenue(clock, partial_fills=("0.5", "0.5"))
    registry = AdapterRegistry()
    registry.register(ExecutionMode.PAPER, venue)
    orch = ExecutionOrchestrator(
        risk_hook=risk, execution_mode=ExecutionMode.PAPER, registry=registry, clock=clock
    )
    return orch, venue


def _trail_by_intent(orch: ExecutionOrchestrator) -> dict[str, list[tuple[Any, ...]]]:
    trails: dict[str, list[tuple[Any, ...]]] = {}
    for r in orch.audit_log.records:
        trails.setdefault(r.correlation_id, []).append(
            (r.machine, r.event, r.source, r.target, r.outcome, r.reason_code, r.detail)
        )
    return trails


_QUANTITIES = ("0.5", "1", "4", "9")  # 4 pauses, 9 is blocked
_LIMITS = (None, "1", "70000")  # "1" rests, "70000" fills
_BATCH_INTENT = st.builds(
    lambda n: make_intent(
        intent_id=f"b{n}",
        quantity=Decimal(_QUANTITIES[n % 4]),
        order_type=OrderType.LIMIT if _LIMITS[n // 4 % 3] else OrderType.MARKET,
        limit_price=Decimal(str(_LIMITS[n // 4 % 3])) if _LIMITS[n // 4 % 3] else None,
    ),
    n=st.integers(0, 12),  # the terms follow from n: repeats make duplicates, not conflicts
)


class TestBatches:
    def test_an_exception_escaping_the_dispatcher_stops_the_batch_answerably(self) -> None:
        """The dispatcher raising in a batch's first send: that order and the batch's
        orders written ahead but not sent yet are flagged and their results kept, so each
        resubmission is a duplicate (no KeyError) and nothing is sent a second time."""

        def broken_sleep(_seconds: float) -> None:
            raise RuntimeError("sleeper broke")

        clock = SteppingClock(EPOCH)
        venue = FaultyVenue(SimulatedVenue(clock), [Fault.TIMEOUT_AFTER_SEND])
        orch = paper_orchestrator(venue, clock=clock, dispatcher=Dispatcher(sleep=broken_sleep))
        batch = [market(intent_id=f"b{n}") for n in range(3)]

        with pytest.raises(RuntimeError, match="sleeper broke"):
            orch.submit_intents(batch)
        again = [orch.submit_intent(intent) for intent in batch]

        assert [r.duplicate for r in again] == [True, True, True]
        assert {r.reason_code for r in again} == {ReasonCode.DISPATCH_OUTCOME_UNKNOWN}
        assert "not sent" in again[2].reason_detail
        assert venue.inner.submissions == [again[0].idempotency_key]

    @settings(max_examples=60, deadline=None, derandomize=True)
    @given(intents=st.lists(_BATCH_INTENT, max_size=25))
    def test_a_batch_ends_as_submitting_one_by_one(self, intents: list[OrderIntent]) -> None:
        """With a risk gate that looks at each intent alone, a batch gives every intent the
        result, orders, positions and audit records submitting them one at a time gives."""

        def risk() -> ConditionalRiskHook:
            return ConditionalRiskHook(max_quantity="5", review_quantity="3")

        one_by_one, _ = _fixed_orchestrator(risk())
        batched, venue = _fixed_orchestrator(risk())

        expected = [one_by_one.submit_intent(i) for i in intents]
        results = batched.submit_intents(intents)

        def without_recon(r: PipelineResult) -> PipelineResult:
            return attrs.evolve(r, recon=None)

        assert [without_recon(r) for r in results] == [without_recon(r) for r in expected]
        assert batched.get_order_ledger_snapshot() == one_by_one.get_order_ledger_snapshot()
        assert batched.get_position_ledger_snapshot() == one_by_one.get_position_ledger_snapshot()
        assert _trail_by_intent(batched) == _trail_by_intent(one_by_one)
        assert len(venue.submissions) == len(set(venue.submissions))
        assert batched.audit_log.verify_chain().ok

    def test_a_key_repeated_in_the_batch_is_sent_once(self) -> None:
        """The second occurrence answers with the first one's result, audited DUPLICATE."""
        orch, venue = orchestrator()

        first, again, other = orch.submit_intents([market(), market(), market(intent_id="o")])

        assert again == attrs.evolve(first, duplicate=True)
        assert other.idempotency_key != first.idempotency_key
        assert venue.submissions == [first.idempotency_key, other.idempotency_key]
        duplicates = [r for r in orch.audit_log.records if r.outcome is AuditOutcome.DUPLICATE]
        assert [(r.correlation_id, r.reason_code) for r in duplicates] == [
            (first.correlation_id, ReasonCode.DUPLICATE_INTENT)
        ]

    def test_not_an_intent_refuses_the_whole_batch(self) -> None:
        """A bad element is named by its index, and nothing of the batch is done."""
        orch, venue = orchestrator()

        with pytest.raises(ContractViolation, match=r"intents\[1\]: must be an OrderIntent"):
            orch.submit_intents([market(), {"symbol": "BTC/EUR"}])  # type: ignore[list-item]

        assert len(orch.audit_log) == 0
        assert venue.submissions == []

    def test_an_empty_batch(self) -> None:
        orch, _ = orchestrator()

        assert orch.submit_intents([]) == []
