"""
The writer lock of a database file: one writer per database, released by the OS.

A writer holds ``flock(LOCK_EX)`` on a sidecar file, ``<database>.lock``, for as long as it is
open; the kernel drops the lock when the file is closed, so a process that dies (SIGKILL
included) releases it. The file is kept, never deleted (deleting it would let a second writer
lock a new file while the first still holds the old one), and says who holds it:
``pid=… host=… since=…``. SQLite's own locks are not used: they would also shut out the
read-only commands, which must keep working while a writer is live.

``flock`` locks belong to an open file, not to a process, so a second store in the same
process is refused too. They are local: a database on a network file system needs one host.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import socket
import weakref
from datetime import UTC, datetime
from pathlib import Path

from execfsm.errors import StoreError

_PID = re.compile(r"\bpid=(\d+)\b")
_HOLDER_BYTES = 1024
"""How much of a lock file is read for the message (a sane one is one short line)."""


class StoreLocked(StoreError):
    """
    Another writer has the database open, so it is not opened for writing.

    Args:
        message: The refusal, naming the database, the lock file and its holder.
        lock_path: The lock file.
        holder: What the lock file says about its holder (``pid=… host=… since=…``; empty if
            the holder has not written it yet).
        pid: The holder's process id as the lock file gives it, if it gives one.
    """

    def __init__(self, message: str, *, lock_path: Path, holder: str, pid: int | None) -> None:
        super().__init__(message)
        self.lock_path = lock_path
        self.holder = holder
        self.pid = pid


def lock_path_of(database: Path) -> Path:
    """
    The lock file of `database`: ``<database>.lock`` beside it.
    """
    return database.with_name(database.name + ".lock")


class WriterLock:
    """
    The exclusive lock on `database`'s lock file, taken when built (or `StoreLocked`).

    Args:
        database: The database file the lock stands for.
    """

    def __init__(self, database: Path) -> None:
        self.path = lock_path_of(database)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # close-on-exec (PEP 446)
        except OSError as exc:
            raise StoreError(
                f"store {database}: cannot open the database: cannot open its lock file "
                f"{self.path}: {exc.strerror or exc}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise _locked(database, self.path, holder) from None
        except OSError as exc:  # a file system without flock
            os.close(fd)
            raise StoreError(
                f"store {database}: cannot open the database: cannot lock {self.path}: "
                f"{exc.strerror or exc}"
            ) from None
        since = datetime.now(UTC).isoformat(timespec="seconds")
        text = f"pid={os.getpid()} host={socket.gethostname()} since={since}\n"
        with contextlib.suppress(OSError):  # who holds it only feeds a refusal's message
            os.ftruncate(fd, 0)
            os.pwrite(fd, text.encode(), 0)
        self._release = weakref.finalize(self, os.close, fd)
        """Closes the file, which drops the lock: on `release`, or when the lock is collected."""

    def release(self) -> None:
        """
        Drop the lock (once; later calls do nothing). The lock file stays.
        """
        self._release()


def _read_holder(fd: int) -> str:
    try:
        data = os.pread(fd, _HOLDER_BYTES, 0)
    except OSError:
        return ""
    return " ".join(data.decode("utf-8", "replace").split())


def _locked(database: Path, lock: Path, holder: str) -> StoreLocked:
    found = _PID.search(holder)
    pid = int(found.group(1)) if found else None
    who = f"is held by {holder}" if holder else "is held (its holder has not signed it yet)"
    ours = " (this process)" if pid == os.getpid() else ""
    return StoreLocked(
        f"store {database}: another writer has it open: {lock} {who}{ours}; a database has "
        "one writer at a time (read-only commands such as `execfsm audit verify --db` still "
        "work)",
        lock_path=lock,
        holder=holder,
        pid=pid,
    )
