"""
The one place venue and transport exceptions become execfsm's error taxonomy.

Adapters may raise the taxonomy themselves; anything else is translated here, and what this
mapping does not know stays unknown: it is not retried and the order fails closed.
"""

from __future__ import annotations

from execfsm.errors import OutcomeUnknown, TransientVenueError, VenueError

_NOT_SENT: tuple[type[BaseException], ...] = (ConnectionRefusedError,)
"""Failures that prove the request never left."""

_MAYBE_SENT: tuple[type[BaseException], ...] = (
    TimeoutError,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
)
"""Failures after which the venue may hold the order."""


def translate(exc: BaseException) -> VenueError | None:
    """
    The taxonomy error for `exc`, or None if it is unknown (fail closed, no retry).
    """
    if isinstance(exc, VenueError):
        return exc
    message = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, _NOT_SENT):
        return TransientVenueError(message)
    if isinstance(exc, _MAYBE_SENT):
        return OutcomeUnknown(message)
    return None
