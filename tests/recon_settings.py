"""
Reconciliation settings shared by tests.
"""

from execfsm.reconciliation.findings import ReconPolicy

RECOVERY_ONLY = ReconPolicy(on_start=False)
"""For tests of recovery alone: the store re-opened as it was left, with no reconciliation
pass before new work (which asks the venue, and may change orders). Startup reconciliation
has its own tests (tests/test_reconciliation_*.py)."""
