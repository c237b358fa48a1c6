"""
Breadth-first exploration of running machine instances (one machine, or a group's members)
over event sequences with declared inputs, checking declared properties after every step.

Every sequence is replayed on instances built fresh (audited to an in-memory `AuditLog` on a
fixed clock). A refused event that leaves the instances as they were (same fingerprint)
leads nowhere new; every other step (a refused one that changed anything too) gives a
configuration, deduplicated by its fingerprint (each member's state and whole context,
`execfsm.governance._fingerprint`) together with what the sequence properties have seen so
far. The first violation found is on a shortest path, replayed on fresh instances before it
is reported. A member's happenings are its own applied records (by machine and instance id),
not those of a machine it holds; an annotation enters no state.
"""

from __future__ import annotations

import contextlib
import functools
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from execfsm.clock import EPOCH, FixedClock
from execfsm.errors import ContractViolation, DefinitionError, IllegalTransition, PolicyViolation
from execfsm.fsm.audit import AuditOutcome, AuditRecord
from execfsm.fsm.fingerprint import fingerprint, freeze, snapshot
from execfsm.fsm.model import MachineModel
from execfsm.fsm.properties import (
    Happening,
    Invariant,
    Never,
    Only,
    Property,
    StateInvariant,
)
from execfsm.governance._chosen import chosen_position
from execfsm.governance._inputs import (
    Action,
    actions_for,
    domain_values,
    sampled_domains,
    show,
)
from execfsm.ledger.audit import AuditLog

__all__ = [
    "REFUSALS",
    "Action",
    "Failure",
    "InstanceExploration",
    "TraceStep",
    "actions_for",
    "advance",
    "broken_invariant",
    "domain_values",
    "explore_instances",
    "fingerprint",
    "freeze",
    "sampled_domains",
    "show",
    "snapshot",
]

REFUSALS = (IllegalTransition, ContractViolation, PolicyViolation)
"""What a machine raises when it refuses an event (and audits the refusal)."""

Members = Mapping[str, Any]
Build = Callable[[AuditLog], Members]


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
    """(machine, source, event, target) of every transition a member took (not a machine
    it holds)."""
    errors: Mapping[tuple[str, str], str]
    """(member, event) -> the first error other than a refusal an event raised (e.g. the
    TypeError of a guard whose argument has no declared domain)."""
    failure: Failure | None = None
    chosen: frozenset[tuple[str, str, str, int]] = frozenset()
    """(machine, source, event, position) of each applied transition that shares its ends
    with another: its position among the state's candidates for the event."""


# -- whose records ------------------------------------------------------------------------------


def _state(instance: Any) -> str:
    value = instance.current_state_value
    return str(getattr(value, "value", value))


def _field(machine: type[Any]) -> str:
    return str(getattr(machine, "audit_instance", "correlation_id"))


def owners(members: Members) -> dict[tuple[str, str], str]:
    """
    Each member by what its records carry: (machine, instance id).

    Raises:
        DefinitionError: two members write records as one instance (their records could not
            be told apart).
    """
    found: dict[tuple[str, str], str] = {}
    for name, member in members.items():
        field = _field(type(member))
        try:
            key = (member.audit_machine, str(getattr(member, field, "")))
        except Exception:  # noqa: BLE001  # no id yet: it writes no records either
            key = (member.audit_machine, f"<{name} has no {field}>")
        if key in found:
            raise DefinitionError(
                f"members {found[key]!r} and {name!r} write records as one instance "
                f"({key[0]} {field}={key[1]!r}): their records cannot be told apart; give "
                f"each its own {field}"
            )
        found[key] = name
    return found


@functools.cache
def _events(machine: Any) -> frozenset[str]:
    return frozenset(MachineModel.from_machine(machine).events)


@functools.cache
def _twins(machine: Any) -> frozenset[tuple[str, str, str]]:
    """
    The (source, event, target) of two or more declared transitions.
    """
    ends = [(t.source, t.event, t.target) for t in MachineModel.from_machine(machine).transitions]
    return frozenset(e for e in ends if ends.count(e) > 1)


def _own_records(
    members: Members, mine: Mapping[tuple[str, str], str], records: Sequence[AuditRecord]
) -> list[tuple[str, AuditRecord, bool]]:
    """
    The applied records of members (not of a machine one of them holds), each with its
    member and whether it is an annotation: an event that is not the machine's, written
    where the machine stands, enters no state.
    """
    fields = {m.audit_machine: _field(type(m)) for m in members.values()}
    found = []
    for record in records:
        field = fields.get(record.machine)
        if record.outcome is not AuditOutcome.APPLIED or field is None:
            continue
        member = mine.get((record.machine, str(getattr(record, field, ""))))
        if member is None:
            continue
        note = record.source == record.target and record.event not in _events(
            members[member].__class__
        )
        found.append((member, record, note))
    return found


