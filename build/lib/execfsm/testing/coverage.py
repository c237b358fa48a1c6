"""
Transition coverage: which declared transitions (and which declared case rows) audit trails
show taken, for any set of declared machines.

A transition is taken where an ``applied`` record names it: its (source, event, target) is
an edge of the machine's table. A case row (`execfsm.fsm.cases.Case`) is seen where a record
has the row's outcome and reason and either says the row's ``why`` or names an event and a
source state the row is for. A record names its running instance by
``(record.machine, getattr(record, cls.audit_instance))`` (``correlation_id`` for a machine
that does not say); coverage counts the instances it saw.

Each declared transition counts, also where several share their ends (``a.to(b,
cond=ready) | a.to(b)``). A record names only the ends, so it cannot tell which of those was
taken: such a group is never counted as taken; where a record took its ends, coverage
reports the group as taken but not told apart (`MachineCoverage.ambiguous`), and the
machine's coverage is not complete.

>>> from execfsm.fsm.pipeline import PipelineRun
>>> coverage = transition_coverage([], {"pipeline": PipelineRun})
>>> coverage["pipeline"].summary()
'pipeline 0/16 (0%)'
"""

from __future__ import annotations

import math
import weakref
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from typing import Any, Protocol, TypeVar

import attrs

from execfsm.fsm.cases import ANY_EVENT
from execfsm.fsm.model import CaseModel, MachineModel

__all__ = [
    "CoverageCollector",
    "Edge",
    "MachineCoverage",
    "Target",
    "TrailRecord",
    "coverage_summary",
    "declared_edges",
    "describe_target",
    "machines_by_name",
    "not_exercised",
    "transition_coverage",
]

_APPLIED = "applied"


class TrailRecord(Protocol):
    """
    What coverage reads of an audit record (`execfsm.fsm.audit.AuditRecord` has it all).
    """

    @property
    def machine(self) -> str: ...
    @property
    def event(self) -> str: ...
    @property
    def source(self) -> str | None: ...
    @property
    def target(self) -> str | None: ...
    @property
    def outcome(self) -> Any: ...
    @property
    def reason_code(self) -> Any: ...
    @property
    def detail(self) -> str: ...


@attrs.frozen(order=True)
class Edge:
    """
    One declared transition as a trail names it: from `source`, `event` goes to `target`.
    """

    source: str
    event: str
    target: str
    nth: int = 0
    """0 for the transition with these ends, as a record names it; where several declared
    transitions share the ends, each of them is ``nth`` 1, 2, ... in declaration order (a
    record names their ends only: ``nth`` 0)."""

    @property
    def ends(self) -> Edge:
        """
        The edge as a record names it (``nth`` 0).
        """
        return self if not self.nth else Edge(self.source, self.event, self.target)

    def __str__(self) -> str:
        shown = f"{self.source} -{self.event}-> {self.target}"
        return f"{shown} #{self.nth}" if self.nth else shown


Target = Edge | CaseModel
"""What generated paths cover and trails show: a declared transition or a declared case row."""


def declared_edges(model: MachineModel) -> tuple[Edge, ...]:
    """
    Every declared transition of `model`, in declaration order: those sharing their ends
    with another numbered 1, 2, ... (`Edge.nth`).
    """
    ends = [Edge(t.source, t.event, t.target) for t in model.transitions]
    shared = {e for e, n in Counter(ends).items() if n > 1}
    seen: dict[Edge, int] = {}
    edges = []
    for edge in ends:
        if edge in shared:
            seen[edge] = seen.get(edge, 0) + 1
            edge = attrs.evolve(edge, nth=seen[edge])
        edges.append(edge)
    return tuple(edges)


def shared_ends(edges: Iterable[Edge]) -> dict[Edge, tuple[Edge, ...]]:
    """
    The declared transitions that share their ends (numbered edges), by those ends.
    """
    groups: dict[Edge, list[Edge]] = {}
    for edge in edges:
        if edge.nth:
            groups.setdefault(edge.ends, []).append(edge)
    return {ends: tuple(group) for ends, group in groups.items()}


_Log = TypeVar("_Log")

_UNEXERCISED: weakref.WeakSet[Any] = weakref.WeakSet()


def not_exercised(log: _Log) -> _Log:
    """
    Mark `log` as written by no test (e.g. by `transition_paths` searching): coverage
    collected from a test run (`execfsm.testing.pytest_plugin`) skips it. Returns `log`.
    """
    _UNEXERCISED.add(log)
    return log


def is_exercised(log: Any) -> bool:
    """
    False for a log marked `not_exercised`.
    """
    return log not in _UNEXERCISED


