"""
Signed checkpoints of an audit trail: an operator's Ed25519 key signs (seq, head hash, time,
key id), so a trail rewritten and rehashed by someone without the private key no longer
matches what was signed.

A checkpoint's stored and exported form is one canonical JSON line (`checkpoint_json`):

    {"hash":H,"key_id":K,"seq":N,"signature":S,"ts":T,"v":"execfsm-checkpoint/1"}

and the bytes signed are that line without ``signature`` (`signed_bytes`), as the canonical
encoder writes it: ``{"hash":H,"key_id":K,"seq":N,"ts":T,"v":"execfsm-checkpoint/1"}``.
``H`` is the hash of record ``N``, ``T`` the ISO 8601 time the store's clock gave, ``K`` the
first 16 hex digits of the sha256 of the raw 32-byte public key, ``S`` the 64-byte Ed25519
signature in hex. The version tag keeps these bytes from ever meaning anything else.

Keys are PEM files the operator provides: PKCS#8 private key to sign, SubjectPublicKeyInfo
public key to verify. Nothing here generates a key unless asked (`write_key_pair`) or reads
one from the environment.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Sequence
from pathlib import Path

import attrs
import msgspec
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from execfsm._new_files import NewFile, NewFileError, write_new_files
from execfsm.errors import AuditChainError, KeyFileError
from execfsm.fsm.audit import AuditRecord
from execfsm.ids import encode_fixed

CHECKPOINT_VERSION = "execfsm-checkpoint/1"
"""The tag every checkpoint carries and signs."""

SIDECAR_SUFFIX = ".checkpoints"
"""An exported trail ``FILE``'s checkpoints travel beside it, in ``FILE.checkpoints``."""


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """
    One signed checkpoint: record `seq` of the trail had hash `hash` at time `ts`, says the
    holder of key `key_id`.
    """

    hash: str
    key_id: str
    seq: int
    signature: str
    ts: str
    v: str = CHECKPOINT_VERSION


def signed_bytes(checkpoint: Checkpoint) -> bytes:
    """
    The exact bytes the signature covers: the checkpoint's canonical JSON without
    ``signature``.
    """
    return encode_fixed(
        {
            "hash": checkpoint.hash,
            "key_id": checkpoint.key_id,
            "seq": checkpoint.seq,
            "ts": checkpoint.ts,
            "v": checkpoint.v,
        }
    )


def checkpoint_json(checkpoint: Checkpoint) -> str:
    """
    The canonical JSON line of a checkpoint, as the store and a sidecar file hold it.
    """
    return encode_fixed(checkpoint).decode()


_DECODER = msgspec.json.Decoder(Checkpoint)
_HEX = frozenset("0123456789abcdef")


def _hex(text: str, length: int) -> bool:
    return len(text) == length and set(text) <= _HEX


def checkpoint_from_line(text: str, *, where: str) -> Checkpoint:
    """
    A checkpoint from its line, which must be byte for byte the line execfsm writes: any
    other form, a field missing, or a value of the wrong shape is an `AuditChainError`
    naming `where`.
    """
    try:
        checkpoint = _DECODER.decode(text)
    except (msgspec.DecodeError, ValueError, RecursionError) as exc:
        raise AuditChainError(f"{where}: not a checkpoint ({exc})", seq=-1) from None
    seq = checkpoint.seq
    problem = ""
    if checkpoint.v != CHECKPOINT_VERSION:
        problem = f"unknown version {checkpoint.v!r}"
    elif type(seq) is not int or seq < 1:
        problem = f"seq must be a positive integer, got {seq!r}"
    elif not _hex(checkpoint.hash, 64):
        problem = "hash is not 64 hex digits"
    elif not _hex(checkpoint.key_id, 16):
        problem = "key_id is not 16 hex digits"
    elif not _hex(checkpoint.signature, 128):
        problem = "signature is not 128 hex digits"
    elif checkpoint_json(checkpoint) != text:
        problem = "not in the form execfsm writes (one of each field, keys sorted, no spaces)"
    if problem:
        raise AuditChainError(f"{where}: {problem}", seq=seq if type(seq) is int else -1)
    return checkpoint


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """
    The short id of a public key: 16 hex digits of the sha256 of its raw 32 bytes.
    """
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


