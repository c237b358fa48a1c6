"""
Reading back the adapter's JSON-lines files (the ClOrdID journal, the inbox), whose last
line a crash may have cut: the same rule as the venue journal's (`torn_tail`), and the torn
line cut off the file at open, so the next record starts on a line of its own.
"""

from __future__ import annotations

import os
from pathlib import Path

from execfsm.adapters._venue_journal import torn_tail
from execfsm.errors import ConfigurationError

_OPENINGS = (b"{",)
"""Every record is one JSON object: a torn last line is the beginning of one."""


def whole_lines(path: Path, field: str, what: str) -> list[tuple[int, str]]:
    """
    The whole lines of the file at `path`, numbered (blank ones left out). A torn last line
    (no newline; the beginning of a record: a crash mid-write, so the record was never acted
    on) is cut off the file, even when it is the file's only line: the adapter names these
    files itself, so a torn first record is a crash during the first write, never a stranger's
    file (and refusing it would keep the adapter from ever starting again). Anything else
    that cannot be read is a `ConfigurationError` naming the file (`field`: its kind,
    `what`: a record's name), the file untouched.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"{path}: cannot read the {what}s: {type(exc).__name__}", field=field, value=str(path)
        ) from None
    lines = data.split(b"\n")
    torn = lines.pop()  # after the last newline: empty, or a line cut short by a crash
    try:
        keep = torn_tail(torn, True, _OPENINGS)
    except ValueError as exc:
        raise ConfigurationError(
            f"{path}: line {len(lines) + 1} is not a {what}: {exc}", field=field, value=str(path)
        ) from None
    if keep < len(torn):
        with path.open("r+b") as out:
            out.truncate(len(data) - len(torn) + keep)
            out.flush()
            os.fsync(out.fileno())
    numbered = []
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            numbered.append((number, raw.decode("utf-8")))
        except UnicodeDecodeError:
            raise ConfigurationError(
                f"{path}: line {number} is not a {what}: not UTF-8 text",
                field=field,
                value=str(path),
            ) from None
    return numbered