def machines_by_name(machines: Mapping[str, type] | type | Iterable[type]) -> dict[str, type]:
    """
    `machines` as a mapping from the name their records carry (``audit_machine``, else the
    key or the class name) to the class.
    """
    if isinstance(machines, type):
        pairs: Iterable[tuple[str, type]] = [(machines.__name__, machines)]
    elif isinstance(machines, Mapping):
        pairs = machines.items()
    else:
        pairs = [(cls.__name__, cls) for cls in machines]
    return {(getattr(cls, "audit_machine", "") or name): cls for name, cls in pairs}


class Classifier:
    """
    What one record of a machine shows taken: a declared edge, a declared case row, or
    nothing (a refusal no row declares, a record of no declared edge).
    """

    def __init__(self, model: MachineModel) -> None:
        self.model = model
        self.edges = declared_edges(model)
        self.groups = shared_ends(self.edges)
        """The declared transitions that share their ends, by those ends."""
        self.edge_index: dict[tuple[str | None, str, str | None], Edge] = {
            (e.source, e.event, e.target): e.ends for e in self.edges
        }
        """Each declared edge by (source, event, target), as records name it: a transition
        that shares its ends with others is named by the ends (``nth`` 0), which is none of
        the declared ones."""
        self.cases = model.cases
        self._rows: dict[tuple[str, str], list[CaseModel]] = {}
        for row in model.cases:
            self._rows.setdefault((row.reason, row.outcome), []).append(row)

    def classify(self, record: TrailRecord) -> Target | None:
        """
        The edge or case row `record` shows, if any (the ends, ``nth`` 0, of transitions
        that share them: it cannot tell which).
        """
        if record.outcome == _APPLIED:
            edge = self.edge_index.get((record.source, record.event, record.target))
            if edge is not None:
                return edge
        if record.reason_code is None or not self._rows:
            return None
        return self.row(record)

    def row(self, record: TrailRecord) -> CaseModel | None:
        """
        The case row a record with a reason shows: of the rows with its outcome and reason,
        one whose ``why`` the record's detail says and whose event and states fit it, else
        one whose ``why`` it says, else the first whose event and states fit it.
        """
        candidates = self._rows.get((str(record.reason_code), str(record.outcome)))
        if not candidates:
            return None
        detail = record.detail
        says = [row for row in candidates if row.why and row.why in detail]
        fits = [
            row
            for row in candidates
            if row.event in (record.event, ANY_EVENT) and record.source in row.states
        ]
        for group in ([row for row in says if row in fits], says, fits):
            if group:
                return group[0]
        return None


class _Tally:
    """
    What the trails showed of one machine so far.
    """

    __slots__ = ("classifier", "edges", "field", "instances", "rows", "taken")

    def __init__(self, classifier: Classifier, field: str) -> None:
        self.classifier = classifier
        self.edges = classifier.edge_index
        self.rows = bool(classifier.cases)
        self.field = field
        self.taken: set[Target] = set()
        self.instances: set[Hashable] = set()


@attrs.frozen
class MachineCoverage:
    """
    What trails showed of one machine: the declared transitions and case rows, those taken
    and seen, over how many running instances.
    """

    machine: str
    transitions: tuple[Edge, ...]
    taken: frozenset[Edge]
    cases: tuple[CaseModel, ...] = ()
    cases_seen: frozenset[CaseModel] = frozenset()
    instances: int = 0
    ambiguous: tuple[tuple[Edge, ...], ...] = ()
    """The groups of declared transitions sharing their ends whose ends a record took: one
    of each group was taken, but no record can tell which, so none counts as taken."""

    @property
    def missing(self) -> tuple[Edge, ...]:
        """
        The declared transitions no record shows taken, in declaration order (those of an
        `ambiguous` group too: not shown taken either).
        """
        return tuple(e for e in self.transitions if e not in self.taken)

    @property
    def unseen(self) -> tuple[Edge, ...]:
        """
        The `missing` transitions but those of `ambiguous` groups: no record took their ends.
        """
        told = {e for group in self.ambiguous for e in group}
        return tuple(e for e in self.missing if e not in told)

    @property
    def missing_cases(self) -> tuple[CaseModel, ...]:
        """
        The declared case rows no record showed, in table order.
        """
        return tuple(r for r in self.cases if r not in self.cases_seen)

    @property
    def percent(self) -> float:
        """
        The share of the declared transitions taken (100 for a machine without any).
        """
        if not self.transitions:
            return 100.0
        return 100.0 * len(self.taken) / len(self.transitions)

    @property
    def complete(self) -> bool:
        """
        True when every declared transition was shown taken (so never while two of them
        share their ends: no record tells them apart).
        """
        return not self.missing

    def summary(self) -> str:
        """
        ``name taken/declared (percent%)``, never rounded up to 100; then how many taken
        transitions were not told apart, if any; then case rows, if any.
        """
        shown = 100 if self.complete else math.floor(self.percent)
        text = f"{self.machine} {len(self.taken)}/{len(self.transitions)} ({shown}%)"
        if self.ambiguous:
            shared = sum(len(group) for group in self.ambiguous)
            text = f"{text[:-1]}; {shared} sharing ends taken, not told apart)"
        if self.cases:
            text += f" [cases {len(self.cases_seen)}/{len(self.cases)}]"
        return text


