"""
Speed-shaped checks, moved here from the unit suite: they count Python lines run and objects
the cyclic GC walks, which say how the cost of a long session grows, not whether it behaves.
`make bench` runs them first (before its large runs leave garbage behind) and exits non-zero
if one fails.

Each check returns (passed, detail); `None` for passed means it does not apply to this
version of execfsm (said as SKIP, with the reason, never silently).
"""

from __future__ import annotations

import gc
import sys
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from types import FrameType
from typing import Any

from execfsm import (
    AdapterRegistry,
    AuditLog,
    AuditOutcome,
    ExecutionMode,
    ExecutionOrchestrator,
    FixedClock,
    OrderIntent,
    OrderLifecycle,
    SimulatedVenue,
    SteppingClock,
)
from execfsm.clock import EPOCH
from execfsm.testing import order_for

Result = tuple[bool | None, str]


def _orchestrator() -> ExecutionOrchestrator:
    clock = SteppingClock(EPOCH, timedelta(milliseconds=1))
    registry = AdapterRegistry()
    registry.register(ExecutionMode.PAPER, SimulatedVenue(clock))
    return ExecutionOrchestrator(execution_mode=ExecutionMode.PAPER, registry=registry, clock=clock)


def _market(intent_id: str) -> OrderIntent:
    return OrderIntent("BTC/EUR", "BUY", Decimal("0.5"), "MARKET", "t", intent_id=intent_id)


def _work_during(action: Callable[[], object]) -> Counter[str]:
    """Python lines executed per function while `action` runs: loops show up as growth."""
    counts: Counter[str] = Counter()

    def tracer(frame: FrameType, event: str, _arg: object) -> Any:
        if event == "line":
            counts[frame.f_code.co_qualname] += 1
        return tracer

    gc.collect()  # finalizers of earlier machines must not run inside the measurement
    gc.disable()
    sys.settrace(tracer)
    try:
        action()
    finally:
        sys.settrace(None)
        gc.enable()
    return counts


def per_intent_work_is_flat() -> Result:
    """The 400th intent executes exactly the same Python lines as the 10th."""
    orch = _orchestrator()
    for i in range(9):
        orch.submit_intent(_market(f"warm-{i}"))
    early = _work_during(lambda: orch.submit_intent(_market("early")))
    for i in range(390):
        orch.submit_intent(_market(f"bulk-{i}"))
    late = _work_during(lambda: orch.submit_intent(_market("late")))
    grew = {k: (early.get(k, 0), late[k]) for k in late if late[k] != early.get(k, 0)}
    detail = f"{sum(early.values())} lines at the 10th intent, {sum(late.values())} at the 400th"
    return late == early, detail + (f"; differ in {sorted(grew.items())[:5]}" if grew else "")


def _tracked() -> int:
    for _ in range(4):  # packed values nest: one collection untracks one level
        gc.collect()
    return len(gc.get_objects())


def finished_intents_keep_nothing_for_the_gc() -> Result:
    """A finished intent's result, order, fills and hand-off are not walked by the cyclic GC:
    every full collection walks all tracked objects, so live ones would make a long session's
    last intents cost more than its first."""
    orch = _orchestrator()
    for i in range(50):
        orch.submit_intent(_market(f"warm-{i}"))
    before = _tracked()
    for i in range(1_000):
        orch.submit_intent(_market(f"bulk-{i}"))
    per = (_tracked() - before) / 1_000
    return per < 0.5, f"{per:.2f} tracked objects kept per finished intent (limit 0.5)"


def long_trail_adds_nothing_for_the_gc() -> Result:
    """Stored audit records and their indexes are not GC-tracked."""
    from execfsm.fsm.audit import AuditEntry

    audit = AuditLog(FixedClock(EPOCH))
    OrderLifecycle(order_for(_market("m1")), audit).send("submit")
    before = _tracked()
    for n in range(2_000):
        audit.append(
            AuditEntry(f"c{n}", f"o{n}", "order", f"e{n % 7}", "a", "b", AuditOutcome.APPLIED)
        )
    grew = _tracked() - before
    return grew < 20, f"{grew} tracked objects after 2,000 audit records (limit 20)"


def packed_values_are_not_tracked() -> Result:
    """A finished result is kept as its encoded bytes, which the cyclic GC never walks."""
    import attrs

    from execfsm import PipelineResult, Position, ReasonCode
    from execfsm.contracts import PipelineState
    from execfsm.ids import encode
    from execfsm.ledger.recon import ReconRecord

    flags = (ReasonCode.FILL_AFTER_FINAL, ReasonCode.DISPATCH_OUTCOME_UNKNOWN)
    order = attrs.evolve(order_for(_market("m1")), reason_code=ReasonCode.ADAPTER_ERROR)
    order = attrs.evolve(order, recon_flags=flags, average_fill_price=Decimal("1.5"))
    recon = ReconRecord("c", "o", order, Position("BTC/EUR"), 1, 2, flags, "fill")
    result = PipelineResult(
        False, "c", "k", order, 8, PipelineState.COMPLETED, ReasonCode.ADAPTER_ERROR, "x", recon
    )
    packed = encode(result)
    return not gc.is_tracked(
        packed
    ), f"packed as {type(packed).__name__}, tracked: {gc.is_tracked(packed)}"


CHECKS: list[tuple[str, Callable[[], Result]]] = [
    ("per-intent work flat (sys.settrace lines, 10th vs 400th)", per_intent_work_is_flat),
    ("finished intents untracked by the GC", finished_intents_keep_nothing_for_the_gc),
    ("audit trail untracked by the GC", long_trail_adds_nothing_for_the_gc),
    ("packed values untracked by the GC", packed_values_are_not_tracked),
]


def run_checks() -> list[dict[str, object]]:
    """Every check, each caught on its own: one that raises fails, the others still run."""
    out: list[dict[str, object]] = []
    for name, check in CHECKS:
        try:
            passed, detail = check()
        except Exception as exc:  # noqa: BLE001 - an API that moved fails the check, loudly
            passed, detail = False, f"raised {type(exc).__name__}: {exc}"
        verdict = "SKIP" if passed is None else "PASS" if passed else "FAIL"
        out.append({"check": name, "verdict": verdict, "detail": detail})
    return out
