"""
Checking what a machine (or a group) declares (`execfsm.fsm.properties`): its invariants and
sequence properties by exploring running instances with its declared inputs
(`execfsm.governance.explore`), its `Explored` properties by their own engines, and why a
guarded transition could not be taken when an input is missing.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from execfsm.clock import EPOCH, FixedClock
from execfsm.errors import DefinitionError
from execfsm.fsm.model import MachineModel, TransitionModel
from execfsm.fsm.properties import (
    Explored,
    Group,
    Inputs,
    Property,
    Setup,
    Verdict,
    declared_inputs,
    declared_properties,
    declared_stimuli,
    default_instance,
)
from execfsm.governance.explore import (
    Action,
    Build,
    Failure,
    InstanceExploration,
    actions_for,
    explore_instances,
    sampled_domains,
)
from execfsm.ledger.audit import AuditLog


@attrs.frozen
class PropertyResult:
    """
    One property of one machine (or group): held, or the counterexample that breaks it;
    `unproven` when it could not be checked (the detail says what to declare).
    """

    machine: str
    prop: str
    title: str
    ok: bool
    detail: str = ""
    path: tuple[str, ...] = ()
    unproven: bool = False

    @property
    def status(self) -> str:
        """
        PASS, FAIL or UNPROVEN.
        """
        return "PASS" if self.ok else "UNPROVEN" if self.unproven else "FAIL"

    def __str__(self) -> str:
        head = f"{self.status} {self.machine} {self.prop} {self.title}"
        if self.ok:
            return head + (f" ({self.detail})" if self.detail else "")
        lines = [head, f"    {self.detail}"]
        if self.path:
            lines.append("    path: " + " ; ".join(self.path))
        return "\n".join(lines)


@attrs.frozen
class MachineCheck:
    """
    The declared properties' results, and what P3 needs: the transitions taken, the events
    that raised TypeError (an argument missing), and why no instance could be built.
    """

    results: tuple[PropertyResult, ...]
    taken: frozenset[tuple[str, str, str]]
    errors: Mapping[str, str]
    unbuildable: str
    inputs: Inputs
    context: frozenset[str]
    """The names every event injects into guards (``guard_context``)."""
    engines: bool = False
    """Whether `Explored` engines explored the machine too (with inputs of their own)."""
    chosen: frozenset[tuple[str, str, int]] = frozenset()
    """(source, event, position among the state's candidates for the event) of each taken
    transition that shares its source, event and target with another declared one (which
    of the two was taken, as the records cannot say)."""


def _default_setup(machine: type[Any], sink: Any) -> Any:
    return default_instance(machine, sink, f"verify-{getattr(machine, 'audit_machine', '')}")


def _engine(prop: Explored) -> Callable[[type[Any], int], Verdict]:
    if not isinstance(prop.engine, str):
        return prop.engine
    module, _, name = prop.engine.partition(":")
    found: Callable[[type[Any], int], Verdict] = getattr(importlib.import_module(module), name)
    return found


@attrs.frozen
class _Explored:
    failures: dict[str, tuple[Failure, str]]
    explored: str
    taken: frozenset[tuple[str, str, str, str]]
    chosen: frozenset[tuple[str, str, str, int]]
    errors: dict[str, str]


def _explore_all(
    builds: Sequence[tuple[str, Build]],
    actions: Sequence[Action],
    props: Sequence[Property],
    depth: int,
    *,
    group: bool = False,
) -> _Explored:
    """
    Explore every build; a property that breaks is dropped and the rest explored again, so
    each broken property gets its own shortest counterexample (the shortest over the
    builds). Also returns what the first round explored, the transitions it took (and
    which of two with the same ends) and the errors it met, by event.
    """
    failures: dict[str, tuple[Failure, str]] = {}
    remaining = list(props)
    first: list[InstanceExploration] = []
    while True:
        best: tuple[Failure, str] | None = None
        for label, build in builds:
            found = explore_instances(build, actions, remaining, depth, group=group)
            if len(first) < len(builds):
                first.append(found)
            if found.failure is not None and (
                best is None or len(found.failure.trace) < len(best[0].trace)
            ):
                best = (found.failure, label)
        if best is None:
            break
        failures[best[0].prop.name] = best
        remaining = [p for p in remaining if p.name != best[0].prop.name]
        if not remaining:
            break
    configurations = sum(f.configurations for f in first)
    sequences = sum(f.sequences for f in first)
    explored = f"{configurations} configurations, {sequences} sequences up to depth {depth}"
    errors: dict[str, str] = {}
    for found in first:
        for (_, event), error in found.errors.items():
            errors.setdefault(event, error)
    taken = frozenset(t for f in first for t in f.taken)
    chosen = frozenset(c for f in first for c in f.chosen)
    return _Explored(failures, explored, taken, chosen, errors)


def _results(
    owner: str,
    props: Sequence[Property],
    failures: Mapping[str, tuple[Failure, str]],
    passed: str,
    sampled: Sequence[str] = (),
) -> list[PropertyResult]:
    if sampled:  # a PASS over sampled values is no proof, and says so
        passed += "; inputs sampled, not explored whole: " + ", ".join(sampled)
    results = []
    for prop in props:
        if prop.name in failures:
            failure, label = failures[prop.name]
            detail = f"{failure.detail} ({label})" if label else failure.detail
            path = tuple(str(step) for step in failure.trace)
            results.append(PropertyResult(owner, prop.name, prop.title, False, detail, path))
        else:
            results.append(PropertyResult(owner, prop.name, prop.title, True, passed))
    return results


def check_machine(
    name: str, machine: type[Any], depth: int = 5, inputs: Inputs | None = None
) -> MachineCheck:
    """
    Check every property `machine` declares: invariants and sequence properties by
    exploring instances to `depth` with `inputs` (default: the declared ones), `Explored`
    ones by their engines (to `depth` plus their ``extra_depth``).

    Raises:
        DefinitionError: inputs are declared for an event the machine does not have.
    """
    model = MachineModel.from_machine(machine)
    inputs = declared_inputs(machine) if inputs is None else inputs
    unknown = sorted(set(inputs) - set(model.events))
    if unknown:
        raise DefinitionError(f"{name}: inputs declared for unknown events {unknown}")
    props = declared_properties(machine)
    searched = [p for p in props if not isinstance(p, Explored)]
    setups: tuple[Setup, ...] = tuple(getattr(machine, "setups", ()) or ()) or (
        Setup("", _default_setup),
    )
    builds: list[tuple[str, Build]] = []
    unbuildable = ""
    context: frozenset[str] = frozenset()
    for setup in setups:
        try:
            sample = setup.build(machine, AuditLog(FixedClock(EPOCH)))
        except TypeError as exc:
            if setup.build is not _default_setup:
                raise
            unbuildable = (
                f"{machine.__name__} cannot be built for exploration ({exc}): declare "
                f"`setups = (Setup(label, lambda cls, audit: cls(...)),)`"
            )
            continue
        context = frozenset(sample.guard_context())
        builds.append((setup.label, functools.partial(_build_one, setup, machine)))
    engines = len(searched) < len(props)
    if engines:
        unbuildable = ""  # the engines build their own instances
    actions = actions_for("", model.events, inputs, name, declared_stimuli(machine))
    found = _explore_all(builds, actions, searched, depth)
    sampled = sampled_domains(inputs)
    results = {r.prop: r for r in _results(name, searched, found.failures, found.explored, sampled)}
    if unbuildable:
        results = {
            p.name: PropertyResult(name, p.name, p.title, False, unbuildable, (), True)
            for p in searched
        }
    own = getattr(machine, "audit_machine", "")
    taken = {(source, event, target) for m, source, event, target in found.taken if m == own}
    chosen = frozenset((source, event, at) for m, source, event, at in found.chosen if m == own)
    for prop in props:
        if isinstance(prop, Explored):
            verdict = _engine(prop)(machine, depth + prop.extra_depth)
            taken |= verdict.taken
            results[prop.name] = PropertyResult(
                name, prop.name, prop.title, verdict.ok, verdict.detail, verdict.path
            )
    return MachineCheck(
        tuple(results[p.name] for p in props),
        frozenset(taken),
        found.errors,
        unbuildable,
        inputs,
        context,
        engines,
        chosen,
    )


def _build_one(setup: Setup, machine: type[Any], sink: AuditLog) -> dict[str, Any]:
    return {"": setup.build(machine, sink)}


def check_group(group: Group, depth: int = 5) -> list[PropertyResult]:
    """
    Check a group's properties by exploring its members together to `depth`, events to
    every member interleaved.
    """
    sample = group.build(AuditLog(FixedClock(EPOCH)))
    strangers = sorted((set(group.events) | set(group.stimuli)) - set(sample))
    if strangers:
        raise DefinitionError(f"group {group.name}: events for unknown members {strangers}")
    actions = []
    for member, events in group.events.items():
        events_of = MachineModel.from_machine(type(sample[member])).events
        unknown = sorted(set(events) - set(events_of))
        if unknown:
            raise DefinitionError(f"group {group.name}: {member} has no events {unknown}")
        stimuli = group.stimuli.get(member, ())
        actions += actions_for(member, events, events, f"group {group.name} {member}", stimuli)
    for member in group.stimuli:
        if member not in group.events:
            actions += actions_for(member, (), {}, group.name, group.stimuli[member])
    props = [p for p in group.properties if not isinstance(p, Explored)]
    if len(props) != len(group.properties):
        raise DefinitionError(f"group {group.name}: Explored properties belong on a machine")
    found = _explore_all([("", group.build)], actions, props, depth, group=True)
    sampled = [
        s for member, inputs in group.events.items() for s in sampled_domains(inputs, member)
    ]
    return _results(group.name, props, found.failures, found.explored, sampled)


# -- why a guarded transition was never taken -----------------------------------------------------

INJECTED = frozenset(
    {
        "self",
        "event_data",
        "machine",
        "model",
        "event",
        "source",
        "state",
        "target",
        "transition",
        "error",
    }
)
"""What python-statemachine injects into any guard by name."""


def _required(func: Callable[..., Any]) -> list[str]:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in params
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]


def missing_inputs(model: MachineModel, transition: TransitionModel, check: MachineCheck) -> str:
    """
    Why `transition` may not have been taken for want of inputs ("" if not so): a guard
    names an argument the event has no declared domain for, the event raised TypeError, or
    the machine could not be built.
    """
    if check.engines:
        return ""  # the machine's own engines chose its inputs
    if check.unbuildable:
        return check.unbuildable
    declared = set(check.inputs.get(transition.event, {}))
    known = INJECTED | check.context | declared
    for guard in transition.guards:
        missing = [n for n in _required(model.guard_functions[guard]) if n not in known]
        if missing:
            names = ", ".join(repr(n) for n in missing)
            return (
                f"guard {guard} needs input {names} of event {transition.event!r}, which has "
                f"no declared domain: declare inputs = {{{transition.event!r}: "
                f"{{{missing[0]!r}: (...)}}}} on {model.name}"
            )
    error = check.errors.get(transition.event)
    if error:
        return f"event {transition.event!r} raised {error}"
    return ""
