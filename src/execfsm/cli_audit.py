"""
``execfsm audit``: verify a trail (an exported JSONL file or a database), print its head to
publish, export a database's trail with its checkpoints, make a signing key pair.

A file trail ``FILE``'s signed checkpoints travel beside it in ``FILE.checkpoints``, one
canonical JSON checkpoint per line (`execfsm.ledger.checkpoints`); a database keeps them in
its ``checkpoints`` table.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import attrs

from execfsm import cli_machines as machines
from execfsm._new_files import NewFile, NewFileError, taken, write_new_files
from execfsm.cli_machines import InputError, add_project_options
from execfsm.cli_store import (
    add_stream_option,
    db_target,
    load_streams,
    shown,
    sqlite_file,
    stream_name,
)
from execfsm.errors import AuditChainError, StoreError
from execfsm.fsm.audit import AuditRecord
from execfsm.governance.anchor import (
    AnchorCheck,
    check_checkpoints,
    check_head,
    format_head,
    parse_head,
)
from execfsm.governance.trail import verify_trail
from execfsm.ledger.audit import record_json
from execfsm.ledger.checkpoints import (
    SIDECAR_SUFFIX,
    Checkpoint,
    Verifier,
    checkpoint_from_line,
    checkpoint_json,
    load_verifier,
    write_key_pair,
)
from execfsm.ledger.sqlite import SqliteStore
from execfsm.ledger.store import StoredState
from execfsm.ledger.trail_text import record_from_line
from execfsm.recovery import check_stored_rows
from execfsm.registry import known_machines

_NOT_ANCHORED = (
    "  not anchored: the chain alone cannot show records removed from the end, nor a trail "
    "rewritten with every hash recomputed; check it against a published head "
    "(--expect-head SEQ:HASH, from `execfsm audit head`) or signed checkpoints (--public-key)"
)
_TAIL_NOTE = (
    "records removed after the last checkpoint cannot be detected by checkpoints alone: "
    "compare with a published head (--expect-head)"
)


def read_input(path: Path) -> str:
    """
    The text of `path`, UTF-8, with no newline translation; an `InputError` if unreadable.
    """
    try:
        return path.read_bytes().decode("utf-8")  # no newline translation: only \n ends a line
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None


def _lines(text: str) -> list[str]:
    lines = text.split("\n")  # only \n ends a line: U+2028 may be in a detail
    if lines[-1] == "":
        lines.pop()
    return lines


@attrs.frozen
class Trail:
    """A trail as read: where from, its records, its checkpoints (None: not read)."""

    where: Path | str
    """The file or database it was read from (a URL without its password, and the stream)."""
    records: Sequence[AuditRecord]
    checkpoints: Sequence[Checkpoint] | None = None
    state: StoredState | None = None
    """The store's whole session (a database only): what recovery would see."""


_SQLITE_HEADER = b"SQLite format 3\x00"


def _not_a_database(path: Path) -> None:
    """A database given where an exported trail is expected: say to give it as ``--db``."""
    try:
        with path.open("rb") as file:
            header = file.read(len(_SQLITE_HEADER))
    except OSError:
        return  # reading it again says why
    if header == _SQLITE_HEADER:
        raise InputError(f"{path} is a SQLite database, not an exported trail: give --db {path}")


def _file_records(path: Path) -> list[AuditRecord]:
    _not_a_database(path)
    records = []
    for number, line in enumerate(_lines(read_input(path)), start=1):
        try:
            records.append(record_from_line(line, line=number))
        except json.JSONDecodeError as exc:
            raise AuditChainError(f"line {number}: not JSON ({exc.msg})", seq=-1) from None
        except ValueError as exc:  # an integer of more digits than Python converts
            raise AuditChainError(f"line {number}: not readable ({exc})", seq=-1) from None
        except RecursionError:
            raise AuditChainError(f"line {number}: nested too deeply", seq=-1) from None
    return records


def _file_checkpoints(path: Path, *, named: bool) -> list[Checkpoint]:
    """
    The checkpoints in `path`: none if the default ``FILE.checkpoints`` is not there, but a
    file the command line `named` must be read (a typo is a usage error, not "unsigned").
    """
    if not named and not path.exists():
        return []
    return [
        checkpoint_from_line(line, where=f"{path} line {number}")
        for number, line in enumerate(_lines(read_input(path)), start=1)
    ]


