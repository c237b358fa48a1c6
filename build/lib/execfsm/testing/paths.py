"""
Generated tests from a declared machine: the shortest event paths that together take every
transition it declares (and every case row it declares) at least once, found by running real
instances, and a runner that replays a path and checks each step took what it was meant to.

Guards need event arguments: the caller declares, per event, the keyword arguments to try
(`Inputs`), either as a mapping ``event -> [kwargs, ...]`` or as a callable of the running
instance and the event (values that depend on what the instance holds, e.g. a fill of the
quantity left). The search is breadth-first: every step of every path so far is tried with
every input of every event, each on a fresh instance (``make(sink)``) replayed to that point
with an in-memory `AuditLog` on a `SteppingClock`; what a step took is read from the records
it wrote (`execfsm.testing.coverage`), so the paths are what the machine does, not what its
model says it should. Those logs are marked `not_exercised`: searching runs no test, and
the coverage a test run reports does not count them.

>>> from execfsm.fsm.audited import AuditedMachine
>>> from statemachine import State
>>> class Door(AuditedMachine):
...     audit_machine = "door"
...     closed = State(initial=True)
...     opened = State()
...     open = closed.to(opened)
...     close = opened.to(closed)
...     @property
...     def correlation_id(self) -> str:
...         return "door-1"
>>> [str(path) for path in transition_paths(Door)]
['opened-close->closed']
>>> print(transition_paths(Door)[0].describe())
open() -> opened
close() -> closed
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from datetime import timedelta
from functools import partial
from typing import Any, TypeAlias

import attrs

from execfsm.clock import EPOCH, SteppingClock
from execfsm.errors import ContractViolation, IllegalTransition, PolicyViolation
from execfsm.fsm.audit import AuditRecord
from execfsm.fsm.fingerprint import state_key
from execfsm.fsm.model import CaseModel, MachineModel
from execfsm.fsm.properties import declared_inputs, default_instance
from execfsm.governance.explore import actions_for
from execfsm.ledger.audit import AuditLog
from execfsm.testing._search import Search, select
from execfsm.testing.coverage import Classifier, Edge, Target, describe_target, not_exercised

__all__ = [
    "Args",
    "Fire",
    "Inputs",
    "Make",
    "Path",
    "PathRun",
    "Step",
    "TrailLine",
    "declared_targets",
    "replay",
    "run_path",
    "send",
    "state_key",
    "transition_paths",
    "uncovered",
]

Make: TypeAlias = Callable[[AuditLog], Any]
"""Builds a fresh instance of the machine writing to the given sink."""
Fire: TypeAlias = Callable[[Any, str, Mapping[str, Any]], object]
"""Delivers one event with its keyword arguments to an instance (default: `send`)."""


@attrs.frozen(eq=False)
class Args:
    """
    The keyword arguments one event is sent with, and how a path names them.
    """

    kwargs: Mapping[str, Any] = attrs.field(factory=dict)
    label: str | None = None
    """Shown in path descriptions instead of the values, if given."""

    def __str__(self) -> str:
        if self.label is not None:
            return self.label
        return ", ".join(f"{k}={_short(v)}" for k, v in self.kwargs.items())


Inputs: TypeAlias = (
    Mapping[str, Iterable[Mapping[str, Any] | Args]]
    | Callable[[Any, str], Iterable[Mapping[str, Any] | Args]]
)
"""The arguments to try for each event: a mapping (an event it does not name is sent with no
arguments) or a callable of the running instance and the event."""

TrailLine: TypeAlias = tuple[str, str | None, str | None, str, str | None]
"""A record as paths compare it: event, source, target, outcome, reason code."""


def _short(value: Any) -> str:
    text = str(getattr(value, "value", value))
    return text if len(text) <= 24 else text[:21] + "..."


def send(machine: Any, event: str, kwargs: Mapping[str, Any]) -> None:
    """
    The default `Fire`: ``machine.send(event, **kwargs)``; a refusal (audited by the machine)
    is an outcome, not an error.
    """
    with contextlib.suppress(IllegalTransition, ContractViolation, PolicyViolation):
        machine.send(event, **kwargs)


def _line(record: AuditRecord) -> TrailLine:
    reason = record.reason_code
    return (
        record.event,
        record.source,
        record.target,
        str(record.outcome),
        None if reason is None else str(reason),
    )


@attrs.frozen(eq=False)
class Step:
    """
    One event of a path, and what it did when the path was found.
    """

    event: str
    args: Args
    source: str
    """The state before the event."""
    state: str
    """The state after it."""
    takes: tuple[Target, ...]
    """The declared transitions and case rows its records show taken."""
    trail: tuple[TrailLine, ...]
    """The records it wrote."""

    def __str__(self) -> str:
        return f"{self.event}({self.args}) -> {self.state}"


@attrs.frozen(eq=False)
class Path:
    """
    A sequence of events from the initial state, each with its arguments and what it took.
    Its ``str`` is a readable, unique id (``ids=str`` in ``pytest.mark.parametrize``).
    """

    machine: str
    start: str
    steps: tuple[Step, ...]
    goal: Target | None = None
    """What the path was found for: the last step takes it."""
    name: str = ""
    """The id, if set (made unique within a set of paths)."""

    @property
    def covers(self) -> frozenset[Target]:
        """
        Every declared transition and case row the path takes.
        """
        return frozenset(t for step in self.steps for t in step.takes)

    @property
    def end_state(self) -> str:
        """
        The state the path ends in.
        """
        return self.steps[-1].state if self.steps else self.start

    @property
    def trail(self) -> tuple[TrailLine, ...]:
        """
        Every record the path writes, in order.
        """
        return tuple(line for step in self.steps for line in step.trail)

    def describe(self) -> str:
        """
        One line per step: ``event(arguments) -> state``.
        """
        return "\n".join(str(step) for step in self.steps)

    def __str__(self) -> str:
        if self.name:
            return self.name
        if self.goal is not None:
            return describe_target(self.goal, self.steps[-1].source)
        return ">".join(step.event for step in self.steps) or self.start


@attrs.frozen
class PathRun:
    """
    What `run_path` left: the instance at the path's end and the log it wrote.
    """

    machine: Any
    audit: AuditLog

    @property
    def records(self) -> Sequence[AuditRecord]:
        """
        Every record the run wrote.
        """
        return self.audit.records


def _new_log() -> AuditLog:
    return AuditLog(SteppingClock(EPOCH, timedelta(milliseconds=1)))


def _search_log() -> AuditLog:
    """
    A log for an instance the search (or a strategy's draw) runs: what it writes exercises
    no test, and coverage does not count it (`not_exercised`).
    """
    return not_exercised(_new_log())


def _declared(machine: type, events: Iterable[str]) -> Inputs | None:
    """
    The machine's declared ``inputs`` (event -> argument -> domain, as `execfsm verify`
    explores them) as the keyword arguments to try per event; None if it declares none.
    """
    declared = declared_inputs(machine)
    if not declared:
        return None
    options: dict[str, list[Args]] = {}
    for action in actions_for("", events, declared, machine.__name__):
        shown = ", ".join(f"{name}={label}" for name, label in action.shown)
        options.setdefault(action.event, []).append(Args(dict(action.args), shown or None))
    return options


class Driver:
    """
    How the search and the runner build, drive and read one machine.
    """

    def __init__(
        self,
        machine: type,
        make: Make | None,
        inputs: Inputs | None,
        fire: Fire | None,
    ) -> None:
        self.machine = machine
        self.model = MachineModel.from_machine(machine)
        self.classifier = Classifier(self.model)
        self.make: Make = (
            make if make is not None else partial(default_instance, machine, correlation_id="path")
        )
        self.inputs = inputs if inputs is not None else _declared(machine, self.model.events)
        self.fire: Fire = fire if fire is not None else send
        self.events = tuple(
            dict.fromkeys(
                [
                    *self.model.events,
                    *(r.event for r in self.model.cases if r.event != "*"),
                    *(inputs if isinstance(inputs, Mapping) else ()),
                ]
            )
        )
        self.name = getattr(machine, "audit_machine", "") or machine.__name__

    def options(self, instance: Any, event: str) -> list[Args]:
        inputs = self.inputs
        if inputs is None:
            found: Iterable[Mapping[str, Any] | Args] = [{}]
        elif isinstance(inputs, Mapping):
            found = inputs.get(event, [{}])
        else:
            found = inputs(instance, event)
        return [value if isinstance(value, Args) else Args(dict(value)) for value in found]

    def start(self, steps: Iterable[Step] = ()) -> tuple[Any, AuditLog]:
        audit = _search_log()
        instance = self.make(audit)
        for step in steps:
            self.fire(instance, step.event, step.args.kwargs)
        return instance, audit

    def replayed(self, steps: Iterable[Step]) -> tuple[Step, ...]:
        """
        `steps` as a fresh instance takes them, one after the other.
        """
        instance, audit = self.start()
        return tuple(self.step(instance, audit, s.event, s.args) for s in steps)

    def step(self, instance: Any, audit: AuditLog, event: str, args: Args) -> Step:
        source = str(instance.current_state_value)
        before = len(audit)
        self.fire(instance, event, args.kwargs)
        records = audit.records[before:]
        takes = [self.classifier.classify(r) for r in records if r.machine == self.name]
        return Step(
            event=event,
            args=args,
            source=source,
            state=str(instance.current_state_value),
            takes=tuple(dict.fromkeys(t for t in takes if t is not None)),
            trail=tuple(_line(r) for r in records),
        )


def declared_targets(machine: type, *, cases: bool = True) -> tuple[Target, ...]:
    """
    What covering paths of `machine` must take: its transitions, then (if `cases`) its
    declared case rows.
    """
    classifier = Classifier(MachineModel.from_machine(machine))
    return (*classifier.edges, *(classifier.cases if cases else ()))


def uncovered(machine: type, paths: Iterable[Path], *, cases: bool = True) -> tuple[Target, ...]:
    """
    The declared transitions (and case rows) none of `paths` takes.
    """
    covered = frozenset(t for path in paths for t in path.covers)
    return tuple(t for t in declared_targets(machine, cases=cases) if t not in covered)


def transition_paths(
    machine: type,
    *,
    make: Make | None = None,
    inputs: Inputs | None = None,
    fire: Fire | None = None,
    key: Callable[[Any], Hashable] = state_key,
    cases: bool = True,
    only: Iterable[Target] | None = None,
    max_depth: int = 12,
    budget: int = 200,
    max_nodes: int = 5_000,
) -> list[Path]:
    """
    The shortest paths that together take every transition of `machine` (and, if `cases`,
    every declared case row) that the inputs can reach.

    Each target gets a shortest path that takes it (searched over real instances, trying
    events in declaration order and inputs in the order given); a path whose targets
    longer ones take too is dropped. What no path reaches is `uncovered`. A path's ``str``
    names what it was found for: ``pytest.mark.parametrize("path", paths, ids=str)``.

    Declared transitions that share their ends (``a.to(b, cond=ready) | a.to(b)``) get one
    path taking those ends: its records cannot say which of them it took, so `uncovered`
    still names each of them.

    Args:
        machine: A declared machine class (an `AuditedMachine` subclass).
        make: A fresh instance writing to the sink it is given; default ``machine(sink)``
            (with ``correlation_id="path"`` when the constructor takes one).
        inputs: The keyword arguments to try per event; default: the machine's declared
            ``inputs`` (the domains `execfsm verify` explores), else none.
        fire: Delivers an event (default `send`: a refusal is an outcome).
        key: Instances with equal keys are explored once (default `state_key`: the state
            and everything the instance holds); a key of your own must tell apart all that
            the guards and cases look at.
        cases: Cover the machine's declared case rows too.
        only: Search these targets only (default every declared one).
        max_depth: The longest path tried.
        budget: How many new instances one target's search may explore.
        max_nodes: How many instances are explored at most, over all targets.
    """
    driver = Driver(machine, make, inputs, fire)
    targets = declared_targets(machine, cases=cases)
    if only is not None:
        wanted = set(only)
        targets = tuple(
            t for t in targets if t in wanted or (isinstance(t, Edge) and t.ends in wanted)
        )
    # Transitions sharing their ends: a record names the ends only, so they are searched as one.
    targets = tuple(dict.fromkeys(t.ends if isinstance(t, Edge) else t for t in targets))
    search = Search(driver, key, max_depth, max_nodes)
    found: dict[Target, tuple[Step, ...]] = {}
    for target in targets:
        steps = search.find(target, budget)
        if steps is not None:
            found[target] = steps
    paths, names = [], set()
    for goal, steps in select(found, targets):
        path = Path(driver.name, search.start, driver.replayed(steps), goal)
        if goal not in path.covers:  # instances the key told apart too coarsely
            continue
        name, n = str(path), 1
        while name in names:
            n += 1
            name = f"{path}#{n}"
        names.add(name)
        paths.append(attrs.evolve(path, name=name))
    return paths


def replay(
    path: Path, make: Make, *, fire: Fire | None = None, audit: AuditLog | None = None
) -> PathRun:
    """
    Send every event of `path` to ``make(audit)`` (a fresh `AuditLog` on a `SteppingClock`
    by default), without checking anything.
    """
    audit = audit if audit is not None else _new_log()
    instance = make(audit)
    deliver = fire if fire is not None else send
    for step in path.steps:
        deliver(instance, step.event, step.args.kwargs)
    return PathRun(instance, audit)


def run_path(
    path: Path,
    make: Make,
    *,
    machine: type | None = None,
    fire: Fire | None = None,
    audit: AuditLog | None = None,
) -> PathRun:
    """
    Replay `path` on ``make(audit)`` and check, after every step, that the instance is in
    the state the step reached and that the step wrote the records it wrote when the path
    was found (so it took the same edge, or met the same case row).

    Args:
        machine: The declared class, to name what a diverging step took instead; default
            the instance's class.

    Raises:
        AssertionError: a step diverged; the message names the step and both outcomes.
    """
    audit = audit if audit is not None else _new_log()
    instance = make(audit)
    deliver = fire if fire is not None else send
    if str(instance.current_state_value) != path.start:
        raise AssertionError(
            f"path {path}: starts in {instance.current_state_value}, expected {path.start}"
        )
    for number, step in enumerate(path.steps, start=1):
        before = len(audit)
        deliver(instance, step.event, step.args.kwargs)
        trail = tuple(_line(r) for r in audit.records[before:])
        state = str(instance.current_state_value)
        if (state, trail) != (step.state, step.trail):
            cls = machine if machine is not None else type(instance)
            classifier = Classifier(MachineModel.from_machine(cls))
            took = [classifier.classify(r) for r in audit.records[before:]]
            shown = ", ".join(_name(t) for t in took if t is not None) or "nothing declared"
            expected = ", ".join(_name(t) for t in step.takes) or "nothing declared"
            raise AssertionError(
                f"path {path}, step {number} {step}: expected {expected} (state "
                f"{step.state}, records {list(step.trail)}); took {shown} (state {state}, "
                f"records {list(trail)})"
            )
    return PathRun(instance, audit)


def _name(target: Target) -> str:
    return str(target) if isinstance(target, Edge) else _row_name(target)


def _row_name(row: CaseModel) -> str:
    return f"case {row.name} -> {row.outcome} {row.reason}"
