"""
Engines: what runs a declared machine. A running `AuditedMachine` holds one, chosen by
`Engine` — the compiled table (`execfsm.fsm._compiled`, the default) or python-statemachine's
own runtime (the reference).

Both answer the same small protocol, `MachineEngine`; the machine builds the public
`StateMachine` queries (``configuration``, ``allowed_events``, ``is_terminated``, ...) on it,
so they answer the same on either engine.
"""

from __future__ import annotations

import enum
import inspect
from types import FunctionType
from typing import TYPE_CHECKING, Any, Protocol

from statemachine import StateMachine
from statemachine.exceptions import TransitionNotAllowed

from execfsm.errors import ConfigurationError
from execfsm.fsm._callbacks import CallbackEngine
from execfsm.fsm._compiled import (
    CalledEvents,
    CompiledEngine,
    NoTransition,
    compile_machine,
    compiled,
)
from execfsm.fsm._declaration import convention_names

if TYPE_CHECKING:
    from execfsm.fsm.audited import AuditedMachine

__all__ = [
    "Engine",
    "MachineEngine",
    "NoTransition",
    "ReferenceEngine",
    "compile_machine",
    "compiled",
]


class MachineEngine(Protocol):
    """
    What a running machine asks of its engine.
    """

    kind: str
    """The `Engine` value of this engine."""
    value: Any
    """The current state's value (assignable, as python-statemachine's
    ``current_state_value``)."""

    @property
    def running(self) -> bool:
        """False once a final state is reached."""

    def fire(self, machine: Any, event: str, kwargs: dict[str, Any]) -> None:
        """Process `event`; raise `NoTransition` when no edge takes it."""

    def enabled_events(self, machine: Any, kwargs: dict[str, Any]) -> list[str]:
        """The names of the events whose conds hold for `kwargs`, in declaration order."""

    def put(self, trigger_data: Any, internal: bool = False) -> None:
        """Keep an event called as a method (python-statemachine's ``BoundEvent``)."""

    def processing_loop(self, caller_future: Any = None) -> Any:
        """Run the event kept by `put`."""


class Engine(enum.StrEnum):
    """
    Which engine runs a machine.
    """

    COMPILED = "compiled"
    """The machine's compiled table (default): the same behaviour, far less work per event."""
    REFERENCE = "reference"
    """python-statemachine's own runtime, which the compiled engine is tested against."""

    @classmethod
    def of(cls, engine: Engine | str | None) -> Engine:
        """
        `engine` as an `Engine`: None is `COMPILED`; the names ``"compiled"`` and
        ``"reference"`` are accepted too.

        Raises:
            ConfigurationError: anything else.
        """
        if engine is None:
            return cls.COMPILED
        try:
            return cls(engine)
        except ValueError:
            names = ", ".join(f"Engine.{e.name}" for e in cls)
            raise ConfigurationError(
                f"engine: must be one of {names}, got {engine!r}", field="engine", value=engine
            ) from None

    def start(self, machine: AuditedMachine, start_value: Any = None) -> MachineEngine:
        """
        A new engine for `machine`, in its initial state or in `start_value`.
        """
        if self is Engine.COMPILED:
            if not type(machine).compiled_engine:
                name = type(machine).__name__
                raise ConfigurationError(
                    f"engine: {name} declares compiled_engine = False (it runs on "
                    f"python-statemachine's runtime only); use Engine.REFERENCE",
                    field="engine",
                    value=self,
                )
            table = compiled(type(machine))
            if table.callbacks:
                return CallbackEngine(machine, table, start_value)
            return CompiledEngine(table, start_value)
        return ReferenceEngine(machine, start_value)


_RUNTIMES: dict[type[StateMachine], type[StateMachine]] = {}


def _runtime_of(declaration: type[StateMachine]) -> type[StateMachine]:
    """
    The declaration's states and transitions as a plain python-statemachine class: without
    its callbacks (they run on the machine the user holds, passed as a listener) and with
    the library's own runtime where `AuditedMachine` answers from an engine instead.
    """
    runtime = _RUNTIMES.get(declaration)
    if runtime is None:
        # The class whose queries answer from an engine (`AuditedMachine`), found on the
        # declaration rather than imported: it imports this module.
        holder = next(c for c in declaration.__mro__ if "_answers_from_engine" in vars(c))
        hidden = _declared_names(declaration, holder) | {
            name
            for name in convention_names(declaration)
            if callable(getattr(declaration, name, None))
        }

        def without_callbacks(self: object) -> list[str]:  # python-statemachine looks here
            return [name for name in object.__dir__(self) if name not in hidden]

        # The runtime is python-statemachine's own: not compiled again. The declaration's own
        # methods are not the runtime's, so python-statemachine binds a guard or callback the
        # declaration names to the machine the user holds (a listener), never to the runtime.
        namespace: dict[str, Any] = {"__dir__": without_callbacks, "compiled_engine": False}
        for name in _declared_names(declaration, holder):  # the library's own where it has one
            namespace[name] = inspect.getattr_static(StateMachine, name, None)
        for name, ours in vars(holder).items():  # the queries answered by engines
            library = inspect.getattr_static(StateMachine, name, None)
            answered = callable(ours) or isinstance(ours, property)
            if answered and library is not None and name != "__setattr__":
                namespace[name] = library
        runtime = type(declaration.__name__, (declaration,), namespace)
        _RUNTIMES[declaration] = runtime
    return runtime


def _declared_names(declaration: type[StateMachine], holder: type) -> frozenset[str]:
    """
    The methods and properties the declaration's own classes (below `holder`) define.
    """
    names: set[str] = set()
    for klass in declaration.__mro__:
        if klass is holder:
            break
        names.update(
            name
            for name, value in vars(klass).items()
            if not name.startswith("__")
            and isinstance(value, FunctionType | property | staticmethod | classmethod)
        )
    return frozenset(names)


class ReferenceEngine(CalledEvents):
    """
    python-statemachine's runtime for one machine: an instance of the declaration's states
    and transitions, with the machine's callbacks and audit listener as its listeners.
    """

    __slots__ = ("_runtime",)
    kind = "reference"

    def __init__(self, machine: AuditedMachine, start_value: Any = None) -> None:
        runtime = object.__new__(_runtime_of(type(machine)))
        StateMachine.__init__(
            runtime,
            start_value=start_value,
            listeners=[machine._audit_listener.bound_to(machine), machine],
        )
        self._runtime = runtime
        self._called = None

    @property
    def value(self) -> Any:
        """
        The current state's value.
        """
        return self._runtime.current_state_value

    @value.setter
    def value(self, value: Any) -> None:
        self._runtime.current_state_value = value

    @property
    def running(self) -> bool:
        """
        False once a final state is reached.
        """
        return not self._runtime.is_terminated

    def fire(self, machine: Any, event: str, kwargs: dict[str, Any]) -> None:
        """
        Send `event` to python-statemachine; its `TransitionNotAllowed` is `NoTransition`.
        """
        try:
            self._runtime.send(event, **kwargs)
        except TransitionNotAllowed:
            raise NoTransition(event) from None

    def enabled_events(self, machine: Any, kwargs: dict[str, Any]) -> list[str]:
        """
        python-statemachine's ``enabled_events``, by name.
        """
        return [str(event.id) for event in self._runtime.enabled_events(**kwargs)]
