"""
The ``execfsm`` command: its parser and the dispatch to each subcommand's module.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from execfsm import cli_audit, cli_export, cli_reconcile, cli_run
from execfsm import cli_machines as machines
from execfsm.cli_machines import InputError, OneLineParser, add_project_options, whole_number
from execfsm.cli_store import (
    DB_HELP,
    Target,
    add_stream_option,
    db_target,
    existing_session,
    open_store,
    shown,
    sqlite_file,
)
from execfsm.contracts import ExecutionMode, OrderIntent
from execfsm.demo import format_table, run_demo
from execfsm.diagrams.provenance import execfsm_version
from execfsm.errors import KeyFileError, StoreError
from execfsm.fsm.audit import AuditRecord
from execfsm.ledger.checkpoints import Signer, load_signer
from execfsm.ledger.sqlite import SqliteStore, StoreLocked
from execfsm.ledger.store import LedgerStore
from execfsm.orchestrator import ExecutionOrchestrator

DESCRIPTION = (
    "Run trading intents through execfsm's audited state machines, and answer what happened: "
    "replay an intents file (run), ask the venue (reconcile), export a session (export), "
    "verify its audit trail (audit), and check the declared machines (spec, verify, diagrams). "
    "Exit status: 0 ok, 1 a check failed, 2 bad usage or input, 130 interrupted (Ctrl-C)."
)

_SIGNING_KEY_HELP = (
    "the operator's Ed25519 private key (PEM): the store writes a signed checkpoint of the "
    "trail's head with every commit (`execfsm audit verify --public-key` checks them)"
)


def _recover(db: Target, stream: str) -> int:
    if not isinstance(db, Path):
        existing_session(db)
        return _recover_opened(shown(db), lambda: open_store(db, stream=stream))
    if not db.exists():
        raise InputError(f"cannot read {db}: no such database")
    if db.is_dir() or db.stat().st_size == 0:  # a store would make a new database there
        raise InputError(
            f"cannot read {db}: {'a directory' if db.is_dir() else 'an empty file'}, "
            "not an execfsm database"
        )
    return _recover_opened(str(db), lambda: SqliteStore(db))


def _recover_opened(where: str, opener: Callable[[], LedgerStore]) -> int:
    try:
        store = opener()
    except StoreLocked:
        raise  # a live writer has it: nothing was checked or touched, exit 2 naming it
    except InputError:
        raise
    except StoreError as exc:
        if "cannot connect" in str(exc):
            raise  # no server: bad input, exit 2
        print(f"FAIL {exc}", file=sys.stderr)
        return 1
    try:
        return _recover_with(where, store)
    finally:
        store.close()  # releases the writer lock at once, not when the process ends


def _recover_with(db: str, store: LedgerStore) -> int:
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


def _demo(out_dir: Path, db: Path | None, signing_key: Path | None, venue: str = "paper") -> int:
    if db is not None and str(db).startswith(("postgresql:", "postgres:")):
        raise InputError("--db: the demo writes a new SQLite file, not a PostgreSQL database")
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir}: a file, not a folder")
    try:
        report = run_demo(out_dir, db, signing_key=_signer(signing_key), venue_kind=venue)
    except ModuleNotFoundError as exc:
        if exc.name != "quickfix":
            raise
        raise InputError(
            "--venue fix needs QuickFIX, which is not installed: pip install 'execfsm[fix]'"
        ) from None
    except OSError as exc:
        where = exc.filename if exc.filename is not None else out_dir
        raise InputError(f"cannot write into {where}: {exc.strerror or exc}") from None
    print(format_table(report))
    print()
    print(f"venue: {report.venue}")
    print(f"venue submissions: {report.venue_submissions} (the duplicate was not sent)")
    print(f"audit chain: {'intact' if report.chain_ok else 'BROKEN'}")
    inside = [p.name for p in report.files if p.parent == report.out_dir]
    print(f"wrote to {report.out_dir}/: " + ", ".join(inside))
    elsewhere = [str(p) for p in report.files if p.parent != report.out_dir]
    if elsewhere:  # --db elsewhere: the database and the venue journal beside it
        print("wrote the session's store to " + ", ".join(elsewhere))
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
    return [intent for _, intent in cli_run.parse_numbered(text, source)]


def build_parser() -> argparse.ArgumentParser:
    """
    The argument parser (exposed for tests).
    """
    parser: argparse.ArgumentParser = OneLineParser(prog="execfsm", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"execfsm {execfsm_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="run a scripted paper session end to end",
        description="Run a scripted paper session through every path of the pipeline and "
        "write its trail, ledgers and diagrams into an output folder.",
    )
    demo.add_argument(
        "--out", type=Path, default=Path("execfsm-demo"), help="output folder (created)"
    )
    demo.add_argument(
        "--db",
        type=Path,
        help="SQLite database, refused if it exists (default OUT/demo.db, made afresh)",
    )
    demo.add_argument("--signing-key", type=Path, metavar="FILE", help=_SIGNING_KEY_HELP)
    demo.add_argument(
        "--venue",
        choices=("paper", "fix"),
        default="paper",
        help="paper (default), or fix: the same session over FIX 4.4 against a scripted "
        "acceptor started in-process (needs execfsm[fix])",
    )
    run = commands.add_parser(
        "run",
        help="replay intents from a JSONL file",
        description="Replay one OrderIntent per line of FILE into the SQLite store; print a "
        "summary (new work, duplicates, refusals) and a line for each intent that did not "
        "complete: its line in FILE, intent_id, stage, reason code and detail.",
    )
    run.add_argument(
        "file", type=Path, metavar="FILE", help="the intents file: one JSON OrderIntent per line"
    )
    run.add_argument(
        "--db",
        type=db_target,
        default=Path("execfsm.db"),
        help="SQLite database (default: %(default)s), or postgresql://user@host/db (one "
        "stream of it: --stream)",
    )
    add_stream_option(run)
    run.add_argument(
        "--batch",
        type=whole_number,
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
    run.add_argument(
        "--json",
        action="store_true",
        help="write one JSON result per intent on stdout (line, intent_id, stage, "
        "reason_code, ...), the summary on stderr (default: text)",
    )
    cli_export.add_export_command(commands)
    _add_machine_commands(commands)
    audit = commands.add_parser(
        "audit",
        help="audit trail tools",
        description="Verify an audit trail, print its head, export it, make a signing key.",
    )
    cli_audit.add_audit_commands(audit)
    recover_cmd = commands.add_parser(
        "recover",
        help="open a database, list in-flight orders",
        description="Open a session's database as a restart would, check its trail and list "
        "the orders left in flight.",
    )
    recover_cmd.add_argument("--db", type=db_target, required=True, help=DB_HELP + " (required)")
    add_stream_option(recover_cmd)
    add_project_options(recover_cmd)
    cli_reconcile.add_reconcile_command(commands)
    return parser


def _add_machine_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``diagrams``, ``spec`` and ``verify``: the commands on the declared machines."""
    where = "the project's {}, the project being the nearest pyproject.toml with [tool.execfsm]"
    diagrams = commands.add_parser(
        "diagrams",
        help="render diagrams and the governance report",
        description="Render every machine and the governance report; or, with --trail or "
        "--db, draw a recorded trail's traffic on each machine.",
    )
    diagrams.add_argument(
        "--out",
        type=Path,
        help="output folder (default: " + where.format("docs/governance/") + "; with --trail "
        "or --db, execfsm-trail)",
    )
    diagrams.add_argument(
        "--spec-dir", type=Path, help="committed spec (default: " + where.format("spec/") + ")"
    )
    diagrams.add_argument(
        "--trail",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="draw the traffic of an exported audit trail (JSONL; repeatable) on each machine "
        "instead of the report (default: none)",
    )
    diagrams.add_argument(
        "--db", type=db_target, help="draw the traffic of the trail in this SQLite database"
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
        type=whole_number,
        default=5,
        help="exploration depth of the properties the report shows, as verify's (default 5)",
    )
    add_project_options(diagrams)
    spec = commands.add_parser(
        "spec",
        help="print or write the committed machine spec",
        description="Print the spec of the declared machines, or write it (--write).",
    )
    spec.add_argument("--write", action="store_true", help="write the files instead of printing")
    spec.add_argument(
        "--dir",
        type=Path,
        help="with --write, the spec folder (default: " + where.format("spec/") + ")",
    )
    add_project_options(spec)
    verify = commands.add_parser(
        "verify",
        help="check spec drift and prove the properties",
        description="Fail on drift between the declared machines and the committed spec, "
        "and prove every declared property (exit 1 if anything fails).",
    )
    verify.add_argument(
        "--spec-dir", type=Path, help="committed spec (default: " + where.format("spec/") + ")"
    )
    add_project_options(verify)
    verify.add_argument(
        "--diff",
        type=Path,
        metavar="DIR",
        help="also write into DIR an SVG per machine that differs from the committed spec "
        "(added green, removed red, changed orange) and summary.md for a pull request "
        "(default: none)",
    )
    verify.add_argument(
        "--depth",
        type=whole_number,
        default=5,
        help="exploration depth: P4's fill sequences (P5's revision sequences go one deeper; "
        "default 5)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """
    Entry point of the ``execfsm`` console script.
    """
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except (StoreError, InputError, KeyFileError) as exc:
        print(f"execfsm {args.command}: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # whoever read the output stopped (`execfsm verify | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error at exit
        return 128 + signal.SIGPIPE  # as a command killed by SIGPIPE, like any Unix tool


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        return _demo(args.out, args.db, args.signing_key, args.venue)
    if args.command == "run":
        return cli_run.run(
            args.file,
            ExecutionMode(args.mode),
            args.db,
            args.batch,
            signing_key=args.signing_key,
            venue_journal=args.venue_journal,
            as_json=args.json,
            instruments_file=args.instruments,
            stream=args.stream,
        )
    if args.command == "export":
        return cli_export.export(args)
    if args.command == "audit" and args.audit_command == "keygen":
        return cli_audit.keygen(args.out)  # reads no machines
    if args.command == "spec" and args.dir is not None and not args.write:
        raise InputError("--dir names where --write writes; without --write the spec is printed")
    project = machines.project_of(args)  # the commands left read the project's machines
    if args.command == "recover":
        return _recover(args.db, args.stream)
    if args.command == "reconcile":
        return cli_reconcile.reconcile(args)
    if args.command == "diagrams" and args.force and not args.trail and args.db is None:
        raise InputError("--force draws a trail that fails verification: give --trail or --db")
    if args.command == "diagrams" and (args.trail or args.db is not None):
        db = None if args.db is None else sqlite_file(args.db)
        return _trail_diagrams(args.trail, db, args.out, args.force)
    if args.command == "diagrams":
        return machines.diagrams(project, args.out, args.spec_dir, date=args.date, depth=args.depth)
    if args.command == "spec":
        return machines.spec(project, args.dir, args.write)
    if args.command == "verify":
        return machines.verify(project, args.spec_dir, args.depth, args.diff)
    return cli_audit.audit(args)


if __name__ == "__main__":
    sys.exit(main())
