"""
Exploration of a machine's `MachineModel` with its real guard functions over a finite domain
of inputs, following python-statemachine's selection rule: the candidate edges of an event
are tried in declaration order; a candidate's validators run first (one that raises refuses
the whole event), then its conds; the first candidate whose conds hold is taken.
"""

from __future__ import annotations

import functools
import inspect
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from execfsm.errors import ContractViolation, DefinitionError, PolicyViolation
from execfsm.fsm.model import MachineModel, TransitionModel

Inputs = Mapping[str, Any]


@attrs.frozen
class Context:
    """
    Inputs fixed for a whole exploration (e.g. the intent and the route), with a label that
    counterexamples print.
    """

    label: str
    inputs: Inputs = attrs.field(factory=dict)


@attrs.frozen
class Step:
    """
    One taken edge on a path: the event, the inputs it was sent with, where it went.
    """

    transition: TransitionModel
    inputs: Inputs

    def __str__(self) -> str:
        shown = ", ".join(f"{k}={_show(v)}" for k, v in sorted(self.inputs.items()))
        call = f"{self.transition.event}({shown})" if shown else self.transition.event
        return f"{call} -> {self.transition.target}"


@attrs.frozen
class Exploration:
    """
    What a breadth-first exploration found: the shortest path to every reachable state.
    """

    context: Context
    paths: Mapping[str, tuple[Step, ...]]
    taken: frozenset[TransitionModel]


def _show(value: Any) -> str:
    summary = getattr(value, "decision", None) or getattr(value, "value", None)
    return str(summary) if summary is not None else str(value)


@functools.cache
def _accepts(func: Callable[..., Any]) -> tuple[set[str], bool]:
    params = inspect.signature(func).parameters.values()
    names = {p.name for p in params}
    return names, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def call_guard(model: MachineModel, name: str, inputs: Inputs) -> Any:
    """
    Call guard `name` with the inputs its signature names (as python-statemachine injects).
    """
    func = model.guard_functions[name]
    names, takes_all = _accepts(func)
    try:
        return func(
            **(dict(inputs) if takes_all else {k: v for k, v in inputs.items() if k in names})
        )
    except TypeError as exc:
        raise DefinitionError(
            f"{model.name}: guard {name} cannot be called with the exploration inputs "
            f"{sorted(inputs)}: {exc}"
        ) from exc


def select(model: MachineModel, state: str, event: str, inputs: Inputs) -> TransitionModel | None:
    """
    The edge `event` takes from `state` with `inputs`, or None if it is refused.
    """
    for transition in model.transitions_from(state):
        if transition.event != event:
            continue
        try:
            for validator in transition.validators:
                call_guard(model, validator, inputs)
        except (ContractViolation, PolicyViolation):
            return None
        if all(call_guard(model, c, inputs) for c in transition.conds) and not any(
            call_guard(model, u, inputs) for u in transition.unless
        ):
            return transition
    return None


def explore(
    model: MachineModel,
    context: Context,
    event_inputs: Callable[[str], Iterable[Inputs]],
) -> Exploration:
    """
    Breadth-first over states: every event, with every input `event_inputs` offers for it
    (merged over the context's fixed inputs).
    """
    paths: dict[str, tuple[Step, ...]] = {model.initial_state: ()}
    taken: set[TransitionModel] = set()
    queue = deque([model.initial_state])
    while queue:
        state = queue.popleft()
        for event in model.events:
            for extra in event_inputs(event):
                inputs = {**context.inputs, **extra}
                transition = select(model, state, event, inputs)
                if transition is None:
                    continue
                taken.add(transition)
                if transition.target not in paths:
                    paths[transition.target] = (*paths[state], Step(transition, extra))
                    queue.append(transition.target)
    return Exploration(context, paths, frozenset(taken))
