"""
Breadth-first exploration of running machine instances (one machine, or a group's members)
over event sequences with declared inputs, checking declared properties after every step.

Every sequence is replayed on instances built fresh (audited to an in-memory `AuditLog` on a
fixed clock). A refused event that leaves the instances as they were (same fingerprint)
leads nowhere new; every other step gives a configuration, deduplicated by its fingerprint
(each member's state and snapshot) together with what the sequence properties have seen so
far. The first violation found is on a shortest path.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import itertools
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

import attrs
from statemachine import StateMachine

from execfsm.clock import EPOCH, FixedClock
from execfsm.errors import ContractViolation, DefinitionError, IllegalTransition, PolicyViolation
from execfsm.fsm.audit import AuditOutcome, AuditRecord
from execfsm.fsm.audited import AuditedMachine
from execfsm.fsm.properties import (
    Happening,
    Inputs,
    Invariant,
    Never,
    Only,
    Property,
    Sampled,
    StateInvariant,
    Stimulus,
)
from execfsm.ledger.audit import AuditLog

REFUSALS = (IllegalTransition, ContractViolation, PolicyViolation)
"""What a machine raises when it refuses an event (and audits the refusal)."""

Members = Mapping[str, Any]
Build = Callable[[AuditLog], Members]


@attrs.frozen
class Action:
    """
    One event, with its arguments, sent to one member ("" for a single machine).
    """

    member: str
    event: str
    args: Mapping[str, Any] = attrs.field(factory=dict, eq=False)
    shown: tuple[tuple[str, str], ...] = ()
    """The arguments as printed: (name, label)."""
    run: Callable[[Any], object] | None = attrs.field(default=None, eq=False)
    """A `Stimulus`'s step, taken instead of sending (`event` is then its label)."""

    def __str__(self) -> str:
        who = f"{self.member}." if self.member else ""
        shown = ", ".join(f"{k}={v}" for k, v in self.shown)
        return f"{who}{self.event}({shown})" if shown else f"{who}{self.event}"

    def take(self, members: Members) -> None:
        """
        Send the event to the member, or run the stimulus on it.
        """
        member = members[self.member]
        if self.run is not None:
            self.run(member)
        else:
            member.send(self.event, **self.args)


@attrs.frozen
class TraceStep:
    """
    A step of a counterexample: the action and the states it left the members in.
    """

    action: Action
    states: tuple[tuple[str, str], ...]
    """(member, state) after the step, for every member."""
    refused: bool = False
    """The event was refused, yet changed the configuration."""

    def __str__(self) -> str:
        shown = ", ".join(f"{m}={s}" if m else s for m, s in self.states)
        return f"{self.action} -> {shown}" + (" (refused)" if self.refused else "")


@attrs.frozen
class Failure:
    """
    A property that broke, how, and the shortest trace that breaks it.
    """

    prop: Property
    detail: str
    trace: tuple[TraceStep, ...]


@attrs.frozen
class InstanceExploration:
    """
    What exploring one setup found.
    """

    configurations: int
    sequences: int
    taken: frozenset[tuple[str, str, str, str]]
    """(machine, source, event, target) of every applied transition."""
    errors: Mapping[tuple[str, str], str]
    """(member, event) -> the first error other than a refusal an event raised (e.g. the
    TypeError of a guard whose argument has no declared domain)."""
    failure: Failure | None = None


# -- inputs --------------------------------------------------------------------------------


def show(value: Any) -> str:
    """
    A short label for a value in a trace.
    """
    summary = getattr(value, "decision", None) or getattr(value, "value", None)
    return str(summary) if summary is not None else str(value)


def _is_strategy(domain: Any) -> bool:
    return type(domain).__module__.startswith("hypothesis") and hasattr(domain, "example")