KEY_FILE_LIMIT = 64 * 1024
"""The most a key file is read of: a PEM Ed25519 key is a few hundred bytes, and a path to
a device (``/dev/zero``) or a huge file fails at once instead of filling memory."""


def _read_key_file(path: Path | str) -> tuple[bytes, int | None]:
    """
    The bytes of key file `path` (at most `KEY_FILE_LIMIT`), and its permission bits if it
    is a regular file (None for a pipe or a device).
    """
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            st = os.fstat(fd)
            chunks: list[bytes] = []
            size = 0
            while size <= KEY_FILE_LIMIT:
                chunk = os.read(fd, KEY_FILE_LIMIT + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        finally:
            os.close(fd)
    except OSError as exc:
        raise KeyFileError(
            f"key file {path}: cannot read: {exc.strerror or exc}", path=path
        ) from None
    if size > KEY_FILE_LIMIT:
        raise KeyFileError(
            f"key file {path}: larger than {KEY_FILE_LIMIT // 1024} KiB, so not a PEM key",
            path=path,
        )
    return b"".join(chunks), stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else None


_PUBLIC_PEM = b"-----BEGIN PUBLIC KEY-----"
_PRIVATE_PEM = b"PRIVATE KEY-----"


@attrs.frozen
class Signer:
    """
    An operator's private key, ready to sign checkpoints (`load_signer`).
    """

    private_key: Ed25519PrivateKey = attrs.field(repr=False)
    key_id: str

    @classmethod
    def from_key(cls, private_key: Ed25519PrivateKey) -> Signer:
        """
        A signer for `private_key`.
        """
        return cls(private_key, key_id_of(private_key.public_key()))

    def sign(self, seq: int, head_hash: str, ts: str) -> Checkpoint:
        """
        The checkpoint of record `seq` with hash `head_hash`, at time `ts`.
        """
        unsigned = Checkpoint(hash=head_hash, key_id=self.key_id, seq=seq, signature="", ts=ts)
        signature = self.private_key.sign(signed_bytes(unsigned)).hex()
        return msgspec.structs.replace(unsigned, signature=signature)

    def verifier(self) -> Verifier:
        """
        The verifier of this key's checkpoints.
        """
        return Verifier.from_key(self.private_key.public_key())


@attrs.frozen
class Verifier:
    """
    An operator's public key, ready to check checkpoints (`load_verifier`).
    """

    public_key: Ed25519PublicKey = attrs.field(repr=False)
    key_id: str

    @classmethod
    def from_key(cls, public_key: Ed25519PublicKey) -> Verifier:
        """
        A verifier for `public_key`.
        """
        return cls(public_key, key_id_of(public_key))

    def signed(self, checkpoint: Checkpoint) -> bool:
        """
        Whether this key made `checkpoint`'s signature over its other fields.
        """
        try:
            self.public_key.verify(bytes.fromhex(checkpoint.signature), signed_bytes(checkpoint))
        except (InvalidSignature, ValueError):
            return False
        return True


def first_mismatch(
    records: Sequence[AuditRecord],
    checkpoints: Sequence[Checkpoint],
    verifier: Verifier | None = None,
) -> str | None:
    """
    What is wrong with the first checkpoint that repeats or goes back, lies beyond the end of
    `records`, signed another hash than its record has, or (made by `verifier`'s key) does
    not verify; None when none is. Checkpoints of another key are matched, not verified.
    """
    last = 0
    for checkpoint in checkpoints:
        seq = checkpoint.seq
        if seq <= last:
            return f"checkpoint at seq {seq} repeats or goes back from seq {last}"
        if seq > len(records):
            return (
                f"checkpoint at seq {seq} is beyond the end of the trail (its last record is "
                f"seq {len(records)}): records were removed"
            )
        if records[seq - 1].hash != checkpoint.hash:
            return (
                f"checkpoint at seq {seq} no longer matches audit record seq {seq}: the trail "
                "was rewritten after it was checkpointed"
            )
        if (
            verifier is not None
            and checkpoint.key_id == verifier.key_id
            and not verifier.signed(checkpoint)
        ):
            return f"checkpoint at seq {seq}: its signature does not verify (forged or altered)"
        last = seq
    return None


def load_signer(path: Path | str) -> Signer:
    """
    The Ed25519 private key in PEM file `path` (unencrypted PKCS#8).

    Raises:
        KeyFileError: Unreadable, larger than `KEY_FILE_LIMIT`, not a PEM private key (a
            public key, say), encrypted, not Ed25519, or (a regular file) readable or
            writable by group or others, as ssh refuses such a key.
    """
    data, mode = _read_key_file(path)
    if _PUBLIC_PEM in data:
        raise KeyFileError(
            f"key file {path}: is a public key; signing needs the operator's private key",
            path=path,
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise KeyFileError(
            f"key file {path}: is encrypted; give an unencrypted PKCS#8 Ed25519 key", path=path
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFileError(
            f"key file {path}: not a PEM private key (expected an Ed25519 PKCS#8 key, "
            "'-----BEGIN PRIVATE KEY-----')",
            path=path,
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(
            f"key file {path}: not an Ed25519 key (it holds {type(key).__name__.lstrip('_')})",
            path=path,
        )
    if mode is not None and os.name == "posix" and mode & 0o077:
        raise KeyFileError(
            f"key file {path}: mode {mode:04o} lets others read the private key; it must be "
            f"readable by its owner only (chmod 600 {path})",
            path=path,
        )
    return Signer.from_key(key)


def load_verifier(path: Path | str) -> Verifier:
    """
    The Ed25519 public key in PEM file `path`.

    Raises:
        KeyFileError: Unreadable, larger than `KEY_FILE_LIMIT`, not a PEM public key (a
            private key is refused: verifiers need only the public half), or not Ed25519.
    """
    data, _ = _read_key_file(path)
    if _PRIVATE_PEM in data and _PUBLIC_PEM not in data:
        raise KeyFileError(
            f"key file {path}: is a private key; give the public key to verify (keep the "
            "private key with the operator)",
            path=path,
        )
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFileError(
            f"key file {path}: not a PEM public key (expected '-----BEGIN PUBLIC KEY-----')",
            path=path,
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(
            f"key file {path}: not an Ed25519 key (it holds {type(key).__name__.lstrip('_')})",
            path=path,
        )
    return Verifier.from_key(key)


def write_key_pair(out_dir: Path, name: str = "execfsm-signing") -> tuple[Path, Path, str]:
    """
    Generate a key pair into `out_dir`: ``NAME.pem`` (private, mode 0600) and
    ``NAME.pub.pem``; an existing file of either name is never overwritten.

    Both are written whole or neither: each to a temporary file in `out_dir`, then linked
    into place (which never replaces anything), and on any failure (a full disk, a folder
    where files cannot be created) whatever was written is removed, so keygen can run again.

    Returns:
        The private key's path, the public key's path and the key id.

    Raises:
        KeyFileError: `out_dir` is not a directory, something is already at either path
            (a symlink too), or a file cannot be written; naming the file.
    """
    if not out_dir.is_dir():
        raise KeyFileError(f"key directory {out_dir}: not a directory", path=out_dir)
    private_path, public_path = out_dir / f"{name}.pem", out_dir / f"{name}.pub.pem"
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        write_new_files(
            [
                NewFile(private_path, private_pem, 0o600, exact=True),
                NewFile(public_path, public_pem, 0o644, exact=True),
            ]
        )
    except NewFileError as exc:
        raise KeyFileError(f"key file {exc.path}: {exc.problem}", path=exc.path) from None
    return private_path, public_path, key_id_of(key.public_key())
