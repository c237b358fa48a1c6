"""
One function per compiled edge that runs its guards: the validators (when the edge
rechecks them), then its conds and unless, each called with the values it names.

`execfsm.fsm._injected.Injected.call` is right for any guard but pays a call and a lookup
per guard on every event. An edge's fused check fetches every value its guards require in
one place and calls each guard directly, as attrs builds ``__init__``: from source text, once.
Whenever a required value is missing it hands the event to the per-guard callers, which
raise exactly what python-statemachine would, so the two never differ. A guard whose values
cannot go by position (keyword-only parameters) is never fused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from execfsm.fsm._injected import Injected

Check = Callable[[dict[str, Any]], bool]
"""``check(available)``: runs the edge's guards; True if the edge is taken."""
Run = Callable[[dict[str, Any]], None]
"""``run(available)``: calls an event's callbacks."""


def _per_guard(
    validators: tuple[Injected, ...], conds: tuple[Injected, ...], unless: tuple[Injected, ...]
) -> Check:
    def check(available: dict[str, Any]) -> bool:
        for validator in validators:
            validator.call(available)
        for cond in conds:
            if not cond.call(available):
                return False
        for guard in unless:  # noqa: SIM110 - no generator per call on the hot path
            if guard.call(available):
                return False
        return True

    return check


def _built(
    name: str,
    groups: tuple[tuple[str, tuple[Injected, ...]], ...],
    fallback: Callable[[dict[str, Any]], Any],
    absent: Any,
    end: str,
) -> Any:
    """
    Build ``name(available)`` from `groups` of callables, each line the group's template
    (``{}`` the call) filled with one direct call, after fetching every required value once
    (a missing one hands `available` to `fallback`); `end` is the last line.
    """
    namespace: dict[str, Any] = {"fallback": fallback}
    required: dict[str, str] = {}  # name -> local variable
    body = []
    for template, callables in groups:
        for injected in callables:
            i = len(namespace)
            namespace[f"f{i}"] = injected.func
            values = []
            for j, (value, default) in enumerate(
                zip(injected.names, injected.defaults, strict=True)
            ):
                if default is absent:
                    values.append(required.setdefault(value, f"r{len(required)}"))
                else:
                    namespace[f"d{i}_{j}"] = default
                    values.append(f"available.get({value!r}, d{i}_{j})")
            body.append("    " + template.format(f"f{i}({', '.join(values)})"))
    lines = [f"def {name}(available):"]
    if required:
        lines.append("    try:")
        lines += [f"        {local} = available[{value!r}]" for value, local in required.items()]
        lines += ["    except KeyError:", "        return fallback(available)"]
    lines += [*body, f"    {end}"]
    source = compile("\n".join(lines), f"<execfsm fused {name}>", "exec")
    exec(source, namespace)  # noqa: S102 - text built here from parameter names, as attrs does
    return namespace[name]


def fused_check(
    validators: tuple[Injected, ...],
    conds: tuple[Injected, ...],
    unless: tuple[Injected, ...],
    absent: Any,
) -> Check | None:
    """
    The edge's check, or None if it has no guard to run. `absent` marks a parameter without
    a default (in ``Injected.defaults``).
    """
    guards = (*validators, *conds, *unless)
    if not guards:
        return None
    per_guard = _per_guard(validators, conds, unless)
    if not all(guard.positional for guard in guards):
        return per_guard
    groups = (
        ("{}", validators),
        ("if not {}: return False", conds),
        ("if {}: return False", unless),
    )
    check: Check = _built("check", groups, per_guard, absent, "return True")
    return check


def fused_calls(callbacks: tuple[Injected, ...], absent: Any) -> Run | None:
    """
    One function that calls `callbacks` in order (the ``after_<event>`` callback, then
    ``after_transition``), or None if there are none.
    """
    if not callbacks:
        return None

    def per_callback(available: dict[str, Any]) -> None:
        for callback in callbacks:
            callback.call(available)

    if not all(callback.positional for callback in callbacks):
        return per_callback
    run: Run = _built("run", (("{}", callbacks),), per_callback, absent, "return None")
    return run
