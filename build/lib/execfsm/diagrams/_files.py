"""
File names for names we do not control (a machine named ``../x``, ``/abs`` or ``old\\`` in
a committed spec a pull request can edit): each is a safe slug inside the output folder, and
a manifest lets the next run remove only the files this command wrote before.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9_-]+")


def _short_hash(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def file_stems(names: Iterable[str], *, reserved: Iterable[str] = ()) -> dict[str, str]:
    """
    A file stem per name: the name itself when it is a plain word (letters, digits, ``_``,
    ``-``; not in `reserved`), else a slug of it plus a short hash of the whole name
    (``old_-1a2b3c4d``), so that no two names share a stem and none leaves the folder.
    """
    stems: dict[str, str] = {}
    taken = {r.casefold() for r in reserved}
    for name in names:
        if name in stems:
            continue
        stem = name
        if not _SAFE.fullmatch(name) or stem.casefold() in taken:
            slug = _UNSAFE_RUN.sub("_", name).strip("_-")[:40] or "machine"
            stem = f"{slug}-{_short_hash(name)}"
        while stem.casefold() in taken:  # a plain name that looks like another's slug
            stem = f"{stem}-{_short_hash(stem)}"
        taken.add(stem.casefold())
        stems[name] = stem
    return stems


def remove_stale(out: Path, manifest: str, keep: Iterable[Path]) -> None:
    """
    Remove the files the manifest of the previous run in `out` lists and this run did not
    write (`keep`): only plain file names directly in `out`, never anything else.
    """
    path = out / manifest
    try:
        listed = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return
    kept = {p.name for p in keep}
    for name in listed:
        if not name or name in kept or name != Path(name).name or name in (".", ".."):
            continue
        stale = out / name
        if stale.is_file() and not stale.is_symlink():
            stale.unlink()


def write_manifest(out: Path, manifest: str, written: Iterable[Path]) -> None:
    """
    List the files written into `out` (one name a line) for the next run's `remove_stale`;
    with none, remove the list (the folder holds nothing of ours to clean up).
    """
    path = out / manifest
    names = [p.name for p in written]
    if names:
        path.write_text("".join(f"{name}\n" for name in names), encoding="utf-8")
    else:
        path.unlink(missing_ok=True)