def _read_trail(args: argparse.Namespace, *, checkpoints: bool = False) -> Trail | None:
    """The trail the command names, or None once its failure is reported."""
    if (args.file is None) == (args.db is None):
        raise InputError("give either an exported FILE or --db PATH")
    sidecar = getattr(args, "checkpoints", None)
    stream = getattr(args, "stream", None) or "main"
    return read_trail(args.file, args.db, checkpoints=checkpoints, sidecar=sidecar, stream=stream)


def stream_trails(url: str, stream: str | None = None) -> list[Trail] | None:
    """
    The trail of every stream of the PostgreSQL database at `url` (or of `stream` only),
    each chain verified as it is read; None once a failure is reported.
    """
    try:
        streams = load_streams(url, stream)
    except StoreError as exc:
        if "cannot connect" in str(exc) or "no execfsm schema" in str(exc):
            raise  # bad input: exit 2, one line
        print(f"FAIL {exc}", file=sys.stderr)
        return None
    if stream is not None:
        if stream not in streams:
            raise InputError(f"{shown(url)}: no stream {stream!r} (streams: {sorted(streams)})")
        streams = {stream: streams[stream]}
    return [
        Trail(f"{shown(url)} stream {name}", state.records, state.checkpoints, state)
        for name, state in streams.items()
    ]


def read_trail(
    file: Path | None,
    db: Path | str | None,
    *,
    checkpoints: bool = False,
    sidecar: Path | None = None,
    stream: str | None = "main",
) -> Trail | None:
    """
    The trail in an exported `file` (with its checkpoints from `sidecar`, default
    ``FILE.checkpoints``, if `checkpoints`) or in the database `db`; None once its failure
    is reported.
    """
    if file is not None:
        try:
            records = _file_records(file)
            found = (
                _file_checkpoints(
                    sidecar or Path(str(file) + SIDECAR_SUFFIX), named=sidecar is not None
                )
                if checkpoints
                else None
            )
        except AuditChainError as exc:
            print(f"FAIL {file}: {exc}", file=sys.stderr)
            return None
        return Trail(file, records, found)
    if db is None:
        raise InputError("give either an exported FILE or --db PATH")
    if isinstance(db, str):
        trails = stream_trails(db, stream)
        return trails[0] if trails else None  # one stream: there, or refused above
    if not db.exists():
        raise InputError(f"cannot read {db}: no such database")
    try:
        store = SqliteStore(db, read_only=True)  # no lock, no write: a live writer goes on
        try:
            state = store.load()
        finally:
            store.close()
    except StoreError as exc:
        print(f"FAIL {db}: {exc}", file=sys.stderr)
        return None
    return Trail(db, state.records, state.checkpoints, state)


def _rows_agree(trail: Trail) -> bool:
    """Whether a SQLite database's rows are a replay of its trail (as `recover` checks; a
    PostgreSQL stream is checked as it is read): a cut or replaced trail is reported FAIL."""
    if trail.state is None or not isinstance(trail.where, Path):
        return True
    try:
        check_stored_rows(trail.state)
    except StoreError as exc:
        print(f"FAIL {trail.where}: {exc}", file=sys.stderr)
        return False
    return True


def _fail(where: Path | str, check: AnchorCheck) -> int:
    print(f"FAIL {where}: {check.problem}", file=sys.stderr)
    return 1


def _empty(trail: Trail, args: argparse.Namespace) -> int:
    anchored = args.expect_head is not None or args.public_key is not None
    if args.allow_empty and not anchored:
        print(f"EMPTY {trail.where}: the trail has no records (expected: --allow-empty)")
        return 0
    why = (
        "so it extends no published head and no checkpoint covers it"
        if anchored
        else "nothing to verify (--allow-empty if an empty trail is expected)"
    )
    print(f"EMPTY {trail.where}: the trail has no records: {why}", file=sys.stderr)
    return 1


def verify(args: argparse.Namespace) -> int:
    """
    ``audit verify``: the chain and every transition, then the anchors asked for.
    """
    if args.public_key is None and (args.checkpoints or args.allow_uncovered):
        raise InputError("--checkpoints and --allow-uncovered go with --public-key")
    if args.checkpoints is not None and args.file is None:
        raise InputError("--checkpoints is for a file trail: a database keeps its own")
    verifier = load_verifier(args.public_key) if args.public_key is not None else None
    if isinstance(args.db, str) and args.file is None:  # every stream of the database
        trails = stream_trails(args.db, args.stream)
        if trails is None:  # reported
            return 1
        if not trails:
            empty = Trail(shown(args.db), ())
            return _empty(empty, args)
        if args.expect_head is not None and len(trails) > 1:
            raise InputError(
                f"--expect-head: a published head is one stream's, and {shown(args.db)} has "
                f"{len(trails)}: give --stream NAME"
            )
        return max(_verify(trail, args, verifier) for trail in trails)
    trail = _read_trail(args, checkpoints=verifier is not None)
    if trail is None:
        return 1
    return _verify(trail, args, verifier)