def _sample(sampled: Sampled) -> list[Any]:
    # hypothesis is a test dependency: only a machine that declares a strategy needs it.
    try:
        from hypothesis import HealthCheck, Phase, given, seed, settings
    except ImportError as exc:  # pragma: no cover - hypothesis is installed with [dev]
        raise DefinitionError(
            f"an input domain is a hypothesis strategy, but hypothesis is not installed: {exc}"
        ) from exc

    values: list[Any] = []
    seen: set[str] = set()

    @seed(sampled.seed)
    @settings(
        database=None,
        max_examples=max(20, sampled.count * 10),
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(sampled.strategy)
    def collect(value: Any) -> None:
        if len(values) < sampled.count and repr(value) not in seen:
            seen.add(repr(value))
            values.append(value)

    collect()
    return values


def domain_values(domain: Any, where: str) -> list[tuple[str, Any]]:
    """
    The (label, value) pairs of a declared domain, in a deterministic order.
    """
    if isinstance(domain, Sampled) or _is_strategy(domain):
        sampled = domain if isinstance(domain, Sampled) else Sampled(domain)
        return [(repr(v), v) for v in _sample(sampled)]
    if isinstance(domain, Mapping):
        return [(str(k), v) for k, v in domain.items()]
    if isinstance(domain, set | frozenset):
        return [(show(v), v) for v in sorted(domain, key=repr)]
    if isinstance(domain, Iterable) and not isinstance(domain, str | bytes):
        return [(show(v), v) for v in domain]
    raise TypeError(
        f"{where}: a domain is a tuple, list, set or dict of values or a hypothesis "
        f"strategy, got {domain!r}"
    )


def actions_for(
    member: str,
    events: Iterable[str],
    inputs: Inputs,
    owner: str,
    stimuli: Iterable[Stimulus] = (),
) -> list[Action]:
    """
    Every action on `member`: each event with each combination of its declared arguments
    (an event with no declared inputs is sent without arguments), then the `stimuli`.
    """
    found = []
    for event in events:
        domains = inputs.get(event, {})
        names = list(domains)
        values = [domain_values(domains[n], f"{owner} inputs[{event!r}][{n!r}]") for n in names]
        for combo in itertools.product(*values):
            found.append(
                Action(
                    member,
                    event,
                    {n: v for n, (_, v) in zip(names, combo, strict=True)},
                    tuple((n, label) for n, (label, _) in zip(names, combo, strict=True)),
                )
            )
    return found + [Action(member, s.label, run=s.run) for s in stimuli]


# -- fingerprints ----------------------------------------------------------------------------


def freeze(value: Any) -> Hashable:
    """
    A hashable stand-in for `value`: containers frozen, anything unhashable by its repr, and
    an object equal only to itself (another machine, a sink) by its type alone, since a fresh
    replay builds a new one.
    """
    kind: Any = type(value)
    if isinstance(value, StateMachine) or (
        kind.__hash__ is object.__hash__ and kind.__eq__ is object.__eq__
    ):
        return f"<{type(value).__name__}>"
    if isinstance(value, Mapping):
        return tuple(sorted(((repr(k), freeze(v)) for k, v in value.items()), key=repr))
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, set | frozenset):
        return frozenset(freeze(v) for v in value)
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value  # type: ignore[no-any-return]


@functools.cache
def _own_properties(machine: Any) -> tuple[str, ...]:
    """
    The public properties a machine class adds to `AuditedMachine`'s (e.g. an order's
    ``order`` and ``fills``, which read private attributes).
    """
    inherited = set(dir(AuditedMachine))
    return tuple(
        name
        for name in sorted(dir(machine))
        if not name.startswith("_")
        and name not in inherited
        and isinstance(inspect.getattr_static(machine, name), property)
    )


def snapshot(instance: Any) -> Hashable:
    """
    The instance's context: its own ``snapshot()`` if it has one, else its public
    non-callable attributes and the values of the public properties its class adds (one
    that raises counts as its error's type).
    """
    own = getattr(instance, "snapshot", None)
    if callable(own):
        return freeze(own())
    found = [
        (k, freeze(v))
        for k, v in sorted(vars(instance).items())
        if not k.startswith("_") and not callable(v)
    ]
    kind: Any = type(instance)
    for name in _own_properties(kind):
        try:
            value = freeze(getattr(instance, name))
        except Exception as exc:  # noqa: BLE001  # a property that cannot answer now
            value = f"<{type(exc).__name__}>"
        found.append((name, value))
    return tuple(found)


def _state(instance: Any) -> str:
    value = instance.current_state_value
    return str(getattr(value, "value", value))


def fingerprint(members: Members) -> Hashable:
    """
    Every member's state and snapshot, in member order.
    """
    return tuple((name, _state(m), snapshot(m)) for name, m in members.items())


# -- properties on a configuration -------------------------------------------------------------


def _happenings(
    members: Members, records: Sequence[AuditRecord], action: Action | None
) -> list[Happening]:
    """
    The applied records of one step as happenings, each on the member it names (by
    ``audit_machine`` and the ``audit_instance`` field); the sent event carries its arguments.
    Without an action: the start, every member in its initial state.
    """
    if action is None:
        return [
            Happening(name, m.audit_machine, None, {}, None, _state(m))
            for name, m in members.items()
        ]
    owners: dict[tuple[str, str], str] = {}
    fields: dict[str, str] = {}
    if len(members) > 1:
        for name, m in members.items():
            field = fields.setdefault(
                m.audit_machine, getattr(type(m), "audit_instance", "correlation_id")
            )
            owners[(m.audit_machine, str(getattr(m, field, "")))] = name
    found = []
    given = False
    for record in records:
        if record.outcome is not AuditOutcome.APPLIED:
            continue
        field = fields.get(record.machine, "correlation_id")
        key = (record.machine, str(getattr(record, field, "")))
        member = owners.get(key, action.member)
        sent = not given and member == action.member and record.event == action.event
        given = given or sent
        args = action.args if sent else {}
        found.append(
            Happening(member, record.machine, record.event, args, record.source, record.target)
        )
    return found


