"""
The execfsm error tree: one root, a shallow hierarchy, stable reason codes.

Each error keeps the values it talks about as attributes, so callers can branch on them
without parsing the message; the message names subject, rule and value received.
"""

from __future__ import annotations

from typing import Any

from execfsm.enums import MachineReason, Reason, ReasonCode


class ExecFsmError(Exception):
    """
    Root of every error execfsm raises on purpose.
    """

    reason: Reason | None = None
    """The stable code dashboards group by, where the error has one."""


class DefinitionError(ExecFsmError, TypeError):
    """
    A machine or component is declared wrongly: a bug in our code or a user's extension.
    """


def _checked(reason: Reason) -> Reason:
    """
    `reason`, refused unless it is a `ReasonCode` or a `MachineReason`: a bare string would
    reach the audit trail as a code no reader knows.
    """
    if not isinstance(reason, ReasonCode | MachineReason):
        raise DefinitionError(
            f"a refusal's reason must be a ReasonCode or a machine's own MachineReason "
            f"member, got {type(reason).__name__} {reason!r}"
        )
    return reason


class ContractViolation(ExecFsmError, ValueError):
    """
    The caller's input breaks the order contract (a field's type, or a business invariant).

    Args:
        message: What is wrong, naming the subject, the rule and the value received.
        reason: The stable reason code.
        field: The name of the offending field, where there is one.
        value: The offending value as received.
        bound: The bound the value broke, in words (e.g. ``"at most 64 characters"``), for
            the rules that have one.
    """

    reason: Reason

    def __init__(
        self,
        message: str,
        *,
        reason: Reason,
        field: str | None = None,
        value: Any = None,
        bound: str | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = _checked(reason)
        self.field = field
        self.value = value
        self.bound = bound


class ConfigurationError(ExecFsmError, ValueError):
    """
    A setting given to a component is wrong (a retry count, a timeout, a venue parameter,
    an engine): the operator's or developer's mistake, refused when the component is built.

    Args:
        message: What is wrong, naming the setting, the rule and the value received.
        field: The setting's name.
        value: The value as received.
    """

    def __init__(self, message: str, *, field: str, value: Any = None) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


class IdempotencyConflict(ContractViolation):
    """
    An intent reuses an idempotency key with different terms: refused (and audited) with
    ``IDEMPOTENCY_CONFLICT``, nothing dispatched. Only an identical resubmission is a
    duplicate.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: ReasonCode,
        idempotency_key: str,
        differences: dict[str, tuple[Any, Any]],
    ) -> None:
        super().__init__(message, reason=reason, field="intent", value=differences)
        self.idempotency_key = idempotency_key
        """The key both intents share."""
        self.differences = differences
        """Field name -> (the first intent's value, this intent's value)."""


class InProgressElsewhere(ContractViolation):
    """
    An intent's idempotency key is claimed by another orchestrator's stream on a shared
    database (`execfsm.ledger.postgres`) and has no result there yet: refused (and audited)
    with ``IDEMPOTENCY_IN_PROGRESS_ELSEWHERE``, nothing dispatched. Submitting it again once
    the owner is done answers with the owner's result.
    """

    def __init__(
        self, message: str, *, reason: ReasonCode, idempotency_key: str, owner: str
    ) -> None:
        super().__init__(message, reason=reason, field="intent", value=idempotency_key)
        self.idempotency_key = idempotency_key
        """The key claimed elsewhere."""
        self.owner = owner
        """The stream that claimed it."""


class ReentrantCall(ExecFsmError, RuntimeError):
    """
    An orchestrator (or a store's flush) was called from inside one of its own units of
    work, e.g. by a risk hook: that call could never be made durable before the unit it sits
    in ends, so it is refused instead of waiting forever. Also: a machine's guard or callback
    sending an event to its own machine while it processes one (the engines would order the
    two differently).
    """


class PolicyViolation(ExecFsmError):
    """
    A safety or risk policy denies the action (live execution blocked, risk BLOCK or PAUSE).
    """

    reason: Reason

    def __init__(self, message: str, *, reason: Reason) -> None:
        super().__init__(message)
        self.reason = _checked(reason)


class IllegalTransition(ExecFsmError):
    """
    The machine's table has no edge for this event in the current state.

    Args:
        machine: The machine's name (``order`` or ``pipeline``).
        event: The event that was refused.
        state: The state the machine was (and still is) in.
    """

    reason: ReasonCode

    def __init__(self, machine: str, event: str, state: str) -> None:
        super().__init__(f"{machine}: event {event!r} is not allowed in state {state}")
        self.reason = ReasonCode.ILLEGAL_TRANSITION
        self.machine = machine
        self.event = event
        self.state = state


class AuditWriteError(ExecFsmError):
    """
    The audit sink could not record a transition, so the transition did not happen.
    """


class AuditChainError(ExecFsmError):
    """
    A recorded audit trail fails verification (hash chain, sequence or format).

    Args:
        message: What is wrong with the record.
        seq: The sequence number of the first bad record.
    """

    def __init__(self, message: str, *, seq: int) -> None:
        super().__init__(message)
        self.seq = seq


class KeyFileError(ExecFsmError, ValueError):
    """
    A key file given to sign or verify audit checkpoints cannot be used: missing, not a PEM
    key, not Ed25519, or the wrong half (a public key where signing needs the private one).

    Args:
        message: What is wrong, naming the file.
        path: The file as given.
    """

    def __init__(self, message: str, *, path: object) -> None:
        super().__init__(message)
        self.path = path


class VenueError(ExecFsmError):
    """
    Root of the errors an adapter raises once it has translated a venue or transport failure.
    """


class TransientVenueError(VenueError):
    """
    The request did not reach the venue (connection refused, throttled before sending):
    safe to retry with the same idempotency key.
    """


class PermanentVenueError(VenueError):
    """
    The venue or transport failed in a way a retry will not fix (bad credentials, unknown
    account). Not retried; the order fails with ADAPTER_ERROR.
    """


class VenueRejected(PermanentVenueError):
    """
    The venue refused the order itself (bad price band, unknown instrument). Not retried;
    the order ends REJECTED with ADAPTER_REJECTED.
    """


class OutcomeUnknown(VenueError):
    """
    The request may have left (a timeout or reset after sending): the order may exist at the
    venue. It stays SUBMITTED, is flagged for reconciliation, and a retry reuses its key.
    """


class StoreError(ExecFsmError):
    """
    The durable store cannot be opened, read or written: nothing of the failing unit was
    stored, and the orchestrator accepts no more work until it is reopened (and recovers).
    """


class FillSubscriberError(ExecFsmError):
    """
    One or more fill subscribers raised. A subscriber hears of a fill after it is booked, so
    its failure undoes nothing: every fill stays booked, the other subscribers heard it, and
    the intent or event it came from is recorded (and durable) before this is raised.

    Args:
        errors: What each failed subscriber call raised, in call order (the first is also
            the ``__cause__``).
        outcome: What the call would have returned: a `PipelineResult`, a batch's list of
            them, or an `EventOutcome`.
    """

    def __init__(self, errors: list[Exception], outcome: object) -> None:
        first = errors[0]
        super().__init__(
            f"{len(errors)} fill subscriber call(s) raised after the fills were booked and "
            f"recorded; first: {type(first).__name__}: {first}"
        )
        self.errors = errors
        self.outcome = outcome
        self.__cause__ = first
