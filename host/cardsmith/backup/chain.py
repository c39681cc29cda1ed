"""The backup store on disk and its chains: finding, loading, verifying and importing backups, no card needed.

A chain is one full backup and the differentials built on it, each naming the previous one by its chain hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..core import paths
from ..core.errors import BadDataError, UsageError
from ..core.fileio import atomic_write
from .catalogue import Catalogue, Entry, SqliteCatalogue
from .fileformat import DIFF, FULL, BackupBlob, Header, open_backup

MAX_CHAIN = 100000


def utc_now() -> str:
    """A catalogue timestamp: ISO 8601 UTC, whole seconds (the card has no clock)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def default_dir() -> Path:
    return paths.home() / "backups"


def open_catalogue(directory: Path | None = None) -> SqliteCatalogue:
    """The catalogue of a backup folder (default: $CARDSMITH_HOME/backups)."""
    return SqliteCatalogue((directory or default_dir()) / "catalogue.sqlite")


def store_path(directory: Path, header: Header) -> Path:
    """Where the store keeps a backup's file: <card id>/<sequence>-<type>.csb."""
    return directory / header.card_id.hex().upper() / f"{header.seq:08d}-{header.type_name}.csb"


def load(entry: Entry, *, check_digest: bool = False) -> BackupBlob:
    """The backup file of a catalogue entry. With ``check_digest``, a file changed since it was catalogued
    is refused here (otherwise the card refuses it at restore)."""
    try:
        data = Path(entry.path).read_bytes()
    except OSError as exc:
        raise BadDataError(f"backup {entry.backup_id}: its file {entry.path} cannot be read ({exc.strerror})") from exc
    if check_digest and hashlib.sha256(data).hexdigest() != entry.digest:
        raise BadDataError(f"backup {entry.backup_id}: the file {entry.path} differs from what was catalogued "
                           "(damaged or tampered with); export a good copy from another station and import it")
    return BackupBlob.decode(data)


def find(catalogue: Catalogue, backup_id: str) -> Entry:
    card_hex, _, seq = backup_id.rpartition("-")
    entry = catalogue.get(card_hex.upper(), int(seq)) if seq.isdigit() else None
    if entry is None:
        raise UsageError(f"no backup {backup_id!r} in the catalogue; `cardsmith backups list` shows them")
    return entry


def latest(catalogue: Catalogue, card_hex: str) -> Entry:
    done = [e for e in catalogue.entries(card_hex) if e.state == "complete"]
    if not done:
        raise UsageError(f"the catalogue holds no completed backup of card {card_hex}")
    return done[-1]


def chain_for(catalogue: Catalogue, entry: Entry) -> list[Entry]:
    """The full backup and the differentials leading to ``entry``, oldest first."""
    chain = [entry]
    while chain[0].type == "diff":
        prev = catalogue.by_hash(chain[0].prev_hash)
        if prev is None or prev.card_id != chain[0].card_id:
            raise BadDataError(f"broken chain: differential {chain[0].backup_id} builds on a backup the catalogue "
                               f"does not hold (hash {chain[0].prev_hash[:16]}...); import it with "
                               "`cardsmith backups import`, or restore an earlier full backup")
        if prev.state != "complete":
            raise BadDataError(f"broken chain: {chain[0].backup_id} builds on {prev.backup_id}, which is {prev.state}")
        chain.insert(0, prev)
        if len(chain) > MAX_CHAIN:
            raise BadDataError("the chain loops")
    return chain


def check_links(blobs: list[BackupBlob]) -> None:
    """A full backup first, then differentials each naming the one before it."""
    if not blobs or blobs[0].header.type != FULL:
        raise BadDataError("a restore starts from a full backup")
    for prev, nxt in zip(blobs, blobs[1:], strict=False):
        if nxt.header.type != DIFF or nxt.header.prev_hash != prev.chain_hash:
            raise BadDataError(f"broken chain: {nxt.backup_id} does not follow {prev.backup_id}")


