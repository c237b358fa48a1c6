"""
Review-time governance: the committed machine spec, drift detection, property verification
and audit-trail verification, all read from the declared machines' `MachineModel`.
"""

from __future__ import annotations

from statemachine import StateMachine

from execfsm.contingent.machine import ContingentMachine
from execfsm.fsm.order import OrderLifecycle
from execfsm.fsm.pipeline import PipelineRun
from execfsm.reconciliation.machine import OrderReconciliation
from execfsm.reconciliation.pass_machine import ReconciliationPass

MACHINES: dict[str, type[StateMachine]] = {
    "contingent": ContingentMachine,
    "order": OrderLifecycle,
    "pipeline": PipelineRun,
    "reconciliation": OrderReconciliation,
    "reconciliation_pass": ReconciliationPass,
}
"""The machines under governance, by their audit ``machine`` name."""
