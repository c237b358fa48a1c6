"""
New files written all or nothing, never over anything: a key pair, a trail and its
checkpoints. Each file is written to a temporary file beside it, then hard-linked into
place, which fails rather than replace whatever is there (a file, a directory, a symlink,
dangling or not); on any failure every file this call put in place and every temporary
file is removed, so the folder is left as it was.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

import attrs

_NO_HARD_LINKS = frozenset(
    {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EXDEV, errno.EMLINK}
)
"""What ``link`` raises on a file system without hard links (FAT, some network and FUSE
file systems): the file is then created in place, exclusively."""


@attrs.frozen
class NewFile:
    """A file to create at `path` holding `data`, with `mode` (the umask applies unless
    `exact`)."""

    path: Path
    data: bytes
    mode: int = 0o666
    exact: bool = False


EXISTS = "exists; refusing to overwrite it"


class NewFileError(Exception):
    """
    A file could not be created: `path` is the file as asked for (never a temporary name);
    `reason` why it could not be written (the system's words), or None when something is
    already there. `problem` says it in words.
    """

    def __init__(self, path: Path, reason: str | None = None) -> None:
        self.path = path
        self.reason = reason
        self.problem = EXISTS if reason is None else f"cannot write: {reason}"
        super().__init__(f"{path}: {self.problem}")


def taken(path: Path) -> bool:
    """
    Whether anything is at `path`, a symlink included (dangling or not). When it cannot be
    told (no such folder, no permission) the write that follows fails and says why; it can
    never replace anything either way.
    """
    try:
        os.lstat(path)
    except OSError:
        return False
    return True


def _cannot(path: Path, exc: OSError) -> NewFileError:
    if isinstance(exc, FileExistsError):
        return NewFileError(path)
    return NewFileError(path, str(exc.strerror or exc))


def _write_file(path: Path, file: NewFile) -> None:
    """
    Create `path` (nothing may be there, not even a symlink) holding `file`; if it cannot be
    written whole, the file created is removed.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, file.mode)
    try:
        try:
            if file.exact:
                os.fchmod(fd, file.mode)  # whatever the umask
            done = os.write(fd, file.data)
            while done < len(file.data):  # a short write: write the rest
                done += os.write(fd, memoryview(file.data)[done:])
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise


def _sync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system syncs a directory
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_new_files(files: Sequence[NewFile]) -> None:
    """
    Create every file of `files`, all or none: nothing is written if anything is at one of
    their paths, and a failure midway removes what was written.

    Raises:
        NewFileError: Naming the first file that is in the way or could not be written.
    """
    for file in files:
        if taken(file.path):
            raise NewFileError(file.path)
    temps: list[Path] = []
    placed: list[Path] = []
    try:
        for file in files:
            temp = file.path.with_name(f".{file.path.name}.{secrets.token_hex(8)}.tmp")
            try:
                _write_file(temp, file)
            except OSError as exc:
                raise _cannot(file.path, exc) from None
            temps.append(temp)
        for file, temp in zip(files, temps, strict=True):
            try:
                os.link(temp, file.path)  # never replaces: EEXIST if anything came meanwhile
            except OSError as exc:
                if exc.errno not in _NO_HARD_LINKS:
                    raise _cannot(file.path, exc) from None
                try:
                    _write_file(file.path, file)
                except OSError as again:
                    raise _cannot(file.path, again) from None
            placed.append(file.path)
        for folder in dict.fromkeys(file.path.parent for file in files):
            _sync_folder(folder)
    except BaseException:
        for path in placed:
            with contextlib.suppress(OSError):
                os.unlink(path)
        raise
    finally:
        for temp in temps:
            with contextlib.suppress(OSError):
                os.unlink(temp)
