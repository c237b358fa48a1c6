"""
The ``execfsm`` command. Exit codes: 0 ok, 1 a check failed, 2 bad usage or input, 130
interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType

from execfsm import cli_audit, cli_reconcile
from execfsm import cli_machines as machines
from execfsm.adapters.registry import AdapterRegistry
from execfsm.cli_audit import read_input as _read
from execfsm.cli_machines import InputError, add_project_options
from execfsm.clock import SystemClock
from execfsm.contracts import ExecutionMode, OrderIntent
from execfsm.demo import format_table, run_demo
from execfsm.errors import ConfigurationError, IdempotencyConflict, KeyFileError, StoreError
from execfsm.fsm.audit import AuditRecord
from execfsm.instruments import InstrumentRegistry
from execfsm.instruments_file import load_instruments
from execfsm.intents_file import IntentsFileError, read_intents
from execfsm.ledger.checkpoints import Signer, load_signer
from execfsm.ledger.sqlite import SqliteStore, StoreLocked
from execfsm.orchestrator import ExecutionOrchestrator

_SIGNING_KEY_HELP = (
    "the operator's Ed25519 private key (PEM): the store writes a signed checkpoint of the "
    "trail's head with every commit (`execfsm audit verify --public-key` checks them)"
)
_PROGRESS_EVERY = 10_000
_INTERRUPTED = 130
"""The exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells report it."""


def _recover(db: Path) -> int:
    if not db.exists():
        raise InputError(f"cannot read {db}: no such database")
    try:
        store = SqliteStore(db)
    except StoreLocked:
        raise  # a live writer has it: nothing was checked or touched, exit 2 naming it
    except StoreError as exc:
        print(f"FAIL {exc}", file=sys.stderr)
        return 1
    try:
        return _recover_with(db, store)
    finally:
        store.close()  # releases the writer lock at once, not when the process ends


def _recover_with(db: Path, store: SqliteStore) -> int:
    try:
        orchestrator = ExecutionOrchestrator(store=store)
    except StoreError as exc:
        print(f"FAIL {exc}", file=sys.stderr)
        return 1
    report = orchestrator.recovery
    print(f"{db}: {report.records} audit records, chain intact")
    for machine, instances in sorted(report.machines.items()):
        states = Counter(instances.values())
        shown = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
        print(f"{machine}: {len(instances)} instance(s): {shown}")
    print(
        f"{len(report.in_flight)} order(s) in flight, to reconcile with the venue "
        f"(`execfsm reconcile --db {db}` asks it):"
    )
    for order in report.in_flight:
        flags = ",".join(order.recon_flags) or "-"
        print(
            f"  {order.client_order_id}  {order.state:<16} {order.side} {order.quantity} "
            f"{order.symbol}  filled {order.filled_quantity}  flags {flags}"
        )
    if report.interrupted:
        print(
            f"{len(report.interrupted)} dispatch(es) interrupted by the stop: flagged, never resent"
        )
    owed = orchestrator.contingent.interrupted
    if owed:
        print(
            f"{len(owed)} contingent group(s) owe a reaction the stop cut short (flagged; "
            f"orchestrator.contingent.resume sends it): {', '.join(owed)}"
        )
    return 0


def _signer(path: Path | None) -> Signer | None:
    """The operator's signing key from `path` (``--signing-key``), read before any store."""
    return None if path is None else load_signer(path)


def _trail_diagrams(files: list[Path], db: Path | None, out: Path | None, force: bool) -> int:
    if files and db is not None:
        raise InputError("give --trail FILE or --db PATH, not both")
    trails: list[tuple[Path, Sequence[AuditRecord]]] = []
    stored = None
    for where in files if db is None else [db]:
        trail = cli_audit.read_trail(where if db is None else None, db)
        if trail is None:
            return 1
        trails.append((where, trail.records))
        stored = trail.state
    return machines.trail_diagrams(trails, out, force, stored=stored)


