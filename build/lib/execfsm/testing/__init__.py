"""
The fakes execfsm's own tests use, shipped so users test against the same ones, and tests
generated from any declared machine: the shortest event paths that take every transition
(`transition_paths`, `run_path`; `execfsm.testing.strategies.event_paths` for Hypothesis)
and the transition coverage of audit trails (`transition_coverage`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from statemachine import StateMachine
from statemachine.states import States

from execfsm.adapters.faulty import Fault, FaultyVenue
from execfsm.adapters.query_faults import WrongReport
from execfsm.adapters.registry import AdapterRegistry
from execfsm.adapters.simulated import SimulatedVenue
from execfsm.clock import EPOCH, FixedClock, SteppingClock
from execfsm.contracts import ExecutionMode, Order, OrderIntent
from execfsm.fsm.audit import AuditEntry, AuditRecord
from execfsm.ids import idempotency_key, stable_id
from execfsm.ledger.audit import AuditLog
from execfsm.orchestrator import ExecutionOrchestrator
from execfsm.testing.coverage import (
    CoverageCollector,
    Edge,
    MachineCoverage,
    coverage_summary,
    transition_coverage,
)
from execfsm.testing.paths import (
    Args,
    Path,
    PathRun,
    Step,
    declared_targets,
    replay,
    run_path,
    send,
    state_key,
    transition_paths,
    uncovered,
)
from execfsm.typing import Clock, OrderAdapter

__all__ = [
    "EPOCH",
    "Args",
    "CoverageCollector",
    "Edge",
    "FailingAuditSink",
    "Fault",
    "FaultyVenue",
    "FixedClock",
    "MachineCoverage",
    "Path",
    "PathRun",
    "Step",
    "SteppingClock",
    "WrongReport",
    "coverage_summary",
    "declared_targets",
    "in_memory_audit",
    "order_for",
    "paper_orchestrator",
    "replay",
    "run_path",
    "send",
    "state_key",
    "transition_coverage",
    "transition_paths",
    "uncovered",
    "variant_of",
]


def paper_orchestrator(
    venue: OrderAdapter | None = None,
    *,
    clock: Clock | None = None,
    mode: ExecutionMode = ExecutionMode.PAPER,
    **settings: Any,
) -> ExecutionOrchestrator:
    """
    An orchestrator routing `mode` (PAPER by default) to `venue`, on a replayable clock.

    Args:
        venue: The adapter serving `mode`; default a `SimulatedVenue` on the same clock.
        clock: Default a `SteppingClock` from `EPOCH` in steps of 1 ms, so every record and
            id of a run is the same every time.
        mode: The execution mode; ``LIVE_BLOCKED`` registers no adapter (it never dispatches).
        settings: Any other `ExecutionOrchestrator` argument (``risk_hook``, ``store``,
            ``dispatcher``, ``kill_switch``, ``live_policy``, ``engine`` ...).

    >>> orch = paper_orchestrator()
    >>> orch.registry.get(ExecutionMode.PAPER).name
    'simulated'
    """
    clock = clock if clock is not None else SteppingClock(EPOCH, timedelta(milliseconds=1))
    registry = AdapterRegistry()
    if mode is not ExecutionMode.LIVE_BLOCKED:
        registry.register(mode, venue if venue is not None else SimulatedVenue(clock))
    return ExecutionOrchestrator(execution_mode=mode, registry=registry, clock=clock, **settings)


def in_memory_audit(at: datetime = EPOCH) -> AuditLog:
    """
    An `AuditLog` on a fixed clock: the same inputs give a byte-identical export.
    """
    return AuditLog(FixedClock(at))


class FailingAuditSink:
    """
    An audit sink that records normally until ``fail_after`` appends, then raises `OSError`.

    Use it to prove that a failed audit write blocks the transition it was recording.
    """

    def __init__(self, fail_after: int = 0, inner: AuditLog | None = None) -> None:
        self.inner = inner if inner is not None else in_memory_audit()
        self.fail_after = fail_after

    def append(self, entry: AuditEntry) -> AuditRecord:
        """
        Delegate to the inner log, or raise once the budget is spent.
        """
        if len(self.inner) >= self.fail_after:
            raise OSError("audit device unavailable (FailingAuditSink)")
        return self.inner.append(entry)


def order_for(intent: OrderIntent) -> Order:
    """
    A CREATED order for `intent` with ids derived the way intake derives them.
    """
    key = idempotency_key(intent)
    return Order.from_intent(
        intent,
        client_order_id=stable_id("ord", key),
        correlation_id=stable_id("cor", key),
        idempotency_key=key,
    )


M = TypeVar("M", bound=StateMachine)


def variant_of(machine: type[M], name: str, edit: Callable[[States], object]) -> type[M]:
    """
    A subclass of `machine` whose declaration is a copy that `edit` may change (e.g. add an
    edge), leaving `machine` untouched: the way to build a deliberately broken machine and
    show that ``execfsm verify`` catches it. The variant is for model-level checks (spec,
    diagrams, property exploration), not for running: it is not compiled for the compiled
    engine (``compiled_engine = False``), so a deliberately odd edit is not refused.
    """
    states = States(copy.deepcopy({s.id: s for s in machine.states}))
    edit(states)
    namespace = {
        "_": states,
        "__module__": machine.__module__,
        "__qualname__": name,
        "compiled_engine": False,
    }
    metaclass: Any = type(machine)
    variant: type[M] = metaclass(name, (machine,), namespace)
    return variant
