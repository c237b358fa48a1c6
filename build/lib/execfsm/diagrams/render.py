"""
Render DOT to SVG or PNG with a ``dot`` program: the system's Graphviz if present, else the
``graphviz-pure`` binary from the ``diagrams`` extra. Never a network renderer.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from execfsm.errors import ExecFsmError

INSTALL_HINT = (
    "no Graphviz 'dot' program found. Install one of: the diagrams extra "
    "(pip install 'execfsm[diagrams]', which ships the graphviz-pure binary; `make install` "
    "does this), or your system's Graphviz (e.g. apt-get install graphviz)."
)


class RendererMissing(ExecFsmError):
    """
    No program that turns DOT into SVG or PNG is installed.
    """


def find_dot() -> Path:
    """
    The ``dot`` program to use: ``dot`` on PATH, else ``graphviz-pure`` on PATH or beside
    this Python interpreter.
    """
    for name in ("dot", "graphviz-pure"):
        found = shutil.which(name)
        if found:
            return Path(found)
    beside = Path(sys.executable).parent / "graphviz-pure"
    if beside.exists():
        return beside
    raise RendererMissing(INSTALL_HINT)


def render(dot_source: str, fmt: str, out: Path, *, program: Path | None = None) -> Path:
    """
    Render `dot_source` to `out` in format `fmt` (``svg`` or ``png``).
    """
    if fmt not in ("svg", "png"):
        raise ValueError(f"render: format must be 'svg' or 'png', got {fmt!r}")
    dot = program if program is not None else find_dot()
    completed = subprocess.run(  # noqa: S603 - a fixed program, our own DOT on stdin
        [str(dot), f"-T{fmt}"], input=dot_source.encode("utf-8"), capture_output=True, check=False
    )
    if completed.returncode != 0:
        message = completed.stderr.decode("utf-8", "replace").strip()
        raise ExecFsmError(f"render: {dot.name} failed ({completed.returncode}): {message}")
    out.write_bytes(completed.stdout)
    return out