def advance(
    props: Sequence[Never | Only], seen: tuple[bool, ...], happenings: Iterable[Happening]
) -> tuple[tuple[bool, ...], tuple[Property, str] | None]:
    """
    The sequence properties' memory (whether each one's ``after`` happened) after
    `happenings`, and the first one they break.
    """
    now = list(seen)
    for happening in happenings:
        for index, prop in enumerate(props):
            armed = prop.after is None or now[index]
            if isinstance(prop, Never) and armed and prop.what.matches(happening):
                after = f" after {prop.after}" if prop.after is not None else ""
                return tuple(now), (prop, f"{prop.what} happened{after}")
            if isinstance(prop, Only) and not armed and prop.what.matches(happening):
                return tuple(now), (prop, f"{prop.what} happened before {prop.after}")
            if prop.after is not None and prop.after.matches(happening):
                now[index] = True
    return tuple(now), None


def broken_invariant(
    props: Sequence[Property], members: Members, *, group: bool = False
) -> tuple[Property, str] | None:
    """
    The first invariant (or state invariant) that does not hold on `members`, and why. An
    `Invariant` is given the single machine, or the members of a `group`.
    """
    for prop in props:
        try:
            if isinstance(prop, Invariant):
                held = prop.holds(members if group else members[""])
                if not held:
                    return prop, f"invariant broken: {prop.title}"
            elif isinstance(prop, StateInvariant):
                for name, member in members.items():
                    if not prop.holds(_state(member)):
                        who = f"{name} " if name else ""
                        return prop, f"{who}in state {_state(member)}: {prop.title}"
        except Exception as exc:  # noqa: BLE001  # a predicate that raises is broken, and said so
            return prop, f"{prop.name} raised {type(exc).__name__}: {exc}"
    return None


# -- the search ----------------------------------------------------------------------------------


def _replay(build: Build, prefix: Sequence[Action]) -> tuple[Members, AuditLog]:
    log = AuditLog(FixedClock(EPOCH))
    members = build(log)
    for action in prefix:
        # As when it was explored: a refused event that changed something is a step too.
        with contextlib.suppress(Exception):
            action.take(members)
    return members, log


def explore_instances(
    build: Build,
    actions: Sequence[Action],
    props: Sequence[Property],
    depth: int,
    *,
    group: bool = False,
) -> InstanceExploration:
    """
    Explore every sequence of `actions` up to `depth` from the configuration `build` makes
    (one machine as member "", or a `group`'s members), breadth-first; stop at the first
    property broken (its trace is a shortest one).
    """
    checks = [p for p in props if isinstance(p, Invariant | StateInvariant)]
    sequential: list[Never | Only] = [p for p in props if isinstance(p, Never | Only)]
    members, log = _replay(build, ())
    taken: set[tuple[str, str, str, str]] = set()
    errors: dict[tuple[str, str], str] = {}
    memory, broken = advance(sequential, (False,) * len(sequential), _happenings(members, (), None))
    broken = broken or broken_invariant(checks, members, group=group)
    if broken is not None:
        return InstanceExploration(1, 0, frozenset(), {}, Failure(broken[0], broken[1], ()))
    seen = {(fingerprint(members), memory)}
    queue: deque[tuple[tuple[Action, ...], tuple[TraceStep, ...], tuple[bool, ...]]] = deque(
        [((), (), memory)]
    )
    sequences = 0
    while queue:
        prefix, trace, memory = queue.popleft()
        if len(prefix) >= depth:
            continue
        members, log = _replay(build, prefix)
        before = fingerprint(members)
        for action in actions:
            count = len(log)
            refused = False
            sequences += 1
            try:
                action.take(members)
            except REFUSALS:
                refused = True
            except Exception as exc:  # noqa: BLE001  # reported by P3: e.g. a guard's argument missing
                refused = True
                errors.setdefault((action.member, action.event), f"{type(exc).__name__}: {exc}")
            after = fingerprint(members)
            if refused and after == before:
                continue  # the instances are as they were: the next action reuses them
            records = log.records[count:]
            taken.update(
                (r.machine, str(r.source), r.event, str(r.target))
                for r in records
                if r.outcome is AuditOutcome.APPLIED
            )
            states = tuple((name, _state(m)) for name, m in members.items())
            step = TraceStep(action, states, refused)
            new_memory, broken = advance(sequential, memory, _happenings(members, records, action))
            broken = broken or broken_invariant(checks, members, group=group)
            if broken is not None:
                failure = Failure(broken[0], broken[1], (*trace, step))
                return InstanceExploration(len(seen), sequences, frozenset(taken), errors, failure)
            key = (after, new_memory)
            if key not in seen:
                seen.add(key)
                queue.append(((*prefix, action), (*trace, step), new_memory))
            members, log = _replay(build, prefix)
    return InstanceExploration(len(seen), sequences, frozenset(taken), errors)
