"""
Which machines the tools know: execfsm's own, plus the ones a project registers.

A user project lists its machines once, in its ``pyproject.toml``::

    [tool.execfsm]
    machines = ["mypkg.session:VenueSession"]
    title = "Desk A execution machines"
    policy = "Sessions log on only inside trading hours."

and ``execfsm spec``, ``verify``, ``diagrams``, ``audit verify`` and ``recover`` work on
them (``--machine mypkg.session:VenueSession`` adds one on the command line). Code that
opens a store holding a machine's records registers the machine first
(`register_machine`, usable as a class decorator), so recovery and trail verification know
it; an unregistered machine's records are refused, never skipped.
"""

from __future__ import annotations

import importlib
import re
import sys
import threading
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs

from execfsm.errors import ConfigurationError, DefinitionError
from execfsm.fsm.audited import AuditedMachine
from execfsm.fsm.model import MachineModel

M = TypeVar("M", bound=type[AuditedMachine])

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")
"""A machine's audit name: it also names its files (``spec/NAME.dot``, ``NAME.svg``)."""
_LOCK = threading.Lock()
_REGISTERED: dict[str, type[AuditedMachine]] = {}
"""The machines registered in this process, by audit name (execfsm's own not included)."""


def builtin_machines() -> dict[str, type[AuditedMachine]]:
    """
    execfsm's own machines, by audit name.
    """
    from execfsm.governance import MACHINES  # the governance package imports the machines

    return dict(MACHINES)  # type: ignore[arg-type]  # every one is an AuditedMachine


def _check(machine: Any) -> type[AuditedMachine]:
    if not (isinstance(machine, type) and issubclass(machine, AuditedMachine)):
        raise DefinitionError(f"register_machine: {machine!r} is not an AuditedMachine subclass")
    name = machine.audit_machine
    if not isinstance(name, str) or not _NAME.match(name):
        raise DefinitionError(
            f"{machine.__name__}: audit_machine must name the machine in its records and "
            f"its spec and diagram files: 1 to 64 letters, digits, '_' or '-', starting "
            f"with a letter or digit, got {name!r}"
        )
    instance = machine.audit_instance
    if instance not in ("correlation_id", "client_order_id"):
        raise DefinitionError(
            f"{machine.__name__}: audit_instance must be 'correlation_id' or "
            f"'client_order_id', got {instance!r}"
        )
    MachineModel.from_machine(machine)  # a guard without a description is refused here
    return machine


def register_machine(machine: M) -> M:
    """
    Make `machine` known to recovery, trail verification and the tools in this process;
    returns it, so it serves as a class decorator. Registering the same class again does
    nothing.

    Raises:
        DefinitionError: not an `AuditedMachine`, no ``audit_machine`` name, a guard
            without a description, or its name is taken by another machine (execfsm's own
            included).
    """
    checked = _check(machine)
    name = checked.audit_machine
    with _LOCK:
        taken = builtin_machines().get(name) or _REGISTERED.get(name)
        if taken is not None and taken is not checked:  # a reload or a factory's twin too
            raise DefinitionError(
                f"{checked.__name__}: the machine name {name!r} is taken by {_qualified(taken)}"
            )
        _REGISTERED[name] = checked
    return machine


def unregister_machine(machine: type[AuditedMachine]) -> None:
    """
    Forget a registered machine (tests that declare throwaway machines).
    """
    with _LOCK:
        if _REGISTERED.get(machine.audit_machine) is machine:
            del _REGISTERED[machine.audit_machine]


def known_machines() -> dict[str, type[AuditedMachine]]:
    """
    execfsm's own machines and every registered one, by audit name: what a store may hold.
    """
    with _LOCK:
        return {**builtin_machines(), **_REGISTERED}


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def import_machine(path: str) -> type[AuditedMachine]:
    """
    The machine class named ``"package.module:Class"``.

    Raises:
        ConfigurationError: the text is not of that form, the module cannot be imported,
            or the name is not an `AuditedMachine` subclass.
    """
    module_name, colon, class_name = path.partition(":")
    if not (colon and module_name and class_name):
        raise ConfigurationError(
            f"machine {path!r}: expected 'package.module:Class'", field="machines", value=path
        )
    try:
        module = importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:  # any import failure is the operator's to fix
        raise ConfigurationError(
            f"machine {path!r}: cannot import {module_name}: {type(exc).__name__}: {exc}",
            field="machines",
            value=path,
        ) from exc
    machine: Any = module
    for part in class_name.split("."):
        machine = getattr(machine, part, None)
    if not (isinstance(machine, type) and issubclass(machine, AuditedMachine)):
        raise ConfigurationError(
            f"machine {path!r}: {class_name} is not an execfsm AuditedMachine subclass",
            field="machines",
            value=path,
        )
    return machine


