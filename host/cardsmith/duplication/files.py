"""Files encrypted to a card (docs/duplication.md, "file format").

A random 32-byte data key per file seals the content (``crypto.aead_seal``); the data key travels in an
ECIES envelope to the card's public key. The content is bound to the data key's check value, not to the
envelope, so recovery and sharing swap the envelope (inside the cards) without touching the content.

    "CSEF" | version 1 | KCV (8) | envelope length (2) | envelope | IV | ciphertext | tag
    content AEAD header = the first 13 bytes ("CSEF" | version | KCV)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..core import crypto
from ..core.errors import BadDataError, CardNotReadyError, IntegrityError, UsageError
from ..core.fileio import atomic_write, durable_rename
from .session import DuplicationSession

MAGIC = b"CSEF"
VERSION = 1
PREFIX = 13
NEW_SUFFIX = ".cardsmith-new"
SUFFIX = ".csef"


@dataclass(frozen=True)
class CardFile:
    kcv: bytes
    envelope: bytes
    content: bytes  # header (13 bytes) || IV || ciphertext || tag

    @property
    def key_id(self) -> bytes:
        return crypto.envelope_key_id(self.envelope)

    def encode(self) -> bytes:
        return self.content[:PREFIX] + len(self.envelope).to_bytes(2, "big") + self.envelope + self.content[PREFIX:]

    @classmethod
    def parse(cls, data: bytes, name: str = "file") -> CardFile:
        if len(data) < PREFIX + 2 or data[:4] != MAGIC:
            raise BadDataError(f"{name} is not a cardsmith encrypted file (no CSEF header)")
        if data[4] != VERSION:
            raise BadDataError(f"{name} has format version {data[4]}, this cardsmith reads version {VERSION}")
        env_len = int.from_bytes(data[PREFIX:PREFIX + 2], "big")
        envelope = data[PREFIX + 2:PREFIX + 2 + env_len]
        if len(envelope) != env_len:
            raise BadDataError(f"{name} is truncated (envelope cut short)")
        return cls(data[5:PREFIX], envelope, data[:PREFIX] + data[PREFIX + 2 + env_len:])

    @classmethod
    def read(cls, path: Path) -> CardFile:
        return cls.parse(path.read_bytes(), str(path))


def encrypt_bytes(plaintext: bytes, recipient_point: bytes) -> bytes:
    data_key = os.urandom(32)
    kcv = crypto.kcv(data_key)
    header = MAGIC + bytes([VERSION]) + kcv
    content = crypto.aead_seal(data_key, header, plaintext)
    return CardFile(kcv, crypto.ecies_wrap(recipient_point, data_key), content).encode()


def open_with_key(cf: CardFile, data_key: bytes, name: str = "file") -> bytes:
    if not crypto.mac_equal(crypto.kcv(data_key), cf.kcv):
        raise BadDataError(f"{name}: the card returned a data key that does not match the file's check value")
    return crypto.aead_open(data_key, cf.content, PREFIX)


def decrypt_bytes(data: bytes, card: DuplicationSession, name: str = "file") -> bytes:
    cf = CardFile.parse(data, name)
    return open_with_key(cf, card.decrypt(cf.envelope), name)


def share_bytes(data: bytes, card: DuplicationSession, peer_point: bytes, name: str = "file") -> bytes:
    """The same file for a peer: the card re-wraps the data key to the peer's key (never in clear here)."""
    cf = CardFile.parse(data, name)
    return CardFile(cf.kcv, card.reencrypt(peer_point, cf.envelope), cf.content).encode()


@dataclass
class RecoveryReport:
    done: list[str]
    already: list[str]
    skipped: list[str]

    def as_json(self) -> dict:
        return {"recovered": self.done, "already_recovered": self.already, "skipped": self.skipped}


def recover(paths: Iterable[Path], backup: DuplicationSession, new_main: DuplicationSession,
            progress: Callable[[int, int, str], None] | None = None) -> RecoveryReport:
    """Moves files from the backup card's key to the new main card's key, in place.

    Per file: the backup card re-wraps the data key to the new card (inside the card); the replacement is
    written beside the original (``NAME.cardsmith-new``, fsync) and read back; the new card checks it can
    open it (DECRYPT check value = the file's KCV); only then it replaces the original (atomic rename).
    Resumable: a file already addressed to the new card is skipped, and a leftover ``.cardsmith-new`` is
    verified and used, or discarded.
    """
    new_point = new_main.public_key()
    new_id = crypto.key_id(new_point)
    backup_id = backup.status().key_id
    files = list(paths)
    report = RecoveryReport([], [], [])
    for n, path in enumerate(files, start=1):
        path = Path(path)
        if progress:
            progress(n, len(files), str(path))
        pending = path.with_name(path.name + NEW_SUFFIX)
        cf = CardFile.read(path)
        if cf.key_id == new_id:
            pending.unlink(missing_ok=True)
            report.already.append(str(path))
            continue
        if cf.key_id != backup_id:
            report.skipped.append(str(path))
            continue
        if pending.exists():
            try:
                if _verified(pending, cf, new_main, new_id):
                    durable_rename(pending, path)
                    report.done.append(str(path))
                    continue
            except BadDataError:
                pass
            pending.unlink()
        replacement = CardFile(cf.kcv, backup.reencrypt(new_point, cf.envelope), cf.content)
        atomic_write(pending, replacement.encode())
        if not _verified(pending, cf, new_main, new_id):
            pending.unlink()
            raise BadDataError(f"{path}: the new card cannot open the re-encrypted file; original kept")
        durable_rename(pending, path)
        report.done.append(str(path))
    return report


