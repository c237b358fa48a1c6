"""
The bench's side of the nautilus_trader peer: starts bench/nautilus_peer.py under the peer's
own interpreter once, then asks it for one run at a time, so its runs interleave with ours.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import IO

PEER_SCRIPT = Path(__file__).with_name("nautilus_peer.py")


class NautilusPeer:
    """A running peer process, or the reason there is none (`unavailable`)."""

    def __init__(self, python: Path) -> None:
        self.version: dict[str, str] = {}
        self.unavailable: str | None = None
        self._proc: subprocess.Popen[str] | None = None
        if not python.exists():
            self.unavailable = f"no interpreter at {python} (its virtualenv was not made)"
            return
        self._proc = subprocess.Popen(  # noqa: S603 - our own script under the given interpreter
            [str(python), str(PEER_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        hello = self._read()
        if hello is None:
            self.unavailable = f"{python} could not start the peer: {self._stderr()}"
        else:
            self.version = hello

    def _pipes(self) -> tuple[IO[str], IO[str]]:
        if self._proc is None or self._proc.stdin is None or self._proc.stdout is None:
            raise RuntimeError("the nautilus peer is not running")
        return self._proc.stdin, self._proc.stdout

    def _read(self) -> dict[str, object] | None:
        line = self._pipes()[1].readline()
        return json.loads(line) if line else None

    def _stderr(self) -> str:
        if self._proc is None:
            return "not running"
        self._proc.wait(timeout=30)
        text = self._proc.stderr.read() if self._proc.stderr is not None else ""
        self._proc = None
        return text.strip().splitlines()[-1] if text.strip() else "no output"

    def seconds(self, n: int) -> float:
        """Seconds the peer took for `n` lifecycles; raises if it died."""
        stdin = self._pipes()[0]
        stdin.write(f"{n}\n")
        stdin.flush()
        answer = self._read()
        if answer is None:
            raise RuntimeError(f"the nautilus peer died: {self._stderr()}")
        return float(answer["seconds"])  # type: ignore[arg-type]

    def close(self) -> None:
        if self._proc is not None and self._proc.stdin is not None:
            self._proc.stdin.close()
            self._proc.wait(timeout=30)
            self._proc = None