def _demo(out_dir: Path, db: Path | None, signing_key: Path | None) -> int:
    try:
        report = run_demo(out_dir, db, signing_key=_signer(signing_key))
    except OSError as exc:
        where = exc.filename if exc.filename is not None else out_dir
        raise InputError(f"cannot write into {where}: {exc.strerror or exc}") from None
    print(format_table(report))
    print()
    print(f"venue submissions: {report.venue_submissions} (the duplicate was not sent)")
    print(f"audit chain: {'intact' if report.chain_ok else 'BROKEN'}")
    print(f"wrote to {report.out_dir}/: " + ", ".join(p.name for p in report.files))
    if report.trail_files:
        folder = report.trail_files[0].parent
        pictures = ", ".join(p.name for p in report.trail_files if p.suffix in (".svg", ".png"))
        print(
            f"replayed this session onto the machines' diagrams in {folder}/: "
            f"{pictures or 'DOT only, no dot program found'}, summary.md"
        )
    return 0 if report.chain_ok else 1


def parse_intents(text: str, source: object = "input") -> list[OrderIntent]:
    """
    Every line of an intents file as an `OrderIntent`, read by the rules of
    `execfsm.intents_file`. Any bad line is an `InputError` listing every bad line of
    `source`, each with its number, and nothing is returned.
    """
    try:
        return read_intents(text)
    except IntentsFileError as exc:
        count = len(exc.errors)
        listed = "".join(f"\n  {error}" for error in exc.errors)
        raise InputError(
            f"{source}: {count} bad line{'' if count == 1 else 's'}, nothing was run:{listed}"
        ) from None


class _StopRequest:
    """
    Whether Ctrl-C asked the run to stop once the batch in progress has finished.
    """

    requested = False


@contextlib.contextmanager
def _stop_between_batches() -> Iterator[_StopRequest]:
    """
    Turn the first Ctrl-C (SIGINT) into a request to stop between batches, so that no batch
    is cut between its write-ahead and its sends; a second one raises `KeyboardInterrupt`
    at once. Only the main thread receives signals: elsewhere Ctrl-C is left as it is.
    """
    stop = _StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        if stop.requested:
            raise KeyboardInterrupt
        stop.requested = True

    previous = signal.signal(signal.SIGINT, request_stop)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def _run(
    path: Path,
    mode: ExecutionMode,
    db: Path,
    batch: int,
    signing_key: Path | None = None,
    venue_journal: Path | None = None,
    instruments_file: Path | None = None,
) -> int:
    try:
        instruments = None if instruments_file is None else load_instruments(instruments_file)
    except ConfigurationError as exc:
        raise InputError(str(exc)) from None
    try:
        intents = parse_intents(_read(path), path)
    except KeyboardInterrupt:
        print(f"execfsm run: interrupted while reading {path}; nothing was run", file=sys.stderr)
        return _INTERRUPTED
    store = SqliteStore(db, signing_key=_signer(signing_key))
    clock = SystemClock()
    try:  # after the store: its writer lock keeps a live session's venue journal untouched
        registry, venue = cli_reconcile.journaled_registry(
            mode, clock, cli_reconcile.venue_journal(db, venue_journal)
        )
    except BaseException:
        store.close()
        raise
    try:
        settings = (store, clock, registry, instruments)
        return _run_with(path, intents, mode, db, batch, *settings)  # closes store
    finally:
        cli_reconcile.close_venue(venue)


