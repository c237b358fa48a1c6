"""
Fingerprints of running machine instances: how exploration (`execfsm.governance.explore`)
merges configurations and how the generated paths (`execfsm.testing.transition_paths`) key
the instances they search.

Sound, not small: two configurations share a fingerprint only if they are equal in
everything a guard, a callback or a property can read, so merging them never hides a
violation. A machine's context is every attribute of the instance (private ones too, but
not `AuditedMachine`'s own infrastructure, its engine, audit listener and re-entry flag, nor
functions it keeps); plain objects are seen into by their ``__dict__`` and ``__slots__``, a
child machine by its type, state and context, and shared or cyclic references by their
position in the object graph. What cannot be seen into (an object of C code, say) gets a
token equal to nothing else, so a configuration holding it never merges: exploration grows,
it never lies. A lock counts not at all (it is unlocked between events: synchronisation,
not context); a ``functools.partial`` by its function and arguments.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import fractions
import functools
import inspect
import threading
import types
import uuid
from collections.abc import Hashable
from typing import Any

from statemachine import StateMachine

from execfsm.fsm.audited import AuditedMachine

INFRASTRUCTURE = frozenset({"_engine", "_audit_listener", "_sending"})
"""`AuditedMachine`'s own attributes: how it runs and writes, not what it knows."""

_ATOMS = (
    type(None),
    bool,
    int,
    float,
    complex,
    str,
    bytes,
    decimal.Decimal,
    fractions.Fraction,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    datetime.timezone,
    uuid.UUID,
    range,
)
"""Immutable values whose ``repr`` says all there is to them."""

_GLOBALS = (
    type,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.ModuleType,
    enum.Enum,
)
"""Objects shared by every replay (a class, a module-level function, an enum member):
equal only to themselves."""


_ROUTINES = (
    types.FunctionType,
    types.MethodType,
    types.BuiltinFunctionType,
    types.BuiltinMethodType,
)
"""Functions and methods an instance keeps (a callback handed to it): not what it knows. A
callable object is seen into like any other."""


_LOCKS = (type(threading.Lock()), type(threading.RLock()))


class Unseen:
    """
    A token for a value that cannot be seen into: equal only to a token of the same object
    (which it keeps alive, so that no other object takes its id).
    """

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unseen) and other.value is self.value

    def __hash__(self) -> int:
        return id(self.value)

    def __repr__(self) -> str:
        return f"<unseen {type(self.value).__name__} {id(self.value):#x}>"


