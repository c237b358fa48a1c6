"""
Diagram diffs for review: each declared machine compared with the committed spec
(``spec/machines.json``), drawn with what was added in green, what was removed in red
(dashed), changed guards and validators in orange (old → new), the rest grey; plus a Markdown
summary to paste into a pull request.

The comparison works on spec data only (`execfsm.governance.spec.spec_data` of the declared
machine against the committed JSON), and compares each guard's entries whole: any field a
guard has in the spec (its description today, a code fingerprint tomorrow), in ``guards`` or
in any other per-guard table of the machine, that differs makes the guard *changed*.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import attrs
import graphviz  # type: ignore[import-untyped]
from statemachine import StateMachine

from execfsm.diagrams._dot_text import graph_name, literal, node_ids
from execfsm.diagrams._files import file_stems, remove_stale, write_manifest
from execfsm.diagrams._md_text import code, text
from execfsm.diagrams._spec_text import (
    GUARD_LISTS,
    Copies,
    Edge,
    Spec,
    changed_keys,
    copies_lines,
    copies_text,
    edge_text,
    edges,
    list_lines,
    old_new,
    state_flags,
)
from execfsm.diagrams.committed import SpecUnreadable, load_committed
from execfsm.diagrams.render import RendererMissing, render
from execfsm.diagrams.styles import NODE_STYLE, kind_of
from execfsm.fsm.model import StateModel
from execfsm.governance.spec import SPEC_FILE, diff_cases, spec_data

__all__ = [
    "ADDED",
    "CHANGED",
    "REMOVED",
    "UNCHANGED",
    "GuardChange",
    "MachineDiff",
    "SpecUnreadable",
    "diff_digraph",
    "diff_machine",
    "diff_machines",
    "load_committed",
    "summary_lines",
    "write_diff",
    "write_unreadable",
]

ADDED = "#16a34a"
REMOVED = "#dc2626"
CHANGED = "#ea580c"
UNCHANGED = "#9ca3af"

_STRUCTURE = frozenset({"name", "initial", "states", "transitions", "guards", "cases"})
"""The spec's keys this module compares one by one; any other key is compared generically."""
MANIFEST = ".execfsm-diff"
"""The list of files the last ``verify --diff`` wrote into its folder (removed when stale)."""


@attrs.frozen
class GuardChange:
    """
    One guard whose spec entries differ: each field as (old, new); None where absent.
    """

    name: str
    fields: tuple[tuple[str, object, object], ...]

    def text(self) -> str:
        """
        ``name: field: old -> new; …`` (long values cut).
        """
        parts = [f"{field}: {old_new(old, new)}" for field, old, new in self.fields]
        return f"{self.name}: " + "; ".join(parts)


@attrs.frozen
class MachineDiff:
    """
    What changed in one machine between the committed spec and the declaration.
    """

    machine: str
    committed: Spec | None
    """The committed spec of the machine (None: the machine is new)."""
    current: Spec | None
    """The declared machine's spec (None: the machine was removed)."""
    states_added: tuple[str, ...] = ()
    states_removed: tuple[str, ...] = ()
    states_changed: tuple[str, ...] = ()
    """States whose flags (initial, final) changed."""
    transitions_added: tuple[Edge, ...] = ()
    transitions_removed: tuple[Edge, ...] = ()
    transitions_changed: tuple[Edge, ...] = ()
    """Edges whose entry changed (guard lists: conds, unless, validators; any other field)."""
    guards_changed: tuple[GuardChange, ...] = ()
    other: tuple[str, ...] = ()
    """Everything else that changed (cases, initial state, other spec fields), in words."""

    @property
    def changed(self) -> bool:
        """
        Whether anything differs.
        """
        return self.committed != self.current


