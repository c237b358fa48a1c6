"""
Declared properties checked over a recorded audit trail: each instance's recorded path
(its applied records, in ``seq`` order) must keep the sequence properties (`Never`, `Only`)
and state invariants (`StateInvariant`) its machine declares.

A trail carries no event arguments, so patterns with a ``where`` predicate are not checked
here (nor invariants over a running instance, nor `Explored` properties): exploration proves
those.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from execfsm.fsm.audit import AuditOutcome, AuditRecord
from execfsm.fsm.model import MachineModel
from execfsm.fsm.properties import (
    Happening,
    Never,
    Only,
    Property,
    StateInvariant,
    declared_properties,
)
from execfsm.governance.explore import advance


@attrs.frozen
class TrailViolation:
    """
    A property one recorded instance broke, at the record that broke it.
    """

    machine: str
    instance: str
    prop: str
    title: str
    seq: int
    detail: str

    def __str__(self) -> str:
        return (
            f"FAIL {self.machine} {self.prop} {self.title}\n"
            f"    {self.instance}: record seq {self.seq}: {self.detail}"
        )


def _checkable(prop: Property) -> bool:
    if isinstance(prop, StateInvariant):
        return True
    if isinstance(prop, Never | Only):
        return all(p is None or p.where is None for p in (prop.what, prop.after))
    return False


def trail_properties(machines: Mapping[str, type[Any]]) -> dict[str, tuple[Property, ...]]:
    """
    The properties a recorded trail can show, by each machine's ``audit_machine``.
    """
    found = {}
    for name, machine in machines.items():
        props = tuple(p for p in declared_properties(machine) if _checkable(p))
        found[getattr(machine, "audit_machine", "") or name] = props
    return found


def check_trail_properties(
    records: Iterable[AuditRecord], machines: Mapping[str, type[Any]]
) -> list[TrailViolation]:
    """
    Every recorded instance's path against its machine's checkable properties; records are
    grouped by ``(record.machine, the machine's audit_instance field)`` (``correlation_id``
    unless the class says otherwise). Each property an instance breaks is reported once, at
    the first record that breaks it, in ``seq`` order. Records of machines not in `machines`
    are skipped (trail verification reports them).
    """
    classes = {getattr(m, "audit_machine", "") or n: m for n, m in machines.items()}
    checkable = trail_properties(machines)
    paths: dict[tuple[str, str], list[AuditRecord]] = {}
    for record in sorted(records, key=lambda r: r.seq):
        machine = classes.get(record.machine)
        if machine is None:
            continue
        field = getattr(machine, "audit_instance", "correlation_id")
        paths.setdefault((record.machine, str(getattr(record, field, ""))), []).append(record)
    violations = []
    events = {name: frozenset(MachineModel.from_machine(m).events) for name, m in classes.items()}
    for (name, instance), path in paths.items():
        props = list(checkable[name])
        violations += _check_path(name, instance, path, props, events[name])
    return sorted(violations, key=lambda v: (v.seq, v.prop))


def _happening(name: str, record: AuditRecord, events: frozenset[str]) -> Happening:
    """
    An applied record as a happening. An annotation (an event that is not the machine's,
    written where it stands) enters no state; a declared self-transition does.
    """
    note = record.source == record.target and record.event not in events
    target = None if note else record.target
    return Happening("", name, record.event, {}, record.source, target)


def _check_path(
    name: str,
    instance: str,
    path: list[AuditRecord],
    props: list[Property],
    events: frozenset[str],
) -> list[TrailViolation]:
    found: list[TrailViolation] = []
    states = [p for p in props if isinstance(p, StateInvariant)]
    sequential: list[Never | Only] = [p for p in props if isinstance(p, Never | Only)]
    memory = (False,) * len(sequential)
    broken: set[str] = set()
    start = path[0].source
    steps: list[tuple[int, Happening]] = []
    if start is not None:
        steps.append((path[0].seq, Happening("", name, None, {}, None, start)))
    steps += [
        (r.seq, _happening(name, r, events)) for r in path if r.outcome is AuditOutcome.APPLIED
    ]
    for seq, happening in steps:
        for prop in states:
            state = happening.target
            if prop.name not in broken and state is not None and not prop.holds(state):
                broken.add(prop.name)
                found.append(
                    TrailViolation(name, instance, prop.name, prop.title, seq, f"in state {state}")
                )
        while True:
            live = [p for p in sequential if p.name not in broken]
            memory_of = dict(zip([p.name for p in sequential], memory, strict=True))
            new, hit = advance(live, tuple(memory_of[p.name] for p in live), [happening])
            if hit is None:
                memory_of.update(zip([p.name for p in live], new, strict=True))
                memory = tuple(memory_of[p.name] for p in sequential)
                break
            broken.add(hit[0].name)
            event = f"{happening.event} " if happening.event else ""
            detail = f"{hit[1]} ({event}{happening.source} -> {happening.target})"
            found.append(TrailViolation(name, instance, hit[0].name, hit[0].title, seq, detail))
    return found
