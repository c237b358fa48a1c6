"""
The audit listener: one record per transition and per refusal, written before the move is final.

Python-statemachine calls `BoundAuditListener.on_transition` after the source state's exit and
before the new configuration is committed, so a sink that raises leaves the machine where it
was: no transition without its record, no record without its transition.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

import attrs

from execfsm.enums import Reason
from execfsm.errors import AuditWriteError, ExecFsmError

if TYPE_CHECKING:
    from execfsm.typing import AuditSink

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first record of every log."""


class AuditOutcome(enum.StrEnum):
    """
    What became of an event.
    """

    APPLIED = "applied"
    REFUSED = "refused"
    DUPLICATE = "duplicate"


@attrs.frozen
class AuditEntry:
    """
    What a machine reports; the sink adds ``seq``, ``ts`` and the hash chain.
    """

    correlation_id: str
    client_order_id: str | None
    machine: str
    event: str
    source: str | None
    target: str | None
    outcome: AuditOutcome
    reason_code: Reason | None = None
    detail: str = ""


@attrs.frozen
class AuditRecord:
    """
    One flat, typed, hash-chained audit record. Compared whole in tests.
    """

    seq: int
    ts: datetime
    correlation_id: str
    client_order_id: str | None
    machine: str
    event: str
    source: str | None
    target: str | None
    outcome: AuditOutcome
    reason_code: Reason | None
    detail: str
    prev_hash: str
    hash: str


class _FieldsSink(Protocol):
    """
    A sink with `AuditLog`'s fast path: the fields, without an `AuditEntry`.
    """

    def append_fields(
        self,
        correlation_id: str,
        client_order_id: str | None,
        machine: str,
        event: str,
        source: str | None,
        target: str | None,
        outcome: AuditOutcome,
        reason_code: Reason | None,
        detail: str,
    ) -> int: ...


class AuditSubject(Protocol):
    """
    What the listener needs to know about the machine it records.
    """

    @property
    def audit_machine(self) -> str: ...
    @property
    def correlation_id(self) -> str: ...
    @property
    def client_order_id(self) -> str | None: ...


def _state_name(state: Any) -> str | None:
    if state is None:
        return None
    value = getattr(state, "value", state)
    return str(value)


def _write_failed(machine: str, event: str, correlation_id: str, exc: Exception) -> AuditWriteError:
    return AuditWriteError(
        f"audit: could not record {machine} {event!r} for {correlation_id}: {exc}"
    )


class AuditListener:
    """
    Every machine's audit writer: the compiled engine calls `write`; python-statemachine
    calls it through `bound_to`'s listener.

    Args:
        sink: Where records go (an `AuditLog`, a durable store, a test double).
    """

    __slots__ = ("_fields", "last_seq", "moved", "sink")

    def __init__(self, sink: AuditSink) -> None:
        self.sink = sink
        self.last_seq: int | None = None
        """The seq of the last record written (where the sink tells it)."""
        self.moved: tuple[str, str, str] | None = None
        """(event, source, target) of the move recorded by the event in progress, set by the
        engines that run callbacks between the record and the commit (so a callback that
        raises there can be undone in the trail); None otherwise."""
        # An AuditLog takes the fields directly; any other sink gets an AuditEntry. (The sink
        # again, not its bound method: every order keeps a listener, for as long as it lives.)
        self._fields: _FieldsSink | None = (
            cast(_FieldsSink, sink) if hasattr(sink, "append_fields") else None
        )

    def write(
        self,
        subject: AuditSubject,
        event: str,
        source: str | None,
        target: str | None,
        outcome: AuditOutcome,
        reason_code: Reason | None = None,
        detail: str = "",
    ) -> None:
        """
        Append one entry; any sink failure becomes an `AuditWriteError`.
        """
        fields = self._fields
        if fields is not None:
            try:
                seq = fields.append_fields(
                    subject.correlation_id,
                    subject.client_order_id,
                    subject.audit_machine,
                    event,
                    source,
                    target,
                    outcome,
                    reason_code,
                    detail,
                )
            except ExecFsmError:
                raise
            except Exception as exc:
                raise _write_failed(
                    subject.audit_machine, event, subject.correlation_id, exc
                ) from exc
            self.last_seq = seq
            return
        entry = AuditEntry(
            correlation_id=subject.correlation_id,
            client_order_id=subject.client_order_id,
            machine=subject.audit_machine,
            event=event,
            source=source,
            target=target,
            outcome=outcome,
            reason_code=reason_code,
            detail=detail,
        )
        try:
            record: object = self.sink.append(entry)
        except ExecFsmError:
            raise
        except Exception as exc:
            raise _write_failed(entry.machine, event, entry.correlation_id, exc) from exc
        self.last_seq = record.seq if isinstance(record, AuditRecord) else None

    def settle(self) -> None:
        """
        Make the records written so far durable, if the sink can (`AuditLog.settle`: a log
        a store persists, outside a unit of work); otherwise nothing.
        """
        settle = getattr(self.sink, "settle", None)
        if settle is not None and self.last_seq is not None:
            settle(self.last_seq)

    def bound_to(self, subject: AuditSubject) -> BoundAuditListener:
        """
        This listener, recording `subject`, as python-statemachine's reference engine takes
        it.
        """
        return BoundAuditListener(self, subject)


class BoundAuditListener:
    """
    An `AuditListener` for one machine, attached to python-statemachine as a listener.
    """

    __slots__ = ("listener", "subject")

    def __init__(self, listener: AuditListener, subject: AuditSubject) -> None:
        self.listener = listener
        self.subject = subject

    def on_transition(
        self,
        event: str,
        source: Any,
        target: Any,
        reason_code: Reason | None = None,
        detail: str = "",
    ) -> None:
        """
        Record an applied transition (python-statemachine injects the arguments by name).
        """
        moved = (str(event), str(_state_name(source)), str(_state_name(target)))
        self.listener.write(
            self.subject, moved[0], moved[1], moved[2], AuditOutcome.APPLIED, reason_code, detail
        )
        self.listener.moved = moved