def _guard_entries(spec: Spec | None, names: set[str]) -> dict[str, dict[str, object]]:
    """
    Every field the spec holds for each guard: ``guards`` (a description, or a table of
    fields), and any other per-guard table of the machine, keyed by its name.
    """
    entries: dict[str, dict[str, object]] = {name: {} for name in names}
    if spec is None:
        return entries
    for key, table in spec.items():
        if key in _STRUCTURE - {"guards"} or not isinstance(table, Mapping):
            continue
        for name in names & set(table):
            value = table[name]
            prefix = "" if key == "guards" else f"{key}."
            if isinstance(value, Mapping):
                entries[name].update({f"{prefix}{k}": v for k, v in value.items()})
            else:
                entries[name]["description" if key == "guards" else key] = value
    return entries


def _guard_names(spec: Spec | None) -> set[str]:
    if spec is None:
        return set()
    guards = spec.get("guards", {})
    names = set(guards) if isinstance(guards, Mapping) else set()
    for t in spec.get("transitions", []):
        for key in GUARD_LISTS:
            names.update(t.get(key, []))
    return names


def _guard_changes(committed: Spec | None, current: Spec | None) -> tuple[GuardChange, ...]:
    names = _guard_names(committed) | _guard_names(current)
    old, new = _guard_entries(committed, names), _guard_entries(current, names)
    changes = []
    for name in sorted(names):
        if old[name] == new[name]:
            continue
        fields = tuple(
            (field, old[name].get(field), new[name].get(field))
            for field in sorted(set(old[name]) | set(new[name]))
            if old[name].get(field) != new[name].get(field)
        )
        changes.append(GuardChange(name, fields))
    return tuple(changes)


def _other(name: str, committed: Spec, current: Spec, guards: set[str]) -> tuple[str, ...]:
    lines = []
    if committed.get("name") != current.get("name"):
        lines.append(f"class renamed: {committed.get('name')} -> {current.get('name')}")
    if committed.get("initial") != current.get("initial"):
        lines.append(
            f"initial state changed: {committed.get('initial')} -> {current.get('initial')}"
        )
    states = sorted(s["name"] for s in current.get("states", []))
    prefix = f"{name}: "
    lines += [
        line.removeprefix(prefix)
        for line in diff_cases(name, committed.get("cases", []), current.get("cases", []), states)
    ]
    for key in sorted((set(committed) | set(current)) - _STRUCTURE):
        old, new = committed.get(key), current.get(key)
        if old == new:
            continue
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            keys = {k for k in set(old) | set(new) if old.get(k) != new.get(k)} - guards
            if not keys:
                continue  # per-guard fields: reported as changed guards
            lines.append(f"{key} changed: {', '.join(sorted(map(str, keys)))}")
        else:
            lines.append(f"{key} changed: {old_new(old, new)}")
    return tuple(lines)


def diff_machine(name: str, committed: Spec | None, current: Spec | None) -> MachineDiff:
    """
    The differences of one machine (either side None: the machine is added or removed).
    """
    old_states = {s["name"]: s for s in (committed or {}).get("states", [])}
    new_states = {s["name"]: s for s in (current or {}).get("states", [])}
    old_edges, new_edges = edges(committed), edges(current)
    guards: tuple[GuardChange, ...] = ()
    other: tuple[str, ...] = ()
    if committed is not None and current is not None:  # else the machine itself is the news
        guards = _guard_changes(committed, current)
        other = _other(name, committed, current, _guard_names(committed) | _guard_names(current))
    else:  # no guard noise, but every case row of a machine added or removed is named
        spec = current if current is not None else committed
        assert spec is not None  # noqa: S101 - one side at least
        cases = list(spec.get("cases", []))
        states = sorted(s["name"] for s in spec.get("states", []))
        old, new = ([], cases) if current is not None else (cases, [])
        rows = diff_cases(name, old, new, states)
        other = tuple(line.removeprefix(f"{name}: ") for line in rows)
    return MachineDiff(
        machine=name,
        committed=committed,
        current=current,
        states_added=tuple(s for s in new_states if s not in old_states),
        states_removed=tuple(s for s in old_states if s not in new_states),
        states_changed=tuple(
            s for s in new_states if s in old_states and old_states[s] != new_states[s]
        ),
        transitions_added=tuple(sorted(new_edges.keys() - old_edges.keys())),
        transitions_removed=tuple(sorted(old_edges.keys() - new_edges.keys())),
        transitions_changed=tuple(
            e for e in sorted(new_edges.keys() & old_edges.keys()) if old_edges[e] != new_edges[e]
        ),
        guards_changed=guards,
        other=other,
    )


