"""
`PipelineRun`: one intent's progress through the eight stages, as a declared machine.

Each stage module fires one event of this machine when its work is done; the validators on
the edges out of VALIDATION, RISK_GATE and ROUTING are the contract, risk and live policies,
so no stage code can skip them.
"""

from __future__ import annotations

from typing import Any

from statemachine.states import States

from execfsm.contracts import STAGE_NUMBER, OrderIntent, PipelineState
from execfsm.fsm import guards as g
from execfsm.fsm.audited import AuditedMachine
from execfsm.fsm.builtin_properties import PIPELINE_INPUTS, PIPELINE_PROPERTIES, PIPELINE_SETUPS
from execfsm.fsm.engine import Engine
from execfsm.fsm.instrument_guards import INSTRUMENT_GUARDS
from execfsm.instruments import SIMULATED_INSTRUMENTS, InstrumentRegistry
from execfsm.typing import AuditSink

_VALIDATION = [*g.CONTRACT_GUARDS, *INSTRUMENT_GUARDS]


class PipelineRun(AuditedMachine):
    """
    The pipeline machine of one intent. Deny by default: an edge not listed is refused.

    Args:
        intent: The intent this run carries (its terms are what validation checks).
        correlation_id: Assigned at intake; every record of the run carries it.
        client_order_id: The order this run creates.
        audit: The sink every transition and refusal is written to.
        start_value: Re-open a run recovered from a store in this state (PAUSED).
        engine: `Engine.COMPILED` (default) or `Engine.REFERENCE`.
        instruments: The registry validation looks the intent's symbol up in (once, here);
            default the simulated venue's (`SIMULATED_INSTRUMENTS`).
    """

    audit_machine = "pipeline"
    durable_on_return = False  # the orchestrator's units of work make it durable

    _ = States.from_enum(
        PipelineState,
        initial=PipelineState.INTAKE,
        final=[PipelineState.COMPLETED, PipelineState.FAILED, PipelineState.BLOCKED],
    )

    # fmt: off
    # 1 INTAKE
    _.INTAKE.to(_.VALIDATION, event="intake_done")
    _.INTAKE.to(_.FAILED, event="fail", validators=g.reason_given)

    # 2 VALIDATION
    _.VALIDATION.to(_.RISK_GATE, event="validate", validators=_VALIDATION)
    _.VALIDATION.to(_.FAILED, event="reject", validators=g.reason_given)

    # 3 RISK_GATE
    _.RISK_GATE.to(_.ROUTING, event="allow", validators=g.risk_allows)
    _.RISK_GATE.to(_.BLOCKED, event="block", validators=g.reason_given)
    _.RISK_GATE.to(_.PAUSED, event="pause")

    # PAUSED is not final: an operator resumes (risk is evaluated again) or abandons it.
    _.PAUSED.to(_.RISK_GATE, event="resume")
    _.PAUSED.to(_.BLOCKED, event="abandon", validators=g.reason_given)

    # 4 ROUTING: the only edge into DISPATCH carries the live-blocked policy.
    _.ROUTING.to(_.DISPATCH, event="route", validators=[g.live_execution_permitted, g.adapter_registered])  # noqa: E501
    _.ROUTING.to(_.BLOCKED, event="block", validators=g.reason_given)

    # 5 DISPATCH
    _.DISPATCH.to(_.EVENT_HANDLING, event="dispatched")
    _.DISPATCH.to(_.FAILED, event="fail", validators=g.reason_given)

    # 6 EVENT_HANDLING
    _.EVENT_HANDLING.to(_.POST_TRADE, event="events_applied")

    # 7 POST_TRADE
    _.POST_TRADE.to(_.RECON_HANDOFF, event="booked")

    # 8 RECON_HANDOFF
    _.RECON_HANDOFF.to(_.COMPLETED, event="handed_off")
    # fmt: on

    def __init__(
        self,
        intent: OrderIntent,
        *,
        correlation_id: str,
        client_order_id: str,
        audit: AuditSink,
        start_value: PipelineState | None = None,
        engine: Engine | str | None = None,
        instruments: InstrumentRegistry | None = None,
    ) -> None:
        self.intent = intent
        registry = SIMULATED_INSTRUMENTS if instruments is None else instruments
        self.instrument = registry.get(intent.symbol)
        """The intent's listed instrument, or None: what the instrument rules read."""
        self._correlation_id = correlation_id
        self._client_order_id = client_order_id
        self.stage_reached = STAGE_NUMBER[PipelineState.INTAKE]
        """The number (1-8) of the last stage the run entered."""
        super().__init__(audit, start_value=start_value, engine=engine)
        if start_value is not None:
            self.stage_reached = STAGE_NUMBER.get(
                start_value, STAGE_NUMBER[PipelineState.RISK_GATE]
            )

    @property
    def correlation_id(self) -> str:
        """
        The intent's correlation id.
        """
        return self._correlation_id

    @property
    def client_order_id(self) -> str:
        """
        The id of the order this run creates.
        """
        return self._client_order_id

    @property
    def state(self) -> PipelineState:
        """
        The current pipeline state.
        """
        value: PipelineState = self.current_state_value
        return value

    def guard_context(self) -> dict[str, Any]:
        """
        Validation's guards read the intent's terms as ``order``, and its listed instrument
        as ``instrument``.
        """
        return {"order": self.intent, "instrument": self.instrument}

    def after_transition(self, target: Any) -> None:
        """
        Keep ``stage_reached`` at the last stage entered (exits keep the stage they left).
        """
        number = STAGE_NUMBER.get(target.value)
        if number is not None:
            self.stage_reached = number

    # What `execfsm verify` proves (P1) and explores it with (execfsm.fsm.builtin_properties).
    properties = PIPELINE_PROPERTIES
    inputs = PIPELINE_INPUTS
    setups = PIPELINE_SETUPS
