"""
Protocols and aliases shared across execfsm, so components depend on shapes, not classes.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from execfsm.fsm.audit import AuditEntry, AuditRecord


class Clock(Protocol):
    """
    The only source of time for stages and machines; inject a fixed one to replay.
    """

    def now(self) -> datetime:
        """
        The current instant, timezone-aware UTC.
        """
        ...


class AuditSink(Protocol):
    """
    Where audit entries become records: it assigns ``seq``, ``ts`` and the hash chain.

    A sink that raises blocks the transition it was asked to record.
    """

    def append(self, entry: AuditEntry) -> AuditRecord:
        """
        Record `entry` durably (for this sink's meaning of durable) and return the record.
        """
        ...
