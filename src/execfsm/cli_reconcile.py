"""
``execfsm reconcile``: one full reconciliation pass of a stored session against the venue it
traded with (a simulated venue re-opened on its journal), and the venue journal that
``execfsm run`` and ``execfsm demo`` keep beside their database so that a later command asks
the same venue. Exit 0 when nothing is left, 1 when something is, 2 for bad input.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections.abc import Callable, Collection
from datetime import timedelta
from pathlib import Path

from execfsm.adapters.registry import SIMULATED_MODES, AdapterRegistry
from execfsm.adapters.simulated import SimulatedVenue
from execfsm.cli_machines import InputError, add_project_options
from execfsm.cli_store import (
    DB_HELP,
    add_stream_option,
    db_target,
    existing_session,
    open_store,
    shown,
)
from execfsm.clock import SystemClock
from execfsm.contracts import ExecutionMode
from execfsm.demo import VENUE_JOURNAL_SUFFIX
from execfsm.errors import ConfigurationError, StoreError
from execfsm.orchestrator import ExecutionOrchestrator
from execfsm.reconciliation.findings import FindingKind, ReconPolicy
from execfsm.reconciliation.machine import ReconState
from execfsm.reconciliation.report import OrderCheck, ReconReport
from execfsm.typing import Clock

JOURNAL_SUFFIX = VENUE_JOURNAL_SUFFIX
"""The venue journal's name beside a database: ``<db>.venue.jsonl``."""

_DEFAULTS = ReconPolicy()
_MODES = ", ".join(mode.value for mode in SIMULATED_MODES)


def venue_journal(db: Path | str, given: Path | None = None, stream: str = "main") -> Path:
    """
    The venue journal of the session in `db`: `given`, else ``<db>.venue.jsonl`` beside a
    SQLite file, or ``execfsm-<database>-<stream>.venue.jsonl`` in the working folder for a
    PostgreSQL stream (`database_label`: two databases never share a simulated venue).
    """
    if given is not None:
        return given
    if isinstance(db, str):
        return Path(f"execfsm-{database_label(db)}-{stream}{JOURNAL_SUFFIX}")
    return db.with_name(db.name + JOURNAL_SUFFIX)


def database_label(url: str) -> str:
    """
    A file-name-safe label of the PostgreSQL database `url` names: its name and a digest of
    where it is (host, port, name, parameters; never its password).
    """
    where = shown(url).split("://", 1)[-1].rsplit("@", 1)[-1]
    name = re.sub(r"[^A-Za-z0-9._-]", "_", where.split("/", 1)[-1].split("?", 1)[0])[:40]
    return f"{name or 'postgres'}-{hashlib.sha256(where.encode()).hexdigest()[:8]}"


def simulated_venue(mode: ExecutionMode, clock: Clock, journal: Path) -> SimulatedVenue:
    """
    The simulated venue `mode` routes to by default, keeping its journal in `journal`.

    Raises:
        InputError: the journal cannot be used (a folder, unreadable, not a venue journal).
    """
    try:
        return SimulatedVenue(clock, name=mode.value.lower(), journal=journal)
    except ConfigurationError as exc:
        raise InputError(f"venue journal {journal}: {exc}") from None


def journaled_registry(
    mode: ExecutionMode, clock: Clock, journal: Path
) -> tuple[AdapterRegistry, SimulatedVenue | None]:
    """
    The default registry (a simulated venue per simulated mode), with `mode`'s venue keeping
    its journal in `journal`; and that venue (None when `mode` has no simulated venue).
    """
    registry = AdapterRegistry.with_simulated_venues(clock)
    if mode not in SIMULATED_MODES:
        return registry, None
    venue = simulated_venue(mode, clock, journal)
    registry.register(mode, venue)
    return registry, venue


def close_venue(venue: object) -> None:
    """
    Close a venue's journal, for venues that keep it open (those that do have ``close``).
    """
    close: Callable[[], None] | None = getattr(venue, "close", None)
    if callable(close):
        close()


