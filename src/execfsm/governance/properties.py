"""
The safety properties `execfsm verify` proves by exploring the declared machines, each with a
counterexample path when it fails:

- P1: no path reaches DISPATCH in LIVE_BLOCKED, nor in LIVE without a valid `LivePolicy`.
- P2: every non-final state can reach a final state, and final states have no way out.
- P3: every declared guard and validator is on some transition that can be taken.
- P4: over bounded fill sequences, cumulative fills never exceed the order quantity and the
  order never moves backwards on fills and acks (a bust or correction may: P5).
- P5: over bounded sequences of venue events that revise an order (replaces down and up with
  either answer, busts, corrections, late fills after a cancel or an expiry), the filled
  quantity never exceeds the quantity in force, it is the sum of the counted fills, and
  leaves is 0 once the order is done.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal

import attrs
from statemachine import StateMachine

from execfsm.clock import EPOCH
from execfsm.contingent.explore import prove_groups
from execfsm.contracts import (
    ExecutionMode,
    LivePolicy,
    OrderIntent,
    OrderSide,
    OrderType,
    PipelineState,
    ReasonCode,
    RiskDecision,
    RiskVerdict,
    Route,
)
from execfsm.fsm.model import MachineModel, TransitionModel
from execfsm.fsm.order import OrderLifecycle
from execfsm.governance.explore import Context, Exploration, Inputs, explore
from execfsm.governance.fill_sequences import explore_fills
from execfsm.governance.revision_sequences import explore_revisions


@attrs.frozen
class PropertyResult:
    """
    One property of one machine: held, or the counterexample that breaks it.
    """

    machine: str
    prop: str
    title: str
    ok: bool
    detail: str = ""
    path: tuple[str, ...] = ()

    def __str__(self) -> str:
        head = f"{'PASS' if self.ok else 'FAIL'} {self.machine} {self.prop} {self.title}"
        if self.ok:
            return head + (f" ({self.detail})" if self.detail else "")
        lines = [head, f"    {self.detail}"]
        if self.path:
            lines.append("    path: " + " ; ".join(self.path))
        return "\n".join(lines)


P1 = "no path reaches DISPATCH in LIVE_BLOCKED, nor in LIVE without a valid LivePolicy"
P2 = "every non-final state can reach a final state; final states have no way out"
P3 = "every guard and validator is on a transition that can be taken"
P4 = "cumulative fills never exceed the quantity; fills and acks never move the order backwards"
P5 = "filled quantity never exceeds the quantity in force (replace, bust, correction, late fill)"

# -- the pipeline's input domain ------------------------------------------------------------

_NOW = EPOCH
with attrs.validators.disabled():  # refused at construction; routing must refuse it too
    _anonymous = LivePolicy(" ", "verify", _NOW + timedelta(days=1))
_POLICIES: dict[str, LivePolicy | None] = {
    "none": None,
    "expired": LivePolicy("risk-officer", "verify", _NOW - timedelta(seconds=1)),
    "anonymous": _anonymous,
    "active": LivePolicy("risk-officer", "verify", _NOW + timedelta(days=1)),
}
_INTENTS: dict[str, OrderIntent] = {
    "valid MARKET": OrderIntent("BTC/EUR", OrderSide.BUY, Decimal(1), OrderType.MARKET, "v"),
    "valid LIMIT": OrderIntent(
        "BTC/EUR", OrderSide.SELL, Decimal(1), OrderType.LIMIT, "v", limit_price=Decimal(1)
    ),
    "quantity 0": OrderIntent("BTC/EUR", OrderSide.BUY, Decimal(0), OrderType.MARKET, "v"),
    "LIMIT without price": OrderIntent("BTC/EUR", OrderSide.BUY, Decimal(1), OrderType.LIMIT, "v"),
    "blank symbol": OrderIntent(" ", OrderSide.BUY, Decimal(1), OrderType.MARKET, "v"),
}
_VERDICTS: list[RiskVerdict | None] = [None, *(RiskVerdict(d) for d in RiskDecision)]
_REASONS: list[ReasonCode | None] = [None, ReasonCode.RISK_BLOCKED]


def pipeline_contexts() -> list[Context]:
    """
    Every (intent, mode, live policy, adapter registered) combination of the domain.
    """
    contexts = []
    for (intent_label, intent), mode, (policy_label, policy), adapter in itertools.product(
        _INTENTS.items(), ExecutionMode, _POLICIES.items(), (True, False)
    ):
        route = Route(mode=mode, adapter_registered=adapter, live_policy=policy, now=_NOW)
        label = (
            f"intent={intent_label}, mode={mode.value}, live_policy={policy_label}, "
            f"adapter={'registered' if adapter else 'none'}"
        )
        contexts.append(Context(label, {"order": intent, "route": route}))
    return contexts


def pipeline_event_inputs(_event: str) -> Iterable[Inputs]:
    """
    What any pipeline event may carry: every risk verdict and a reason code or none.
    """
    for verdict, reason in itertools.product(_VERDICTS, _REASONS):
        yield {"verdict": verdict, "reason_code": reason}


def _no_inputs(_event: str) -> Iterable[Inputs]:
    yield {}


def _dispatch_allowed(route: Route) -> bool:
    """
    P1's statement (not the validator): only simulated modes, or LIVE with a valid policy.
    """
    if route.mode is ExecutionMode.LIVE_BLOCKED:
        return False
    if route.mode is ExecutionMode.LIVE:
        return route.live_policy is not None and route.live_policy.is_active(route.now)
    return True


# -- the checks -------------------------------------------------------------------------------


def check_p1(name: str, explorations: list[Exploration]) -> PropertyResult:
    """
    P1 over every pipeline context.
    """
    dispatch = PipelineState.DISPATCH.value
    for exploration in explorations:
        route = exploration.context.inputs["route"]
        if dispatch in exploration.paths and not _dispatch_allowed(route):
            path = tuple(str(step) for step in exploration.paths[dispatch])
            return PropertyResult(name, "P1", P1, False, exploration.context.label, path)
    return PropertyResult(name, "P1", P1, True, f"{len(explorations)} contexts explored")


def check_p2(name: str, model: MachineModel) -> PropertyResult:
    """
    P2 on the model's graph.
    """
    finals = set(model.final_states)
    for transition in model.transitions:
        if transition.source in finals:
            detail = f"final state {transition.source} has a way out: {transition.event}"
            return PropertyResult(name, "P2", P2, False, detail)
    can_finish = set(finals)
    changed = True
    while changed:
        changed = False
        for t in model.transitions:
            if t.target in can_finish and t.source not in can_finish:
                can_finish.add(t.source)
                changed = True
    paths = _graph_paths(model)
    for state in model.states:
        if state.name not in can_finish and state.name in paths:
            detail = f"state {state.name} cannot reach a final state (a trap)"
            return PropertyResult(name, "P2", P2, False, detail, paths[state.name])
    return PropertyResult(name, "P2", P2, True)


def _graph_paths(model: MachineModel) -> dict[str, tuple[str, ...]]:
    paths: dict[str, tuple[str, ...]] = {model.initial_state: ()}
    queue = deque([model.initial_state])
    while queue:
        state = queue.popleft()
        for t in model.transitions_from(state):
            if t.target not in paths:
                paths[t.target] = (*paths[state], f"{t.event} -> {t.target}")
                queue.append(t.target)
    return paths


def check_p3(name: str, model: MachineModel, taken: set[tuple[str, str, str]]) -> PropertyResult:
    """
    P3: each guarded transition was taken at least once in the exploration.
    """
    never: list[TransitionModel] = [
        t for t in model.transitions if t.guards and (t.source, t.event, t.target) not in taken
    ]
    if never:
        t = never[0]
        detail = (
            f"{t.source} --{t.event}--> {t.target} with guards {', '.join(t.guards)} "
            f"is never taken in the exploration"
        )
        return PropertyResult(name, "P3", P3, False, detail)
    guarded = sum(1 for t in model.transitions if t.guards)
    return PropertyResult(name, "P3", P3, True, f"{guarded} guarded transitions taken")


def verify_machine(
    name: str, machine: type[StateMachine], depth: int = 5, revision_depth: int | None = None
) -> list[PropertyResult]:
    """
    Every property that applies to `machine` (P1 to pipelines, P4 and P5 to order
    lifecycles). P4 explores fill sequences to `depth`; P5 explores revision sequences to
    `revision_depth`, by default one more (a replace that a fill races to completion takes
    five events, and a late fill after it one more).
    """
    if revision_depth is None:
        revision_depth = depth + 1
    model = MachineModel.from_machine(machine)
    results = [check_p2(name, model)]
    kind = getattr(machine, "audit_machine", "")
    if kind == "pipeline":
        explorations = [explore(model, c, pipeline_event_inputs) for c in pipeline_contexts()]
        results.insert(0, check_p1(name, explorations))
        taken = {(t.source, t.event, t.target) for e in explorations for t in e.taken}
    elif kind == "order" and issubclass(machine, OrderLifecycle):
        fills = explore_fills(machine, depth)
        taken = set(fills.taken)
        results.append(
            PropertyResult(
                name,
                "P4",
                P4,
                not fills.violation,
                fills.violation or f"{fills.sequences} sequences up to depth {depth}",
                fills.path,
            )
        )
        revisions = explore_revisions(machine, revision_depth)
        taken |= revisions.taken
        results.append(
            PropertyResult(
                name,
                "P5",
                P5,
                not revisions.violation,
                revisions.violation
                or f"{revisions.sequences} sequences up to depth {revision_depth}",
                revisions.path,
            )
        )
    elif kind == "contingent":  # group properties over interleavings of leg events
        proven, reached = prove_groups(max(depth - 1, 2))
        results += [PropertyResult(name, *result) for result in proven]
        taken = set(reached)
    else:
        taken = {
            (t.source, t.event, t.target)
            for t in explore(model, Context("no inputs"), _no_inputs).taken
        }
    results.append(check_p3(name, model, taken))
    return sorted(results, key=lambda r: r.prop)
