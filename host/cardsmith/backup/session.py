"""Backup and restore flows: the card sessions, the files, the catalogue, and the explanations.

Backup: BACKUP -> TRANSFER until the last record -> file written atomically -> catalogue commit ->
COMPLETE (only now does the card clear its dirty bits) -> catalogue says ``complete``.
Restore: per backup of the chain (full, then its differentials in order): RESTORE -> TRANSFER every record
(the card verifies) -> TRANSFER every record again (the card writes) -> COMPLETE.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import paths
from .backup_format import DIFF, FULL, BackupBlob, Header, Record
from .card import Card
from .catalogue import Catalogue, Entry, SqliteCatalogue
from .errors import (
    BadDataError,
    CardRefusedError,
    CardsmithError,
    IntegrityError,
    NotFoundError,
    ProtocolError,
    UsageError,
    WrongStateError,
)
from .fileio import atomic_write
from .protocol import CONST, TAG

Progress = Callable[[int, int], None]  # (done, total)
ZERO_HASH = "00" * 32


@dataclass(frozen=True)
class BackupState:
    """INFO_BACKUP from GET INFO."""

    card_id: bytes
    common_key: bool
    chain: bool
    restore_pending: bool
    session: bool
    key_version: int
    last_seq: int
    dirty_pages: int
    page_size: int
    page_count: int

    @property
    def card_hex(self) -> str:
        return self.card_id.hex().upper()


def backup_state(card: Card) -> BackupState:
    info = card.info()
    raw = info.raw.get(TAG["INFO_BACKUP"])
    if raw is None or len(raw) < 8:
        raise ProtocolError("this card's applet has no backup capability (GET INFO lacks INFO_BACKUP)")
    f = raw[0]
    return BackupState(info.card_id, bool(f & CONST["BACKUP_STATE_COMMON_KEY"]), bool(f & CONST["BACKUP_STATE_CHAIN"]),
                       bool(f & CONST["BACKUP_STATE_RESTORE_PENDING"]), bool(f & CONST["BACKUP_STATE_SESSION"]),
                       raw[1], int.from_bytes(raw[2:6], "big"), int.from_bytes(raw[6:8], "big"),
                       info.page_size, info.page_count)


def default_dir() -> Path:
    return paths.home() / "backups"


def open_catalogue(directory: Path | None = None) -> SqliteCatalogue:
    return SqliteCatalogue((directory or default_dir()) / "catalogue.sqlite")


def reconcile(catalogue: Catalogue, state: BackupState) -> None:
    """Settles ``stored`` entries of this card from its last completed sequence number."""
    for e in catalogue.entries(state.card_hex):
        if e.state == "stored":
            catalogue.set_state(e.card_id, e.seq, "complete" if e.seq == state.last_seq else "orphaned")


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def _abort_quietly(card: Card) -> None:
    try:
        card.call("END_SESSION", p1=2, expect_data=False)
    except CardsmithError:
        pass


def _explain(state: BackupState, kind: str) -> None:
    """Raises the UsageError that says why the card cannot start a ``kind`` backup now, if it cannot."""
    if not state.common_key:
        raise UsageError("this card has no card-common key (LOAD_COMMON_KEY at personalisation), so it cannot "
                         "wrap its backup key: personalise it first")
    if state.restore_pending:
        raise UsageError("a restore onto this card stopped half way: finish it first (`cardsmith restore` again), "
                         "or give it up with `cardsmith restore --discard-unfinished`")
    if kind == "diff":
        if not state.chain:
            raise UsageError("this card has no completed backup to build a differential on (none yet, or a restore "
                             "started a new chain): run `cardsmith backup --full`")
        if state.dirty_pages == 0:
            raise UsageError(f"nothing changed since backup {state.card_hex}-{state.last_seq}: "
                             "no differential needed")


def _begin(card: Card, catalogue: Catalogue, kind: str) -> Header:
    """BACKUP. With an explicit kind the card is asked straight away (one exchange less on the wire); GET INFO
    is read only to choose the kind, to explain a refusal, or to settle earlier unconfirmed backups."""
    state = None
    if kind == "auto":
        state = backup_state(card)
        kind = "diff" if state.chain else "full"
    p1 = FULL if kind == "full" else DIFF
    for attempt in range(2):
        if state is not None:
            _explain(state, kind)
            if state.session:
                _abort_quietly(card)  # a session left open by an interrupted command on this connection
        try:
            header = Header.parse(card.call("BACKUP", p1=p1, ne=512))
            break
        except (WrongStateError, NotFoundError):
            if attempt:
                raise
            state = backup_state(card)
    card_hex = header.card_id.hex().upper()
    if any(e.state == "stored" for e in catalogue.entries(card_hex)):
        reconcile(catalogue, state if state and not state.session else backup_state(card))
    return header


def backup(card: Card, catalogue: Catalogue, directory: Path, kind: str = "auto",
           progress: Progress | None = None) -> Entry:
    """Takes a backup (``full``, ``diff``, or ``auto``: differential when the card has a chain)."""
    header = _begin(card, catalogue, kind)
    records: list[Record] = []
    final = b""
    try:
        while True:
            raw = card.call("TRANSFER", ne=1024)
            n = raw[3] if len(raw) > 3 else 0
            body_len = 4 + 2 * n + 16 + n * header.page_size + 16
            record = Record.parse(raw[:body_len], header.page_size)
            records.append(record)
            if progress:
                progress(len(records), header.record_count)
            if record.last:
                final = raw[body_len:]
                break
            if len(records) > header.record_count:
                raise ProtocolError("the card sent more records than its header announced")
        blob = BackupBlob(header, tuple(records), final)
        blob.check_structure()
    except CardsmithError:
        _abort_quietly(card)
        raise
    data = blob.encode()
    path = directory / header.card_id.hex().upper() / f"{header.seq:08d}-{header.type_name}.csb"
    atomic_write(path, data)
    entry = Entry(header.card_id.hex().upper(), header.seq, _now(), header.type_name, header.key_version,
                  header.prev_hash.hex(), blob.chain_hash.hex(), len(blob.pages), len(records), len(data),
                  hashlib.sha256(data).hexdigest(), str(path), "stored")
    catalogue.add(entry)  # committed before the card may forget its dirty pages
    card.call("END_SESSION", p1=1, expect_data=False)
    catalogue.set_state(entry.card_id, entry.seq, "complete")
    return catalogue.get(entry.card_id, entry.seq) or entry


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
        if len(chain) > 100000:
            raise BadDataError("the chain loops")
    return chain


def _refusal(exc: CardRefusedError, message: str) -> IntegrityError:
    return IntegrityError(exc.sw, exc.command, message)


def restore_blob(card: Card, blob: BackupBlob, *, onto_new: bool = False, progress: Progress | None = None,
                 state: BackupState | None = None) -> None:
    """Restores one backup (a full one, or a differential on top of what was restored last)."""
    state = state or backup_state(card)
    h = blob.header
    src = h.card_id.hex().upper()
    if onto_new and h.card_id == state.card_id:
        onto_new = False  # the source card itself
    if not onto_new and h.card_id != state.card_id:
        raise UsageError(f"this backup belongs to card {src}; the card in the reader is {state.card_hex}; "
                         "use --onto-new-card to restore onto a replacement")
    if (h.page_size, h.page_count) != (state.page_size, state.page_count):
        raise UsageError(f"backup {blob.backup_id} is of a {h.page_count} x {h.page_size}-byte data area; this card "
                         f"has {state.page_count} x {state.page_size}: restore onto a card installed like the source")
    if onto_new and (not state.common_key or state.key_version != h.key_version):
        raise UsageError(f"the card in the reader is not of the source card's family: the backup's key is wrapped "
                         f"under common key version {h.key_version}, this card holds "
                         f"{state.key_version if state.common_key else 'none'}")
    data = (state.card_id + h.raw) if onto_new else h.raw
    try:
        card.call("RESTORE", p1=1 if onto_new else 0, data=data, expect_data=False)
    except IntegrityError as exc:
        why = ("the card could not unwrap the source card's key or the header failed its MAC: this card is not "
               "of the source card's family, or the backup file was tampered with" if onto_new else
               "the backup header failed the card's check (MAC, card id, geometry or region layout): the file was "
               "tampered with, or the card's regions differ from the backup's")
        raise _refusal(exc, f"restore of {blob.backup_id} refused: {why}; the card is unchanged") from exc
    payloads = blob.transfer_payloads()
    total = 2 * len(payloads)
    expected = [CONST["RESTORE_STEP_MORE"]] * (len(payloads) - 1)
    try:
        for phase, last_step in ((0, CONST["RESTORE_STEP_VERIFIED"]), (1, CONST["RESTORE_STEP_APPLIED"])):
            for i, payload in enumerate(payloads):
                try:
                    step = card.call("TRANSFER", data=payload, ne=1)
                except IntegrityError as exc:
                    last = i == len(payloads) - 1
                    why = (f"record {i} failed the card's check (MAC, order, page index or final MAC)"
                           + (", or this differential does not follow the backup restored last (broken chain: "
                              "restore the chain from its full backup)" if last and phase == 0 else ""))
                    changed = "the card is unchanged" if phase == 0 else "the card keeps its restore unfinished"
                    raise _refusal(exc, f"restore of {blob.backup_id} refused: {why}; {changed}") from exc
                want = (expected + [last_step])[i]
                if step != bytes([want]):
                    raise ProtocolError(f"the card answered {step.hex()} to record {i}, expected {want:02X}")
                if progress:
                    progress(phase * len(payloads) + i + 1, total)
        card.call("END_SESSION", p1=1, expect_data=False)
    except CardRefusedError:
        raise
    except ProtocolError:
        _abort_quietly(card)
        raise


def restore_chain(card: Card, blobs: list[BackupBlob], *, onto_new: bool = False,
                  progress: Progress | None = None) -> None:
    """Restores a full backup and its differentials in order, in one go."""
    if not blobs or blobs[0].header.type != FULL:
        raise BadDataError("a restore starts from a full backup")
    for prev, nxt in zip(blobs, blobs[1:], strict=False):
        if nxt.header.type != DIFF or nxt.header.prev_hash != prev.chain_hash:
            raise BadDataError(f"broken chain: {nxt.backup_id} does not follow {prev.backup_id}")
    state = backup_state(card)
    if state.session:
        _abort_quietly(card)
    for i, blob in enumerate(blobs):
        restore_blob(card, blob, onto_new=onto_new, state=state,
                     progress=(lambda d, t, i=i: progress(i * 1000 + d * 1000 // t, len(blobs) * 1000))
                     if progress else None)


def discard_unfinished(card: Card) -> None:
    """Gives up a restore that stopped half way: the regions it touched are zeroed, the card usable again."""
    card.call("END_SESSION", p1=3, expect_data=False)


def verify_chain_links(blobs: list[BackupBlob]) -> None:
    for prev, nxt in zip(blobs, blobs[1:], strict=False):
        if nxt.header.prev_hash != prev.chain_hash:
            raise BadDataError(f"broken chain: {nxt.backup_id} does not follow {prev.backup_id}")



def import_file(catalogue: Catalogue, directory: Path, source: Path) -> Entry:
    """Copies a backup file into the store and catalogues it as ``complete`` (the card checks it at restore)."""
    try:
        raw = Path(source).read_bytes()
    except OSError as exc:
        raise BadDataError(f"{source}: cannot read ({exc.strerror})") from exc
    blob = BackupBlob.decode(raw)
    h = blob.header
    existing = catalogue.get(h.card_id.hex().upper(), h.seq)
    if existing and existing.hash != blob.chain_hash.hex():
        raise BadDataError(f"{source}: the catalogue already holds a different backup {blob.backup_id}")
    path = directory / h.card_id.hex().upper() / f"{h.seq:08d}-{h.type_name}.csb"
    atomic_write(path, raw)
    entry = Entry(h.card_id.hex().upper(), h.seq, _now(), h.type_name, h.key_version, h.prev_hash.hex(),
                  blob.chain_hash.hex(), len(blob.pages), len(blob.records), len(raw),
                  hashlib.sha256(raw).hexdigest(), str(path), "complete")
    catalogue.add(entry)
    return entry