def add_reconcile_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """
    ``execfsm reconcile`` and its options.
    """
    command = commands.add_parser(
        "reconcile",
        help="ask the venue about a stored session's orders and bring them to its truth",
        description="One full reconciliation pass (nothing is ever sent to trade): orders "
        "flagged or in flight are asked of the venue and brought to its state, resolved by "
        "the not-found rule, or held for an operator; the venue's orders we have no record of "
        "and position differences are reported. Exit 0 when nothing is left, 1 when something "
        "is, 2 for bad input.",
    )
    command.add_argument("--db", type=db_target, metavar="DB", help=DB_HELP + " (required)")
    add_stream_option(command)
    command.add_argument(
        "--mode",
        type=str.upper,
        default=ExecutionMode.PAPER.value,
        help=f"the mode the session ran in, whose simulated venue is asked: one of {_MODES} "
        "(default PAPER)",
    )
    command.add_argument(
        "--venue-journal",
        type=Path,
        metavar="FILE",
        help=f"the venue's journal (default DB{JOURNAL_SUFFIX}, beside the database, as "
        "`execfsm run` and `execfsm demo` keep it); refused if it does not exist",
    )
    command.add_argument(
        "--adopt-external",
        action="store_true",
        help="adopt the venue's working orders we have no record of, with their fills "
        "(default: only report them)",
    )
    command.add_argument(
        "--not-found-after",
        metavar="N",
        default=str(_DEFAULTS.not_found_after),
        help="how many 'unknown' answers end an order the venue never had (REJECTED, "
        f"RECON_ORDER_NOT_FOUND), counted across runs (default {_DEFAULTS.not_found_after})",
    )
    command.add_argument(
        "--not-found-wait",
        metavar="SECONDS",
        default=f"{_DEFAULTS.not_found_wait.total_seconds():g}",
        help="and over how long at least, from the first 'unknown' answer (default "
        f"{_DEFAULTS.not_found_wait.total_seconds():g})",
    )
    add_project_options(command)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise InputError(f"--not-found-after: must be a whole number of at least 1, got {text!r}")
    return value


def _seconds(text: str) -> timedelta:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 10**9:  # also refuses nan and inf
        raise InputError(f"--not-found-wait: must be a number of seconds >= 0, got {text!r}")
    return timedelta(seconds=value)


def _mode(text: str) -> ExecutionMode:
    for mode in SIMULATED_MODES:
        if mode.value == text:
            return mode
    raise InputError(
        f"--mode: must be one of {_MODES} (a mode with a simulated venue to ask), got {text!r}"
    )


def reconcile(args: argparse.Namespace) -> int:
    """
    Run ``execfsm reconcile`` with its parsed `args`.
    """
    if args.db is None:
        raise InputError("give --db PATH, the session's database")
    db: Path | str = args.db
    mode = _mode(args.mode)
    policy = ReconPolicy(
        not_found_after=_count(args.not_found_after),
        not_found_wait=_seconds(args.not_found_wait),
        on_start=False,
        adopt_external=args.adopt_external,
    )
    if isinstance(db, Path) and not db.exists():
        raise InputError(f"cannot read {db}: no such database")
    if isinstance(db, Path) and (not db.name or db.is_dir()):  # `--db ''` is `.`: no file name
        raise InputError(f"cannot read {db}: a directory, not a database file")
    if isinstance(db, str):
        existing_session(db)
    journal = venue_journal(db, args.venue_journal, args.stream)
    if not journal.is_file():
        raise InputError(
            f"no venue journal at {journal}: there is no venue to ask (give --venue-journal "
            "FILE, the journal the session's venue kept)"
        )
    # The store first: its writer lock keeps a live session's venue journal untouched. A
    # store that cannot be opened (held by a live writer, not a database, not an execfsm
    # one) is bad input, as for `execfsm run`: exit 2 naming it, nothing asked or touched.
    store = open_store(db, stream=args.stream)
    clock = SystemClock()
    venue: SimulatedVenue | None = None
    try:
        registry, venue = journaled_registry(mode, clock, journal)
        orchestrator = ExecutionOrchestrator(
            execution_mode=mode,
            registry=registry,
            clock=clock,
            store=store,
            reconciliation=policy,
        )
    except StoreError as exc:
        store.close()
        close_venue(venue)
        print(f"FAIL {exc}", file=sys.stderr)
        return 1
    except BaseException:
        store.close()
        close_venue(venue)
        raise
    try:
        flagged = {
            o.client_order_id for o in orchestrator.get_order_ledger_snapshot() if o.recon_flags
        }
        report = orchestrator.reconcile(full=True)
    finally:
        try:
            orchestrator.close()
        finally:
            close_venue(venue)
    print(
        f"{shown(db)}: reconciled with the {mode} venue (journal {journal}), pass {report.pass_id}"
    )
    for line in report_lines(report, flagged):
        print(line)
    return 0 if report.clean else 1


