"""
The enums every layer shares: sides, types, states, modes, event kinds and reason codes.

A module of its own that imports nothing from the package, so the error tree and the
contracts both read `ReasonCode` without an import cycle.
"""

from __future__ import annotations

import enum


class OrderSide(enum.StrEnum):
    """
    Direction of an order.
    """

    BUY = "BUY"
    SELL = "SELL"


class OrderType(enum.StrEnum):
    """
    How the order is priced at the venue.
    """

    MARKET = "MARKET"
    LIMIT = "LIMIT"


class TimeInForce(enum.StrEnum):
    """
    How long an order rests at the venue.
    """

    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    DAY = "DAY"


class OrderState(enum.StrEnum):
    """
    The states of `OrderLifecycle`; the machine is the only thing that moves an order.
    """

    CREATED = "CREATED"
    SUBMITTED = "SUBMITTED"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"


FINAL_ORDER_STATES = frozenset(
    {
        OrderState.FILLED,
        OrderState.CANCELLED,
        OrderState.REJECTED,
        OrderState.EXPIRED,
        OrderState.FAILED,
    }
)
"""Order states with no way out; a venue fill that arrives later flags the order instead."""

IN_FLIGHT_ORDER_STATES = frozenset(
    {
        OrderState.SUBMITTED,
        OrderState.ACKNOWLEDGED,
        OrderState.PARTIALLY_FILLED,
        OrderState.PENDING_CANCEL,
    }
)
"""Order states the venue may still act on: what reconciliation must confirm after a stop."""


class ExecutionMode(enum.StrEnum):
    """
    Where an order is routed. `LIVE_BLOCKED` is the default and never reaches a venue.
    """

    PAPER = "PAPER"
    SHADOW = "SHADOW"
    TESTNET = "TESTNET"
    LIVE_BLOCKED = "LIVE_BLOCKED"
    LIVE = "LIVE"


class PipelineState(enum.StrEnum):
    """
    The states of `PipelineRun`: the eight stages, then how the run ended.
    """

    INTAKE = "INTAKE"
    VALIDATION = "VALIDATION"
    RISK_GATE = "RISK_GATE"
    ROUTING = "ROUTING"
    DISPATCH = "DISPATCH"
    EVENT_HANDLING = "EVENT_HANDLING"
    POST_TRADE = "POST_TRADE"
    RECON_HANDOFF = "RECON_HANDOFF"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    BLOCKED = "BLOCKED"
    PAUSED = "PAUSED"


STAGE_NUMBER = {
    PipelineState.INTAKE: 1,
    PipelineState.VALIDATION: 2,
    PipelineState.RISK_GATE: 3,
    PipelineState.ROUTING: 4,
    PipelineState.DISPATCH: 5,
    PipelineState.EVENT_HANDLING: 6,
    PipelineState.POST_TRADE: 7,
    PipelineState.RECON_HANDOFF: 8,
}
"""The seed's stage numbers (1 intake … 8 reconciliation hand-off)."""


class RiskDecision(enum.StrEnum):
    """
    What a pre-trade risk hook answers.
    """

    ALLOW = "ALLOW"
    BLOCK = "BLOCK"
    PAUSE = "PAUSE"


class EventKind(enum.StrEnum):
    """
    The kinds of execution event a venue (or a simulated one) reports.
    """

    ACK = "ACK"
    REJECT = "REJECT"
    FILL = "FILL"
    CANCEL_ACK = "CANCEL_ACK"
    CANCEL_REJECT = "CANCEL_REJECT"
    EXPIRE = "EXPIRE"


class ReasonCode(enum.StrEnum):
    """
    Stable reason codes. Append-only: never rename, reorder or reuse a member.
    """

    # Contract validation (stage 2, and fields checked at construction)
    VALIDATION_INVALID_QUANTITY = "VALIDATION_INVALID_QUANTITY"
    VALIDATION_INVALID_PRICE = "VALIDATION_INVALID_PRICE"
    VALIDATION_INVALID_SYMBOL = "VALIDATION_INVALID_SYMBOL"
    VALIDATION_INVALID_FIELD = "VALIDATION_INVALID_FIELD"
    # Risk gate (stage 3)
    RISK_BLOCKED = "RISK_BLOCKED"
    RISK_PAUSED = "RISK_PAUSED"
    RISK_EVALUATION_FAILED = "RISK_EVALUATION_FAILED"
    RISK_KILL_SWITCH_ACTIVE = "RISK_KILL_SWITCH_ACTIVE"
    # Routing policy (stage 4)
    POLICY_LIVE_NOT_ENABLED = "POLICY_LIVE_NOT_ENABLED"
    POLICY_NO_ADAPTER = "POLICY_NO_ADAPTER"
    # Adapter dispatch (stage 5)
    ADAPTER_REJECTED = "ADAPTER_REJECTED"
    ADAPTER_TIMEOUT = "ADAPTER_TIMEOUT"
    ADAPTER_ERROR = "ADAPTER_ERROR"
    # Order lifecycle
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    FILL_OVERFILL = "FILL_OVERFILL"
    FILL_DUPLICATE = "FILL_DUPLICATE"
    FILL_CONFLICT = "FILL_CONFLICT"
    FILL_INVALID_QUANTITY = "FILL_INVALID_QUANTITY"
    FILL_INVALID_PRICE = "FILL_INVALID_PRICE"
    FILL_INVALID_FEE = "FILL_INVALID_FEE"
    FILL_AFTER_FINAL = "FILL_AFTER_FINAL"
    ACK_ABSORBED = "ACK_ABSORBED"
    ACK_AFTER_FAILURE = "ACK_AFTER_FAILURE"
    REASON_MISSING = "REASON_MISSING"
    EVENT_ORDER_MISMATCH = "EVENT_ORDER_MISMATCH"
    EVENT_UNKNOWN_ORDER = "EVENT_UNKNOWN_ORDER"
    DUPLICATE_INTENT = "DUPLICATE_INTENT"
    DISPATCH_OUTCOME_UNKNOWN = "DISPATCH_OUTCOME_UNKNOWN"
    # Appended (keep every member above where it is)
    FILL_FOR_UNSENT_ORDER = "FILL_FOR_UNSENT_ORDER"
    """A fill names an order that was never submitted, so no venue can have filled it."""
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    """An intent reuses an idempotency key with other terms: refused, nothing sent."""
    CANCEL_OUTCOME_UNKNOWN = "CANCEL_OUTCOME_UNKNOWN"
    """The process stopped while a cancel was out: the venue may or may not have it."""
