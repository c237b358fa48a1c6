"""
The commands that work on a project's declared machines — ``spec``, ``verify``,
``diagrams`` — and how a command finds the project (``--project``, ``--machine``, else the
nearest ``pyproject.toml`` with a ``[tool.execfsm]`` table, else execfsm's own machines).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from execfsm.diagrams.diff import SpecUnreadable, load_committed, write_diff, write_unreadable
from execfsm.diagrams.provenance import provenance
from execfsm.diagrams.render import RendererMissing
from execfsm.diagrams.report import DEFAULT_DEPTH, write_report
from execfsm.diagrams.traffic import UnknownMachineError, count_traffic, write_traffic
from execfsm.errors import ConfigurationError, StoreError
from execfsm.fsm.audit import AuditRecord
from execfsm.governance.properties import verify_machines
from execfsm.governance.spec import SPEC_FILE, drift, spec_hash, spec_text, write_spec
from execfsm.governance.trail import verify_trail
from execfsm.governance.trail_properties import check_trail_properties
from execfsm.ledger.store import StoredState
from execfsm.recovery import recovery_flags
from execfsm.registry import Project, find_pyproject, known_machines, load_project


class InputError(Exception):
    """
    Bad input for a command: reported in one line, exit 2.
    """


class DefaultsFormatter(argparse.HelpFormatter):
    """
    Help that shows every option's default: ``(default: X)`` is added to an option whose
    help does not already say its default (``none`` when it has none); flags and required
    options are left as they are.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        said = "default" in text or "required" in text
        if said or action.required or not action.option_strings or action.nargs == 0:
            return text
        if action.default is argparse.SUPPRESS:
            return text
        shown = "none" if action.default in (None, []) else "%(default)s"
        return f"{text} (default: {shown})"


