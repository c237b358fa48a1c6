"""
When a store writes a signed checkpoint, and of what: the head the records of a commit bring.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import msgspec

from execfsm.errors import ConfigurationError
from execfsm.fsm.audit import AuditRecord
from execfsm.ledger.audit import Line
from execfsm.ledger.checkpoints import Checkpoint, Signer, first_mismatch
from execfsm.ledger.records import record_json
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
    are the same), and the head at close if no checkpoint covers it: a commit since the last
    checkpoint left it uncovered, or the store opened over records no checkpoint covers
    (written without the key, or before a crash with `every` > 1).
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
        self._loaded: Line | None = None
        """The line of the last record the store held when opened, when no checkpoint
        covers it."""
        self.trail_taken = False
        """The session took the trail the store opened over: recovery verified every record
        (chain and transitions) and the store was flushed (the first flush of a session
        comes once recovery is done)."""

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

    def opened(
        self, records: Sequence[AuditRecord], checkpoints: Sequence[Checkpoint]
    ) -> str | None:
        """
        The store opened over `records` (a verified chain) and `checkpoints`: what forbids
        appending to it and signing over it, or None once the policy has taken them in.

        Refused: what `first_mismatch` refuses (with this key, a checkpoint of it whose
        signature does not verify), and a checkpoint of another key (one key per trail:
        a test key, last year's key). Else the head, if no checkpoint covers it, is owed a
        checkpoint at close (see `final`).
        """
        problem = first_mismatch(records, checkpoints, self.signer.verifier())
        if problem is not None:
            return problem
        for checkpoint in checkpoints:
            if checkpoint.key_id != self.signer.key_id:
                return (
                    f"checkpoint at seq {checkpoint.seq} is signed by key {checkpoint.key_id}, "
                    f"not by the signing key given ({self.signer.key_id}): one key per trail, "
                    "so open it with that key, or start a new database for the new key"
                )
        self.last_seq = checkpoints[-1].seq if checkpoints else 0
        if records and records[-1].seq > self.last_seq:
            last = records[-1]
            self._loaded = (last.seq, last.correlation_id, None, record_json(last))
        return None

    def committed(self, lines: list[Line], checkpoint: Checkpoint | None) -> None:
        """
        A commit of `lines` (with `checkpoint`, if one was due) is durable.
        """
        if checkpoint is not None:
            self.last_seq, self._uncovered, self._loaded = checkpoint.seq, None, None
        elif lines:
            self._uncovered = lines[-1]

    def final(self) -> Checkpoint | None:
        """
        At close: the checkpoint of the last committed record, if none covers it yet; with no
        commit since, of the last record the store opened over, if none covers it and the
        session took the trail (`trail_taken`: a trail recovery refused is never signed).
        """
        uncovered, self._uncovered = self._uncovered, None
        loaded, self._loaded = self._loaded, None
        if uncovered is None and loaded is not None and self.trail_taken:
            uncovered = loaded
        return None if uncovered is None else self._sign(uncovered)
