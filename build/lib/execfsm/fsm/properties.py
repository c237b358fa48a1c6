"""
Safety properties a machine (or a group of machines) declares, and the input domains its
events are explored with; `execfsm verify` proves them by exploring running instances
(`execfsm.governance.declared`), and `execfsm audit verify --properties` checks the ones that
a recorded trail can show.

A machine declares, as class attributes (all optional)::

    inputs = {"open": {"size": (1, 5, 50)}}          # event -> argument -> domain
    properties = (
        Invariant("S1", "size within the limit", lambda m: m.size <= m.limit),
        Never("S2", "no order after close", on("order"), after=entered("CLOSED")),
    )
    setups = (Setup("default", lambda cls, audit: cls(audit)),)   # how to build one
    stimuli = (Stimulus("venue ack", lambda m: m.apply(ack)),)   # steps other than send
    groups = (OCO,)                                   # groups this machine heads

and, optionally, a ``snapshot()`` method: the part of the instance that, with its state,
tells two configurations apart. The default is sound: every attribute (private ones too,
plain objects and child machines seen into; `execfsm.governance._fingerprint`). A
``snapshot()`` that leaves out something a guard, callback or property reads merges
configurations that differ, and can hide a violation.

The declarations are plain values; nothing here imports a machine, so machine modules may
import this one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import attrs

Domain = Any
"""The values of one event argument: a tuple, list or set of values, a ``{label: value}``
dict (the labels are printed in traces), a hypothesis strategy or a `Sampled`. A strategy
whose values can be listed (a small ``sampled_from``, ``integers`` range, ``booleans``) is
explored whole; any other is sampled, and a PASS over it says so."""

Inputs = Mapping[str, Mapping[str, Domain]]
"""Input domains, by event then by argument name."""


@attrs.frozen
class Sampled:
    """
    `count` values drawn from a hypothesis `strategy`, deterministically (`seed`), the same
    on every run. A bare strategy as a domain means ``Sampled(strategy)``.
    """

    strategy: Any
    count: int = 5
    seed: int = 0


@attrs.frozen
class Happening:
    """
    What a pattern is matched against: one applied transition (the event sent, or one a
    member's callback caused), with the arguments it was sent with.
    """

    member: str
    """The group member it happened to ("" for a single machine)."""
    machine: str
    """The machine's ``audit_machine``."""
    event: str | None
    """None for the start: a pattern on a state matches the initial state."""
    args: Mapping[str, Any]
    """The event's arguments (``{}`` on a recorded trail, or for a transition it caused)."""
    source: str | None
    target: str | None


@attrs.frozen
class Pattern:
    """
    Matches a `Happening`: by event name, by the state it entered, by group member, and by a
    predicate `where` (patterns with `where` are not checked on recorded trails).
    """

    event: str | None = None
    state: str | None = None
    member: str | None = None
    where: Callable[[Happening], bool] | None = attrs.field(default=None, eq=False)
    label: str = ""

    def matches(self, happening: Happening) -> bool:
        """
        Whether `happening` is one this pattern describes.
        """
        if self.member is not None and happening.member != self.member:
            return False
        if self.event is not None and happening.event != self.event:
            return False
        if self.state is not None and happening.target != self.state:
            return False
        return self.where is None or self.where(happening)

    def __str__(self) -> str:
        if self.label:
            return self.label
        who = f"{self.member}." if self.member else ""
        what = f"event {self.event}" if self.event else f"state {self.state}"
        return who + what + (" (where ...)" if self.where else "")


def on(
    event: str,
    where: Callable[[Happening], bool] | None = None,
    *,
    member: str | None = None,
    label: str = "",
) -> Pattern:
    """
    A pattern: `event` was applied (to `member`, in a group).
    """
    return Pattern(event=event, member=member, where=where, label=label)


def entered(
    state: str,
    where: Callable[[Happening], bool] | None = None,
    *,
    member: str | None = None,
    label: str = "",
) -> Pattern:
    """
    A pattern: a transition into `state` (or the start in it).
    """
    return Pattern(state=str(state), member=member, where=where, label=label)


@attrs.frozen
class Invariant:
    """
    `holds(instance)` (for a group: `holds(members)`, the members by name) is true in every
    reachable configuration.
    """

    name: str
    title: str
    holds: Callable[[Any], bool] = attrs.field(eq=False)


@attrs.frozen
class StateInvariant:
    """
    `holds(state)` (the state's value as a string) is true in every reachable state; checked
    on recorded trails too.
    """

    name: str
    title: str
    holds: Callable[[str], bool] = attrs.field(eq=False)


@attrs.frozen
class Never:
    """
    On no path does `what` happen, or, with `after`, happen once `after` has happened.
    """

    name: str
    title: str
    what: Pattern
    after: Pattern | None = None


@attrs.frozen
class Only:
    """
    On every path, `what` happens only once `after` has happened (e.g. no fill before the
    order was submitted).
    """

    name: str
    title: str
    what: Pattern
    after: Pattern


@attrs.frozen
class Verdict:
    """
    What an `Explored` engine found: held or not, a detail, the counterexample and the
    (source, event, target) transitions it took (P3 counts them).
    """

    ok: bool
    detail: str = ""
    path: tuple[str, ...] = ()
    taken: frozenset[tuple[str, str, str]] = frozenset()


@attrs.frozen
class Explored:
    """
    A property proved by an exploration the machine provides: `engine` is a callable
    ``(machine_class, depth) -> Verdict`` or its ``"module:function"`` path (resolved when
    checked, so a machine module need not import its checker). It explores to the check's
    depth plus `extra_depth`.
    """

    name: str
    title: str
    engine: str | Callable[[type[Any], int], Verdict] = attrs.field(eq=False)
    extra_depth: int = 0


Property = Invariant | StateInvariant | Never | Only | Explored
"""Any declared property."""


@attrs.frozen
class Setup:
    """
    How exploration builds one instance of a machine: ``build(machine_class, audit_sink)``;
    the label is printed with counterexamples.
    """

    label: str
    build: Callable[[type[Any], Any], Any] = attrs.field(eq=False)


@attrs.frozen
class Stimulus:
    """
    A step exploration takes besides sending an event: ``run(instance)`` drives the machine
    another way (e.g. ``lambda lc: lc.apply(venue_fill)`` on an order), printed as `label`.
    A machine declares them as ``stimuli``, a group per member. A refusal is whatever leaves
    the instance as it was.
    """

    label: str
    run: Callable[[Any], object] = attrs.field(eq=False)


@attrs.frozen
class Group:
    """
    Machines declared together: `build(audit_sink)` returns the members, wired together, by
    name; `events` lists what may be sent to each member (member -> event -> argument ->
    domain); exploration interleaves them. `properties` are over the members: an
    `Invariant` receives the members mapping, patterns name a ``member``.
    """

    name: str
    build: Callable[[Any], Mapping[str, Any]] = attrs.field(eq=False)
    events: Mapping[str, Inputs] = attrs.field(eq=False)
    properties: tuple[Property, ...] = ()
    stimuli: Mapping[str, tuple[Stimulus, ...]] = attrs.field(factory=dict, eq=False)
    """Other steps on each member (member -> stimuli), after its events."""


def declared_properties(machine: type[Any]) -> tuple[Property, ...]:
    """
    The properties `machine` declares (``properties``), checked to be `Property` values.
    """
    found = tuple(getattr(machine, "properties", ()) or ())
    for prop in found:
        if not isinstance(prop, Invariant | StateInvariant | Never | Only | Explored):
            raise TypeError(f"{machine.__name__}.properties: {prop!r} is not a declared property")
    return found


def declared_inputs(machine: type[Any]) -> Inputs:
    """
    The input domains `machine` declares (``inputs``), by event.
    """
    found: Inputs = getattr(machine, "inputs", None) or {}
    return found


def declared_stimuli(machine: type[Any]) -> tuple[Stimulus, ...]:
    """
    The other steps `machine` declares (``stimuli``).
    """
    return tuple(getattr(machine, "stimuli", ()) or ())


def declared_groups(machine: type[Any]) -> tuple[Group, ...]:
    """
    The groups `machine` heads (``groups``).
    """
    return tuple(getattr(machine, "groups", ()) or ())


def default_instance(machine: type[Any], sink: Any, correlation_id: str) -> Any:
    """
    ``machine(sink)``, given `correlation_id` too when its constructor takes one (as
    `AuditedMachine`'s does): its records need one. How exploration and generated paths
    build a machine that declares no setup of its own.
    """
    try:
        params = inspect.signature(machine).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    takes = "correlation_id" in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    )
    if takes:
        return machine(sink, correlation_id=correlation_id)
    return machine(sink)