class OneLineParser(argparse.ArgumentParser):
    """
    An argument parser whose usage errors are one line on stderr and exit 2, as every other
    bad argument of the command line (argparse's own print the usage block first). Its
    help shows every option's default (`DefaultsFormatter`), its subcommands' too.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def whole_number(text: str) -> int:
    """
    An option's value as a whole number of at least 1 (``--batch``, ``--depth``).
    """
    try:
        size = int(text)
    except ValueError:
        size = 0
    if size < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return size


def _no_project(option: str) -> InputError:
    return InputError(
        f"no project found at or above {Path.cwd()} (a pyproject.toml with a [tool.execfsm] "
        f"table): give {option}, or --project"
    )


def spec_folder(project: Project, given: Path | None, option: str = "--spec-dir") -> Path:
    """
    `given`, or the project's ``spec/``; never the current folder's by accident.

    Raises:
        InputError: neither given nor a project found.
    """
    if given is None and project.root is None:
        raise _no_project(option)
    return project.spec_dir(given)


def add_project_options(command: argparse.ArgumentParser) -> None:
    """
    ``--project`` and ``--machine``, for every command that reads declared machines.
    """
    command.add_argument(
        "--project",
        type=Path,
        help="a pyproject.toml with a [tool.execfsm] table (or its folder); default: the "
        "nearest one at or above the current folder, else execfsm's own machines",
    )
    command.add_argument(
        "--machine",
        action="append",
        default=[],
        metavar="MODULE:CLASS",
        help="a machine of your own to include (repeatable; imported from the current folder too)",
    )


def project_of(args: argparse.Namespace) -> Project:
    """
    The project the command works on, its machines registered (so stores know them).

    Raises:
        InputError: no such project, no ``[tool.execfsm]`` table in a named one, a bad
            table, or a machine that cannot be imported or registered.
    """
    given: Path | None = args.project
    try:
        if given is None:
            pyproject = find_pyproject(Path.cwd())
        else:
            pyproject = given / "pyproject.toml" if given.is_dir() else given
            if not pyproject.is_file():
                raise InputError(f"--project {given}: no pyproject.toml there")
            if find_pyproject(pyproject.parent) != pyproject:
                raise InputError(f"--project {given}: {pyproject} has no [tool.execfsm] table")
        return load_project(pyproject, args.machine)
    except ConfigurationError as exc:
        raise InputError(str(exc)) from None


def spec(project: Project, directory: Path | None, write: bool) -> int:
    """
    Print the spec of the project's machines, or write it (``--write``).
    """
    if write:
        folder = spec_folder(project, directory, "--dir")
        try:
            written = write_spec(folder, project.machines)
        except OSError as exc:
            raise InputError(f"cannot write into {folder}: {exc.strerror or exc}") from None
        for path in written:
            print(f"wrote {path}")
        return 0
    print(spec_text(project.machines), end="")
    return 0


def verify(
    project: Project, spec_dir: Path | None, depth: int, diff_dir: Path | None = None
) -> int:
    """
    Spec drift, then every property the project's machines and their groups declare (P2
    and P3 for every machine): exit 1 if anything fails or cannot be proven. `diff_dir`
    (``--diff``) also gets a diagram per changed machine and a pull-request summary; it
    does not change the exit status.
    """
    failed = False
    directory = spec_folder(project, spec_dir)
    if diff_dir is not None and _same_folder(diff_dir, directory):
        raise InputError(
            f"--diff {diff_dir}: that is the spec folder; the diff would overwrite the "
            "committed spec (choose another folder)"
        )
    try:  # the committed spec's shape first: drift reads its fields without checking them
        load_committed(directory)
        differences = drift(directory, project.machines)
    except SpecUnreadable as exc:
        differences = [f"{exc}; run `execfsm spec --write`"]
    if differences:
        failed = True
        print(
            f"FAIL spec drift: the declared machines differ from {directory}/ (review, then "
            "run `execfsm spec --write` and commit):"
        )
        for line in differences:
            print(f"  {line}")
    else:
        print(f"PASS spec: the declared machines match {directory}/")
    if diff_dir is not None:
        _write_diff(diff_dir, directory, project)
    for result in verify_machines(project.machines, depth):
        failed = failed or not result.ok
        print(result)
    return 1 if failed else 0


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _write_diff(out: Path, directory: Path, project: Project) -> None:
    try:
        try:
            committed = load_committed(directory)
        except SpecUnreadable as exc:
            write_unreadable(out, str(exc))
            print(
                f"execfsm verify --diff: {exc}; no diff written ({out}/summary.md says so)",
                file=sys.stderr,
            )
            return
        spec_path = directory / SPEC_FILE
        with contextlib.suppress(OSError, ValueError):  # shown relative to the project
            spec_path = spec_path.resolve().relative_to((project.root or Path.cwd()).resolve())
        written, diffs = write_diff(out, committed, project.machines, spec_path=spec_path)
    except OSError as exc:
        raise InputError(f"cannot write into {out}: {exc.strerror or exc}") from None
    changed = sum(1 for d in diffs if d.changed)
    print(
        f"wrote the diff of {changed} changed machine(s) to {out}/: "
        + ", ".join(p.name for p in written)
    )


def diagrams(
    project: Project,
    out: Path | None,
    spec_dir: Path | None,
    *,
    date: str | None = None,
    depth: int = DEFAULT_DEPTH,
) -> int:
    """
    Render the project's machines and its governance report, with the results of the
    properties `verify` checks (at `depth`) and the report's provenance: execfsm's
    version, the project's git commit and the date (`date`, else ``SOURCE_DATE_EPOCH``,
    else today).
    """
    if out is None and project.root is None:
        raise _no_project("--out")
    folder = project.governance_dir(out)
    committed = None if spec_dir is None and project.root is None else project.spec_dir(spec_dir)
    try:
        source = provenance(project.root or Path.cwd(), date=date)
    except ValueError as exc:
        raise InputError(f"--date: {exc}") from None
    try:
        written = write_report(
            folder,
            project.machines,
            None if committed is None else spec_hash(committed),
            title=project.title,
            policy=project.policy,
            source=source,
            depth=depth,
        )
    except RendererMissing as exc:
        print(f"execfsm diagrams: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        raise InputError(f"cannot write into {folder}: {exc.strerror or exc}") from None
    print(f"wrote {len(written)} files to {folder}/: " + ", ".join(p.name for p in written))
    return 0


def trail_properties(where: Path | str, records: Sequence[AuditRecord]) -> int:
    """
    The sequence properties and state invariants the machines declare, over each recorded
    instance of `records` (a verified trail): exit 1 naming each one broken.
    """
    violations = check_trail_properties(records, known_machines())
    for violation in violations:
        print(violation, file=sys.stderr)
    if violations:
        print(f"FAIL {where}: {len(violations)} declared propert(ies) broken", file=sys.stderr)
        return 1
    print(f"OK {where}: the declared properties hold on every recorded instance")
    return 0


TRAIL_OUT = Path("execfsm-trail")
"""Where ``diagrams --trail/--db`` writes without ``--out``."""


def _unknown(where: Path, records: Sequence[AuditRecord], known: Mapping[str, object]) -> str:
    """The first record's problem if it names a machine not in `known`, else ""."""
    for record in records:
        if record.machine not in known:
            return f"{where}: {UnknownMachineError(record.machine, record.seq)}"
    return ""