def diff_machines(
    committed: Mapping[str, Spec] | None, machines: Mapping[str, type[StateMachine]]
) -> list[MachineDiff]:
    """
    Every machine's diff: the declared ones in order, then those only the spec has.
    """
    old = committed or {}
    declared = spec_data(machines)["machines"]  # as `spec --write` writes it: code included
    diffs = [diff_machine(name, old.get(name), declared[name]) for name in machines]
    diffs += [diff_machine(name, old[name], None) for name in sorted(set(old) - set(machines))]
    return diffs


def diff_digraph(diff: MachineDiff) -> graphviz.Digraph:
    """
    Both versions of the machine in one picture: added states and edges green, removed ones
    red and dashed, edges whose guards changed (or that carry a changed guard) orange with
    old → new, the rest grey; a note lists each changed guard's fields, old → new.
    """
    old_states = {s["name"]: s for s in (diff.committed or {}).get("states", [])}
    new_states = {s["name"]: s for s in (diff.current or {}).get("states", [])}
    old_edges, new_edges = edges(diff.committed), edges(diff.current)
    states = {**old_states, **new_states}
    order = [*new_states, *(s for s in old_states if s not in new_states)]
    ids = node_ids([*order, *(n for e in (*old_edges, *new_edges) for n in (e[0], e[2]))])
    spec = diff.current or diff.committed or {}
    title = f"{spec.get('name', diff.machine)} ({diff.machine}): committed spec -> declared"
    graph = graphviz.Digraph(name=graph_name(diff.machine))
    graph.attr(rankdir="LR", labelloc="t", label=literal([title]), fontname="Helvetica")
    graph.attr("node", fontname="Helvetica", fontsize="11")
    graph.attr("edge", fontname="Helvetica", fontsize="9")
    for name in ids:
        entry = states.get(name, {"name": name, "initial": False, "final": False})
        style = dict(
            NODE_STYLE[kind_of(StateModel(name, bool(entry["initial"]), bool(entry["final"])))]
        )
        label = [name]
        if name not in old_states:
            style.update(color=ADDED, fontcolor=ADDED, penwidth="2.5")
            label = [f"+ {name}", "(added)"]
        elif name not in new_states:
            style.update(color=REMOVED, fontcolor=REMOVED, penwidth="2")
            style["style"] = style["style"] + ",dashed"
            label = [f"- {name}", "(removed)"]
        elif name in diff.states_changed:
            style.update(color=CHANGED, fontcolor=CHANGED, penwidth="2.5")
            label = [name, "(changed: " + state_flags(old_states[name], new_states[name]) + ")"]
        graph.node(ids[name], label=literal(label), **style)
    changed_guards = {g.name for g in diff.guards_changed}
    for edge in sorted({**old_edges, **new_edges}):
        old, new = old_edges.get(edge), new_edges.get(edge)
        _draw_edge(graph, ids, edge, old, new, changed_guards)
    if diff.guards_changed or diff.other:
        lines = ["Changed guards (old -> new):"] if diff.guards_changed else []
        lines += [g.text() for g in diff.guards_changed]
        lines += [*(["Also changed:"] if diff.other else []), *diff.other]
        graph.node(
            "changes_note",
            label=literal(lines),
            shape="note",
            color=CHANGED,
            fontcolor=CHANGED,
            fontsize="9",
        )
    return graph


