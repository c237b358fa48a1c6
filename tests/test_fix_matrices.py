"""
The FIX 4.4 order state change matrices (Volume 4, Appendix D) and issue 17's edge cases as
parametrized tables (`tests.fix_scenarios`), each run through the bare `OrderLifecycle` (on
both engines) and through the orchestrator; after every step the order's state, cumulative
and leaves quantity, quantity in force, the step's outcome and reason, its position change
and the reconciliation flags so far are compared whole with the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest

from execfsm import (
    BlockingRiskHook,
    ContractViolation,
    EventKind,
    ExecutionEvent,
    ExecutionOrchestrator,
    Fill,
    IllegalTransition,
    Order,
    OrderLifecycle,
    ReasonCode,
)
from execfsm.clock import EPOCH
from execfsm.errors import ExecFsmError
from execfsm.fsm.audit import AuditOutcome
from execfsm.fsm.engine import Engine
from execfsm.ledger.positions import PositionLedger, reversal
from execfsm.ledger.replay import replay
from execfsm.testing import in_memory_audit, order_for, paper_orchestrator
from tests.conftest import make_intent
from tests.fix_scenarios import SCENARIOS, Action, Expect, Scenario

SYMBOL = "BTC/EUR"
HAS_REPLACE = hasattr(ExecutionOrchestrator, "replace")


def _intent(sc: Scenario) -> Any:
    return make_intent(
        symbol=SYMBOL, side=sc.side, quantity=sc.quantity, limit_price=sc.price, intent_id="fix"
    )


def _event(action: Action, order: Order, event_id: str) -> ExecutionEvent:
    """The venue event `action` names, for `order`."""
    kind = EventKind(action.name)
    new_fill = None
    if action.fill_id is not None:
        new_fill = Fill(action.fill_id, action.quantity, action.price)
    return ExecutionEvent(
        kind,
        event_id,
        order.client_order_id,
        order.correlation_id,
        EPOCH,
        fill=new_fill,
        reason_code=ReasonCode.ADAPTER_REJECTED if kind is EventKind.REJECT else None,
        exec_ref_id=action.ref,
    )


def _observed(
    want: Expect,
    order: Order,
    outcome: AuditOutcome,
    reason: ReasonCode | None,
    delta: Decimal,
) -> Expect:
    """What the run shows, in the table's terms (optional columns only where the table has them)."""
    suffix = None
    if want.clordid_suffix is not None:
        current = order.current_client_order_id
        suffix = current[len(order.client_order_id) :]
    return Expect(
        state=order.state,
        cum=order.filled_quantity,
        leaves=order.remaining_quantity,
        qty=order.quantity,
        outcome=outcome,
        reason=reason,
        delta=delta,
        flags=order.recon_flags,
        price=None if want.price is None else order.limit_price,
        clordid_suffix=suffix,
        avg=None if want.avg is None else order.average_fill_price,
    )


def _param(sc: Scenario, *, orchestrated: bool = False) -> Any:
    marks: list[Any] = []
    if sc.disagrees:
        marks.append(pytest.mark.xfail(reason=sc.disagrees, strict=True))
    if orchestrated and sc.replaces and not HAS_REPLACE:
        marks.append(pytest.mark.skip(reason="ExecutionOrchestrator has no replace yet"))
    return pytest.param(sc, id=sc.id, marks=marks)


# -- the bare lifecycle ------------------------------------------------------------------------


class LifecycleRun:
    """A scenario's order on a bare `OrderLifecycle`, with its own position ledger."""

    def __init__(self, sc: Scenario, engine: Engine | None) -> None:
        self.lc = OrderLifecycle(order_for(_intent(sc)), in_memory_audit(), engine=engine)
        self.positions = PositionLedger()

    def position(self) -> Decimal:
        return self.positions.get(SYMBOL).quantity

    def step(self, action: Action, event_id: str) -> tuple[AuditOutcome, ReasonCode | None]:
        lc = self.lc
        if action.local:
            try:
                if action.name == "blocked":
                    lc.send("fail", reason_code=ReasonCode.RISK_BLOCKED)
                elif action.name == "request_replace":
                    request = lc.replace_request(quantity=action.quantity, limit_price=action.price)
                    lc.send("request_replace", replace=request)
                else:
                    lc.send(action.name)
            except (IllegalTransition, ContractViolation) as exc:
                return AuditOutcome.REFUSED, exc.reason
            return AuditOutcome.APPLIED, None
        outcome = lc.apply(_event(action, lc.order, event_id))
        order = lc.order
        if outcome.reversed_fill is not None:
            side, taken_back = reversal(order.side, outcome.reversed_fill)
            self.positions.book(
                order.client_order_id, order.symbol, side, taken_back, reversal=True
            )
        if outcome.booked_fill is not None:
            self.positions.book(
                order.client_order_id, order.symbol, order.side, outcome.booked_fill
            )
        return outcome.outcome, outcome.reason_code


def _run_lifecycle(sc: Scenario, engine: Engine | None) -> None:
    run = LifecycleRun(sc, engine)
    for number, step in enumerate(sc.steps, 1):
        before = run.position()
        outcome, reason = run.step(step.action, f"e{number}")
        got = _observed(step.expect, run.lc.order, outcome, reason, run.position() - before)
        assert (number, step.action, got) == (number, step.action, step.expect)