def _happenings(
    members: Members,
    mine: Mapping[tuple[str, str], str],
    records: Sequence[AuditRecord],
    action: Action | None,
) -> list[Happening]:
    """
    The members' applied records of one step as happenings, each on the member it names;
    the sent event carries its arguments. Without an action: the start, every member in
    its initial state.
    """
    if action is None:
        return [
            Happening(name, m.audit_machine, None, {}, None, _state(m))
            for name, m in members.items()
        ]
    found = []
    given = False
    for member, record, note in _own_records(members, mine, records):
        sent = not given and member == action.member and record.event == action.event
        given = given or sent
        args = action.args if sent else {}
        target = None if note else record.target
        found.append(Happening(member, record.machine, record.event, args, record.source, target))
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


def _breaks(build: Build, path: Sequence[Action], prop: Property, *, group: bool) -> bool:
    """
    Whether `path`, replayed on fresh instances, breaks `prop` (a counterexample must).
    """
    log = AuditLog(FixedClock(EPOCH))
    members = build(log)
    mine = owners(members)
    sequential = [prop] if isinstance(prop, Never | Only) else []
    memory, hit = advance(
        sequential, (False,) * len(sequential), _happenings(members, mine, (), None)
    )
    for action in (None, *path):
        if action is not None:
            count = len(log)
            with contextlib.suppress(Exception):
                action.take(members)
            memory, hit = advance(
                sequential, memory, _happenings(members, mine, log.records[count:], action)
            )
        if hit is not None or broken_invariant([prop], members, group=group) is not None:
            return True
    return False


def _taken(
    build: Build,
    prefix: Sequence[Action],
    action: Action,
    members: Members,
    own: Sequence[tuple[str, AuditRecord, bool]],
) -> tuple[set[tuple[str, str, str, str]], set[tuple[str, str, str, int]]]:
    """
    The (machine, source, event, target) of the transitions a step took, and, for the sent
    event's when another declared transition has the same ends, which one it was:
    (machine, source, event, position among the state's candidates for the event), found on
    a replayed copy of the instances before the step.
    """
    taken = set()
    chosen = set()
    sent = True
    for member, record, note in own:
        if note:
            continue
        ends = (str(record.source), record.event, str(record.target))
        taken.add((record.machine, *ends))
        if sent and member == action.member and record.event == action.event:
            sent = False
            if action.run is None and ends in _twins(members[member].__class__):
                before, _ = _replay(build, prefix)
                position = chosen_position(before[member], action.event, dict(action.args), ends[2])
                if position is not None:
                    chosen.add((record.machine, ends[0], ends[1], position))
    return taken, chosen


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
    property broken (its trace is a shortest one, checked to replay to the violation).

    Raises:
        DefinitionError: two members write records as one instance.
    """
    checks = [p for p in props if isinstance(p, Invariant | StateInvariant)]
    sequential: list[Never | Only] = [p for p in props if isinstance(p, Never | Only)]
    members, log = _replay(build, ())
    mine = owners(members)
    taken: set[tuple[str, str, str, str]] = set()
    chosen: set[tuple[str, str, str, int]] = set()
    errors: dict[tuple[str, str], str] = {}
    start = _happenings(members, mine, (), None)
    memory, broken = advance(sequential, (False,) * len(sequential), start)
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
            own = _own_records(members, mine, log.records[count:])
            step_taken, step_chosen = _taken(build, prefix, action, members, own)
            taken |= step_taken
            chosen |= step_chosen
            states = tuple((name, _state(m)) for name, m in members.items())
            step = TraceStep(action, states, refused)
            happenings = _happenings(members, mine, log.records[count:], action)
            new_memory, broken = advance(sequential, memory, happenings)
            broken = broken or broken_invariant(checks, members, group=group)
            if broken is not None:
                path = (*prefix, action)
                detail = broken[1]
                if not _breaks(build, path, broken[0], group=group):
                    detail += (
                        " (this path does not break it again on fresh instances: the machine "
                        "does not behave the same on every replay)"
                    )
                failure = Failure(broken[0], detail, (*trace, step))
                return InstanceExploration(
                    len(seen), sequences, frozenset(taken), errors, failure, frozenset(chosen)
                )
            key = (after, new_memory)
            if key not in seen:
                seen.add(key)
                queue.append(((*prefix, action), (*trace, step), new_memory))
            members, log = _replay(build, prefix)
    return InstanceExploration(
        len(seen), sequences, frozenset(taken), errors, None, frozenset(chosen)
    )
