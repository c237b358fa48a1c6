"""
Contingent orders — OCO, OTO and bracket — as declared parent machines over `OrderLifecycle`
legs, built on the public machine API (`execfsm.fsm.audited.AuditedMachine`).

- `terms`: the group's terms (`ContingentGroup.oco`, `.oto`, `.bracket`; `TriggerMode`).
- `machine`: `ContingentMachine`, audited under the machine name ``contingent``.
- `plan`: `react`, the group's decisions, shared by the orchestrator and the exploration.
- `orders`: `ContingentOrders`, the orchestrator's driver (`submit_group`, leg events).
- `explore`: the group properties, proven over interleavings of venue events to the legs.
"""

from __future__ import annotations

from execfsm.contingent.machine import ContingentMachine
from execfsm.contingent.terms import ContingencyType, ContingentGroup, GroupState, TriggerMode

__all__ = ["ContingencyType", "ContingentGroup", "ContingentMachine", "GroupState", "TriggerMode"]
