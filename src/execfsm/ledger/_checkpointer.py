"""
When a store writes a signed checkpoint, and of what: the head the records of a commit bring.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from execfsm.errors import ConfigurationError
from execfsm.ledger.audit import Line
from execfsm.ledger.checkpoints import Checkpoint, Signer
from execfsm.typing import Clock


class _Head(msgspec.Struct, gc=False):
    """The fields of a record's line a checkpoint needs."""

    hash: str
    ts: str


_HEAD = msgspec.json.Decoder(_Head)


class Checkpointer:
    """
    A store's checkpoint policy: sign the head of a commit once it brings at least `every`
    records since the last checkpoint, dated by `clock` (default: the head record's own
    time, so that signing reads no clock and a replayed session's records and checkpoints
    are the same), and the head at close if a commit since the last checkpoint left it
    uncovered.
    """

    def __init__(self, path: Path, signer: Signer, every: int, clock: Clock | None) -> None:
        if type(every) is not int or every < 1:
            raise ConfigurationError(
                f"store {path}: checkpoint_every must be a whole number of at least 1, "
                f"got {every!r}",
                field="checkpoint_every",
                value=every,
            )
        self.path = path
        self.signer = signer
        self.every = every
        self.clock = clock
        self.last_seq = 0
        """The seq the last stored checkpoint covers."""
        self._uncovered: Line | None = None
        """The last committed record's line, when no checkpoint covers it."""

    def due(self, lines: list[Line]) -> Checkpoint | None:
        """
        The signed checkpoint of the head `lines` bring, if one is due.
        """
        if not lines or lines[-1][0] - self.last_seq < self.every:
            return None
        return self._sign(lines[-1])

    def _sign(self, line: Line) -> Checkpoint:
        seq, _, _, text = line
        head = _HEAD.decode(text)
        ts = head.ts if self.clock is None else self.clock.now().isoformat()
        return self.signer.sign(seq, head.hash, ts)

    def committed(self, lines: list[Line], checkpoint: Checkpoint | None) -> None:
        """
        A commit of `lines` (with `checkpoint`, if one was due) is durable.
        """
        if checkpoint is not None:
            self.last_seq, self._uncovered = checkpoint.seq, None
        elif lines:
            self._uncovered = lines[-1]

    def final(self) -> Checkpoint | None:
        """
        At close: the checkpoint of the last committed record, if none covers it yet.
        """
        uncovered, self._uncovered = self._uncovered, None
        return None if uncovered is None else self._sign(uncovered)
