"""
The default search key of `execfsm.testing.transition_paths`: an instance's state and a
snapshot of everything it holds, so that two instances with equal keys answer every guard
and case alike (the search explores them once).

The snapshot is sound rather than small: every attribute of the instance counts (private
ones too: a guard may read ``self._fills``), but for the machine's own infrastructure (its
engine, audit listener and re-entry flag) and its functions and methods, which hold no
context; a plain object counts by its attributes, recursively; a child machine by its
class, state and snapshot; an object that refers back to one being snapshotted by how far
up it is; a function as the same object or not; a lock not at all (it is unlocked between
events); and a value that cannot be seen into (no attributes to read) by a token equal to
nothing else, so instances holding one are never taken for each other.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import threading
import types
from collections.abc import Hashable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs

__all__ = ["INFRASTRUCTURE", "snapshot", "state_key"]

INFRASTRUCTURE = frozenset({"_engine", "_audit_listener", "_sending"})
"""A machine's attributes that run it rather than hold its context: not in its snapshot."""

_PLAIN: tuple[type, ...] = (str, bytes, int, float, complex, bool, type(None), Decimal, Fraction)
_PLAIN += (datetime, date, time, timedelta)
_LOCKS = (type(threading.Lock()), type(threading.RLock()))
_CODE = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.ModuleType,
    type,
)


class _Unseen:
    """
    A value the snapshot cannot see into: equal only to a token of the same object (which
    it keeps alive, so that no other object takes its id).
    """

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Unseen) and other.value is self.value

    def __hash__(self) -> int:
        return id(self.value)

    def __repr__(self) -> str:
        return f"<unseen {type(self.value).__name__} {id(self.value):#x}>"


def _state(machine: Any) -> str:
    value = machine.current_state_value
    return str(getattr(value, "value", value))


def _is_machine(value: Any) -> bool:
    return hasattr(value, "current_state_value") and hasattr(type(value), "states")


def _name(item: tuple[str, Any]) -> str:
    return item[0]


def _fields(value: Any) -> list[tuple[str, Any]] | None:
    """
    The named parts of an object, or None if it has none to show.
    """
    if attrs.has(type(value)):
        return [(f.name, getattr(value, f.name, None)) for f in attrs.fields(type(value))]
    if dataclasses.is_dataclass(value):
        return [(f.name, getattr(value, f.name, None)) for f in dataclasses.fields(value)]
    found: dict[str, Any] = dict(getattr(value, "__dict__", {}))
    for cls in type(value).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name not in ("__dict__", "__weakref__") and hasattr(value, name):
                found.setdefault(name, getattr(value, name))
    slotted = any("__slots__" in cls.__dict__ for cls in type(value).__mro__[:-1])
    if not found and not slotted and not hasattr(value, "__dict__"):
        return None
    return sorted(found.items(), key=_name)


class _Snapshot:
    """
    One snapshot walk: the objects being snapshotted, outermost first (the cycle guard).
    """

    def __init__(self) -> None:
        self.stack: list[int] = []

    def of(self, value: Any) -> Hashable:
        if isinstance(value, enum.Enum):
            return value
        if isinstance(value, _PLAIN):
            return (type(value).__name__, value)
        if isinstance(value, _LOCKS):
            return "<lock>"  # unlocked between events: synchronisation, not context
        if isinstance(value, _CODE):
            return ("code", value)  # the same object, or not: callables are compared as such
        if id(value) in self.stack:
            return ("cycle", len(self.stack) - self.stack.index(id(value)))
        self.stack.append(id(value))
        try:
            return self._inside(value)
        finally:
            self.stack.pop()

    def _inside(self, value: Any) -> Hashable:
        kind = type(value)
        if isinstance(value, Mapping):
            return (kind.__name__, tuple((self.of(k), self.of(v)) for k, v in value.items()))
        if isinstance(value, functools.partial):
            return ("partial", self.of(value.func), self.of(value.args), self.of(value.keywords))
        if isinstance(value, list | tuple):
            return (kind.__name__, tuple(self.of(v) for v in value))
        if isinstance(value, set | frozenset):
            return (kind.__name__, frozenset(self.of(v) for v in value))
        if _is_machine(value):
            return ("machine", kind, _state(value), self.attributes(value))
        fields = _fields(value)
        if fields is None:
            return _Unseen(value)
        return ("object", kind, self.walk(fields))

    def attributes(self, machine: Any) -> Hashable:
        """
        A machine's attributes but its infrastructure and its functions and methods (an
        object that is callable but holds state counts like any other).
        """
        own = sorted(
            (
                (k, v)
                for k, v in vars(machine).items()
                if k not in INFRASTRUCTURE and not isinstance(v, _CODE)
            ),
            key=_name,
        )
        return self.walk(own)

    def walk(self, fields: list[tuple[str, Any]]) -> Hashable:
        return tuple((name, self.of(v)) for name, v in fields)


def snapshot(machine: Any) -> Hashable:
    """
    Everything `machine` holds, as a hashable value: equal for two instances only if no
    guard or case can tell them apart by what they hold.
    """
    walk = _Snapshot()
    walk.stack.append(id(machine))
    return walk.attributes(machine)


def state_key(machine: Any) -> Hashable:
    """
    The default search key of an instance: its state and a snapshot of what it holds (every
    attribute but the machine's infrastructure, recursively, see `snapshot`). Two instances
    with the same key are explored once.

    Sound, not small: what differs between two paths to one situation (a timestamp, an id
    made from a count) keeps them apart, so a machine holding such values is searched
    slowly; give `transition_paths` a key of what its guards and cases read instead
    (execfsm's own tests key an order by its state, fill count, pending replace, ...).
    """
    return (_state(machine), snapshot(machine))