class CoverageCollector:
    """
    Transition coverage accumulated over any number of trails (e.g. every audit log a test
    run wrote), read as they come: `add` keeps only what was taken, not the records.

    Args:
        machines: The declared machines to measure, by name (or one class, or classes).
    """

    def __init__(self, machines: Mapping[str, type] | type | Iterable[type]) -> None:
        self._tallies = {
            name: _Tally(
                Classifier(MachineModel.from_machine(cls)),
                getattr(cls, "audit_instance", "correlation_id"),
            )
            for name, cls in machines_by_name(machines).items()
        }

    def add(self, records: Iterable[TrailRecord]) -> None:
        """
        Read `records` (any machines', in any order; those of machines not measured are
        skipped): each names its running instance by ``(machine, its audit_instance
        field)``, and what it took is counted for its machine. One pass, no copy: a test run
        writes millions.
        """
        tallies = self._tallies
        for record in records:
            tally = tallies.get(record.machine)
            if tally is None:
                continue
            tally.instances.add(getattr(record, tally.field, None))
            if record.outcome == _APPLIED:
                edge = tally.edges.get((record.source, record.event, record.target))
                if edge is not None:
                    tally.taken.add(edge)
                    continue
            if tally.rows and record.reason_code is not None:
                row = tally.classifier.row(record)
                if row is not None:
                    tally.taken.add(row)

    def result(self) -> dict[str, MachineCoverage]:
        """
        The coverage of every measured machine so far, by name.
        """
        coverage = {}
        for name, tally in self._tallies.items():
            groups = tally.classifier.groups
            coverage[name] = MachineCoverage(
                machine=name,
                transitions=tally.classifier.edges,
                taken=frozenset(t for t in tally.taken if isinstance(t, Edge) and t not in groups),
                cases=tally.classifier.cases,
                cases_seen=frozenset(t for t in tally.taken if isinstance(t, CaseModel)),
                instances=len(tally.instances),
                ambiguous=tuple(group for ends, group in groups.items() if ends in tally.taken),
            )
        return coverage


def transition_coverage(
    records: Iterable[TrailRecord], machines: Mapping[str, type] | type | Iterable[type]
) -> dict[str, MachineCoverage]:
    """
    Per machine of `machines`, the declared transitions and case rows `records` show taken.
    """
    collector = CoverageCollector(machines)
    collector.add(records)
    return collector.result()


def coverage_summary(
    coverage: Mapping[str, MachineCoverage],
    *,
    show_missing: bool = True,
    unreachable: Iterable[Target] = (),
) -> str:
    """
    One line ``transition coverage: order 69/69 (100%), ...``, then each machine's missing
    transitions and case rows, one per line, and each group of transitions sharing their
    ends that was taken but cannot be told apart.

    Args:
        unreachable: Targets known to be unreachable (e.g. a defensive deny-by-default
            row): counted on the machine's line, not listed as missing.
    """
    known = frozenset(unreachable)
    parts, missing = [], []
    for machine in coverage.values():
        text = machine.summary()
        dead = [t for t in (*machine.missing, *machine.missing_cases) if t in known]
        if dead:
            text = f"{text[:-1]}; {len(dead)} unreachable]" if text.endswith("]") else text
        parts.append(text)
        missing += [f"  missing {machine.machine}: {e}" for e in machine.unseen if e not in known]
        missing += [
            f"  not told apart {machine.machine}: {len(group)} declared transitions share "
            f"{group[0].ends}; a trail cannot tell them apart"
            for group in machine.ambiguous
        ]
        missing += [
            f"  missing {machine.machine} case: {_row(r)}"
            for r in machine.missing_cases
            if r not in known
        ]
    return "\n".join(
        ["transition coverage: " + ", ".join(parts), *(missing if show_missing else [])]
    )


def _row(row: CaseModel) -> str:
    when = f" when {row.when!r}" if row.when else ""
    states = "|".join(row.states) if len(row.states) <= 5 else f"{len(row.states)} states"
    return f"{row.event}{when} in {states} -> {row.outcome} {row.reason}"


def describe_target(target: Target, state: str | None = None) -> str:
    """
    A short readable name of `target` (a row as seen from `state`, if given).
    """
    if isinstance(target, Edge):
        shown = f"{target.source}-{target.event}->{target.target}"
        return f"{shown}#{target.nth}" if target.nth else shown
    where = state if state is not None else "|".join(target.states)
    return f"{where}:{target.event}:{target.outcome}:{target.reason}"