def _verified(pending: Path, original: CardFile, new_main: DuplicationSession, new_id: bytes) -> bool:
    """The replacement on disk is the original content, addressed to the new card, which can open it."""
    written = CardFile.read(pending)
    if written.content != original.content or written.kcv != original.kcv or written.key_id != new_id:
        return False
    return crypto.mac_equal(new_main.check_value(written.envelope), original.kcv)


# ---------------------------------------------------------------- files on disk, and how they are named


def encrypted_name(path: Path) -> Path:
    """NAME -> NAME.csef"""
    return path.with_name(path.name + SUFFIX)


def decrypted_name(path: Path) -> Path:
    """NAME.csef -> NAME; anything else -> NAME.plain (never over the encrypted file)."""
    return path.with_name(path.name.removesuffix(SUFFIX) if path.name.endswith(SUFFIX) else path.name + ".plain")


def shared_name(path: Path, peer_point: bytes) -> Path:
    """NAME -> NAME.peer-<the peer key's id>"""
    return path.with_name(f"{path.name}.peer-{crypto.key_id(peer_point).hex().upper()}")


def read_public_key(path: Path) -> bytes:
    """A card public key saved by `cardsmith key public -o` (the 65-byte uncompressed point)."""
    try:
        point = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the public key {path} ({exc.strerror})") from exc
    crypto.public_key_from_point(point)
    return point


def _beside_each(paths: Iterable[Path], name: Callable[[Path], Path], transform: Callable[[Path], bytes]) -> list[Path]:
    """Writes ``transform(path)`` beside each file under ``name(path)``, durably; returns what it wrote."""
    out = []
    for path in map(Path, paths):
        target = name(path)
        atomic_write(target, transform(path))
        out.append(target)
    return out


def encrypt_files(paths: Iterable[Path], recipient_point: bytes) -> list[Path]:
    """Encrypts each file to a card's public key, beside it as NAME.csef."""
    return _beside_each(paths, encrypted_name, lambda p: encrypt_bytes(p.read_bytes(), recipient_point))


def decrypt_files(paths: Iterable[Path], card: DuplicationSession) -> list[Path]:
    """Decrypts each NAME.csef with the card (PIN verified first), beside it as NAME. Every file is read and
    its key checked against the card's before the first is sent: a file for another card, or a damaged one,
    is named and nothing is written."""
    key_id = card.status().key_id
    files = [(p, CardFile.read(Path(p))) for p in paths]
    for p, cf in files:
        if key_id is None:
            raise CardNotReadyError("this card has no key pair: decrypt on the card the files were encrypted to "
                                    f"(key {cf.key_id.hex().upper()}) or on its backup card")
        if cf.key_id != key_id:
            raise UsageError(f"{p} is encrypted to key {cf.key_id.hex().upper()}, but this card holds key "
                             f"{key_id.hex().upper()}: use the card that holds it, or its backup card "
                             "(`cardsmith key status` shows a card's key id)")
    opened = {Path(p): cf for p, cf in files}

    def one(p: Path) -> bytes:
        cf = opened[p]
        try:
            data_key = card.decrypt(cf.envelope)
        except IntegrityError as exc:  # 6A80: the envelope does not open under the card's key
            raise BadDataError(f"{p}: the card cannot unwrap its data key: the file is damaged or was "
                               "tampered with (nothing written)") from exc
        return open_with_key(cf, data_key, str(p))

    return _beside_each(list(opened), decrypted_name, one)


def share_files(paths: Iterable[Path], card: DuplicationSession, peer_point: bytes) -> list[Path]:
    """Re-encrypts each file for a peer card inside this card, beside it as NAME.peer-KEYID."""
    crypto.public_key_from_point(peer_point)
    return _beside_each(paths, lambda p: shared_name(p, peer_point),
                        lambda p: share_bytes(p.read_bytes(), card, peer_point, str(p)))