class TestLifecycleMatrix:
    @pytest.mark.parametrize("sc", [_param(sc) for sc in SCENARIOS])
    def test_compiled_engine(self, sc: Scenario) -> None:
        """Every step of the scenario leaves the order as the FIX matrix says (compiled engine)."""
        _run_lifecycle(sc, None)

    @pytest.mark.parametrize("sc", [_param(sc) for sc in SCENARIOS])
    def test_reference_engine(self, sc: Scenario) -> None:
        """Every step of the scenario leaves the order as the FIX matrix says (reference engine)."""
        _run_lifecycle(sc, Engine.REFERENCE)


# -- through the orchestrator ---------------------------------------------------------------------


class ScriptedVenue:
    """A venue that answers nothing by itself: the test feeds its answers as events."""

    name = "scripted"

    def submit(self, order: Order, idempotency_key: str) -> Sequence[ExecutionEvent]:
        return []

    def cancel(self, order: Order) -> Sequence[ExecutionEvent]:
        return []

    def replace(self, order: Order, request: Any) -> Sequence[ExecutionEvent]:
        return []

    def set_event_sink(self, sink: Any) -> None:
        pass


class OrchestratorRun:
    """A scenario's order through an orchestrator on a `ScriptedVenue`."""

    def __init__(self, sc: Scenario) -> None:
        self.sc = sc
        blocks = any(step.action.name == "blocked" for step in sc.steps)
        hook = BlockingRiskHook() if blocks else None
        self.orch = paper_orchestrator(ScriptedVenue(), risk_hook=hook)
        self.cid: str | None = None

    def order(self) -> Order:
        assert self.cid is not None
        order = self.orch.order(self.cid)
        assert order is not None
        return order

    def position(self) -> Decimal:
        found = self.orch.get_position_ledger_snapshot().get(SYMBOL)
        return Decimal(0) if found is None else found.quantity

    def step(self, action: Action, event_id: str) -> tuple[AuditOutcome, ReasonCode | None]:
        orch = self.orch
        if action.name in ("submit", "blocked"):
            result = orch.submit_intent(_intent(self.sc))
            assert result.order is not None
            self.cid = result.order.client_order_id
            return AuditOutcome.APPLIED, None
        assert self.cid is not None
        if action.local:
            try:
                if action.name == "request_replace":
                    answer = orch.replace(  # type: ignore[attr-defined]
                        self.cid, quantity=action.quantity, limit_price=action.price
                    )
                else:
                    answer = orch.cancel(self.cid)
            except ExecFsmError as exc:
                return AuditOutcome.REFUSED, getattr(exc, "reason", None)
            return answer.outcome, answer.reason_code
        outcome = orch.handle_event(_event(action, self.order(), event_id))
        return outcome.outcome, outcome.reason_code


def _run_orchestrator(sc: Scenario) -> OrchestratorRun:
    run = OrchestratorRun(sc)
    for number, step in enumerate(sc.steps, 1):
        before = run.position()
        outcome, reason = run.step(step.action, f"e{number}")
        got = _observed(step.expect, run.order(), outcome, reason, run.position() - before)
        assert (number, step.action, got) == (number, step.action, step.expect)
    return run


def _flagging_steps(sc: Scenario) -> list[int]:
    """The numbers of the steps whose expected flags grow."""
    numbers, flags = [], ()
    for number, step in enumerate(sc.steps, 1):
        if step.expect.flags != flags:
            numbers.append(number)
        flags = step.expect.flags
    return numbers


class TestOrchestratorMatrix:
    @pytest.mark.parametrize("sc", [_param(sc, orchestrated=True) for sc in SCENARIOS])
    def test_steps(self, sc: Scenario) -> None:
        """Every orchestrated step leaves the order, position and flags as the table says."""
        _run_orchestrator(sc)

    @pytest.mark.parametrize("sc", [_param(sc, orchestrated=True) for sc in SCENARIOS])
    def test_replay(self, sc: Scenario) -> None:
        """A replay of the scenario's trail gives the same positions, filled quantity and state."""
        run = _run_orchestrator(sc)
        order = run.order()

        replayed = replay(run.orch.get_audit_log_snapshot())

        again = replayed.orders[order.client_order_id]
        assert (replayed.positions, again.filled_quantity, again.state) == (
            run.orch.get_position_ledger_snapshot(),
            order.filled_quantity,
            order.state,
        )

    @pytest.mark.parametrize(
        "sc", [_param(sc, orchestrated=True) for sc in SCENARIOS if _flagging_steps(sc)]
    )
    def test_flags_hand_off(self, sc: Scenario) -> None:
        """Each step that flags the order writes a reconciliation hand-off with those flags."""
        run = OrchestratorRun(sc)
        seen = []
        for number, step in enumerate(sc.steps, 1):
            count = len(run.orch.get_recon_snapshot())
            run.step(step.action, f"e{number}")
            records = run.orch.get_recon_snapshot()[count:]
            if number in _flagging_steps(sc):
                seen.append((number, records[-1].recon_flags if records else None))

        assert seen == [(n, sc.steps[n - 1].expect.flags) for n in _flagging_steps(sc)]


def test_table_size() -> None:
    """The table holds at least 60 scenarios, each with a unique readable id."""
    ids = [sc.id for sc in SCENARIOS]

    assert (len(ids) >= 60, len(set(ids))) == (True, len(ids))
