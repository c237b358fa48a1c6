"""
Anchoring a verified trail to something a forger cannot recompute: a head published
elsewhere (``SEQ:HASH``, `check_head`), and checkpoints signed with the operator's key
(`check_checkpoints`).

The hash chain alone (`execfsm.ledger.audit.verify_records`) shows that a trail is
consistent with itself; it cannot show that records were removed from its end, or that the
whole trail was rewritten and every hash recomputed. Both checks here take a trail whose
chain already verified.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs

from execfsm.fsm.audit import AuditRecord
from execfsm.ledger.checkpoints import Checkpoint, Verifier

_HEAD_TEXT = re.compile(r"([1-9][0-9]{0,17}):([0-9a-f]{64})")


def parse_head(text: str) -> tuple[int, str]:
    """
    The (seq, hash) of a published head ``SEQ:HASH``, as `format_head` writes it.

    Raises:
        ValueError: `text` is not a record number from 1, a colon and 64 lower-case hex
            digits.
    """
    match = _HEAD_TEXT.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"expected SEQ:HASH (a record number from 1, a colon, the record's 64 lower-case "
            f"hex digit hash, as `execfsm audit head` prints it), got {text!r}"
        )
    return int(match[1]), match[2]


def format_head(record: AuditRecord) -> str:
    """
    The head a trail ending in `record` publishes: ``SEQ:HASH``.
    """
    return f"{record.seq}:{record.hash}"


def _short(digest: str) -> str:
    return f"{digest[:16]}..."


@attrs.frozen
class AnchorCheck:
    """
    The result of an anchor check: ``ok``, or what is wrong, with the first record (and
    checkpoint) it concerns.
    """

    ok: bool
    problem: str = ""
    first_bad_seq: int | None = None
    """The first record that is not what the anchor says (or would be past the end)."""
    checkpoint_seq: int | None = None
    """The seq of the first checkpoint that fails."""
    checkpoints: int = 0
    """How many checkpoints verified."""
    covered_through: int = 0
    """The seq the last verified checkpoint covers."""
    uncovered: int = 0
    """How many records come after the last checkpoint."""


def check_head(records: Sequence[AuditRecord], seq: int, digest: str) -> AnchorCheck:
    """
    Whether `records` (a verified chain) extend the published head (`seq`, `digest`): the
    record at `seq` exists and has that hash, so (the chain being intact) every record up to
    it is the one published.
    """
    if seq > len(records):
        last = f"its last record is seq {len(records)}" if records else "it has no records"
        return AnchorCheck(
            False,
            f"the trail ends before the published head seq {seq} ({last}): records were "
            "removed from its end",
            first_bad_seq=len(records) + 1,
        )
    record = records[seq - 1]
    if record.hash != digest:
        return AnchorCheck(
            False,
            f"record seq {seq} has hash {_short(str(record.hash))}, not the published head's "
            f"{_short(digest)}: the trail was rewritten at or before seq {seq}",
            first_bad_seq=seq,
        )
    return AnchorCheck(True, covered_through=seq, uncovered=len(records) - seq)


def check_checkpoints(
    records: Sequence[AuditRecord], checkpoints: Sequence[Checkpoint], verifier: Verifier
) -> AnchorCheck:
    """
    Whether every checkpoint is signed by `verifier`'s key and matches `records` (a verified
    chain): in rising seq order, within the trail, the record at its seq having the hash it
    signed. The records after the last checkpoint are counted as not covered: checkpoints
    cannot show whether records were removed after it.
    """
    if not checkpoints:
        return AnchorCheck(
            False,
            "the trail has no signed checkpoint, so nothing ties it to the key (was its store "
            "opened with a signing key? does a file trail have its .checkpoints file?)",
        )
    good = 0
    for number, checkpoint in enumerate(checkpoints, start=1):
        seq = checkpoint.seq
        name = f"checkpoint {number} (seq {seq})"
        if seq <= good:
            return AnchorCheck(
                False,
                f"{name} repeats or goes back from the checkpoint of seq {good}: checkpoints "
                "must rise",
                checkpoint_seq=seq,
                checkpoints=number - 1,
            )
        if checkpoint.key_id != verifier.key_id:
            return AnchorCheck(
                False,
                f"{name} is signed by key {checkpoint.key_id}, not by the key given "
                f"({verifier.key_id})",
                checkpoint_seq=seq,
                checkpoints=number - 1,
            )
        if not verifier.signed(checkpoint):
            return AnchorCheck(
                False,
                f"{name} claims key {checkpoint.key_id} but its signature does not verify: "
                "a forged or altered checkpoint",
                checkpoint_seq=seq,
                checkpoints=number - 1,
            )
        if seq > len(records):
            last = f"its last record is seq {len(records)}" if records else "it has no records"
            return AnchorCheck(
                False,
                f"{name} is beyond the end of the trail ({last}): records were removed from "
                "its end",
                first_bad_seq=len(records) + 1,
                checkpoint_seq=seq,
                checkpoints=number - 1,
            )
        record = records[seq - 1]
        if record.hash != checkpoint.hash:
            where = (
                f"between seq {good + 1} and seq {seq} (the checkpoint at seq {good} still matches)"
                if good
                else f"at or before seq {seq}"
            )
            return AnchorCheck(
                False,
                f"{name} no longer matches the trail: record seq {seq} has hash "
                f"{_short(str(record.hash))}, the checkpoint signed {_short(checkpoint.hash)}; "
                f"the trail was rewritten {where}",
                first_bad_seq=seq,
                checkpoint_seq=seq,
                checkpoints=number - 1,
            )
        good = seq
    return AnchorCheck(
        True,
        checkpoints=len(checkpoints),
        covered_through=good,
        uncovered=len(records) - good,
    )
