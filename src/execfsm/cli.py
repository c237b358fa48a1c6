"""
The ``execfsm`` command. Exit codes: 0 ok, 1 a check failed, 2 bad usage or input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from execfsm.contracts import ExecutionMode, OrderIntent
from execfsm.demo import format_table, run_demo
from execfsm.errors import AuditChainError, ContractViolation
from execfsm.ledger.audit import record_from_dict, verify_records
from execfsm.orchestrator import ExecutionOrchestrator

_INTENT_FIELDS = frozenset(a.name for a in attrs.fields(OrderIntent))
_PROGRESS_EVERY = 10_000


class InputError(Exception):
    """
    Bad input for a command: reported in one line, exit 2.
    """


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None


def _audit_verify(path: Path) -> int:
    records = []
    try:
        for number, line in enumerate(_read(path).splitlines(), start=1):
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise AuditChainError(f"line {number}: not JSON ({exc.msg})", seq=-1) from None
            records.append(record_from_dict(data, line=number))
    except AuditChainError as exc:
        print(f"FAIL {path}: {exc}", file=sys.stderr)
        return 1
    result = verify_records(records)
    if not result.ok:
        print(f"FAIL {path}: record seq {result.first_bad_seq}: {result.problem}", file=sys.stderr)
        return 1
    print(f"OK {path}: {result.records} records, chain intact")
    return 0


def _demo(out_dir: Path) -> int:
    report = run_demo(out_dir)
    print(format_table(report))
    print()
    print(f"venue submissions: {report.venue_submissions} (the duplicate was not sent)")
    print(f"audit chain: {'intact' if report.chain_ok else 'BROKEN'}")
    print(f"wrote to {report.out_dir}/: " + ", ".join(p.name for p in report.files))
    return 0 if report.chain_ok else 1


def parse_intents(text: str) -> list[OrderIntent]:
    """
    Every line of a JSONL file as an `OrderIntent`; the first bad line is an `InputError`
    naming its number, and nothing is returned.
    """
    intents = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data: Any = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"line {number}: not valid JSON ({exc.msg})") from None
        if not isinstance(data, dict):
            raise InputError(f"line {number}: must be a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - _INTENT_FIELDS)
        if unknown:
            raise InputError(f"line {number}: unknown field(s) {', '.join(unknown)}")
        try:
            intents.append(OrderIntent(**data))
        except ContractViolation as exc:
            raise InputError(f"line {number}: {exc}") from None
        except TypeError as exc:
            raise InputError(f"line {number}: {exc}") from None
    return intents


def _run(path: Path, mode: ExecutionMode) -> int:
    intents = parse_intents(_read(path))
    orchestrator = ExecutionOrchestrator(execution_mode=mode)
    outcomes: Counter[tuple[str, str]] = Counter()
    total = len(intents)
    for done, intent in enumerate(intents, start=1):
        result = orchestrator.submit_intent(intent)
        outcomes[str(result.pipeline_state), str(result.reason_code or "-")] += 1
        if total >= _PROGRESS_EVERY and done % _PROGRESS_EVERY == 0:
            print(f"  {done}/{total} intents", file=sys.stderr)
    print(f"{total} intents from {path} in mode {mode}:")
    for (state, reason), count in sorted(outcomes.items()):
        print(f"  {count:>8}  {state:<10} {reason}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """
    The argument parser (exposed for tests).
    """
    parser = argparse.ArgumentParser(prog="execfsm", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run a scripted paper session end to end")
    demo.add_argument("--out", type=Path, default=Path("execfsm-demo"), help="output folder")
    run = commands.add_parser("run", help="replay intents from a JSONL file")
    run.add_argument("file", type=Path)
    run.add_argument(
        "--mode",
        type=str.upper,
        choices=[m.value for m in ExecutionMode],
        default=ExecutionMode.LIVE_BLOCKED.value,
        help="execution mode (default LIVE_BLOCKED; LIVE also needs a LivePolicy, which no "
        "command-line option can give, so it stays blocked)",
    )
    audit = commands.add_parser("audit", help="audit trail tools")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser("verify", help="verify a JSONL audit export")
    verify.add_argument("file", type=Path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """
    Entry point of the ``execfsm`` console script.
    """
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            return _demo(args.out)
        if args.command == "run":
            return _run(args.file, ExecutionMode(args.mode))
        return _audit_verify(args.file)
    except InputError as exc:
        print(f"execfsm {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
