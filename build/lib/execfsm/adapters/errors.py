"""
The one place venue and transport exceptions become execfsm's error taxonomy.

Adapters may raise the taxonomy themselves; anything else is translated by `VENUE_ERRORS`,
one table walked in one place (`translate`), and what it does not know stays unknown: it is
not retried and the order fails closed. Every venue request (dispatch, cancel, and any later
one) turns what its call raised into a `VenueFailure` with `VenueFailure.of`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import attrs

from execfsm.contracts import ReasonCode
from execfsm.errors import OutcomeUnknown, TransientVenueError, VenueError, VenueRejected

VENUE_ERRORS: Final[Mapping[type[BaseException], type[VenueError]]] = {
    ConnectionRefusedError: TransientVenueError,  # proves the request never left
    TimeoutError: OutcomeUnknown,  # from here on: the venue may hold the order
    ConnectionResetError: OutcomeUnknown,
    ConnectionAbortedError: OutcomeUnknown,
    BrokenPipeError: OutcomeUnknown,
}
"""Foreign exception → ours, walked in order; the first class `exc` is an instance of wins."""


def translate(exc: BaseException) -> VenueError | None:
    """
    The taxonomy error for `exc`, or None if it is unknown (fail closed, no retry).
    """
    if isinstance(exc, VenueError):
        return exc
    for foreign, ours in VENUE_ERRORS.items():
        if isinstance(exc, foreign):
            return ours(f"{type(exc).__name__}: {exc}")
    return None


@attrs.frozen
class VenueFailure:
    """
    How one venue request failed: what it raised, translated, and told in the trail.
    """

    error: VenueError | None
    """The taxonomy error; None for an exception nobody translates (fail closed)."""
    detail: str
    """The request, then what failed (``cancel to paper: OutcomeUnknown: …``)."""

    @classmethod
    def of(cls, raw: Exception, request: str) -> VenueFailure:
        """
        The failure of `request` (e.g. ``cancel to paper``) that raised `raw`.
        """
        error = translate(raw)
        shown = str(error) if error is not None else f"{type(raw).__name__}: {raw}"
        return cls(error, f"{request}: {shown}")

    @property
    def rejected(self) -> bool:
        """
        The venue refused the request itself.
        """
        return isinstance(self.error, VenueRejected)

    @property
    def unknown(self) -> bool:
        """
        The request may have reached the venue.
        """
        return isinstance(self.error, OutcomeUnknown)

    @property
    def transient(self) -> bool:
        """
        The request did not reach the venue; a retry may.
        """
        return isinstance(self.error, TransientVenueError)

    @property
    def reason(self) -> ReasonCode:
        """
        ADAPTER_TIMEOUT if the request may have reached the venue, else ADAPTER_ERROR.
        """
        return ReasonCode.ADAPTER_TIMEOUT if self.unknown else ReasonCode.ADAPTER_ERROR
