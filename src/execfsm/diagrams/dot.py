"""
DOT text of a machine, built with the ``graphviz`` package from its `MachineModel`.

The text depends only on the model: nodes in declaration order, edges in declaration order,
no object ids or timestamps, so two runs give identical bytes and reviewers can diff it.
"""

from __future__ import annotations

import graphviz  # type: ignore[import-untyped]

from execfsm.diagrams.cases_table import dot_label
from execfsm.diagrams.styles import NODE_STYLE, edge_label, kind_of
from execfsm.fsm.model import MachineModel

CASES_NODE = "declared_cases"
"""The name of the node that holds a machine's declared cases as a table."""


def to_digraph(model: MachineModel) -> graphviz.Digraph:
    """
    The machine as a `graphviz.Digraph`: states styled by kind, edges labelled with event,
    conditions (``[...]``) and validators (``{...}``); a machine that declares cases gets
    them as one table node beside the graph.
    """
    graph = graphviz.Digraph(name=model.name)
    graph.attr(rankdir="LR", labelloc="t", label=model.name, fontname="Helvetica", nodesep="0.4")
    graph.attr("node", fontname="Helvetica", fontsize="11")
    graph.attr("edge", fontname="Helvetica", fontsize="9")
    for state in model.states:
        graph.node(state.name, state.name, **NODE_STYLE[kind_of(state)])
    for t in model.transitions:
        style = {"color": "#b91c1c", "penwidth": "1.6"} if t.validators else {}
        graph.edge(
            t.source, t.target, label=edge_label(t.event, t.conds, t.unless, t.validators), **style
        )
    if model.cases:  # a side table, not an edge per row: one node in a cluster of its own
        with graph.subgraph(name="cluster_cases") as side:
            side.attr(label="", style="invis")
            side.node(CASES_NODE, label=dot_label(model), shape="plaintext", fontsize="9")
    return graph


def to_dot(model: MachineModel) -> str:
    """
    The normalised DOT text of the machine.
    """
    source: str = to_digraph(model).source
    return source
