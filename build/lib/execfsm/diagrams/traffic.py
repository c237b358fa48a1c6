"""
An audit trail replayed onto the machines' diagrams: what an operator opens when something
looks wrong.

Per machine: how many applied moves took each declared edge (the count on the edge, its width
by traffic; untaken edges faint), refusals and duplicates per state by reason code, and the
states instances are held in now (states the machine does not declare resting: neither final
nor in its ``resting_states``; with the instances flagged for reconciliation among them).
An edge declared twice with the same ends and event is drawn once: the records cannot tell
the copies apart, so its count is the moves along either, its label every copy's guards.
Counting is one pass over the records; the instances' current
states come from `execfsm.governance.trail.instance_states`, the view recovery takes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import attrs
import graphviz  # type: ignore[import-untyped]
from statemachine import StateMachine

from execfsm.diagrams._dot_text import graph_name, literal, node_ids
from execfsm.diagrams._files import file_stems
from execfsm.diagrams._md_text import code, text
from execfsm.diagrams._md_text import name as md_name
from execfsm.diagrams.render import render
from execfsm.diagrams.styles import NODE_STYLE, edge_label, kind_of
from execfsm.enums import ReasonCode
from execfsm.errors import ExecFsmError
from execfsm.fsm.audit import AuditOutcome, AuditRecord
from execfsm.fsm.model import MachineModel, TransitionModel
from execfsm.governance.trail import instance_states

NO_STATE = "(no state)"
"""Where a refusal of something that never started (no source state) is counted."""

_FAINT = "#d1d5db"
_TAKEN = "#1f2937"
_HELD = "#ea580c"
_FLAGGED = "#dc2626"
_FLAGGED_SHOWN = 20
"""Flagged instances listed by name in the summary, per machine (the rest are counted)."""

Edge = tuple[str, str, str]
"""(source, event, target) of a declared transition."""


class UnknownMachineError(ExecFsmError, ValueError):
    """
    The trail holds records of a machine the tools do not know.
    """

    def __init__(self, machine: str, seq: int) -> None:
        super().__init__(
            f"record seq {seq}: unknown machine {machine!r} (a machine of your own must be "
            f"registered: --machine MODULE:CLASS, [tool.execfsm] machines, or "
            f"execfsm.register_machine)"
        )
        self.machine = machine
        self.seq = seq


@attrs.frozen
class FlaggedInstance:
    """
    An instance the trail flags for reconciliation.
    """

    instance: str
    state: str
    """Where it is now ("" if it never moved)."""
    reasons: tuple[str, ...]


@attrs.frozen
class MachineTraffic:
    """
    One machine's share of a trail.
    """

    machine: str
    """The audit name (the records' ``machine``)."""
    records: int
    edges: Mapping[Edge, int]
    """Applied moves along each declared edge (every edge present, 0 when untaken)."""
    undeclared: Mapping[Edge, int]
    """Applied moves the model has no edge for (only in a trail that failed verification)."""
    in_place: Mapping[str, Mapping[str, int]]
    """Applied records that did not move (annotations, declared cases): state → event → n."""
    refusals: Mapping[str, Mapping[str, int]]
    """Refused events: state (or `NO_STATE`) → reason code → count."""
    duplicates: Mapping[str, int]
    """Duplicate events, by state."""
    held: Mapping[str, int]
    """Instances now in each state the machine does not declare resting (neither final nor
    in its ``resting_states``: an order's FILLED may still be busted, but nothing is held
    there)."""
    held_flagged: Mapping[str, int]
    """Of those, the ones flagged for reconciliation."""
    finished: Mapping[str, int]
    """Instances now in each resting state (final, or declared resting)."""
    flagged: tuple[FlaggedInstance, ...]

    @property
    def moves(self) -> int:
        """
        Applied moves along declared edges.
        """
        return sum(self.edges.values())

    @property
    def refused(self) -> int:
        """
        Refused events.
        """
        return sum(sum(by_reason.values()) for by_reason in self.refusals.values())


@attrs.define
class _Tally:
    edges: Counter[Edge]
    finals: frozenset[str]
    events: frozenset[str]
    flag_reasons: frozenset[str]
    field: str
    records: int = 0
    undeclared: Counter[Edge] = attrs.Factory(Counter)
    in_place: dict[str, Counter[str]] = attrs.Factory(dict)
    refusals: dict[str, Counter[str]] = attrs.Factory(dict)
    duplicates: Counter[str] = attrs.Factory(Counter)
    flags: dict[str, dict[str, None]] = attrs.Factory(dict)


def _tally(model: MachineModel, machine: type[StateMachine]) -> _Tally:
    return _Tally(
        edges=Counter({(t.source, t.event, t.target): 0 for t in model.transitions}),
        finals=frozenset(model.resting_states),
        events=frozenset(model.events),
        flag_reasons=frozenset(c.reason for c in model.cases if c.flags),
        field=getattr(machine, "audit_instance", "correlation_id"),
    )


def _count(tally: _Tally, record: AuditRecord) -> None:
    tally.records += 1
    reason = str(record.reason_code) if record.reason_code is not None else None
    source = record.source if record.source is not None else NO_STATE
    flag = reason is not None and reason in tally.flag_reasons
    if record.outcome is AuditOutcome.APPLIED:
        edge = (source, record.event, str(record.target))
        if edge in tally.edges:
            tally.edges[edge] += 1
        elif record.source == record.target:
            tally.in_place.setdefault(source, Counter())[record.event] += 1
            flag = flag or (reason is not None and record.event not in tally.events)
        else:
            tally.undeclared[edge] += 1
    elif record.outcome is AuditOutcome.REFUSED:
        tally.refusals.setdefault(source, Counter())[reason or "-"] += 1
    else:
        tally.duplicates[source] += 1
    if reason in _SETTLING:  # reconciliation: the venue and we agree, or its order adopted
        tally.flags.pop(getattr(record, tally.field) or "", None)
    elif flag and reason is not None:
        instance = getattr(record, tally.field) or ""
        tally.flags.setdefault(instance, {})[reason] = None


_SETTLING = frozenset({str(ReasonCode.RECON_AGREED), str(ReasonCode.RECON_EXTERNAL_ORDER)})
"""Annotations that clear an instance's flags instead of raising one: reconciliation found
the order agrees with the venue (``reconciled``), or took in the venue's order (``adopt``)."""


def count_traffic(
    records: Sequence[AuditRecord],
    machines: Mapping[str, type[StateMachine]],
    *,
    skip_unknown: bool = False,
    flags: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
) -> dict[str, MachineTraffic]:
    """
    Each machine's traffic in `records` (every machine of `machines`, those the trail never
    mentions with zero traffic), in one pass plus `instance_states`.

    An instance is *flagged* when a record of it carries a reason code that a declared case
    of its machine flags (e.g. a fill after the order ended), or is an applied annotation with
    a reason code (``flag_reconciliation``, e.g. DISPATCH_OUTCOME_UNKNOWN; a contingent
    group's ``flag``), or when `flags` (by machine, then instance: reason codes, e.g. what
    recovery would flag in a store) names it.

    Raises:
        UnknownMachineError: a record names a machine not in `machines` (unless
            `skip_unknown`: its records are then left out).
    """
    models = {name: MachineModel.from_machine(cls) for name, cls in machines.items()}
    tallies = {name: _tally(models[name], cls) for name, cls in machines.items()}
    for record in records:
        tally = tallies.get(record.machine)
        if tally is None:
            if skip_unknown:
                continue
            raise UnknownMachineError(record.machine, record.seq)
        _count(tally, record)
    for machine, by_instance in (flags or {}).items():
        if machine in tallies:
            for instance, reasons in by_instance.items():
                tallies[machine].flags.setdefault(instance, {}).update(dict.fromkeys(reasons))
    known = [r for r in records if r.machine in tallies] if skip_unknown else records
    now = instance_states(known, machines)
    return {name: _freeze(name, tally, now.get(name, {})) for name, tally in tallies.items()}


def _freeze(name: str, tally: _Tally, states: Mapping[str, str]) -> MachineTraffic:
    held: Counter[str] = Counter()
    held_flagged: Counter[str] = Counter()
    finished: Counter[str] = Counter()
    for instance, state in states.items():
        if state in tally.finals:
            finished[state] += 1
            continue
        held[state] += 1
        if instance in tally.flags:
            held_flagged[state] += 1
    flagged = tuple(
        FlaggedInstance(instance, states.get(instance, ""), tuple(reasons))
        for instance, reasons in sorted(tally.flags.items())
    )
    return MachineTraffic(
        machine=name,
        records=tally.records,
        edges=dict(tally.edges),
        undeclared=dict(tally.undeclared),
        in_place={s: dict(c) for s, c in tally.in_place.items()},
        refusals={s: dict(c) for s, c in tally.refusals.items()},
        duplicates=dict(tally.duplicates),
        held=dict(held),
        held_flagged=dict(held_flagged),
        finished=dict(finished),
        flagged=flagged,
    )


def _width(count: int, busiest: int) -> str:
    if count == 0 or busiest == 0:
        return "0.8"
    return f"{1.2 + 4.8 * math.log1p(count) / math.log1p(busiest):.2f}"


def _counted(counts: Mapping[str, int], shown: Callable[[str], str] = str) -> str:
    ordered = sorted(counts.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{shown(key)} x{n}" for key, n in ordered)


def _state_lines(state: str, traffic: MachineTraffic) -> list[str]:
    lines = [state]
    held = traffic.held.get(state, 0)
    if held:
        lines.append(f"{held} held")
        flagged = traffic.held_flagged.get(state, 0)
        if flagged:
            lines.append(f"FLAGGED {flagged}")
    if traffic.finished.get(state):
        lines.append(f"{traffic.finished[state]} ended here")
    refusals = traffic.refusals.get(state, {})
    if refusals:
        lines.append(f"refused {sum(refusals.values())}:")
        lines += [f"  {reason} x{n}" for reason, n in sorted(refusals.items())]
    if traffic.duplicates.get(state):
        lines.append(f"duplicates {traffic.duplicates[state]}")
    if traffic.in_place.get(state):
        lines.append(f"in place: {_counted(traffic.in_place[state])}")
    return lines


def traffic_digraph(
    name: str, model: MachineModel, traffic: MachineTraffic, *, warning: str | None = None
) -> graphviz.Digraph:
    """
    The machine drawn with its traffic: counts on edges, width by traffic, untaken edges
    faint and labelled with their event only; held states outlined (orange; red when
    flagged instances are among them), with their counts and refusals by reason code.
    `warning` (a trail that failed verification) heads the picture in red.
    """
    declared = [s.name for s in model.states]
    extras = [n for edge in traffic.undeclared for n in (edge[0], edge[2])]
    extras += [s for s in (*traffic.refusals, *traffic.duplicates) if s not in declared]
    ids = node_ids([*declared, *extras])
    title = [
        f"{model.name} ({name}): {traffic.records} records, {traffic.moves} moves, "
        f"{traffic.refused} refused, {sum(traffic.held.values())} held"
    ]
    if warning:
        title.insert(0, f"WARNING: {warning}")
    graph = graphviz.Digraph(name=graph_name(name))
    graph.attr(rankdir="LR", labelloc="t", label=literal(title), fontname="Helvetica")
    graph.attr(fontcolor=_FLAGGED if warning else "black", nodesep="0.4")
    graph.attr("node", fontname="Helvetica", fontsize="11")
    graph.attr("edge", fontname="Helvetica", fontsize="9")
    for state in model.states:
        style = dict(NODE_STYLE[kind_of(state)])
        if traffic.held.get(state.name):
            flagged = bool(traffic.held_flagged.get(state.name))
            style.update(color=_FLAGGED if flagged else _HELD, penwidth="3")
        label = literal(_state_lines(state.name, traffic))
        graph.node(ids[state.name], label=label, **style)
    for extra in [s for s in ids if s not in declared]:
        graph.node(
            ids[extra],
            label=literal(_state_lines(extra, traffic)),
            shape="box",
            style="dashed",
            color=_FLAGGED,
        )
    busiest = max([*traffic.edges.values(), *traffic.undeclared.values(), 0])
    for (source, event, target), copies in _edge_copies(model).items():
        count = traffic.edges.get((source, event, target), 0)
        if count:
            attrs_ = {"color": _TAKEN, "fontcolor": _TAKEN}
            lines = [f"{count}x", *_copies_label(copies)]
        else:  # the event only: an operator looks at where traffic went
            attrs_ = {"color": _FAINT, "fontcolor": "#9ca3af", "style": "dashed"}
            lines = [event]
        graph.edge(
            ids[source],
            ids[target],
            label=literal(lines),
            penwidth=_width(count, busiest),
            **attrs_,
        )
    for (source, event, target), count in traffic.undeclared.items():
        graph.edge(
            ids[source],
            ids[target],
            label=literal([f"{count}x", event, "NOT DECLARED"]),
            color=_FLAGGED,
            fontcolor=_FLAGGED,
            style="dashed",
            penwidth=_width(count, busiest),
        )
    return graph


def _edge_copies(model: MachineModel) -> dict[Edge, list[TransitionModel]]:
    """The declared edges, those declared more than once (same ends, event) as one."""
    copies: dict[Edge, list[TransitionModel]] = {}
    for t in model.transitions:
        copies.setdefault((t.source, t.event, t.target), []).append(t)
    return copies


def _copies_label(copies: Sequence[TransitionModel]) -> list[str]:
    """The event and its guards; for an edge declared twice, each copy's, ``or`` between."""
    first = copies[0]
    if len(copies) == 1:
        return edge_label(first.event, first.conds, first.unless, first.validators).split("\n")
    lines = [first.event, f"(declared {len(copies)}x; the records do not say which copy)"]
    for n, t in enumerate(copies):
        guards = edge_label("", t.conds, t.unless, t.validators).strip().replace("\n", " ")
        lines.append(("or " if n else "") + (guards or "(no guard)"))
    return lines


def _held_text(traffic: MachineTraffic) -> str:
    parts = []
    for state, count in sorted(traffic.held.items()):
        flagged = traffic.held_flagged.get(state, 0)
        held = f"{count} held: {md_name(state)}"
        parts.append(held + (f" ({flagged} flagged)" if flagged else ""))
    return "; ".join(parts) or "none held (every instance ended)"


def summary_lines(
    name: str, model: MachineModel, traffic: MachineTraffic, image: str | None
) -> list[str]:
    """
    The machine's section of the summary (Markdown).
    """
    lines = [f"## {text(model.name)} ({code(name)})", ""]
    if image:
        lines += [f"![{text(Path(image).stem)} traffic]({image})", ""]
    if traffic.records == 0:
        return [*lines, "No records of this machine in the trail: zero traffic.", ""]
    untaken = sum(1 for n in traffic.edges.values() if n == 0)
    lines += [
        f"- {traffic.records} records: {traffic.moves} moves along {len(traffic.edges) - untaken} "
        f"of {len(traffic.edges)} edges ({untaken} untaken), {traffic.refused} refused, "
        f"{sum(traffic.duplicates.values())} duplicate(s)",
        f"- now: {_held_text(traffic)}",
    ]
    if traffic.finished:
        lines.append(
            "- ended: "
            + ", ".join(f"{n} {md_name(s)}" for s, n in sorted(traffic.finished.items()))
        )
    refusals: Counter[str] = Counter()
    for by_reason in traffic.refusals.values():
        refusals.update(by_reason)
    if refusals:
        lines.append(f"- refusals by reason: {_counted(refusals, shown=md_name)}")
    for (source, event, target), count in sorted(traffic.undeclared.items()):
        lines.append(f"- **NOT DECLARED**: {code(f'{source} --{event}--> {target}')} x{count}")
    if traffic.flagged:
        lines.append(f"- flagged for reconciliation: {len(traffic.flagged)}")
        for flagged in traffic.flagged[:_FLAGGED_SHOWN]:
            where = md_name(flagged.state) if flagged.state else "never moved"
            reasons = ", ".join(md_name(reason) for reason in flagged.reasons)
            lines.append(f"  - {code(flagged.instance)} in {where}: {reasons}")
        if len(traffic.flagged) > _FLAGGED_SHOWN:
            lines.append(f"  - … and {len(traffic.flagged) - _FLAGGED_SHOWN} more")
    return [*lines, ""]


def write_traffic(
    out: Path,
    records: Sequence[AuditRecord],
    machines: Mapping[str, type[StateMachine]],
    *,
    source: str = "trail",
    warning: str | None = None,
    formats: tuple[str, ...] = ("svg", "png"),
    traffic: Mapping[str, MachineTraffic] | None = None,
) -> list[Path]:
    """
    Write into `out` each machine's traffic diagram (``NAME.dot`` and one file per format in
    `formats`) and ``summary.md``; return the files written. `source` names the trail in the
    summary; `warning` (a trail drawn although it failed verification) heads every picture
    and the summary. An empty trail gives zero-traffic diagrams and says so. `traffic`: the
    records' `count_traffic`, if the caller has it already.

    Raises:
        UnknownMachineError: a record of a machine not in `machines` (none when `warning`
            is given: a forced drawing leaves such records out, and the warning says so).
        RendererMissing: a format was asked for and no ``dot`` program is installed.
    """
    if traffic is None:
        traffic = count_traffic(records, machines, skip_unknown=warning is not None)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    summary = [f"# Trail replayed onto the machines: {code(source)}", ""]
    if warning:
        summary += [f"> **WARNING: {text(warning)}**", ""]
    if not records:
        summary += ["The trail is empty: every machine is drawn with zero traffic.", ""]
    else:
        summary += [f"{len(records)} records.", ""]
    stems = file_stems(machines, reserved=["summary"])
    for name, cls in machines.items():
        model = MachineModel.from_machine(cls)
        dot: str = traffic_digraph(name, model, traffic[name], warning=warning).source
        path = out / f"{stems[name]}.dot"
        path.write_text(dot, encoding="utf-8")
        written.append(path)
        for fmt in formats:
            written.append(render(dot, fmt, out / f"{stems[name]}.{fmt}"))
        image = f"{stems[name]}.svg" if "svg" in formats else None
        summary += summary_lines(name, model, traffic[name], image)
    path = out / "summary.md"
    path.write_text("\n".join(summary).rstrip() + "\n", encoding="utf-8")
    written.append(path)
    return written
