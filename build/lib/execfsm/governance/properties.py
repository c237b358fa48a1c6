"""
The safety properties `execfsm verify` proves, each with a counterexample path when it fails:
whatever a machine declares (`execfsm.fsm.properties`: invariants, sequence properties,
groups, `Explored` engines), plus, for every machine:

- P2: every non-final state can reach a final state, and final states have no way out.
- P3: every declared guard and validator is on some transition that can be taken (with the
  machine's declared inputs; when a guard needs an input no domain is declared for, P3 is
  UNPROVEN and says which).

The built-in machines declare theirs in `execfsm.fsm.builtin_properties`: P1 on the
pipeline, P4 and P5 on the order lifecycle.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

from execfsm.fsm.builtin_properties import P1, P4, P5
from execfsm.fsm.model import MachineModel, TransitionModel
from execfsm.fsm.properties import Group, declared_groups
from execfsm.governance.declared import (
    MachineCheck,
    PropertyResult,
    check_group,
    check_machine,
    missing_inputs,
)

__all__ = [
    "P1",
    "P2",
    "P3",
    "P4",
    "P5",
    "PropertyResult",
    "check_p2",
    "check_p3",
    "verify_machine",
    "verify_machines",
]

P2 = "every non-final state can reach a final state; final states have no way out"
P3 = "every guard and validator is on a transition that can be taken"


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


def check_p3(name: str, model: MachineModel, check: MachineCheck) -> PropertyResult:
    """
    P3: each guarded transition was taken at least once in the exploration; one that was
    not for want of a declared input makes P3 UNPROVEN, with what to declare.
    """
    never: list[TransitionModel] = [
        t for t in model.transitions if t.guards and not _taken(model, t, check)
    ]
    for t in never:
        why = missing_inputs(model, t, check)
        if why:
            detail = f"{t.source} --{t.event}--> {t.target} cannot be explored: {why}"
            return PropertyResult(name, "P3", P3, False, detail, unproven=True)
    if never:
        t = never[0]
        detail = (
            f"{t.source} --{t.event}--> {t.target} with guards {', '.join(t.guards)} "
            f"is never taken in the exploration"
        )
        return PropertyResult(name, "P3", P3, False, detail)
    guarded = sum(1 for t in model.transitions if t.guards)
    return PropertyResult(name, "P3", P3, True, f"{guarded} guarded transitions taken")


def _taken(model: MachineModel, transition: TransitionModel, check: MachineCheck) -> bool:
    """
    Whether `transition` was taken: its (source, event, target) was, and it is the only
    declared transition with those ends, or exploration saw the engine choose it among
    its state's candidates for the event (the records of two with the same ends are alike).
    """
    t = transition
    candidates = [c for c in model.transitions if (c.source, c.event) == (t.source, t.event)]
    if sum(1 for c in candidates if c.target == t.target) == 1:
        return (t.source, t.event, t.target) in check.taken
    position = next(i for i, c in enumerate(candidates) if c is t)
    return (t.source, t.event, position) in check.chosen


def verify_machine(name: str, machine: type, depth: int = 5) -> list[PropertyResult]:
    """
    Every property of `machine`: those it declares (explored to `depth`; an `Explored`
    engine to `depth` plus its ``extra_depth``), then P2 and P3, sorted by name.
    """
    model = MachineModel.from_machine(machine)
    check = check_machine(name, machine, depth)
    results = [*check.results, check_p2(name, model), check_p3(name, model, check)]
    return sorted(results, key=lambda r: r.prop)


def verify_machines(machines: Mapping[str, type], depth: int = 5) -> list[PropertyResult]:
    """
    `verify_machine` for each machine (by its registered name, in order), then the
    properties of every group a machine declares (``groups``), each group once.
    """
    results = []
    groups: dict[str, Group] = {}
    for name, machine in machines.items():
        results += verify_machine(name, machine, depth)
        for group in declared_groups(machine):
            groups.setdefault(group.name, group)
    for group in groups.values():
        results += check_group(group, depth)
    return results