def _draw_edge(
    graph: graphviz.Digraph,
    ids: Mapping[str, str],
    edge: Edge,
    old_copies: Copies | None,
    new_copies: Copies | None,
    changed_guards: set[str],
) -> None:
    source, event, target = edge
    shown = new_copies if new_copies is not None else old_copies
    assert shown is not None  # noqa: S101 - the edge is on one side at least
    label = [event, *copies_lines(shown)]
    twin = len(old_copies or ()) > 1 or len(new_copies or ()) > 1
    old = old_copies[0] if old_copies is not None else None
    new = new_copies[0] if new_copies is not None else None
    if twin and old_copies is not None and new_copies is not None:
        marked = sorted(
            changed_guards & {g for t in new_copies for k in GUARD_LISTS for g in t.get(k, [])}
        )
        if old_copies != new_copies or marked:
            style = {"color": CHANGED, "fontcolor": CHANGED, "penwidth": "2.2"}
            label = [f"~ {event}", "was:", *copies_lines(old_copies)]
            label += ["now:", *copies_lines(new_copies)]
            label += [f"~ {g} changed" for g in marked]
        else:
            style = {"color": UNCHANGED, "fontcolor": "#4b5563"}
    elif old is None:
        style = {"color": ADDED, "fontcolor": ADDED, "penwidth": "2.2"}
        label[0] = f"+ {event}"
    elif new is None:
        style = {"color": REMOVED, "fontcolor": REMOVED, "style": "dashed", "penwidth": "1.8"}
        label[0] = f"- {event}"
    else:
        lists = changed_keys(old, new)
        marked = sorted(changed_guards & {g for k in GUARD_LISTS for g in new.get(k, [])})
        if lists or marked:
            style = {"color": CHANGED, "fontcolor": CHANGED, "penwidth": "2.2"}
            label = [f"~ {event}", *list_lines(old, new, changed_guards)]
            label += [
                f"{k}: {old_new(old.get(k), new.get(k))}" for k in lists if k not in GUARD_LISTS
            ]
        else:
            style = {"color": UNCHANGED, "fontcolor": "#4b5563"}
    graph.edge(ids[source], ids[target], label=literal(label), **style)


def summary_lines(diff: MachineDiff, image: str | None) -> list[str]:
    """
    The machine's section of the pull-request summary (Markdown): every name from the
    machines or the committed spec shown as text (`code`), never as Markdown.
    """
    spec = diff.current or diff.committed or {}
    lines = [f"### {code(diff.machine)} ({code(spec.get('name', '?'))})", ""]
    if not diff.changed:
        return [*lines, "no change", ""]
    if image:
        lines += [f"![{text(Path(image).stem)} diff]({image})", ""]  # a safe file name
    if diff.committed is None:
        lines.append("- machine added (not in the committed spec)")
    if diff.current is None:
        lines.append("- machine removed (still in the committed spec)")
    old_edges, new_edges = edges(diff.committed), edges(diff.current)
    lines += [f"- state added: {code(s)}" for s in diff.states_added]
    lines += [f"- state removed: {code(s)}" for s in diff.states_removed]
    old_states = {s["name"]: s for s in (diff.committed or {}).get("states", [])}
    new_states = {s["name"]: s for s in (diff.current or {}).get("states", [])}
    lines += [
        f"- state changed: {code(s)} ({state_flags(old_states[s], new_states[s])})"
        for s in diff.states_changed
    ]
    lines += [
        f"- transition added: {code(edge_text(e, new_edges[e]))}" for e in diff.transitions_added
    ]
    lines += [
        f"- transition removed: {code(edge_text(e, old_edges[e]))}"
        for e in diff.transitions_removed
    ]
    for edge in diff.transitions_changed:
        old_copies, new_copies = old_edges[edge], new_edges[edge]
        name = code(f"{edge[0]} --{edge[1]}--> {edge[2]}")
        if len(old_copies) == len(new_copies) == 1:
            old, new = old_copies[0], new_copies[0]
            changes = "; ".join(
                code(f"{k} {old.get(k)} -> {new.get(k)}") for k in changed_keys(old, new)
            )
        else:
            changes = (
                f"copies {code(copies_text(old_copies) or '(no guard)')} -> "
                f"{code(copies_text(new_copies) or '(no guard)')}"
            )
        lines.append(f"- transition changed: {name}: {changes}")
    for guard in diff.guards_changed:
        kind = "changed"
        if all(old is None for _, old, _new in guard.fields):
            kind = "added"
        elif all(new is None for _, _old, new in guard.fields):
            kind = "removed"
        lines.append(f"- guard {kind}: {code(guard.name)}: {text(guard.text().partition(': ')[2])}")
    lines += [f"- {code(line)}" for line in diff.other]
    if lines[-1] == "":  # nothing above names a difference: the entries moved
        lines.append("- the same entries in another order (see the drift lines of verify)")
    return [*lines, ""]