def restore_target(catalogue: Catalogue, card_hex: str, backup_id: str | None = None, *, onto_new: bool = False,
                   from_card: str | None = None) -> list[BackupBlob]:
    """The chain a restore onto card ``card_hex`` sends: up to ``backup_id``, or the latest backup of the
    card itself (or, onto a replacement, of ``from_card``, the lost card)."""
    if backup_id:
        target = find(catalogue, backup_id)
    else:
        if onto_new and not from_card:
            raise UsageError("--onto-new-card --latest needs --from-card ID (the lost card's id; "
                             "`cardsmith backups list` shows the cards)")
        target = latest(catalogue, (from_card or card_hex).upper())
    # every file checked against its catalogued digest before anything is sent: a changed file is bad data
    # here, not a card refusal half way through
    return [load(e, check_digest=True) for e in chain_for(catalogue, target)]


@dataclass(frozen=True)
class Verification:
    chain: list[str]
    macs_checked: bool

    def as_json(self) -> dict:
        return {"ok": True, "chain": self.chain, "macs_checked": self.macs_checked}


def verify(catalogue: Catalogue, backup_id: str, common_key: bytes | None = None) -> Verification:
    """Checks a backup and its chain without a card: the files against the catalogue, the structure and the
    chain links, and with the family's common key (issuer only) every MAC."""
    chain = chain_for(catalogue, find(catalogue, backup_id))
    blobs = [load(e, check_digest=True) for e in chain]
    for e, b in zip(chain, blobs, strict=True):
        if b.chain_hash.hex() != e.hash:
            raise BadDataError(f"backup {e.backup_id}: the file's chain hash differs from the catalogue's")
    check_links(blobs)
    if common_key is not None:
        for b in blobs:
            open_backup(b, common_key)
    return Verification([b.backup_id for b in blobs], common_key is not None)


def export(catalogue: Catalogue, backup_id: str, file: Path) -> Entry:
    """Copies a backup file out of the store (it stays encrypted)."""
    entry = find(catalogue, backup_id)
    atomic_write(file, load(entry).encode())
    return entry


def import_file(catalogue: Catalogue, directory: Path, source: Path) -> Entry:
    """Copies a backup file into the store and catalogues it as ``complete`` (the card checks it at restore).
    The same file again changes nothing; a file that clashes with a catalogued backup (same card and
    sequence, or same chain hash, but other bytes: a header altered in its clear fields keeps its chain
    hash) is refused before anything is written, and the catalogued one stays."""
    try:
        raw = Path(source).read_bytes()
    except OSError as exc:
        raise BadDataError(f"{source}: cannot read ({exc.strerror})") from exc
    return import_bytes(catalogue, directory, raw, str(source))


def import_bytes(catalogue: Catalogue, directory: Path, raw: bytes, source: str) -> Entry:
    """:func:`import_file` of a file's bytes (``source`` names where they came from, for messages)."""
    blob = BackupBlob.decode(raw)
    h = blob.header
    card_hex, digest, chain_hash = h.card_id.hex().upper(), hashlib.sha256(raw).hexdigest(), blob.chain_hash.hex()
    for held in (catalogue.get(card_hex, h.seq), catalogue.by_hash(chain_hash)):
        if held is None:
            continue
        if held.digest == digest and (held.card_id, held.seq) == (card_hex, h.seq):
            return held  # imported already
        raise BadDataError(f"{source}: the catalogue already holds backup {held.backup_id} with the same "
                           f"{'sequence number' if (held.card_id, held.seq) == (card_hex, h.seq) else 'chain hash'} "
                           "and other bytes: this file is altered or damaged; nothing was changed, the catalogued "
                           "backup stays")
    path = store_path(directory, h)
    atomic_write(path, raw)
    entry = Entry(card_hex, h.seq, utc_now(), h.type_name, h.key_version, h.prev_hash.hex(), chain_hash,
                  len(blob.pages), len(blob.records), len(raw), digest, str(path), "complete")
    catalogue.add(entry)
    return entry