def _run_with(
    path: Path,
    intents: list[OrderIntent],
    mode: ExecutionMode,
    db: Path,
    batch: int,
    store: SqliteStore,
    clock: SystemClock,
    registry: AdapterRegistry,
    instruments: InstrumentRegistry | None,
) -> int:
    outcomes: Counter[tuple[str, str]] = Counter()
    duplicates = 0
    total = len(intents)
    done = 0
    in_batch = False
    try:
        orchestrator = ExecutionOrchestrator(
            execution_mode=mode,
            store=store,
            clock=clock,
            registry=registry,
            instruments=instruments,
        )
        with _stop_between_batches() as stop:
            for start in range(0, total, batch):
                if stop.requested:
                    raise KeyboardInterrupt
                in_batch = True
                for result in orchestrator.submit_intents(intents[start : start + batch]):
                    if result.duplicate:
                        duplicates += 1
                    else:
                        outcomes[str(result.pipeline_state), str(result.reason_code or "-")] += 1
                in_batch = False
                done = min(start + batch, total)
                if total >= _PROGRESS_EVERY and done // _PROGRESS_EVERY > start // _PROGRESS_EVERY:
                    print(f"  {done}/{total} intents", file=sys.stderr)
    except KeyboardInterrupt:
        cut = (
            f"; a batch was cut short: `execfsm recover --db {db}` lists the orders it left in "
            "flight"
            if in_batch
            else ""
        )
        print(
            f"execfsm run: interrupted after {done} of {total} intents; what was committed "
            f"stays committed (store {db}){cut}",
            file=sys.stderr,
        )
        return _INTERRUPTED
    except IdempotencyConflict as exc:
        print(
            f"execfsm run: {exc}; stopped after {done} of {total} intents (the batch with "
            f"it ran nothing; what was committed before stays committed, store {db})",
            file=sys.stderr,
        )
        return 2
    finally:
        store.close()
    print(
        f"{total} intents from {path} in mode {mode} (store {db}): {total - duplicates} new, "
        f"{duplicates} duplicate(s) of intents already submitted (nothing sent for them)"
    )
    for (state, reason), count in sorted(outcomes.items()):
        print(f"  {count:>8}  {state:<10} {reason}")
    return 0


def _batch_size(text: str) -> int:
    try:
        size = int(text)
    except ValueError:
        size = 0
    if size < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return size


