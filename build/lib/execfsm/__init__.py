"""
execfsm: an explicit finite-state-machine core for a trading system's execution pipeline.

Everything the execution layer imports is listed in ``__all__``; the rest is reached by module
path (``execfsm.fsm.order``, ``execfsm.ledger.audit``, ``execfsm.testing`` …).
"""

from execfsm.adapters.dispatcher import Dispatcher, RetryPolicy
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
    ReplaceRequest,
    RiskDecision,
    RiskVerdict,
    TimeInForce,
)
from execfsm.enums import MachineReason, Reason
from execfsm.errors import (
    AuditChainError,
    AuditWriteError,
    ConfigurationError,
    ContractViolation,
    DefinitionError,
    ExecFsmError,
    FillSubscriberError,
    IdempotencyConflict,
    IllegalTransition,
    OutcomeUnknown,
    PermanentVenueError,
    PolicyViolation,
    ReentrantCall,
    StoreError,
    TransientVenueError,
    VenueError,
    VenueRejected,
)
from execfsm.fsm.audit import AuditOutcome, AuditRecord
from execfsm.fsm.audited import AuditedMachine
from execfsm.fsm.cases import Case, CaseTable
from execfsm.fsm.engine import Engine
from execfsm.fsm.guards import describe
from execfsm.fsm.model import MachineModel
from execfsm.fsm.order import EventOutcome, OrderLifecycle
from execfsm.fsm.pipeline import PipelineRun
from execfsm.fsm.properties import (
    Group,
    Invariant,
    Never,
    Only,
    Sampled,
    Setup,
    StateInvariant,
    Stimulus,
    entered,
    on,
)
from execfsm.killswitch import FileKillSwitch, ManualKillSwitch
from execfsm.ledger.audit import AuditLog
from execfsm.ledger.positions import Position
from execfsm.ledger.sqlite import SqliteStore, StoreLocked
from execfsm.orchestrator import ExecutionOrchestrator
from execfsm.registry import known_machines, load_project, register_machine
from execfsm.results import PipelineResult
from execfsm.risk import BlockingRiskHook, ConditionalRiskHook, NullRiskHook
from execfsm.typing import KillSwitch, OrderAdapter, QueryingAdapter, RiskHook

__all__ = [
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
