"""
Fingerprints of the code a machine runs: each guard (validator, cond, unless) and each
transition callback (``prepare_event``, ``before_/on_/after_<event>``, ``on_enter_/on_exit_``
and the generic ones), so the committed spec (`execfsm.governance.spec`) records what a guard
*does*, not only its name and description.

A callable's code is its normalised source: parsed, with docstrings and other bare string
statements (attribute docstrings) removed, and printed back by `ast.unparse` (so formatting
and comments do not count; annotations and decorators do). Its *definition* is that text plus
what the source does not show, written out as values: default arguments, closure values, and
a machine's own class attributes it reads (``self.limit``). Every name the code reads (also
``module.attr``, ``self.attr`` of a machine's methods, ``super().attr``, and the classes its
parameters and the machine's instance attributes are annotated with, whose methods it calls)
is resolved, transitively, once each:

- a function or class of the covered packages (execfsm and each machine's and guard's own
  top-level package) is a definition of its own (a class by its whole source);
- any other value a module holds (a constant, a table, an object) is a definition by the
  statements that assign it at the module's top level (``from … import`` followed to the
  module that assigns it), or, if none does, by its value written out field by field;
- a function or class outside the covered packages (the standard library, attrs) is named
  in a trailing ``# external`` line, never followed.

A guard's fingerprint is the sha256 of its definition and every definition it reaches, by
key (``module:qualname``, ``module:NAME``). Nothing in it depends on object ids, paths or
``PYTHONHASHSEED``. Code without source (C code, a lambda typed into a REPL or made by
``exec``) is marked ``<no source: module:qualname; bytecode sha256 …>``; a builtin is named.

Besides: a method also reaches its class's ``__init__``; a class counts with the functions
set on it after its statement (`_code_source.added_functions`); an UPPER_CASE or ``Final``
constant whose value is plain data counts by that value too (`_code_values`); every entry
reads the decimal context; and the machine's declared properties, groups, ``inputs``,
``setups``, ``stimuli`` and ``snapshot()`` are entries of kind ``declared``
(`_code_declared`).

Not seen: what a guard reaches only through a value it is given at run time (a Protocol's
implementations; an object's methods when nothing annotates it with its class), a name
computed at run time, the runtime value of a constant that is not plain data or not
UPPER_CASE/``Final``, methods made by ``exec``, state changed at import other than the
decimal context, what the environment or a configuration file gives a constant, and the
code of verify's own checks (P2, P3, the exploration engine). The text is `ast.unparse`'s,
which a new Python minor version may print differently: regenerate the spec when moving to
one.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from typing import Any

import attrs
from statemachine.callbacks import CallbackGroup

from execfsm.fsm._declaration import convention_names
from execfsm.fsm.model import MachineModel
from execfsm.governance._code_declared import declared_roots
from execfsm.governance._code_index import CodeIndex, Definition
from execfsm.governance._code_source import fingerprint, owner_of, qualified, reach, top_package
from execfsm.governance._code_values import CONTEXT_KEY, decimal_context_text

# -- a machine's guards and callbacks --------------------------------------------------------


@attrs.frozen
class CodeEntry:
    """
    One guard or callback of a machine: what it is, the edges it runs on, its definition's
    key and its fingerprint.
    """

    name: str
    kind: str
    """``validator``, ``cond``, ``unless`` (joined by ``/`` if more than one), ``callback``,
    ``declared`` (a declared property or what it is explored with)."""
    on: tuple[str, ...]
    definition: str
    fingerprint: str


_GUARD_GROUPS = (CallbackGroup.VALIDATOR, CallbackGroup.COND)

GENERIC_CALLBACKS = (
    "prepare_event",
    "before_transition",
    "on_exit_state",
    "on_transition",
    "on_enter_state",
    "after_transition",
)
"""The callbacks that run on every transition."""


def _edge(source: str, event: str, target: str) -> str:
    return f"{source} --{event}--> {target}"


def _state_names(machine: type[Any]) -> dict[str, str]:
    return {str(s.id): str(s.value) if s.value is not None else str(s.id) for s in machine.states}


def callback_edges(machine: type[Any], model: MachineModel, name: str) -> tuple[str, ...]:
    """
    The edges a convention-named callback runs on (``every transition`` for the generic ones).
    """
    if name in GENERIC_CALLBACKS:
        return ("every transition",)
    edges = model.transitions
    states = _state_names(machine)
    for prefix, end in (("on_enter_", "target"), ("on_exit_", "source")):
        state = states.get(name.removeprefix(prefix)) if name.startswith(prefix) else None
        if state is not None:
            chosen = [t for t in edges if getattr(t, end) == state and not t.internal]
            return tuple(dict.fromkeys(_edge(t.source, t.event, t.target) for t in chosen))
    for prefix in ("before_", "on_", "after_"):
        if name.startswith(prefix) and name.removeprefix(prefix) in model.events:
            event = name.removeprefix(prefix)
            chosen = [t for t in edges if t.event == event]
            return tuple(dict.fromkeys(_edge(t.source, t.event, t.target) for t in chosen))
    return ()


def _in_context(index: CodeIndex, key: str) -> str:
    """`key`, its definition now reading the decimal context too."""
    if CONTEXT_KEY not in index.definitions:
        index.definitions[CONTEXT_KEY] = Definition(CONTEXT_KEY, decimal_context_text(), ())
    found = index.definitions[key]
    if CONTEXT_KEY not in found.uses:
        index.definitions[key] = attrs.evolve(found, uses=(*found.uses, CONTEXT_KEY))
    return key


def machine_code(index: CodeIndex, machine: type[Any], model: MachineModel) -> dict[str, CodeEntry]:
    """
    Every guard of `model` and every callback `machine` defines, fingerprinted in `index`.
    """
    found: dict[str, tuple[str, Any, type | None, tuple[str, ...]]] = {}
    for name, func in sorted(model.guard_functions.items()):
        kinds: list[str] = []
        edges: list[str] = []
        for t in model.transitions:
            for kind, names in (
                ("cond", t.conds),
                ("unless", t.unless),
                ("validator", t.validators),
            ):
                if name in names:
                    kinds.append(kind)
                    edges.append(_edge(t.source, t.event, t.target))
        kind = "/".join(dict.fromkeys(sorted(kinds, key=("cond", "unless", "validator").index)))
        found[name] = (
            kind,
            func,
            machine if owner_of(func, machine) else None,
            tuple(dict.fromkeys(edges)),
        )
    for name in sorted(convention_names(machine)):
        try:
            static = inspect.getattr_static(machine, name)
        except AttributeError:
            continue
        if name in found or not callable(getattr(machine, name, None)):
            continue
        found[name] = ("callback", static, machine, callback_edges(machine, model, name))
    for name, (func, runs_on) in _declared_callbacks(machine).items():
        if name not in found:
            found[name] = ("callback", func, machine if owner_of(func, machine) else None, runs_on)
    entries = {}
    for name, (kind, func, self_class, on) in found.items():
        if " " in name and not isinstance(func, type):  # a guard expression: its guards
            key = index.expression(machine, name)
        else:
            key = index.root(func, self_class)
        key = _in_context(index, key)
        closure = index.closure(key)
        entries[name] = CodeEntry(name, kind, on, key, fingerprint(closure))
    for name, kind, value in declared_roots(machine):  # what the properties are proved over
        key = _in_context(
            index, index.value(value, f"{qualified(machine)}.{name.replace(' ', ':')}")
        )
        entries[name] = CodeEntry(name, kind, (), key, fingerprint(index.closure(key)))
    snapshot = inspect.getattr_static(machine, "snapshot", None)
    if snapshot is not None and index.covered(getattr(snapshot, "__func__", snapshot)):
        key = _in_context(index, index.root(snapshot, machine))
        entries["snapshot"] = CodeEntry(
            "snapshot", "declared", (), key, fingerprint(index.closure(key))
        )
    return entries


def code_spec(
    machines: Mapping[str, type[Any]],
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """
    The spec data of the machines' code: for each machine, its guards and callbacks by name
    (kind, edges, definition key, fingerprint); and every definition they reach, by key (its
    normalised text as lines, and the keys it reads).
    """
    models = {name: MachineModel.from_machine(cls) for name, cls in machines.items()}
    packages = {"execfsm"} | {top_package(cls.__module__) for cls in machines.values()}
    for model in models.values():
        packages |= {
            top_package(getattr(f, "__module__", None)) for f in model.guard_functions.values()
        }
    packages.discard("")
    index = CodeIndex(packages)
    entries: dict[str, dict[str, Any]] = {}
    reached: set[str] = set()
    for name, cls in machines.items():
        found = machine_code(index, cls, models[name])
        entries[name] = {
            guard: {
                "kind": entry.kind,
                "on": list(entry.on),
                "definition": entry.definition,
                "fingerprint": entry.fingerprint,
            }
            for guard, entry in sorted(found.items())
        }
        for entry in found.values():
            reached.update(index.closure(entry.definition))
    definitions = {
        key: {
            "code": index.definitions[key].text.split("\n"),
            "uses": list(index.definitions[key].uses),
        }
        for key in sorted(reached)
    }
    return entries, definitions


def _texts(definitions: Mapping[str, Any]) -> dict[str, tuple[str, list[str]]]:
    found = {}
    for key, definition in definitions.items():
        if isinstance(definition, Mapping):
            code, uses = definition.get("code", []), definition.get("uses", [])
            found[key] = ("\n".join(map(str, code)), [str(u) for u in uses])
    return found


def diff_code(
    name: str,
    committed: Mapping[str, Any],
    current: Mapping[str, Any],
    committed_definitions: Mapping[str, Any],
    current_definitions: Mapping[str, Any],
) -> list[str]:
    """
    Each guard or callback of machine `name` whose code changed (added, removed, or a
    different fingerprint), named with its kind and edges, followed by a unified diff of the
    normalised code of every definition it reaches that differs.
    """
    old_texts, new_texts = _texts(committed_definitions), _texts(current_definitions)
    lines: list[str] = []
    for guard in sorted(set(committed) | set(current)):
        old, new = committed.get(guard), current.get(guard)
        shown = new if isinstance(new, Mapping) else old
        kind = shown.get("kind", "guard") if isinstance(shown, Mapping) else "guard"
        edges = ", ".join(shown.get("on", [])) if isinstance(shown, Mapping) else ""
        where = f" (on {edges})" if edges else ""
        if not isinstance(old, Mapping):
            lines.append(f"{name}: {kind} {guard}: code added{where}")
            continue
        if not isinstance(new, Mapping):
            lines.append(f"{name}: {kind} {guard}: code removed{where}")
            continue
        if old.get("fingerprint") == new.get("fingerprint"):
            continue
        lines.append(f"{name}: {kind} {guard}: code changed{where}:")
        before = reach(str(old.get("definition")), old_texts)
        after = reach(str(new.get("definition")), new_texts)
        shown_diff = False
        for key in dict.fromkeys([*before, *after]):
            old_text, new_text = before.get(key), after.get(key)
            if old_text == new_text:
                continue
            shown_diff = True
            diff = difflib.unified_diff(
                [] if old_text is None else old_text.split("\n"),
                [] if new_text is None else new_text.split("\n"),
                fromfile=f"committed {key}",
                tofile=f"declared {key}",
                lineterm="",
            )
            lines += [f"  {line}" for line in diff]
        if not shown_diff:
            lines.append("  (the normalised code reads the same; its fingerprint differs)")
    return lines


def _declared_callbacks(machine: type[Any]) -> dict[str, tuple[Any, tuple[str, ...]]]:
    """
    The callbacks given to states and transitions themselves (``State(enter=...)``,
    ``a.to(b, on=...)``; only a machine on python-statemachine's runtime has them), by name,
    with the edges they run on.
    """
    states = _state_names(machine)
    found: dict[str, tuple[Any, list[str]]] = {}

    def add(spec: Any, edges: list[str]) -> None:
        func = spec.func
        if isinstance(func, str):
            func = getattr(machine, func, None) if func.isidentifier() else None
        if func is None or not callable(func):
            return
        name = spec.func if isinstance(spec.func, str) else getattr(func, "__name__", repr(func))
        known = found.setdefault(name, (func, []))
        known[1].extend(edges)

    for state in machine.states:
        name = states[str(state.id)]
        for transition in state.transitions:
            target = transition.target
            edges = [
                _edge(name, str(event), states[str(target.id)] if target else name)
                for event in transition.events
            ]
            for spec in transition._specs:
                if not spec.is_convention and spec.group not in _GUARD_GROUPS:
                    add(spec, edges)
    everything = [
        (_edge(states[str(s.id)], str(e), states[str(t.target.id)] if t.target else ""), s, t)
        for s in machine.states
        for t in s.transitions
        for e in t.events
    ]
    for state in machine.states:
        for spec in state._specs:
            if spec.is_convention:
                continue
            if spec.group is CallbackGroup.ENTER:
                add(spec, [edge for edge, _s, t in everything if t.target is state])
            elif spec.group is CallbackGroup.EXIT:
                add(spec, [edge for edge, s, _t in everything if s is state])
            else:
                add(spec, [])
    return {name: (func, tuple(dict.fromkeys(edges))) for name, (func, edges) in found.items()}