def build_parser() -> argparse.ArgumentParser:
    """
    The argument parser (exposed for tests).
    """
    parser = argparse.ArgumentParser(prog="execfsm", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run a scripted paper session end to end")
    demo.add_argument("--out", type=Path, default=Path("execfsm-demo"), help="output folder")
    demo.add_argument("--db", type=Path, help="SQLite database (default OUT/demo.db, afresh)")
    demo.add_argument("--signing-key", type=Path, metavar="FILE", help=_SIGNING_KEY_HELP)
    run = commands.add_parser("run", help="replay intents from a JSONL file")
    run.add_argument("file", type=Path)
    run.add_argument("--db", type=Path, default=Path("execfsm.db"), help="SQLite database")
    run.add_argument(
        "--batch",
        type=_batch_size,
        default=100,
        help="intents per batch: a batch shares its two commits (see submit_intents); "
        "1 submits them one at a time (default 100)",
    )
    run.add_argument(
        "--mode",
        type=str.upper,
        choices=[m.value for m in ExecutionMode],
        default=ExecutionMode.LIVE_BLOCKED.value,
        help="execution mode (default LIVE_BLOCKED; LIVE also needs a LivePolicy, which no "
        "command-line option can give, so it stays blocked)",
    )
    run.add_argument("--signing-key", type=Path, metavar="FILE", help=_SIGNING_KEY_HELP)
    run.add_argument(
        "--venue-journal",
        type=Path,
        metavar="FILE",
        help="where a PAPER, SHADOW or TESTNET run's simulated venue keeps its journal, so "
        "that `execfsm reconcile` asks the same venue later (default DB.venue.jsonl, beside "
        "the database)",
    )
    run.add_argument(
        "--instruments",
        type=Path,
        metavar="FILE",
        help="the instruments validation checks intents against, a TOML or JSON file (see "
        "execfsm.instruments_file; default the simulated venue's BTC/EUR, ETH/EUR, BTC/USD "
        "and ETH/USD)",
    )
    diagrams = commands.add_parser("diagrams", help="render diagrams and the governance report")
    diagrams.add_argument(
        "--out", type=Path, help="output folder (default: the project's docs/governance/)"
    )
    diagrams.add_argument(
        "--spec-dir", type=Path, help="committed spec (default: the project's spec/)"
    )
    diagrams.add_argument(
        "--trail",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="draw the traffic of an exported audit trail (JSONL; repeatable) on each machine "
        "instead of the report (default --out: execfsm-trail)",
    )
    diagrams.add_argument(
        "--db", type=Path, help="draw the traffic of the trail in this SQLite database"
    )
    diagrams.add_argument(
        "--force",
        action="store_true",
        help="draw a trail that fails verification (broken chain, illegal move), with a warning",
    )
    diagrams.add_argument(
        "--date",
        help="the report's generation date, YYYY-MM-DD (default: SOURCE_DATE_EPOCH if set, "
        "else today; give one to regenerate a committed report byte for byte)",
    )
    diagrams.add_argument(
        "--depth",
        type=int,
        default=5,
        help="exploration depth of the properties the report shows (as verify's --depth)",
    )
    add_project_options(diagrams)
    spec = commands.add_parser("spec", help="print or write the committed machine spec")
    spec.add_argument("--write", action="store_true", help="write the files instead of printing")
    spec.add_argument("--dir", type=Path, help="spec folder (default: the project's spec/)")
    add_project_options(spec)
    verify = commands.add_parser("verify", help="check spec drift and prove the properties")
    verify.add_argument(
        "--spec-dir", type=Path, help="committed spec (default: the project's spec/)"
    )
    add_project_options(verify)
    verify.add_argument(
        "--diff",
        type=Path,
        metavar="DIR",
        help="also write into DIR an SVG per machine that differs from the committed spec "
        "(added green, removed red, changed orange) and summary.md for a pull request",
    )
    verify.add_argument(
        "--depth",
        type=int,
        default=5,
        help="exploration depth: P4's fill sequences (P5's revision sequences go one deeper)",
    )
    audit = commands.add_parser("audit", help="audit trail tools")
    cli_audit.add_audit_commands(audit)
    recover_cmd = commands.add_parser("recover", help="open a database, list in-flight orders")
    recover_cmd.add_argument("--db", type=Path, required=True)
    add_project_options(recover_cmd)
    cli_reconcile.add_reconcile_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """
    Entry point of the ``execfsm`` console script.
    """
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            return _demo(args.out, args.db, args.signing_key)
        if args.command == "run":
            return _run(
                args.file,
                ExecutionMode(args.mode),
                args.db,
                args.batch,
                args.signing_key,
                args.venue_journal,
                args.instruments,
            )
        if args.command == "audit" and args.audit_command == "keygen":
            return cli_audit.keygen(args.out)  # reads no machines
        project = machines.project_of(args)  # the commands left read the project's machines
        if args.command == "recover":
            return _recover(args.db)
        if args.command == "reconcile":
            return cli_reconcile.reconcile(args)
        if args.command == "diagrams" and args.force and not args.trail and args.db is None:
            raise InputError("--force draws a trail that fails verification: give --trail or --db")
        if args.command == "diagrams" and (args.trail or args.db is not None):
            return _trail_diagrams(args.trail, args.db, args.out, args.force)
        if args.command == "diagrams":
            return machines.diagrams(
                project, args.out, args.spec_dir, date=args.date, depth=args.depth
            )
        if args.command == "spec":
            return machines.spec(project, args.dir, args.write)
        if args.command == "verify":
            return machines.verify(project, args.spec_dir, args.depth, args.diff)
        return cli_audit.audit(args)
    except StoreError as exc:
        print(f"execfsm {args.command}: {exc}", file=sys.stderr)
        return 2
    except (InputError, KeyFileError) as exc:
        print(f"execfsm {args.command}: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # whoever read the output stopped (`execfsm verify | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error at exit
        return 128 + signal.SIGPIPE  # as a command killed by SIGPIPE, like any Unix tool


if __name__ == "__main__":
    sys.exit(main())
