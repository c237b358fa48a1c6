"""
The ``execfsm`` command. Exit codes: 0 ok, 1 a check failed, 2 bad usage or input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from execfsm.errors import AuditChainError
from execfsm.ledger.audit import record_from_dict, verify_records


def _audit_verify(path: Path) -> int:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"execfsm audit verify: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    records = []
    try:
        for number, line in enumerate(text.splitlines(), start=1):
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


def build_parser() -> argparse.ArgumentParser:
    """
    The argument parser (exposed for tests and shell completion).
    """
    parser = argparse.ArgumentParser(prog="execfsm", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
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
    if args.command == "audit" and args.audit_command == "verify":
        return _audit_verify(args.file)
    return 2  # pragma: no cover - argparse rejects unknown commands first


if __name__ == "__main__":
    sys.exit(main())
