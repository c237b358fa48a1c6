"""
DOT text of a machine, built with the ``graphviz`` package from its `MachineModel`.

The text depends only on the model: nodes in declaration order, edges in declaration order,
no object ids or timestamps, so two runs give identical bytes and reviewers can diff it.
"""

from __future__ import annotations

import graphviz  # type: ignore[import-untyped]

from execfsm.diagrams.cases_table import dot_label
from execfsm.diagrams.styles import (
    NODE_STYLE,
    compact_edge_label,
    edge_label,
    kind_of,
    validator_keys,
)
from execfsm.fsm.model import MachineModel

CASES_NODE = "declared_cases"
"""The name of the node that holds a machine's declared cases as a table."""


VALIDATED_EDGE = {"color": "#b91c1c", "penwidth": "1.6"}
"""How an edge with validators looks: red and thicker."""
COMPACT_GRAPH = {"splines": "spline", "nodesep": "0.25", "ranksep": "0.4", "forcelabels": "true"}
"""The compact diagram's layout: tight ranks (the labels make their own room), curves."""
COMPACT_EDGE = {"fontsize": "9", "labelfloat": "false"}
"""Labels stay beside their edge (never floated away to avoid overlaps)."""


def _text(value: str) -> str:
    """A name as a plain DOT string: ``<...>`` is never an HTML label."""
    return graphviz.nohtml(value)  # type: ignore[no-any-return]


def to_digraph(
    model: MachineModel, *, compact: bool = False, cases: bool = True
) -> graphviz.Digraph:
    """
    The machine as a `graphviz.Digraph`: states styled by kind, edges labelled with event,
    conditions (``[...]``) and validators (``{...}``); a machine that declares cases gets
    them as one table node beside the graph (unless `cases` is false).

    `compact` (the governance report's diagram): one arrow per (source, target) with one
    label line per transition between them (every transition stays visible), a set of two
    or more validators written once as its key (``{V1}``, see `validator_keys`), and a
    tighter layout.
    """
    graph = graphviz.Digraph(name=_text(model.name))
    graph.attr(
        rankdir="LR", labelloc="t", label=_text(model.name), fontname="Helvetica", nodesep="0.4"
    )
    graph.attr("node", fontname="Helvetica", fontsize="11")
    graph.attr("edge", fontname="Helvetica", fontsize="9")
    if compact:
        graph.attr(**COMPACT_GRAPH)
        graph.attr("edge", **COMPACT_EDGE)
    for state in model.states:
        graph.node(_text(state.name), _text(state.name), **NODE_STYLE[kind_of(state)])
    if compact:
        _compact_edges(graph, model)
    else:
        for t in model.transitions:
            style = VALIDATED_EDGE if t.validators else {}
            label = edge_label(t.event, t.conds, t.unless, t.validators)
            graph.edge(_text(t.source), _text(t.target), label=_text(label), **style)
    if model.cases and cases:  # a side table, not an edge per row: one node in a cluster
        with graph.subgraph(name="cluster_cases") as side:
            side.attr(label="", style="invis")
            side.node(CASES_NODE, label=dot_label(model), shape="plaintext", fontsize="9")
    return graph


def _compact_edges(graph: graphviz.Digraph, model: MachineModel) -> None:
    """
    One edge per (source, target) with one label line per transition between them, in
    declaration order, so parallel edges and self-loops do not pile up.
    """
    keys = validator_keys(model)
    pairs: dict[tuple[str, str], list[str]] = {}
    validated: set[tuple[str, str]] = set()
    for t in model.transitions:
        label = compact_edge_label(t.event, t.conds, t.unless, t.validators, keys)
        pairs.setdefault((t.source, t.target), []).append(" ".join(label.split("\n")))
        if t.validators:
            validated.add((t.source, t.target))
    for (source, target), lines in pairs.items():
        style = VALIDATED_EDGE if (source, target) in validated else {}
        graph.edge(_text(source), _text(target), label=_text("\n".join(lines)), **style)


def to_dot(model: MachineModel, *, compact: bool = False, cases: bool = True) -> str:
    """
    The normalised DOT text of the machine (`compact` and `cases` as for `to_digraph`).
    """
    source: str = to_digraph(model, compact=compact, cases=cases).source
    return source
