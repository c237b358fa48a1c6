"""
Pins the public API's observable names and values, so a change to them is deliberate.
"""

from __future__ import annotations

import execfsm
from execfsm import ExecutionMode, OrderState, ReasonCode


class TestPublicApi:
    def test_all_is_sorted_and_importable(self) -> None:
        """`__all__` is alphabetised and every name in it resolves."""
        assert list(execfsm.__all__) == sorted(execfsm.__all__)
        assert all(hasattr(execfsm, name) for name in execfsm.__all__)

    def test_all_names_what_users_configure_and_catch(self) -> None:
        """The public names are pinned: what users build, configure, catch and subscribe to."""
        assert execfsm.__all__ == [
            "AdapterRegistry",
            "AuditChainError",
            "AuditLog",
            "AuditOutcome",
            "AuditRecord",
            "AuditWriteError",
            "AuditedMachine",
            "BlockingRiskHook",
            "Case",
            "CaseTable",
            "ConditionalRiskHook",
            "ConfigurationError",
            "ContractViolation",
            "DefinitionError",
            "Dispatcher",
            "Engine",
            "EventKind",
            "EventOutcome",
            "ExecFsmError",
            "ExecutionEvent",
            "ExecutionMode",
            "ExecutionOrchestrator",
            "FileKillSwitch",
            "Fill",
            "FillSubscriberError",
            "FixedClock",
            "Group",
            "IdempotencyConflict",
            "IllegalTransition",
            "Invariant",
            "KillSwitch",
            "LivePolicy",
            "MachineModel",
            "MachineReason",
            "ManualKillSwitch",
            "Never",
            "NullRiskHook",
            "Only",
            "Order",
            "OrderAdapter",
            "OrderIntent",
            "OrderLifecycle",
            "OrderSide",
            "OrderState",
            "OrderType",
            "OutcomeUnknown",
            "PermanentVenueError",
            "PipelineResult",
            "PipelineRun",
            "PipelineState",
            "PolicyViolation",
            "Position",
            "QueryingAdapter",
            "Reason",
            "ReasonCode",
            "ReentrantCall",
            "ReplaceRequest",
            "RetryPolicy",
            "RiskDecision",
            "RiskHook",
            "RiskVerdict",
            "Sampled",
            "Setup",
            "SimulatedVenue",
            "SqliteStore",
            "StateInvariant",
            "SteppingClock",
            "Stimulus",
            "StoreError",
            "StoreLocked",
            "SystemClock",
            "TimeInForce",
            "TransientVenueError",
            "VenueError",
            "VenueRejected",
            "describe",
            "entered",
            "known_machines",
            "load_project",
            "on",
            "register_machine",
        ]

    def test_order_states(self) -> None:
        """The order states are the design's, in lifecycle order."""
        assert [s.value for s in OrderState] == [
            "CREATED",
            "SUBMITTED",
            "ACKNOWLEDGED",
            "PARTIALLY_FILLED",
            "PENDING_CANCEL",
            "PENDING_REPLACE",
            "FILLED",
            "CANCELLED",
            "REJECTED",
            "EXPIRED",
            "FAILED",
        ]

    def test_execution_modes(self) -> None:
        """The five execution modes, LIVE_BLOCKED among them."""
        assert {m.value for m in ExecutionMode} == {
            "PAPER",
            "SHADOW",
            "TESTNET",
            "LIVE_BLOCKED",
            "LIVE",
        }

    def test_reason_codes_are_append_only(self) -> None:
        """Existing reason codes keep their names, values and order; new ones go at the end."""
        pinned = [
            "VALIDATION_INVALID_QUANTITY",
            "VALIDATION_INVALID_PRICE",
            "VALIDATION_INVALID_SYMBOL",
            "VALIDATION_INVALID_FIELD",
            "RISK_BLOCKED",
            "RISK_PAUSED",
            "RISK_EVALUATION_FAILED",
            "RISK_KILL_SWITCH_ACTIVE",
            "POLICY_LIVE_NOT_ENABLED",
            "POLICY_NO_ADAPTER",
            "ADAPTER_REJECTED",
            "ADAPTER_TIMEOUT",
            "ADAPTER_ERROR",
            "ILLEGAL_TRANSITION",
            "FILL_OVERFILL",
            "FILL_DUPLICATE",
            "FILL_CONFLICT",
            "FILL_INVALID_QUANTITY",
            "FILL_INVALID_PRICE",
            "FILL_INVALID_FEE",
            "FILL_AFTER_FINAL",
            "ACK_ABSORBED",
            "ACK_AFTER_FAILURE",
            "REASON_MISSING",
            "EVENT_ORDER_MISMATCH",
            "EVENT_UNKNOWN_ORDER",
            "DUPLICATE_INTENT",
        ]
        contingent = [
            "CONTINGENT_GROUP_REFUSED",
            "CONTINGENT_LEG_NOT_SENT",
            "CONTINGENT_OVERFILL",
            "CONTINGENT_CANCEL_REJECTED",
            "CONTINGENT_REACTION_INTERRUPTED",
            "CONTINGENT_HELD_CANCELLED",
            "CONTINGENT_RELEASE_REFUSED",
        ]
        names = [c.name for c in ReasonCode]
        after = names.index("EXPIRED_BY_CLOCK") + 1

        assert names[: len(pinned)] == pinned
        assert names[after : after + len(contingent)] == contingent
        recon = [
            "RECON_AGREED",
            "RECON_QUERY_FAILED",
            "RECON_ORDER_NOT_FOUND",
            "RECON_VENUE_BEHIND",
            "RECON_REPORT_IMPOSSIBLE",
            "RECON_EXTERNAL_ORDER",
            "RECON_POSITION_DIFFERS",
        ]
        instruments = [
            "VALIDATION_INSTRUMENT_HALTED",
            "VALIDATION_PRICE_OFF_TICK",
            "VALIDATION_QUANTITY_OFF_LOT",
            "VALIDATION_QUANTITY_BELOW_MIN",
            "VALIDATION_QUANTITY_ABOVE_MAX",
            "VALIDATION_NOTIONAL_BELOW_MIN",
        ]
        shared = ["IDEMPOTENCY_IN_PROGRESS_ELSEWHERE"]
        assert names[after + len(contingent) :] == [
            "CALLBACK_FAILED",
            *recon,
            *instruments,
            *shared,
        ]
        assert all(c.value == c.name for c in ReasonCode)
