"""
The base every execfsm machine subclasses: strict behaviour flags, audited refusals, and an
engine that runs the declaration.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any, ClassVar, Protocol, Self

from statemachine import State, StateMachine
from statemachine.exceptions import InvalidStateValue
from statemachine.factory import StateMachineMetaclass
from statemachine.model import Model
from statemachine.orderedset import OrderedSet

from execfsm.enums import MachineReason, Reason, ReasonCode
from execfsm.errors import (
    ContractViolation,
    DefinitionError,
    IllegalTransition,
    PolicyViolation,
    ReentrantCall,
    StoreError,
)
from execfsm.fsm.audit import AuditListener, AuditOutcome, AuditRecord
from execfsm.fsm.cases import CaseTable
from execfsm.fsm.engine import Engine, MachineEngine, NoTransition, compiled
from execfsm.typing import AuditSink


class AuditTrail(Protocol):
    """
    What `AuditedMachine.from_trail` reads: an intent's records (an `AuditLog`).
    """

    def by_correlation(self, correlation_id: str) -> Iterable[AuditRecord]: ...


class DeclaredMachine(StateMachineMetaclass):
    """
    python-statemachine's metaclass, which builds the states and transitions, then compiles
    the class for the compiled engine: a declaration the compiled engine cannot run exactly
    as python-statemachine does raises `DefinitionError` here, at class definition, unless
    it declares ``compiled_engine = False``. Bases without states are not compiled.
    """

    def __init__(cls, name: str, bases: tuple[type], attrs: dict[str, Any]) -> None:
        super().__init__(name, bases, attrs)
        if cls.states and getattr(cls, "compiled_engine", True):
            compiled(cls)  # type: ignore[arg-type]  # a StateMachine class


class AuditedMachine(StateMachine, metaclass=DeclaredMachine):
    """
    A strict `StateMachine` declaration whose every transition and every refusal is audited.

    The class declares states, transitions, guards and callbacks; an instance runs on the
    engine it is given (`Engine`), which it holds rather than being. The public
    `StateMachine` queries (``configuration``, ``current_state_value``, ``allowed_events``,
    ``enabled_events``, ``is_terminated``, ...) answer from that engine, the same on either.

    Illegal events raise `IllegalTransition`; a validator's `ContractViolation` or
    `PolicyViolation` propagates. Either way the machine stays in its state and one
    ``refused`` record says why.

    The class is compiled for the compiled engine when it is defined: what that engine does
    not run identically (see `execfsm.fsm._compiled`) raises `DefinitionError` there. A
    machine that needs python-statemachine's runtime declares ``compiled_engine = False``;
    it then runs on `Engine.REFERENCE` (also when no engine is given), and asking for
    `Engine.COMPILED` raises `ConfigurationError`.

    One instance must not be used from two threads at once: neither engine locks (the
    orchestrator serialises the events of one order with striped locks). A guard or callback
    that sends an event to its own machine while an event is processed raises
    `ReentrantCall` on both engines (python-statemachine would queue it until the first
    completes, the compiled engine would run it inside the first): the first event's
    transition, if already applied and audited, stands, and the error propagates from the
    first ``send``.

    Args:
        audit: The sink every transition and refusal is written to.
        start_value: Start in this state (a machine re-opened from a store) instead of the
            initial one.
        engine: `Engine.COMPILED` (default) or `Engine.REFERENCE`; their names are accepted
            too.
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

    model: Any = Model()  # type: ignore[no-untyped-call]
    """What python-statemachine's events read when called as methods (no model is used)."""

    _sending: bool = False
    """True while `send` processes an event (a nested send is refused)."""

    _answers_from_engine: ClassVar[bool] = True
    """Marks the class whose queries answer from the engine (the reference engine reads it)."""

    compiled_engine: ClassVar[bool] = True
    """False: the machine runs on python-statemachine's runtime only (`Engine.REFERENCE`);
    it is not compiled, and asking for `Engine.COMPILED` raises `ConfigurationError`."""

    audit_machine: ClassVar[str] = ""
    """The ``machine`` field of this machine's audit records: unique among the machines a
    store holds (`execfsm.registry.register_machine` checks it)."""

    audit_instance: ClassVar[str] = "correlation_id"
    """Which record field names one running instance: ``correlation_id`` (one per intent,
    the default) or ``client_order_id`` (one per order). Trail verification and recovery
    follow each instance's states by it."""

    reason_codes: ClassVar[type[MachineReason] | None] = None
    """The machine's own reason codes (a `MachineReason` enum), shown in its spec and
    report; its refusals may carry them besides execfsm's `ReasonCode`."""

    durable_on_return: ClassVar[bool] = True
    """On an audit log a store persists, whether the records of an event are durable when
    `send` (or `record`) returns: so a machine of your own loses nothing to a crash after
    it returned, flushed or not. Inside a unit of work the unit's commit makes them durable
    instead. execfsm's own machines say False: the orchestrator makes their records durable
    in its units of work, together with the ledgers they change."""

    resting_states: ClassVar[tuple[str, ...]] = ()
    """States besides the final ones where an instance may rest without anyone's attention
    (an order's FILLED: a bust may still reopen it, but nothing is owed). The trail's
    diagrams (``diagrams --trail/--db``) count an instance in any other state as *held*."""

    cases: ClassVar[CaseTable | None] = None
    """What the machine does with an event its transition table has no edge for, declared
    row by row (`execfsm.fsm.cases`); `MachineModel` carries it to the spec, the diagrams
    and the governance report. None: every such event is refused as an illegal transition."""

    def __init__(
        self,
        audit: AuditSink,
        *,
        start_value: Any = None,
        engine: Engine | str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        # python-statemachine's own runtime, when chosen, is the engine, not this object.
        if correlation_id is not None:
            if not isinstance(correlation_id, str) or not correlation_id.strip():
                raise ContractViolation(
                    f"{type(self).__name__}: correlation_id must be a non-empty string, "
                    f"got {correlation_id!r}",
                    reason=ReasonCode.VALIDATION_INVALID_FIELD,
                    field="correlation_id",
                    value=correlation_id,
                )
            self._correlation_id = correlation_id
        self._audit_listener = AuditListener(audit)
        if start_value is not None and getattr(audit, "persisted", False):
            self._check_start(audit, start_value)
        if engine is None and not self.compiled_engine:
            engine = Engine.REFERENCE
        self._engine: MachineEngine = Engine.of(engine).start(self, start_value)

    def _check_start(self, audit: Any, start_value: Any) -> None:
        """
        Refuse a start state that is not where the persisted trail left this instance: its
        first record would contradict the trail, and the store would never open again.
        """
        if self.audit_instance != "correlation_id":
            return  # execfsm's orders: recovery re-opens them from the verified trail
        correlation_id = str(self.correlation_id)
        recorded = self._trail_state(audit, correlation_id)
        expected = recorded if recorded is not None else type(self)._initial_value()
        if start_value != expected:
            raise ContractViolation(
                f"{type(self).__name__}: start_value {start_value!r} is not where the trail "
                f"left {correlation_id} ({expected!r}); re-open it with from_trail",
                reason=ReasonCode.VALIDATION_INVALID_FIELD,
                field="start_value",
                value=start_value,
            )

    @classmethod
    def _initial_value(cls) -> Any:
        return next(state.value for state in cls.states if state.initial)

    @classmethod
    def from_trail(
        cls,
        audit: AuditTrail,
        correlation_id: str,
        *,
        engine: Engine | str | None = None,
        **kwargs: Any,
    ) -> Self:
        """
        The instance `correlation_id` of this machine re-opened in the state its records in
        `audit` (an `AuditLog`, e.g. a re-opened orchestrator's ``audit_log``) left it in,
        writing on to `audit`; in the initial state if it has none. `kwargs` go to the
        constructor.

        Raises:
            DefinitionError: the machine names its instances by ``client_order_id`` (many
                may share a correlation id): re-open those by their own constructor.
            StoreError: the records leave it in a state the machine does not declare.
        """
        if cls.audit_instance != "correlation_id":
            raise DefinitionError(
                f"{cls.__name__}.from_trail: its instances are named by {cls.audit_instance}, "
                f"and several may share correlation id {correlation_id!r}"
            )
        start = cls._trail_state(audit, correlation_id)
        return cls(
            audit,  # type: ignore[arg-type]  # an AuditLog is a sink too
            start_value=start,
            engine=engine,
            correlation_id=correlation_id,
            **kwargs,
        )

    @classmethod
    def _trail_state(cls, audit: AuditTrail, correlation_id: str) -> Any:
        """
        The value of the state `correlation_id`'s records in `audit` leave it in, or None.
        """
        state = None
        for record in audit.by_correlation(correlation_id):
            if record.machine != cls.audit_machine:
                continue
            if record.outcome is AuditOutcome.APPLIED or (
                record.reason_code is ReasonCode.CALLBACK_FAILED and record.target is not None
            ):  # a callback raised: the move recorded before did not happen
                state = record.target
        if state is None:
            return None
        values = {str(s.value): s.value for s in cls.states}
        if state not in values:
            raise StoreError(
                f"{cls.__name__}: the trail leaves {correlation_id} in state {state!r}, which "
                f"the machine does not declare"
            )
        return values[state]

    @property
    def engine(self) -> Engine:
        """
        Which engine runs this instance.
        """
        return Engine(self._engine.kind)

    # -- the public StateMachine queries, answered by the engine ------------------------------

    @property
    def current_state_value(self) -> Any:
        """
        The current state's value (assignable: bypasses every hook, as in python-statemachine).
        """
        return self._engine.value

    @current_state_value.setter
    def current_state_value(self, value: Any) -> None:
        if value is not None and value not in self.states_map:  # as python-statemachine
            raise InvalidStateValue(value)  # type: ignore[no-untyped-call]
        self._engine.value = value

    @property
    def configuration_values(self) -> OrderedSet[Any]:
        """
        The values of the active states.
        """
        return OrderedSet([self._engine.value])

    @property
    def configuration(self) -> OrderedSet[State]:
        """
        The active states (the declared `State` objects).
        """
        return OrderedSet([self.states_map[self._engine.value]])

    @configuration.setter
    def configuration(self, new_configuration: OrderedSet[State]) -> None:
        (state,) = new_configuration
        self._engine.value = state.value

    @property
    def current_state(self) -> State:
        """
        The active state (deprecated by python-statemachine in favour of ``configuration``).
        """
        warnings.warn(
            "Property `current_state` is deprecated in favor of `configuration`.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.states_map[self._engine.value]

    @current_state.setter
    def current_state(self, value: State) -> None:
        warnings.warn(
            "Property `current_state` is deprecated in favor of `configuration`.",
            DeprecationWarning,
            stacklevel=2,
        )
        self._engine.value = value.value

    @property
    def is_terminated(self) -> bool:
        """
        Whether a final state has been reached.
        """
        return not self._engine.running

    def enabled_events(self, *args: Any, **kwargs: Any) -> Any:
        """
        The allowed events with an edge whose conds hold for `kwargs` (a cond that raises
        counts as holding, as in python-statemachine).
        """
        if args:
            raise TypeError(f"{type(self).__name__}.enabled_events: values go by keyword")
        return [getattr(self, name) for name in self._engine.enabled_events(self, kwargs)]

    def send(self, event: str, *args: Any, **kwargs: Any) -> None:
        """
        Send `event`, with keyword arguments for guards and callbacks.

        Events take keyword arguments only, on both engines: positional ones (which
        python-statemachine would hand to guards and callbacks by position) raise
        ``TypeError`` here, before any engine runs, also for an event called as a method
        (``machine.go(1)``).

        Raises:
            TypeError: positional event arguments.
            IllegalTransition: no edge takes `event` from the current state (audited).
            ContractViolation, PolicyViolation: a validator refused it (audited).
            ReentrantCall: sent from a guard or callback while this machine processes an
                event.
        """
        if args:
            raise TypeError(f"{type(self).__name__}.send({event!r}): values go by keyword")
        if self._sending:
            raise ReentrantCall(
                f"{type(self).__name__}.send({event!r}) from a guard or callback of the same "
                f"machine while it processes an event: the engines would order it differently"
            )
        self._sending = True
        self._audit_listener.moved = None
        try:
            self._engine.fire(self, event, kwargs)
        except NoTransition:
            error = IllegalTransition(self.audit_machine, event, str(self._engine.value))
            self.record(event, AuditOutcome.REFUSED, error.reason, str(error))
            raise error from None
        except (ContractViolation, PolicyViolation) as exc:
            self._undo_recorded_move(exc)
            self.record(event, AuditOutcome.REFUSED, exc.reason, str(exc))
            raise
        except Exception as exc:
            self._undo_recorded_move(exc)
            raise
        finally:
            self._sending = False
            if self.durable_on_return:
                self._audit_listener.settle()

    def _undo_recorded_move(self, exc: Exception) -> None:
        """
        A callback raised after the move was recorded but before it stood (an ``on_``
        or entry callback): the machine is still in the source state, so a
        ``CALLBACK_FAILED`` record undoes the move in the trail, from where the record before
        left it back to where the machine is. No record claims a move that did not happen.
        """
        moved = self._audit_listener.moved
        self._audit_listener.moved = None
        if moved is None:
            return
        event, source, target = moved
        if source == target or str(self._engine.value) != source:
            return  # the move stands (raised after the commit), or nothing moved anyway
        self._audit_listener.write(
            self,
            event,
            target,
            source,
            AuditOutcome.REFUSED,
            ReasonCode.CALLBACK_FAILED,
            f"{type(exc).__name__}: {exc}; the move {source} -> {target} did not happen",
        )

    # -- what every audited machine provides --------------------------------------------------

    @property
    def correlation_id(self) -> str:
        """
        What this instance works for (an intent, a session, a group); every record carries
        it. A subclass derives it, or the constructor is given ``correlation_id``.
        """
        value = getattr(self, "_correlation_id", None)
        if value is None:
            raise DefinitionError(
                f"{type(self).__name__}: no correlation_id: pass correlation_id= to the "
                f"constructor, or define the correlation_id property"
            )
        return str(value)

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
        return self._engine.value

    def guard_context(self) -> dict[str, Any]:
        """
        Extra values injected by name into guards and callbacks for every event.
        """
        return {}

    def prepare_event(self) -> dict[str, Any]:
        """
        Python-statemachine callback: inject `guard_context` into guards and callbacks.
        """
        return self.guard_context()

    def record(
        self,
        event: str,
        outcome: AuditOutcome,
        reason_code: Reason | None = None,
        detail: str = "",
        *,
        target: str | None = None,
    ) -> None:
        """
        Write a record for an event that took no transition of the table: an annotation
        (``applied`` where the machine stands: ``target`` None or the current state), or a
        refusal or duplicate, which names its reason. A record never moves the machine:
        ``send`` does.

        Raises:
            DefinitionError: a reason that is not a `ReasonCode` or one of the machine's
                own `reason_codes`, a refusal or duplicate without one, or an applied
                record naming another state than the current one. Nothing is written.
        """
        source = str(self._engine.value)
        if reason_code is not None and not isinstance(reason_code, ReasonCode | MachineReason):
            raise DefinitionError(
                f"{type(self).__name__}.record({event!r}): reason_code must be a ReasonCode "
                f"or a MachineReason member, got {reason_code!r}"
            )
        if isinstance(reason_code, MachineReason) and (
            self.reason_codes is None or reason_code not in self.reason_codes
        ):
            raise DefinitionError(
                f"{type(self).__name__}.record({event!r}): {reason_code.value} is not one of "
                f"its reason codes; declare them: reason_codes = {type(reason_code).__name__}"
            )
        if outcome is AuditOutcome.APPLIED:
            if target is None:
                target = source  # nothing moved: the record says where the machine stands
            elif target != source:
                raise DefinitionError(
                    f"{type(self).__name__}.record({event!r}): an applied record cannot move "
                    f"the machine from {source} to {target}; send an event that does"
                )
        elif reason_code is None:
            raise DefinitionError(
                f"{type(self).__name__}.record({event!r}): a {outcome} record names its reason"
            )
        self._audit_listener.write(self, event, source, target, outcome, reason_code, detail)
        if self.durable_on_return and not self._sending:
            self._audit_listener.settle()
