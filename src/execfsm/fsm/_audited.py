"""
The base every execfsm machine subclasses: strict behaviour flags and audited refusals.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from statemachine import StateMachine
from statemachine.exceptions import TransitionNotAllowed
from statemachine.model import Model

from execfsm.contracts import ReasonCode
from execfsm.errors import ContractViolation, IllegalTransition, PolicyViolation
from execfsm.fsm.audit import AuditListener, AuditOutcome
from execfsm.fsm.engine import (
    COMPILED,
    ENGINES,
    REFERENCE,
    CompiledMachine,
    NoTransition,
    compiled,
    fire,
)
from execfsm.typing import AuditSink

_NO_MODEL: Any = Model()  # type: ignore[no-untyped-call]

DEFAULT_ENGINE = COMPILED
"""The engine machines run on unless told otherwise."""


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

    # python-statemachine's __setattr__ only forbids assigning a state's name; our machines'
    # attributes are never state names, and the check costs a call on every assignment.
    __setattr__ = object.__setattr__

    audit_machine: ClassVar[str] = ""
    """The ``machine`` field of this machine's audit records."""

    def __init__(
        self, audit: AuditSink, *, start_value: Any = None, engine: str | None = None
    ) -> None:
        self._audit_listener = AuditListener(audit)
        self._event_in_progress = ""
        engine = DEFAULT_ENGINE if engine is None else engine
        if engine == COMPILED:
            self._table: CompiledMachine | None = compiled(type(self))
            self._state_value = self._table.initial if start_value is None else start_value
            self._pending: tuple[str, dict[str, Any]] | None = None
            self.model = _NO_MODEL  # events called as methods build their trigger from it
            return  # python-statemachine's runtime is not built: the table replaces it
        if engine != REFERENCE:
            raise ContractViolation(
                f"engine: must be one of {', '.join(ENGINES)}, got {engine!r}",
                reason=ReasonCode.VALIDATION_INVALID_FIELD,
                field="engine",
                value=engine,
            )
        self._table = None
        super().__init__(listeners=[self._audit_listener], start_value=start_value)

    @property
    def engine(self) -> str:
        """
        ``compiled`` or ``reference``: which engine runs this instance.
        """
        return REFERENCE if self._table is None else COMPILED

    @property
    def current_state_value(self) -> Any:
        """
        The current state's value (the state enum member).
        """
        if self._table is not None:
            return self._state_value
        return self._config.value

    @current_state_value.setter
    def current_state_value(self, value: Any) -> None:
        if self._table is not None:
            self._state_value = value
        else:
            self._config.value = value

    def send(self, event: str, *args: Any, **kwargs: Any) -> Any:
        """
        Send `event` (with keyword arguments for guards and callbacks).
        """
        if self._table is None:
            return super().send(event, *args, **kwargs)
        try:
            self._fire_compiled(event, kwargs)
        except (ContractViolation, PolicyViolation) as exc:
            self._record_refusal(exc)
            raise
        return None

    def _fire_compiled(self, event: str, kwargs: dict[str, Any]) -> None:
        assert self._table is not None  # noqa: S101 - only called on the compiled engine
        try:
            fire(self, self._table, event, kwargs)
        except NoTransition:
            state = str(self.state_value)
            error = IllegalTransition(self.audit_machine, event, state)
            self.record(event, AuditOutcome.REFUSED, error.reason, str(error))
            raise error from None

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
    ) -> None:
        """
        Write a record for an event that took no transition of the table (``target`` None
        means nothing moved).
        """
        source = str(self.state_value)
        self._audit_listener.write(self, event, source, target, outcome, reason_code, detail)

    # Every event, sent by name or called as a method, passes through these two library
    # hooks: `_put_nonblocking` refuses events once a final state has stopped the engine,
    # `_processing_loop` refuses them otherwise. Both refusals are audited here, and only here.

    def _put_nonblocking(self, trigger_data: Any, internal: bool = False) -> Any:
        if self._table is not None:  # an event called as a method: run it in _processing_loop
            self._pending = (str(trigger_data.event), dict(trigger_data.kwargs))
            return None
        with self._refusals_audited():
            return super()._put_nonblocking(trigger_data, internal=internal)

    def _processing_loop(self, caller_future: Any = None) -> Any:
        if self._table is not None:
            pending, self._pending = self._pending, None
            if pending is not None:
                with self._refusals_audited():
                    self._fire_compiled(*pending)
            return None
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
            self._record_refusal(exc)
            raise

    def _record_refusal(self, exc: ContractViolation | PolicyViolation) -> None:
        """
        Audit a validator's refusal of the event in progress.
        """
        self.record(self._event_in_progress, AuditOutcome.REFUSED, exc.reason, str(exc))
