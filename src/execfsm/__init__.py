"""
execfsm: an explicit finite-state-machine core for a trading system's execution pipeline.

Everything the execution layer imports is listed in ``__all__``; the rest is reached by module
path (``execfsm.fsm.order``, ``execfsm.ledger.audit``, ``execfsm.testing`` …).
"""

from execfsm.clock import FixedClock, SteppingClock, SystemClock
from execfsm.contracts import (
    EventKind,
    ExecutionEvent,
    ExecutionMode,
    Fill,
    Order,
    OrderIntent,
    OrderSide,
    OrderState,
    OrderType,
    ReasonCode,
    RiskDecision,
    TimeInForce,
)
from execfsm.errors import (
    AuditChainError,
    AuditWriteError,
    ContractViolation,
    DefinitionError,
    ExecFsmError,
    IllegalTransition,
    PolicyViolation,
)
from execfsm.fsm.audit import AuditOutcome, AuditRecord
from execfsm.fsm.model import MachineModel
from execfsm.fsm.order import EventOutcome, OrderLifecycle
from execfsm.ledger.audit import AuditLog

__all__ = [
    "AuditChainError",
    "AuditLog",
    "AuditOutcome",
    "AuditRecord",
    "AuditWriteError",
    "ContractViolation",
    "DefinitionError",
    "EventKind",
    "EventOutcome",
    "ExecFsmError",
    "ExecutionEvent",
    "ExecutionMode",
    "Fill",
    "FixedClock",
    "IllegalTransition",
    "MachineModel",
    "Order",
    "OrderIntent",
    "OrderLifecycle",
    "OrderSide",
    "OrderState",
    "OrderType",
    "PolicyViolation",
    "ReasonCode",
    "RiskDecision",
    "SteppingClock",
    "SystemClock",
    "TimeInForce",
]