def _verify(trail: Trail, args: argparse.Namespace, verifier: Verifier | None) -> int:
    """One trail's verification, as `verify` describes it."""
    where, records = trail.where, trail.records
    if not records and verifier is not None and trail.checkpoints:
        # Checkpoints over no records: every record they signed was removed.
        return _fail(where, check_checkpoints(records, trail.checkpoints, verifier))
    if not records:
        return _empty(trail, args)
    result = verify_trail(records, known_machines())
    if not result.ok:
        print(f"FAIL {where}: record seq {result.first_bad_seq}: {result.problem}", file=sys.stderr)
        return 1
    notes = [f"  head {format_head(records[-1])}"]
    if args.expect_head is not None:
        seq, digest = args.expect_head
        head = check_head(records, seq, digest)
        if not head.ok:
            return _fail(where, head)
        notes.append(
            f"  extends the published head {seq}:{digest} ({head.uncovered} record(s) after it)"
        )
    if verifier is not None:
        signed = check_checkpoints(records, trail.checkpoints or (), verifier)
        if not signed.ok:
            return _fail(where, signed)
        notes.append(
            f"  {signed.checkpoints} signed checkpoint(s) verify with key {verifier.key_id}, "
            f"the last at seq {signed.covered_through}"
        )
        if signed.uncovered:
            tail = (
                f"{signed.uncovered} record(s) after seq {signed.covered_through} not covered "
                f"by a checkpoint; {_TAIL_NOTE}"
            )
            if not args.allow_uncovered:
                print(
                    f"FAIL {where}: {tail}; the key vouches for none of them "
                    "(--allow-uncovered if the store checkpoints every N records, or ran "
                    "without its key)",
                    file=sys.stderr,
                )
                return 1
            notes.append(f"  {tail} (allowed: --allow-uncovered)")
        else:
            notes.append(f"  every record is covered by a checkpoint; {_TAIL_NOTE}")
    if args.expect_head is None and verifier is None:
        notes.append(_NOT_ANCHORED)
        if trail.checkpoints or (args.file and Path(str(args.file) + SIDECAR_SUFFIX).exists()):
            notes.append("  it has signed checkpoints: --public-key FILE checks them")
    if not _rows_agree(trail):  # after the anchors, whose findings say more about tampering
        return 1
    print(f"OK {where}: {result.records} records, chain intact, every transition legal")
    print("\n".join(notes))
    if args.properties:
        return machines.trail_properties(where, records)
    return 0


def head(args: argparse.Namespace) -> int:
    """
    ``audit head``: the verified trail's last record, as ``SEQ:HASH`` to publish.
    """
    trail = _read_trail(args)
    if trail is None:
        return 1
    if not trail.records:
        print(f"EMPTY {trail.where}: the trail has no records, so no head", file=sys.stderr)
        return 1
    result = verify_trail(trail.records, known_machines())
    if not result.ok:
        print(
            f"FAIL {trail.where}: record seq {result.first_bad_seq}: {result.problem} "
            "(no head of a broken trail)",
            file=sys.stderr,
        )
        return 1
    if not _rows_agree(trail):
        return 1
    published = format_head(trail.records[-1])
    print(published)
    print(
        f"head of {trail.where}: record seq {trail.records[-1].seq}, chain intact; publish "
        f"the line above elsewhere, and later: execfsm audit verify ... --expect-head "
        f"{published}"
    )
    return 0


