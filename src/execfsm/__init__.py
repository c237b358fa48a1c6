"""
execfsm: an explicit finite-state-machine core for a trading system's execution pipeline.

Everything the execution layer imports is listed in ``__all__``; the rest is reached by module
path (``execfsm.fsm.order``, ``execfsm.ledger.audit``, ``execfsm.testing`` …).
"""

from execfsm.adapters.registry import AdapterRegistry
from execfsm.adapters.simulated import SimulatedVenue
from execfsm.clock import FixedClock, SteppingClock, SystemClock
from execfsm.contracts import (
    EventKind,
    ExecutionEvent,
    ExecutionMode,
    Fill,
    LivePolicy,
    Order,
    OrderIntent,
    OrderSide,
    OrderState,
    OrderType,
    PipelineState,
    ReasonCode,
    RiskDecision,
    RiskVerdict,
    TimeInForce,
)
from execfsm.errors import (
    AuditChainError,
    AuditWriteError,
    ContractViolation,
    DefinitionError,
    ExecFsmError,
    FillSubscriberError,
    IllegalTransition,
    PolicyViolation,
)
from execfsm.fsm.audit import AuditOutcome, AuditRecord
from execfsm.fsm.model import MachineModel
from execfsm.fsm.order import EventOutcome, OrderLifecycle
from execfsm.fsm.pipeline import PipelineRun
from execfsm.ledger.audit import AuditLog
from execfsm.ledger.positions import Position
from execfsm.orchestrator import ExecutionOrchestrator
from execfsm.results import PipelineResult
from execfsm.risk import BlockingRiskHook, ConditionalRiskHook, NullRiskHook
from execfsm.typing import OrderAdapter, RiskHook

__all__ = [
    "AdapterRegistry",
    "AuditChainError",
    "AuditLog",
    "AuditOutcome",
    "AuditRecord",
    "AuditWriteError",
    "BlockingRiskHook",
    "ConditionalRiskHook",
    "ContractViolation",
    "DefinitionError",
    "EventKind",
    "EventOutcome",
    "ExecFsmError",
    "ExecutionEvent",
    "ExecutionMode",
    "ExecutionOrchestrator",
    "Fill",
    "FillSubscriberError",
    "FixedClock",
    "IllegalTransition",
    "LivePolicy",
    "MachineModel",
    "NullRiskHook",
    "Order",
    "OrderAdapter",
    "OrderIntent",
    "OrderLifecycle",
    "OrderSide",
    "OrderState",
    "OrderType",
    "PipelineResult",
    "PipelineRun",
    "PipelineState",
    "PolicyViolation",
    "Position",
    "ReasonCode",
    "RiskDecision",
    "RiskHook",
    "RiskVerdict",
    "SimulatedVenue",
    "SteppingClock",
    "SystemClock",
    "TimeInForce",
]