class _Frozen:
    """
    One fingerprint in the making: the objects met so far by their position, so a shared
    or cyclic reference is told by where it points, and is frozen once.
    """

    def __init__(self) -> None:
        self.met: dict[int, int] = {}
        self.keep: list[Any] = []  # keeps each met object alive, so its id is not reused

    def ref(self, value: Any) -> tuple[str, int] | None:
        index = self.met.get(id(value))
        if index is not None:
            return ("<ref>", index)
        self.met[id(value)] = len(self.keep)
        self.keep.append(value)
        return None

    def freeze(self, value: Any) -> Hashable:
        kind = type(value)
        if isinstance(value, _ATOMS):
            return (kind, repr(value))
        if isinstance(value, _GLOBALS):
            return (kind, value)
        if isinstance(value, _LOCKS):
            return "<lock>"
        seen = self.ref(value)
        if seen is not None:
            return seen
        if isinstance(value, AuditedMachine):
            return ("<machine>", kind, _state(value), self.context(value))
        if isinstance(value, StateMachine):
            return Unseen(value)
        if isinstance(value, functools.partial):
            return (
                "<partial>",
                self.freeze(value.func),
                self.freeze(value.args),
                self.freeze(value.keywords),
            )
        if isinstance(value, types.MethodType):
            return ("<method>", value.__func__, self.freeze(value.__self__))
        if isinstance(value, dict):  # insertion order is what a callback iterating sees
            return (kind, tuple((self.freeze(k), self.freeze(v)) for k, v in value.items()))
        if isinstance(value, list | tuple):
            return (kind, tuple(self.freeze(v) for v in value))
        if isinstance(value, set | frozenset):
            return (kind, frozenset(self.freeze(v) for v in value))
        return self.fields(value)

    def fields(self, value: Any) -> Hashable:
        """
        A plain object by its type and attributes (``__dict__`` and ``__slots__``).
        """
        kind: Any = type(value)
        names = _slots(kind)
        found: list[tuple[str, Hashable]] = []
        for name in names:
            try:
                found.append((name, self.freeze(object.__getattribute__(value, name))))
            except AttributeError:
                found.append((name, "<unset>"))
        own = getattr(value, "__dict__", None)
        if isinstance(own, dict):
            found += [(k, self.freeze(v)) for k, v in own.items()]
        elif not names:
            return Unseen(value)  # nothing to see into: C code, a proxy, a file
        return (kind, tuple(found))

    def context(self, instance: Any) -> Hashable:
        """
        An instance's context: its own ``snapshot()`` if it defines one, else every
        attribute but its infrastructure and the functions it keeps, then the values of the public
        properties its class adds (one that raises counts as its error's type).
        """
        own = getattr(instance, "snapshot", None)
        if callable(own):
            return ("<snapshot>", self.freeze(own()))
        found: list[tuple[str, Hashable]] = [
            (k, self.freeze(v))
            for k, v in vars(instance).items()
            if k not in INFRASTRUCTURE and not isinstance(v, _ROUTINES)
        ]
        for name in _own_properties(instance.__class__):
            try:
                value = self.freeze(getattr(instance, name))
            except Exception as exc:  # noqa: BLE001  # a property that cannot answer now
                value = f"<{type(exc).__name__}>"
            found.append((name, value))
        return tuple(found)


@functools.cache
def _slots(kind: Any) -> tuple[str, ...]:
    names: dict[str, None] = {}
    for klass in kind.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name in ("__dict__", "__weakref__"):
                continue
            if name.startswith("__") and not name.endswith("__"):  # stored mangled
                name = f"_{klass.__name__.lstrip('_')}{name}"
            names[name] = None
    return tuple(names)


@functools.cache
def _own_properties(machine: Any) -> tuple[str, ...]:
    """
    The public properties a machine class adds to `AuditedMachine`'s (e.g. an order's
    ``order`` and ``fills``).
    """
    inherited = set(dir(AuditedMachine))
    return tuple(
        name
        for name in sorted(dir(machine))
        if not name.startswith("_")
        and name not in inherited
        and isinstance(inspect.getattr_static(machine, name), property)
    )


def _state(instance: Any) -> str:
    value = instance.current_state_value
    return str(getattr(value, "value", value))


def freeze(value: Any) -> Hashable:
    """
    A hashable stand-in for `value`, equal to another's only if the two are equal in
    everything that can be read from them.
    """
    return _Frozen().freeze(value)


def snapshot(instance: Any) -> Hashable:
    """
    The instance's context (see `_Frozen.context`).
    """
    return _Frozen().context(instance)


def state_key(machine: Any) -> Hashable:
    """
    The default search key of `execfsm.testing.transition_paths`: the instance's state and
    context. Sound, not small: what differs between two paths to one situation (a timestamp,
    an id made from a count) keeps them apart, so a machine holding such values is searched
    slowly; give `transition_paths` a key of what its guards and cases read instead.
    """
    return (_state(machine), snapshot(machine))


def fingerprint(members: Any) -> Hashable:
    """
    Every member's state and context, in member order; objects the members share are
    told as shared.
    """
    frozen = _Frozen()
    found = []
    for name, member in members.items():
        frozen.ref(member)
        found.append((name, _state(member), frozen.context(member)))
    return tuple(found)