def _check_line(check: OrderCheck) -> str:
    finding = "-" if check.finding is None else str(check.finding)
    return f"  {check.client_order_id}  {finding:<10} {check.state:<9} {check.detail}"


def _why_left(check: OrderCheck) -> str:
    """Why an unresolved check is left, in one word: held, unanswered, behind, unknown, …"""
    if check.state is ReconState.HELD:
        return "held"
    if check.finding in (FindingKind.UNANSWERED, FindingKind.BEHIND, FindingKind.UNKNOWN):
        return str(check.finding).lower()
    return str(check.state).lower()


def report_lines(report: ReconReport, flagged: Collection[str] | None = None) -> list[str]:
    """
    A pass's report as the lines ``execfsm reconcile`` prints. With `flagged` (the orders
    flagged before the pass), an unflagged order in flight that merely agrees with the venue
    is counted, not listed: nothing was resolved for it.
    """
    lines = []
    if report.unavailable:
        lines.append(f"the venue could not be asked: {report.unavailable}")
    adopted = set(report.adopted)
    resolved = []
    agreed = 0
    for check in report.resolved:
        if check.client_order_id in adopted:
            continue
        plain = check.finding is FindingKind.AGREES and not check.applied
        if flagged is not None and plain and check.client_order_id not in flagged:
            agreed += 1
        else:
            resolved.append(check)
    lines.append(f"resolved: {len(resolved)} order(s)")
    lines.extend(_check_line(check) for check in resolved)
    if agreed:
        lines.append(f"agreed: {agreed} other order(s) in flight, as the venue holds them")
    lines.append(f"adopted: {len(adopted)} order(s) of the venue we had no record of")
    lines.extend(_check_line(c) for c in report.checks if c.client_order_id in adopted)
    unresolved = report.unresolved
    lines.append(f"left unresolved: {len(unresolved)} order(s)")
    for check in unresolved:
        lines.append(f"  {check.client_order_id}  {_why_left(check):<10} {check.detail}")
    external = [r for r in report.external if r.client_order_id not in adopted]
    hint = "" if not external else " (--adopt-external adopts them)"
    lines.append(f"external: {len(external)} working order(s) at the venue not ours{hint}")
    for order in external:
        lines.append(
            f"  {order.client_order_id}  {order.state} {order.side} {order.quantity} "
            f"{order.symbol}  filled {order.cum_quantity}"
        )
    lines.append(f"position differences: {len(report.positions)}")
    for difference in report.positions:
        lines.append(
            f"  {difference.symbol}  ours {difference.ours}  venue {difference.venue}  "
            f"size {difference.size:+}"
        )
    lines.append(
        "clean: nothing left"
        if report.clean
        else "NOT CLEAN: something is left for another pass or an operator "
        "(orchestrator.release_held lets a held order be asked again)"
    )
    return lines