def _once(trails: Sequence[tuple[Path, Sequence[AuditRecord]]]) -> tuple[list[AuditRecord], int]:
    """
    The records of every trail, each counted once (two exports of one store overlap: a
    record seen in an earlier trail, by its hash, is left out); and how many were left out.
    """
    seen: set[str] = set()
    records: list[AuditRecord] = []
    repeated = 0
    for _, trail in trails:
        for record in trail:
            if record.hash in seen:
                repeated += 1
                continue
            seen.add(record.hash)
            records.append(record)
    return records, repeated


def _recovery_view(
    stored: StoredState | None, warnings: list[str]
) -> dict[str, dict[str, tuple[str, ...]]]:
    """What recovery would flag in `stored` (a database's session), read-only."""
    if stored is None:
        return {}
    try:
        return recovery_flags(stored)
    except StoreError as exc:
        warnings.append(f"{exc}; the flags recovery would add are not shown")
        return {}


def trail_diagrams(
    trails: Sequence[tuple[Path, Sequence[AuditRecord]]],
    out: Path | None,
    force: bool,
    *,
    stored: StoredState | None = None,
) -> int:
    """
    Draw the traffic of the trails onto every known machine (``diagrams --trail/--db``).

    A trail that fails verification (broken hash chain, gap, illegal move) is refused, exit
    1: its counts would not be the machines' history, and an operator would act on them.
    ``--force`` draws it anyway, with the failure written in red on every picture and at
    the top of the summary, and still exits 1. Records of an unknown machine are bad input
    (exit 2, naming it); ``--force`` leaves them out, with a warning, and still checks the
    moves of the machines it knows.

    A record found in more than one trail (two exports of one store) is counted once.
    `stored` (``--db``): the store's session; the orders recovery would flag (an intent the
    process died dispatching, a cancel or replace in doubt) are drawn flagged, read-only.
    """
    known = known_machines()
    warnings: list[str] = []
    for where, records in trails:
        unknown = _unknown(where, records, known)
        if unknown and not force:
            raise InputError(unknown)
        if unknown:
            warnings.append(f"{unknown}; its records are left out")
        result = verify_trail(records, known, skip_unknown=bool(unknown))
        if not result.ok:
            problem = (
                f"{where} fails verification at record seq {result.first_bad_seq}: {result.problem}"
            )
            if not force:
                print(
                    f"FAIL {problem}; nothing drawn (its counts would not be the machines' "
                    "history; --force draws it with a warning)",
                    file=sys.stderr,
                )
                return 1
            warnings.append(f"{problem}; drawn with --force, the counts may be wrong")
    flags = _recovery_view(stored, warnings) if not warnings else {}  # recovery refuses those
    for line in warnings:
        print(f"WARNING {line}", file=sys.stderr)
    records, repeated = _once(trails)
    if repeated:
        print(
            f"NOTE {repeated} record(s) appear in more than one trail; each is counted once",
            file=sys.stderr,
        )
    folder = out if out is not None else TRAIL_OUT
    source = ", ".join(str(where) for where, _ in trails)
    warning = " / ".join(warnings) or None
    traffic = count_traffic(records, known, skip_unknown=True, flags=flags)  # unknown: warned
    try:
        written = write_traffic(
            folder, records, known, source=source, warning=warning, traffic=traffic
        )
    except RendererMissing as exc:
        print(f"execfsm diagrams: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        raise InputError(f"cannot write into {folder}: {exc.strerror or exc}") from None
    if not records:
        print(f"{source}: the trail is empty; the machines are drawn with zero traffic")
    for name, seen in traffic.items():
        held = ", ".join(f"{n} {s}" for s, n in sorted(seen.held.items())) or "none"
        flagged = sum(seen.held_flagged.values())
        print(
            f"{name}: {seen.records} records, {seen.moves} moves, {seen.refused} refused; "
            f"held now: {held}" + (f" ({flagged} flagged)" if flagged else "")
        )
    print(f"wrote {len(written)} files to {folder}/: " + ", ".join(p.name for p in written))
    return 1 if warnings else 0  # drawn on --force, but a check failed
