"""
The base every execfsm machine subclasses: strict behaviour flags and audited refusals.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from statemachine import StateMachine
from statemachine.exceptions import TransitionNotAllowed

from execfsm.contracts import ReasonCode
from execfsm.errors import ContractViolation, IllegalTransition, PolicyViolation
from execfsm.fsm.audit import AuditListener, AuditOutcome, AuditRecord
from execfsm.typing import AuditSink


class AuditedMachine(StateMachine):
    """
    A strict `StateMachine` whose every transition and every refusal is audited.

    Illegal events raise `IllegalTransition`; a validator's `ContractViolation` or
    `PolicyViolation` propagates. Either way the machine stays in its state and one
    ``refused`` record says why.
    """

    # Behaviour flags, set explicitly (the StateChart defaults ignore unknown events and
    # turn callback errors into events).
    allow_event_without_transition = False
    catch_errors_as_events = False
    enable_self_transition_entries = False
    atomic_configuration_update = True

    audit_machine: ClassVar[str] = ""
    """The ``machine`` field of this machine's audit records."""

    def __init__(self, audit: AuditSink, *, start_value: Any = None) -> None:
        self._audit_listener = AuditListener(audit)
        self._event_in_progress = ""
        super().__init__(listeners=[self._audit_listener], start_value=start_value)

    @property
    def correlation_id(self) -> str:
        """
        The intent this machine works for; every record carries it.
        """
        raise NotImplementedError

    @property
    def client_order_id(self) -> str | None:
        """
        The order this machine concerns, if any.
        """
        return None

    @property
    def state_value(self) -> Any:
        """
        The current state's value (the state enum member).
        """
        return self.current_state_value

    def guard_context(self) -> dict[str, Any]:
        """
        Extra values injected by name into guards and callbacks for every event.
        """
        return {}

    def prepare_event(self, event: str) -> dict[str, Any]:
        """
        Python-statemachine hook: remember the event (for refusal records), inject context.
        """
        self._event_in_progress = str(event)
        return self.guard_context()

    def record(
        self,
        event: str,
        outcome: AuditOutcome,
        reason_code: ReasonCode | None = None,
        detail: str = "",
        *,
        target: str | None = None,
    ) -> AuditRecord:
        """
        Write a record for an event that took no transition of the table (``target`` None
        means nothing moved).
        """
        source = str(self.state_value)
        return self._audit_listener.write(self, event, source, target, outcome, reason_code, detail)

    # Every event, sent by name or called as a method, passes through these two library
    # hooks: `_put_nonblocking` refuses events once a final state has stopped the engine,
    # `_processing_loop` refuses them otherwise. Both refusals are audited here, and only here.

    def _put_nonblocking(self, trigger_data: Any, internal: bool = False) -> Any:
        with self._refusals_audited():
            return super()._put_nonblocking(trigger_data, internal=internal)

    def _processing_loop(self, caller_future: Any = None) -> Any:
        with self._refusals_audited():
            return super()._processing_loop(caller_future)

    @contextmanager
    def _refusals_audited(self) -> Iterator[None]:
        try:
            yield
        except TransitionNotAllowed as exc:
            event = str(exc.event) if exc.event is not None else self._event_in_progress
            error = IllegalTransition(self.audit_machine, event, str(self.state_value))
            self.record(event, AuditOutcome.REFUSED, error.reason, str(error))
            raise error from None
        except (ContractViolation, PolicyViolation) as exc:
            self.record(self._event_in_progress, AuditOutcome.REFUSED, exc.reason, str(exc))
            raise
