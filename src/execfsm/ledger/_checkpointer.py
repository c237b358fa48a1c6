"""
When a store writes a signed checkpoint, and of what: the head the records of a commit bring.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from execfsm.errors import ConfigurationError, StoreError
from execfsm.ledger.audit import Line
from execfsm.ledger.checkpoints import Checkpoint, Signer
from execfsm.typing import Clock


class _Head(msgspec.Struct, gc=False):
    """The one field of a record's line a checkpoint needs."""

    hash: str


_HEAD = msgspec.json.Decoder(_Head)


class Checkpointer:
    """
    A store's checkpoint policy: sign the head of a commit once it brings at least `every`
    records since the last checkpoint, dated by `clock` (default: the bound audit log's).
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

    def due(self, lines: list[Line]) -> Checkpoint | None:
        """
        The signed checkpoint of the head `lines` bring, if one is due.
        """
        if not lines:
            return None
        seq, _, _, text = lines[-1]
        if seq - self.last_seq < self.every:
            return None
        if self.clock is None:  # a store is bound before its first commit: cannot happen
            raise StoreError(f"store {self.path}: no clock to date a checkpoint")
        return self.signer.sign(seq, _HEAD.decode(text).hash, self.clock.now().isoformat())
