"""
A machine's declared cases (`MachineModel.cases`) as the side table of its diagrams and the
section of the governance report: one row per case, in lookup order (the first matching row
wins), with states, event, situation, outcome, reason code, flags, action and why.
"""

from __future__ import annotations

import html

from execfsm.fsm.model import CaseModel, MachineModel

COLUMNS = ("states", "event", "situation", "outcome", "reason code", "flags", "action", "why")
"""The table's columns, in every rendering."""

CASES_NOTE = (
    "Where the transition table has no edge for the event in the state, or the event comes "
    "in a situation the machine names (the situation column, looked at before any edge), "
    "the machine looks it up here: the first matching row wins. `*` is any event; a row "
    "with flags marks the subject for reconciliation."
)


def states_text(model: MachineModel, states: tuple[str, ...]) -> str:
    """
    A row's states in few words: ``any state``, ``any state but X``, or the list.
    """
    every = [s.name for s in model.states]
    missing = [s for s in every if s not in states]
    if not missing:
        return "any state"
    if len(missing) <= 2 and len(states) > len(missing):
        return "any state but " + ", ".join(missing)
    return ", ".join(s for s in every if s in states)


def section_title(name: str) -> str:
    """
    The report's heading for the cases of the machine audited as `name`.
    """
    article = "an" if name[:1].lower() in "aeiou" else "a"
    return f"What {article} {name} does with any other venue event"


def row_cells(model: MachineModel, case: CaseModel) -> tuple[str, ...]:
    """
    One row's cells, in `COLUMNS` order.
    """
    return (
        states_text(model, case.states),
        case.event,
        case.when or "any",
        case.outcome,
        case.reason,
        "yes" if case.flags else "",
        case.action,
        case.why,
    )


def markdown_table(model: MachineModel) -> list[str]:
    """
    The rows as a Markdown table (no lines when the machine declares no cases).
    """
    if not model.cases:
        return []
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for case in model.cases:
        cells = [c.replace("|", "\\|") if c else "-" for c in row_cells(model, case)]
        cells[1] = f"`{cells[1]}`"
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def html_table(model: MachineModel) -> str:
    """
    The rows as an HTML table ("" when the machine declares no cases).
    """
    if not model.cases:
        return ""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    rows = [
        "<tr>" + "".join(f"<td>{html.escape(c or '-')}</td>" for c in row_cells(model, case))
        for case in model.cases
    ]
    return f"<table><tr>{head}</tr>" + "</tr>".join(rows) + "</tr></table>"


def dot_label(model: MachineModel) -> str:
    """
    The rows as a Graphviz HTML-like label (``<...>``) for one plaintext node beside the
    graph.
    """

    def esc(text: str) -> str:
        return html.escape(text, quote=False)

    title = f"{model.name}: declared cases (no edge, or a situation first; first match wins)"
    parts = [
        '<<table border="0" cellborder="1" cellspacing="0" cellpadding="3">',
        f'<tr><td colspan="{len(COLUMNS)}" bgcolor="#e5e7eb"><b>{esc(title)}</b></td></tr>',
        "<tr>" + "".join(f'<td bgcolor="#f3f4f6"><b>{esc(c)}</b></td>' for c in COLUMNS) + "</tr>",
    ]
    for case in model.cases:
        colour = ' bgcolor="#fee2e2"' if case.flags else ""
        cells = "".join(
            f'<td align="left"{colour}>{esc(cell) or " "}</td>' for cell in row_cells(model, case)
        )
        parts.append(f"<tr>{cells}</tr>")
    parts.append("</table>>")
    return "".join(parts)


def mermaid_note(model: MachineModel) -> list[str]:
    """
    The rows as a Mermaid note beside the initial state, one line per row (no lines when the
    machine declares no cases).
    """
    if not model.cases:
        return []
    lines = [f"    note left of {model.initial_state}"]
    lines.append("        Declared cases (no edge, or a situation first; first match wins)")
    for case in model.cases:
        states, event, when, outcome, reason, flags, action, why = row_cells(model, case)
        text = f"{event} in {states}"
        text += f" when {when}" if case.when else ""
        text += f" → {outcome} {reason}"
        text += ", flags it" if flags else ""
        text += f" ({action})" if action else ""
        text += f": {why}"
        lines.append("        " + _mermaid_text(text))
    lines.append("    end note")
    return lines


def _mermaid_text(text: str) -> str:
    return text.replace(";", "#59;").replace("-->", "→")
