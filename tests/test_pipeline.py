"""
PipelineRun as a machine: its table, and the policies its validators enforce.
"""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest
from statemachine import StateMachine

from execfsm import (
    ContractViolation,
    ExecutionMode,
    IllegalTransition,
    LivePolicy,
    MachineModel,
    PipelineRun,
    PipelineState,
    PolicyViolation,
    ReasonCode,
    RiskDecision,
    RiskVerdict,
)
from execfsm.clock import EPOCH
from execfsm.contracts import Route
from execfsm.testing import in_memory_audit
from tests.conftest import make_intent

P = PipelineState


def run_at(state: PipelineState, **intent: object) -> PipelineRun:
    run = PipelineRun(
        make_intent(**intent),
        correlation_id="cor-1",
        client_order_id="ord-1",
        audit=in_memory_audit(),
    )
    path = {
        P.INTAKE: [],
        P.VALIDATION: [("intake_done", {})],
        P.RISK_GATE: [("intake_done", {}), ("validate", {})],
        P.ROUTING: [
            ("intake_done", {}),
            ("validate", {}),
            ("allow", {"verdict": RiskVerdict(RiskDecision.ALLOW)}),
        ],
    }[state]
    for name, kwargs in path:
        run.send(name, **kwargs)
    return run


def anonymous_policy() -> LivePolicy:
    """A policy without an approver, built past its constructor's check (which refuses it):
    routing must refuse it too."""
    with attrs.validators.disabled():
        return LivePolicy(" ", "x", EPOCH + timedelta(1))


def route(mode: ExecutionMode, policy: LivePolicy | None = None, adapter: bool = True) -> Route:
    return Route(mode=mode, adapter_registered=adapter, live_policy=policy, now=EPOCH)


class TestPipelineMachine:
    def test_is_a_strict_statemachine_with_eight_stages(self) -> None:
        """PipelineRun is a StateMachine whose non-exit states are the eight stages in order."""
        model = MachineModel.from_machine(PipelineRun)

        assert issubclass(PipelineRun, StateMachine)
        assert [s.name for s in model.states][:8] == [
            "INTAKE",
            "VALIDATION",
            "RISK_GATE",
            "ROUTING",
            "DISPATCH",
            "EVENT_HANDLING",
            "POST_TRADE",
            "RECON_HANDOFF",
        ]
        assert set(model.final_states) == {"COMPLETED", "FAILED", "BLOCKED"}

    def test_only_edge_into_dispatch_carries_the_live_policy(self) -> None:
        """Every transition into DISPATCH has the live-execution validator."""
        model = MachineModel.from_machine(PipelineRun)

        into_dispatch = [t for t in model.transitions if t.target == "DISPATCH"]

        assert [(t.source, t.event) for t in into_dispatch] == [("ROUTING", "route")]
        assert "live_execution_permitted" in into_dispatch[0].validators

    def test_stages_cannot_be_skipped(self) -> None:
        """Jumping from intake straight to routing is refused and audited."""
        run = run_at(P.INTAKE)

        with pytest.raises(IllegalTransition):
            run.send("allow", verdict=RiskVerdict(RiskDecision.ALLOW))

        assert run.state is P.INTAKE

    def test_validation_validators_name_the_field(self) -> None:
        """Validate refuses a bad intent with the field's reason code and stays put."""
        run = run_at(P.VALIDATION, quantity=0)

        with pytest.raises(ContractViolation) as caught:
            run.send("validate")

        assert caught.value.reason is ReasonCode.VALIDATION_INVALID_QUANTITY
        assert run.state is P.VALIDATION

    @pytest.mark.parametrize("decision", [RiskDecision.BLOCK, RiskDecision.PAUSE, None])
    def test_leaving_risk_gate_needs_allow(self, decision: RiskDecision | None) -> None:
        """`allow` without an ALLOW verdict is refused by its validator."""
        run = run_at(P.RISK_GATE)
        verdict = None if decision is None else RiskVerdict(decision)

        with pytest.raises(PolicyViolation):
            run.send("allow", verdict=verdict)

        assert run.state is P.RISK_GATE

    @pytest.mark.parametrize(
        ("the_route", "reason"),
        [
            (route(ExecutionMode.LIVE_BLOCKED), ReasonCode.POLICY_LIVE_NOT_ENABLED),
            (route(ExecutionMode.LIVE), ReasonCode.POLICY_LIVE_NOT_ENABLED),
            (
                route(ExecutionMode.LIVE, LivePolicy("cro", "x", EPOCH)),
                ReasonCode.POLICY_LIVE_NOT_ENABLED,
            ),
            (
                route(ExecutionMode.LIVE, anonymous_policy()),
                ReasonCode.POLICY_LIVE_NOT_ENABLED,
            ),
            (
                route(
                    ExecutionMode.LIVE, LivePolicy("cro", "x", EPOCH + timedelta(1)), adapter=False
                ),
                ReasonCode.POLICY_LIVE_NOT_ENABLED,
            ),
            (route(ExecutionMode.PAPER, adapter=False), ReasonCode.POLICY_NO_ADAPTER),
        ],
    )
    def test_route_validators(self, the_route: Route, reason: ReasonCode) -> None:
        """Routing to DISPATCH is refused unless the mode is simulated or fully live-approved."""
        run = run_at(P.ROUTING)

        with pytest.raises(PolicyViolation) as caught:
            run.send("route", route=the_route)

        assert caught.value.reason is reason
        assert run.state is P.ROUTING

    @pytest.mark.parametrize(
        "the_route",
        [
            route(ExecutionMode.PAPER),
            route(ExecutionMode.LIVE, LivePolicy("cro", "x", EPOCH + timedelta(1))),
        ],
    )
    def test_route_allowed(self, the_route: Route) -> None:
        """A simulated mode, or LIVE with policy and adapter, reaches DISPATCH."""
        run = run_at(P.ROUTING)

        run.send("route", route=the_route)

        assert (run.state, run.stage_reached) == (P.DISPATCH, 5)

    def test_paused_resumes_to_risk_gate(self) -> None:
        """PAUSED is not final: resume re-enters the risk gate."""
        run = run_at(P.RISK_GATE)
        run.send("pause")

        run.send("resume")

        assert run.state is P.RISK_GATE
