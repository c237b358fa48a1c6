"""
One function per compiled edge that runs its guards: the validators (when the edge
rechecks them), then its conds and unless, each called with the values it names.

`execfsm.fsm._compiled.Injected.call` is right for any guard but pays a call and a lookup
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
    from execfsm.fsm._compiled import Injected

Check = Callable[[dict[str, Any]], bool]
"""``check(available)``: runs the edge's guards; True if the edge is taken."""


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
    namespace: dict[str, Any] = {"per_guard": per_guard}
    required: dict[str, str] = {}  # name -> local variable
    calls = []
    for i, guard in enumerate(guards):
        namespace[f"g{i}"] = guard.func
        values = []
        for j, (name, default) in enumerate(zip(guard.names, guard.defaults, strict=True)):
            if default is absent:
                values.append(required.setdefault(name, f"r{len(required)}"))
            else:
                namespace[f"d{i}_{j}"] = default
                values.append(f"available.get({name!r}, d{i}_{j})")
        calls.append(f"g{i}({', '.join(values)})")
    lines = ["def check(available):"]
    if required:
        lines.append("    try:")
        lines += [f"        {local} = available[{name!r}]" for name, local in required.items()]
        lines += ["    except KeyError:", "        return per_guard(available)"]
    lines += [f"    {call}" for call in calls[: len(validators)]]
    lines += [f"    if not {call}: return False" for call in calls[len(validators) :][: len(conds)]]
    lines += [f"    if {call}: return False" for call in calls[len(validators) + len(conds) :]]
    lines.append("    return True")
    source = compile("\n".join(lines), "<execfsm fused edge check>", "exec")
    exec(source, namespace)  # noqa: S102 - text built here from parameter names, as attrs does
    check: Check = namespace["check"]
    return check