def _shown_path(path: Path) -> str:
    """`path` relative to the current folder (the project) when it is under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (OSError, ValueError):
        return str(path)


def write_diff(
    out: Path,
    committed: Mapping[str, Spec] | None,
    machines: Mapping[str, type[StateMachine]],
    *,
    spec_path: Path = Path("spec") / SPEC_FILE,
) -> tuple[list[Path], list[MachineDiff]]:
    """
    Write into `out` a diagram (``NAME.dot``, ``NAME.svg``) per changed machine and
    ``summary.md``; return the files written and every machine's diff. Without a ``dot``
    program, only the DOT files and the summary are written (the summary says so).

    A machine's files are named by `file_stems` (a name that is not a plain word, e.g. one
    a committed spec holds, gets a slug and a hash): nothing is written outside `out`.
    Files an earlier run wrote into `out` (its manifest) and this one did not are removed.
    """
    diffs = diff_machines(committed, machines)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    changed = [d for d in diffs if d.changed]
    stems = file_stems([d.machine for d in changed], reserved=["summary"])
    shown = code(_shown_path(spec_path))
    md = ["## State machine changes", ""]
    if committed is None:
        md += [f"No committed spec at {shown}: every machine is new.", ""]
    md += [
        f"{len(changed)} of {len(diffs)} machine(s) differ from the committed {shown}"
        + ("." if changed else ": no change."),
        "",
    ]
    missing = ""
    for diff in diffs:
        image = None
        if diff.changed:
            dot: str = diff_digraph(diff).source
            path = out / f"{stems[diff.machine]}.dot"
            path.write_text(dot, encoding="utf-8")
            written.append(path)
            try:
                svg = render(dot, "svg", out / f"{stems[diff.machine]}.svg")
                written.append(svg)
                image = svg.name
            except RendererMissing as exc:
                missing = str(exc)
        md += summary_lines(diff, image)
    if missing:
        md += [f"(No SVG drawn: {missing})", ""]
    path = out / "summary.md"
    path.write_text("\n".join(md).rstrip() + "\n", encoding="utf-8")
    written.append(path)
    remove_stale(out, MANIFEST, written)
    write_manifest(out, MANIFEST, written[:-1])  # the diagrams: summary.md is always written
    return written, diffs


def write_unreadable(out: Path, problem: str) -> list[Path]:
    """
    Write into `out` a ``summary.md`` saying the committed spec cannot be read (`problem`)
    and no diff was drawn, removing the files an earlier run wrote: nothing stale is left
    for a reviewer to read as this run's result.
    """
    out.mkdir(parents=True, exist_ok=True)
    path = out / "summary.md"
    text = [
        "## State machine changes",
        "",
        f"**The committed spec cannot be read: no diff drawn.** {code(problem)}",
    ]
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    remove_stale(out, MANIFEST, [path])
    write_manifest(out, MANIFEST, [])
    return [path]