@attrs.frozen
class Project:
    """
    What a project declares in ``[tool.execfsm]``: its machines (registered on load), and
    the title and policy text of its governance report.
    """

    root: Path | None
    """The folder of the ``pyproject.toml`` read, None for execfsm's own defaults."""
    machines: Mapping[str, type[AuditedMachine]]
    """The machines under governance (spec, verify, diagrams), by audit name."""
    title: str = "execfsm governance report"
    policy: str | None = None
    """The report's policy paragraph; None: execfsm's live-execution policy."""

    def spec_dir(self, given: Path | None) -> Path:
        """
        `given`, or the project's ``spec/``.
        """
        if given is not None:
            return given
        return self.root / "spec" if self.root is not None else Path("spec")

    def governance_dir(self, given: Path | None) -> Path:
        """
        `given`, or the project's ``docs/governance/``.
        """
        if given is not None:
            return given
        folder = Path("docs", "governance")
        return self.root / folder if self.root is not None else folder


def find_pyproject(start: Path) -> Path | None:
    """
    The nearest ``pyproject.toml`` at or above `start` with a ``[tool.execfsm]`` table.
    """
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            tool = _read_toml(candidate).get("tool", {})
            if not isinstance(tool, dict):
                raise ConfigurationError(
                    f"{candidate}: [tool] must be a table, got {tool!r}", field="tool"
                )
            if "execfsm" in tool:
                return candidate
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"{path}: cannot read: {exc}", field="pyproject") from None


def _strings(table: Mapping[str, Any], key: str, path: Path) -> list[str]:
    value = table.get(key, [])
    if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise ConfigurationError(
            f"{path}: [tool.execfsm] {key} must be a list of strings, got {value!r}",
            field=key,
            value=value,
        )
    return value


def _text(table: Mapping[str, Any], key: str, path: Path) -> str | None:
    value = table.get(key)
    if value is not None and not (isinstance(value, str) and value.strip()):
        raise ConfigurationError(
            f"{path}: [tool.execfsm] {key} must be a non-empty string, got {value!r}",
            field=key,
            value=value,
        )
    return value


@attrs.frozen
class _Importable:
    """Puts a project's folders on ``sys.path`` while its machines are imported."""

    folders: tuple[str, ...]

    def __enter__(self) -> None:
        for folder in reversed(self.folders):
            if folder not in sys.path:
                sys.path.insert(0, folder)

    def __exit__(self, *_exc: object) -> None:
        return None  # kept: the machines' modules may import more of the project later


def load_project(pyproject: Path | None = None, extra: Iterable[str] = ()) -> Project:
    """
    Read `pyproject` (None: execfsm's own machines only) and register its machines, plus the
    ``module:Class`` names in `extra`. The project's folder and its ``src/`` are put on
    ``sys.path`` so an uninstalled project's modules import. ``builtin = true`` keeps
    execfsm's own machines under governance beside the project's.

    Raises:
        ConfigurationError: an unreadable file, a bad value, or a machine that cannot be
            imported or registered.
    """
    table: Mapping[str, Any] = {}
    root = None
    if pyproject is not None:
        root = pyproject.resolve().parent
        table = _read_toml(pyproject).get("tool", {}).get("execfsm", {})
        if not isinstance(table, dict):
            raise ConfigurationError(f"{pyproject}: [tool.execfsm] must be a table", field="tool")
        unknown = sorted(set(table) - {"machines", "title", "policy", "builtin"})
        if unknown:
            raise ConfigurationError(
                f"{pyproject}: [tool.execfsm] has unknown keys {unknown} (known: machines, "
                f"title, policy, builtin)",
                field="tool.execfsm",
                value=unknown,
            )
    where = pyproject or Path("--machine")
    names = [*_strings(table, "machines", where), *extra]
    builtin = table.get("builtin", not names)
    if not isinstance(builtin, bool):
        raise ConfigurationError(
            f"{where}: [tool.execfsm] builtin must be true or false", field="builtin"
        )
    if not builtin and not names:
        raise ConfigurationError(
            f"{where}: [tool.execfsm] lists no machines and builtin = false: nothing to work on",
            field="machines",
        )
    folders = (str(root), str(root / "src")) if root is not None else ()
    if extra:  # --machine module:Class: found in the current folder, as by python -m
        folders = (*folders, str(Path.cwd()))
    machines: dict[str, type[AuditedMachine]] = builtin_machines() if builtin else {}
    with _Importable(folders):
        for name in names:
            machine = import_machine(name)
            try:
                register_machine(machine)
            except DefinitionError as exc:
                raise ConfigurationError(str(exc), field="machines", value=name) from exc
            machines[machine.audit_machine] = machine
    title = _text(table, "title", where) or "execfsm governance report"
    return Project(root, machines, title, _text(table, "policy", where))
