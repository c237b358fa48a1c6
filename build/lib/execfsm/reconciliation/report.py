"""
What one reconciliation pass did (`ReconReport`): per order, the venue's orders we had no
record of, and the position differences, for the caller, the command line and the trail.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from execfsm.adapters.reports import VenueOrderReport
from execfsm.reconciliation.findings import FindingKind
from execfsm.reconciliation.machine import ReconState


@attrs.frozen
class OrderCheck:
    """
    One order's check: what the venue's answer was found to be, where reconciling it stands
    after the pass, and why, in words.
    """

    client_order_id: str
    finding: FindingKind | None
    """None when the order was not asked (held for an operator, or resolved before)."""
    state: ReconState
    detail: str
    applied: int = 0
    """How many order events reconciliation applied."""

    @property
    def resolved(self) -> bool:
        """The order and the venue agree, or the not-found rule ended the order."""
        return self.state in (ReconState.AGREED, ReconState.NOT_FOUND)


@attrs.frozen
class PositionDifference:
    """
    A symbol whose net position at the venue differs from the position ledger's.
    """

    symbol: str
    ours: Decimal
    venue: Decimal

    @property
    def size(self) -> Decimal:
        """The venue's position less ours."""
        return self.venue - self.ours


@attrs.frozen
class ReconReport:
    """
    What one pass found and did.
    """

    pass_id: str
    """The pass's correlation id in the audit trail."""
    checks: tuple[OrderCheck, ...] = ()
    external: tuple[VenueOrderReport, ...] = ()
    """Working orders at the venue we had no record of."""
    adopted: tuple[str, ...] = ()
    """Those of them adopted as orders of ours (``ReconPolicy.adopt_external``)."""
    positions: tuple[PositionDifference, ...] = ()
    unavailable: str = ""
    """Why the venue could not be asked at all ("" when it could)."""

    @property
    def resolved(self) -> tuple[OrderCheck, ...]:
        """Checks that ended in agreement or in the not-found rule."""
        return tuple(check for check in self.checks if check.resolved)

    @property
    def unresolved(self) -> tuple[OrderCheck, ...]:
        """Checks left for another pass or an operator."""
        return tuple(check for check in self.checks if not check.resolved)

    @property
    def held(self) -> tuple[OrderCheck, ...]:
        """Orders held for an operator."""
        return tuple(check for check in self.checks if check.state is ReconState.HELD)

    @property
    def clean(self) -> bool:
        """Nothing is left: every order agrees or was resolved, nothing unknown at the venue
        stays unadopted, positions agree, and the venue could be asked."""
        unadopted = {r.client_order_id for r in self.external} - set(self.adopted)
        return not (self.unresolved or unadopted or self.positions or self.unavailable)
