"""
Mermaid ``stateDiagram-v2`` text of a machine, for review platforms that render it inline.
"""

from __future__ import annotations

from execfsm.diagrams.cases_table import mermaid_note
from execfsm.fsm.model import MachineModel


def _guards(conds: tuple[str, ...], unless: tuple[str, ...], validators: tuple[str, ...]) -> str:
    parts = [f"[{c}]" for c in conds] + [f"[not {u}]" for u in unless]
    parts += [f"#123;{v}#125;" for v in validators]
    return (" " + " ".join(parts)) if parts else ""


def to_mermaid(model: MachineModel) -> str:
    """
    The machine as Mermaid text: ``[*]`` marks the initial and the final states; declared
    cases are a note beside the initial state.
    """
    lines = ["stateDiagram-v2", f"    %% {model.name}"]
    lines.append(f"    [*] --> {model.initial_state}")
    for t in model.transitions:
        lines.append(
            f"    {t.source} --> {t.target}: {t.event}{_guards(t.conds, t.unless, t.validators)}"
        )
    for final in model.final_states:
        lines.append(f"    {final} --> [*]")
    lines += mermaid_note(model)
    return "\n".join(lines) + "\n"
