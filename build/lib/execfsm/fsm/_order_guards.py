"""
The guard groups the order machine's edges share (`execfsm.fsm.order`): each names the
validators and conds an edge carries, so an edge line says which rules hold there.
"""

from __future__ import annotations

from typing import Any

from execfsm.fsm import guards as g
from execfsm.fsm import revisions as r

CONTRACT = list(g.CONTRACT_GUARDS)
FILL = [g.fill_well_formed, g.fill_id_unused, g.fill_within_quantity]
PARTIAL_FILL: dict[str, Any] = {"validators": FILL, "unless": g.fill_completes}
COMPLETE_FILL: dict[str, Any] = {"validators": FILL, "cond": g.fill_completes}
CORRECTION = [r.names_counted_fill, g.fill_well_formed, r.correction_within_quantity]
BUST = r.names_counted_fill
CORRECT_OPEN: dict[str, Any] = {"validators": CORRECTION, "unless": r.correction_completes}
CORRECT_COMPLETE: dict[str, Any] = {"validators": CORRECTION, "cond": r.correction_completes}
REPLACED_UNFILLED: dict[str, Any] = {"validators": r.replace_pending, "cond": r.nothing_filled}
REPLACED_COMPLETE: dict[str, Any] = {
    "validators": r.replace_pending,
    "cond": r.replace_completes,
    "unless": r.nothing_filled,
}
REPLACED_OPEN: dict[str, Any] = {
    "validators": r.replace_pending,
    "unless": [r.nothing_filled, r.replace_completes],
}
REOPENED: dict[str, Any] = {"validators": r.replace_pending, "unless": r.replace_completes}
STILL_FILLED: dict[str, Any] = {"validators": r.replace_pending, "cond": r.replace_completes}
REFUSED_COMPLETE: dict[str, Any] = {"cond": r.fills_complete, "unless": r.nothing_filled}
REFUSED_OPEN: dict[str, Any] = {"unless": [r.nothing_filled, r.fills_complete]}
BUST_LEAVES_FILLS: dict[str, Any] = {"validators": BUST, "cond": r.bust_leaves_fills}
BUST_LEAVES_NONE: dict[str, Any] = {"validators": BUST, "unless": r.bust_leaves_fills}
REJECT_UNFILLED = [r.nothing_filled_yet, g.reason_given]  # fills first: a contradiction
ANSWERED: dict[str, Any] = {"validators": r.replace_pending}
