"""
Guards and callbacks as the compiled engine calls them: each inspected once, at compile time,
into a caller that passes the values it names, as python-statemachine injects them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any

import attrs

from execfsm.errors import DefinitionError

_INTERNALS = frozenset({"self", "machine", "model", "event_data", "trigger_data", "transition"})
"""Values python-statemachine injects from its own runtime, which the table does not have."""


ABSENT: Any = object()


def _caller(
    func: Callable[..., Any],
    names: tuple[str, ...],
    positional: bool,
    defaults: tuple[Any, ...] = (),
) -> Callable[[Mapping[str, Any]], Any]:
    """
    A function ``call(available)`` that calls `func` python-statemachine's way: with the
    available values it names. Built once per callable, so the table pays no signature work
    at run time. `defaults` (``ABSENT`` for a required parameter) lets a missing optional
    value take its default without the keyword fallback.
    """
    if not names:
        return lambda available: func()

    def by_name(available: Mapping[str, Any]) -> Any:
        return func(**{k: available[k] for k in names if k in available})

    if not positional:
        return by_name
    if len(names) == 1:
        (name,) = names

        def one(available: Mapping[str, Any]) -> Any:
            value = available.get(name, ABSENT)
            return func() if value is ABSENT else func(value)

        return one
    if len(names) == 2 and defaults[1] is not ABSENT:  # e.g. (self, fill=None)
        (first, second), (first_default, second_default) = names, defaults

        def two(available: Mapping[str, Any]) -> Any:
            value = available.get(first, first_default)
            if value is ABSENT:
                return by_name(available)
            return func(value, available.get(second, second_default))

        return two
    if len(names) == 4 and ABSENT not in defaults[1:]:  # e.g. (self, fill=None, ref=None, x=None)
        (first, second, third, fourth) = names
        (first_default, second_default, third_default, fourth_default) = defaults

        def four(available: Mapping[str, Any]) -> Any:
            value = available.get(first, first_default)
            if value is ABSENT:
                return by_name(available)
            return func(
                value,
                available.get(second, second_default),
                available.get(third, third_default),
                available.get(fourth, fourth_default),
            )

        return four
    if any(default is not ABSENT for default in defaults):
        named_defaults = tuple(zip(names, defaults, strict=True))

        def many_with_defaults(available: Mapping[str, Any]) -> Any:
            values = []
            for name, default in named_defaults:
                value = available.get(name, default)
                if value is ABSENT:  # a required value the event did not supply
                    return by_name(available)
                values.append(value)
            return func(*values)

        return many_with_defaults
    values_of = itemgetter(*names)

    def many(available: Mapping[str, Any]) -> Any:
        try:
            values = values_of(available)
        except KeyError:  # a name the event did not supply: let python raise the TypeError
            return by_name(available)
        return func(*values)

    return many


@attrs.frozen
class Injected:
    """
    A callable with the argument names it takes, called python-statemachine's way: with the
    available values it names.
    """

    func: Callable[..., Any]
    names: tuple[str, ...]
    call: Callable[[Mapping[str, Any]], Any] = attrs.field(eq=False, repr=False)
    """``call(available)``: the specialised caller."""
    positional: bool = attrs.field(default=False, eq=False, repr=False)
    """Whether the values can go by position (no keyword-only parameter)."""
    defaults: tuple[Any, ...] = attrs.field(default=(), eq=False, repr=False)
    """Each parameter's default, ``ABSENT`` for a required one."""

    @classmethod
    def of(cls, func: Callable[..., Any], *, method: bool = False) -> Injected:
        """
        Inspect `func` once. A `method` (a callback defined on the machine) gets the machine
        as ``self``: the engine puts it in the available values under that name, which no
        event can supply.

        Raises:
            DefinitionError: `func` takes ``*args`` or ``**kwargs``, or names one of
                python-statemachine's internals (``event_data``, ``model``, ...): the
                table does not have them, so the engines would differ.
        """
        if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
            raise DefinitionError(
                f"{getattr(func, '__qualname__', func)!r} is async: the compiled engine does not "
                f"await guards or callbacks; make it a plain function, or declare the machine "
                f"compiled_engine = False and use Engine.REFERENCE"
            )
        params = list(inspect.signature(func).parameters.values())
        if method:  # bound: its first parameter is the machine, whatever its name
            if not params or params[0].kind not in (
                params[0].POSITIONAL_ONLY,
                params[0].POSITIONAL_OR_KEYWORD,
            ):
                raise DefinitionError(f"{func.__qualname__!r}: a method takes the machine first")
            params[0] = params[0].replace(name="self", default=params[0].empty)
        variadic = [
            ("**" if p.kind is p.VAR_KEYWORD else "*") + p.name
            for p in params
            if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]
        internal = [p.name for p in params[method:] if p.name in _INTERNALS]
        if variadic or internal:
            taken = variadic[0] if variadic else internal[0]
            raise DefinitionError(
                f"{getattr(func, '__qualname__', func)!r} takes {taken}: the compiled "
                f"engine passes only the values an event and prepare_event supply, not "
                f"python-statemachine's internals; name those, or use Engine.REFERENCE"
            )
        names = tuple(p.name for p in params)
        # Values can go by position when the named parameters are exactly the positional ones.
        positional = all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params)
        defaults = tuple(ABSENT if p.default is p.empty else p.default for p in params)
        return cls(func, names, _caller(func, names, positional, defaults), positional, defaults)