def export(args: argparse.Namespace) -> int:
    """
    ``audit export``: a database's trail as a JSONL file, its checkpoints beside it.
    """
    out: Path = args.out
    trail = _read_trail(argparse.Namespace(file=None, db=sqlite_file(args.db)))
    if trail is None:
        return 1
    sidecar = Path(str(out) + SIDECAR_SUFFIX)
    if not trail.checkpoints and taken(sidecar):  # what sits beside FILE is FILE's
        raise InputError(
            f"{sidecar} exists; refusing to leave another trail's checkpoints beside {out} "
            "(this database has none): remove it or choose another --out"
        )
    written = [NewFile(out, "".join(record_json(r) + "\n" for r in trail.records).encode())]
    if trail.checkpoints:
        lines = "".join(checkpoint_json(c) + "\n" for c in trail.checkpoints)
        written.append(NewFile(sidecar, lines.encode()))
    try:
        write_new_files(written)  # both or neither, never over anything
    except NewFileError as exc:
        if exc.reason is None:
            raise InputError(f"{exc.path} exists; refusing to overwrite it") from None
        raise InputError(f"cannot write {exc.path}: {exc.reason}") from None
    count = len(trail.checkpoints or ())
    print(
        f"wrote {out} ({len(trail.records)} records)"
        + (f" and {sidecar} ({count} checkpoints)" if count else " (no checkpoints)")
    )
    return 0


def keygen(out: Path) -> int:
    """
    ``audit keygen``: a new Ed25519 key pair in `out`, never overwriting.
    """
    private, public, key_id = write_key_pair(out)
    print(f"wrote {private} (private, mode 0600: keep it with the operator)")
    print(f"wrote {public} (public: give it to whoever verifies)")
    print(f"key id {key_id}")
    return 0


def _head_arg(text: str) -> tuple[int, str]:
    try:
        return parse_head(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_FILE_HELP = "an exported trail (JSONL, as `execfsm audit export` writes); or give --db"
_DB_HELP = (
    "the trail in this database instead of a FILE (read-only): a SQLite file, or "
    "postgresql://user@host/db"
)


def add_audit_commands(audit: argparse.ArgumentParser) -> None:
    """
    The ``audit`` subcommands and their options.
    """
    commands = audit.add_subparsers(dest="audit_command", required=True)
    check = commands.add_parser(
        "verify", help="verify a JSONL audit export, or the trail in a database (--db)"
    )
    check.add_argument("file", type=Path, nargs="?", help=_FILE_HELP)
    check.add_argument("--db", type=db_target, help=_DB_HELP)
    check.add_argument(
        "--stream",
        type=stream_name,
        help="with a postgresql:// --db: verify this stream only (default: every stream)",
    )
    check.add_argument(
        "--properties",
        action="store_true",
        help="also check the properties the machines declare on every recorded instance",
    )
    check.add_argument(
        "--expect-head",
        type=_head_arg,
        metavar="SEQ:HASH",
        help="prove the trail extends this published head (from `execfsm audit head`)",
    )
    check.add_argument(
        "--public-key",
        type=Path,
        metavar="FILE",
        help="check every signed checkpoint with the operator's Ed25519 public key (PEM)",
    )
    check.add_argument(
        "--checkpoints",
        type=Path,
        metavar="FILE",
        help="a file trail's checkpoints (default: FILE.checkpoints beside it)",
    )
    check.add_argument(
        "--allow-uncovered",
        action="store_true",
        help="with --public-key, accept records after the last checkpoint (reported, counted)",
    )
    check.add_argument(
        "--allow-empty",
        action="store_true",
        help="an empty trail is expected: report it and exit 0 (no anchor can hold)",
    )
    add_project_options(check)
    show = commands.add_parser("head", help="print a verified trail's head (SEQ:HASH) to publish")
    show.add_argument("file", type=Path, nargs="?", help=_FILE_HELP)
    show.add_argument("--db", type=db_target, help=_DB_HELP)
    add_stream_option(show)
    add_project_options(show)
    out = commands.add_parser(
        "export", help="write a database's trail as JSONL, its checkpoints to OUT.checkpoints"
    )
    out.add_argument("--db", type=db_target, required=True, help="the SQLite database (required)")
    out.add_argument(
        "--out", type=Path, required=True, help="the JSONL file to write, never over one (required)"
    )
    add_project_options(out)
    keys = commands.add_parser(
        "keygen", help="write a new Ed25519 signing key pair (never overwrites)"
    )
    keys.add_argument("--out", type=Path, required=True, help="an existing folder (required)")
    for choice in commands._choices_actions:  # each subcommand's help is its description
        commands.choices[choice.dest].description = choice.help


def audit(args: argparse.Namespace) -> int:
    """
    Run the ``audit`` subcommand `args` names.
    """
    if args.audit_command == "head":
        return head(args)
    if args.audit_command == "export":
        return export(args)
    return verify(args)
