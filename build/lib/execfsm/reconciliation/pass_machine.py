"""
`ReconciliationPass`: one reconciliation pass as a declared machine (correlation id
``recon-pass:<n>``), so every pass stands in the trail with what it found at the venue: each
working order we had no record of (``external_order``), each position that differs
(``position_differs``, with its size), and its summary (``finish``).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from statemachine.states import States

from execfsm.adapters.reports import VenueOrderReport
from execfsm.enums import ReasonCode
from execfsm.fsm.audit import AuditOutcome
from execfsm.fsm.audited import AuditedMachine

if TYPE_CHECKING:
    from execfsm.reconciliation.report import PositionDifference, ReconReport


class PassState(enum.StrEnum):
    """
    Where a pass stands.
    """

    RUNNING = "RUNNING"
    """Asking the venue, order by order."""
    DONE = "DONE"
    """Every order asked; what the venue holds that we do not, and positions, recorded."""


class ReconciliationPass(AuditedMachine):
    """
    One pass. Its records are written in the orchestrator's units of work.
    """

    audit_machine = "reconciliation_pass"
    durable_on_return = False  # the reconciler's units of work make it durable

    _ = States.from_enum(PassState, initial=PassState.RUNNING, final=[PassState.DONE])
    _.RUNNING.to(_.DONE, event="finish")

    def note_external(self, report: VenueOrderReport, adopted: bool) -> None:
        """Record a working order at the venue we had no record of."""
        done = "adopted" if adopted else "not adopted (ReconPolicy.adopt_external is off)"
        detail = (
            f"the venue holds order {report.client_order_id} ({report.side} {report.quantity} "
            f"{report.symbol}, {report.state}, {report.cum_quantity} filled) we had no record "
            f"of: {done}"
        )
        self.record("external_order", AuditOutcome.APPLIED, ReasonCode.RECON_EXTERNAL_ORDER, detail)

    def note_position(self, difference: PositionDifference) -> None:
        """Record a position the venue holds otherwise, with the size of the difference."""
        detail = (
            f"{difference.symbol}: the venue holds {difference.venue}, the position ledger "
            f"{difference.ours} (difference {difference.size})"
        )
        self.record(
            "position_differs", AuditOutcome.APPLIED, ReasonCode.RECON_POSITION_DIFFERS, detail
        )

    def summarize(self, report: ReconReport) -> None:
        """End the pass with its summary."""
        detail = (
            f"{len(report.checks)} order(s) checked: {len(report.resolved)} resolved, "
            f"{len(report.unresolved)} left ({len(report.held)} held for an operator); "
            f"{len(report.external)} unknown at the venue ({len(report.adopted)} adopted); "
            f"{len(report.positions)} position difference(s)"
            + (f"; {report.unavailable}" if report.unavailable else "")
        )
        self.send("finish", detail=detail)
