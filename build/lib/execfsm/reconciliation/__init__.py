"""
Venue reconciliation: ask the venue about orders whose outcome we cannot know alone, bring
them to the venue's truth through their own events, and report what needs an operator.
"""

from execfsm.reconciliation.findings import ReconPolicy
from execfsm.reconciliation.periodic import PeriodicReconciliation
from execfsm.reconciliation.report import ReconReport

__all__ = ["PeriodicReconciliation", "ReconPolicy", "ReconReport"]
