"""The backup capability's card session (applet class Backup): state, backup, restore, the family key.

Backup: BACKUP -> TRANSFER until the last record -> file written atomically -> catalogue commit ->
COMPLETE (only now does the card clear its dirty bits) -> catalogue says ``complete``.
Restore: per backup of the chain (full, then its differentials in order): RESTORE -> TRANSFER every record
(the card verifies) -> TRANSFER every record again (the card writes) -> COMPLETE.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..core.card import Card, explain_refusal
from ..core.errors import (
    CardNotReadyError,
    CardRefusedError,
    CardsmithError,
    IntegrityError,
    NotFoundError,
    ProtocolError,
    UsageError,
    WrongStateError,
)
from ..core.fileio import atomic_write
from ..protocol.codes import (
    BACKUP_STATE_CHAIN,
    BACKUP_STATE_COMMON_KEY,
    BACKUP_STATE_RESTORE_PENDING,
    BACKUP_STATE_SESSION,
    COMMON_KEY_LENGTH,
    RESTORE_STEP_APPLIED,
    RESTORE_STEP_MORE,
    RESTORE_STEP_VERIFIED,
    Ins,
    Tag,
)
from .catalogue import Catalogue, Entry
from .chain import chain_for, check_links, store_path, utc_now
from .fileformat import DIFF, FULL, BackupBlob, Header, Record

Progress = Callable[[int, int], None]  # (done, total)
Notify = Callable[[str], None]  # a sentence for the technician

END_COMPLETE, END_ABORT, END_DISCARD = 1, 2, 3  # END_SESSION P1


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

    def as_json(self) -> dict:
        return {"card_id": self.card_hex, "common_key_version": self.key_version if self.common_key else None,
                "last_backup": f"{self.card_hex}-{self.last_seq}" if self.last_seq else None, "chain": self.chain,
                "dirty_pages": self.dirty_pages, "restore_unfinished": self.restore_pending,
                "session_open": self.session}


def _refusal(exc: CardRefusedError, message: str) -> IntegrityError:
    return IntegrityError(exc.sw, exc.command, message)


class BackupSession:
    """The backup and restore commands of one card."""

    def __init__(self, card: Card) -> None:
        self.card = card

    # ---------------------------------------------------------------- state and personalisation

    def state(self) -> BackupState:
        info = self.card.info()
        raw = info.raw.get(Tag.INFO_BACKUP)
        if raw is None or len(raw) < 8:
            raise ProtocolError("this card's applet has no backup capability (GET INFO lacks INFO_BACKUP)")
        f = raw[0]
        return BackupState(info.card_id, bool(f & BACKUP_STATE_COMMON_KEY), bool(f & BACKUP_STATE_CHAIN),
                           bool(f & BACKUP_STATE_RESTORE_PENDING), bool(f & BACKUP_STATE_SESSION),
                           raw[1], int.from_bytes(raw[2:6], "big"), int.from_bytes(raw[6:8], "big"),
                           info.page_size, info.page_count)

    def load_common_key(self, version: int, key: bytes) -> None:
        """LOAD_COMMON_KEY (personalisation only): the family key that wraps the card-unique backup key."""
        if len(key) != COMMON_KEY_LENGTH or not 1 <= version <= 0xFF:
            raise UsageError(f"the common key is {COMMON_KEY_LENGTH} bytes with a version 1..255")
        try:
            self.card.call(Ins.LOAD_COMMON_KEY, data=bytes([version]) + key, sensitive=True, expect_data=False)
        except CardRefusedError as exc:
            raise explain_refusal(self.card, exc, "loading the family key") from exc

    def reconcile(self, catalogue: Catalogue, state: BackupState | None = None) -> None:
        """Settles ``stored`` entries of this card from its last completed sequence number."""
        state = state or self.state()
        for e in catalogue.entries(state.card_hex):
            if e.state == "stored":
                catalogue.set_state(e.card_id, e.seq, "complete" if e.seq == state.last_seq else "orphaned")

    def _end(self, how: int) -> None:
        self.card.call(Ins.END_SESSION, p1=how, expect_data=False)

    def _abort_quietly(self) -> None:
        try:
            self._end(END_ABORT)
        except CardsmithError:
            pass

    # ---------------------------------------------------------------- backup

    @staticmethod
    def _explain(state: BackupState, kind: str) -> None:
        """Raises the UsageError that says why the card cannot start a ``kind`` backup now, if it cannot."""
        if not state.common_key:
            raise CardNotReadyError(
                "this card has no family (card-common) key, so it cannot wrap its backup key: load it while the "
                "card is INSTALLED with `cardsmith data load-common-key --version N` (key from --key-file or "
                "CARDSMITH_COMMON_KEY)")
        if state.restore_pending:
            raise UsageError("a restore onto this card stopped half way: finish it first (`cardsmith restore` "
                             "again), or give it up with `cardsmith restore --discard-unfinished`")
        if kind == "diff":
            if not state.chain:
                raise UsageError("this card has no completed backup to build a differential on (none yet, or a "
                                 "restore started a new chain): run `cardsmith backup --full`")
            if state.dirty_pages == 0:
                raise UsageError(f"nothing changed since backup {state.card_hex}-{state.last_seq}: "
                                 "no differential needed")

    @staticmethod
    def holds_last(catalogue: Catalogue, state: BackupState) -> bool:
        """Whether the catalogue holds the card's last completed backup with its whole chain: only then does a
        differential on it restore from this catalogue."""
        last = catalogue.get(state.card_hex, state.last_seq)
        if last is None or last.state == "orphaned":
            return False
        try:
            chain_for(catalogue, last)
        except CardsmithError:
            return False
        return True

    def _begin(self, catalogue: Catalogue, kind: str, notify: Notify | None) -> Header:
        """BACKUP. With an explicit kind the card is asked straight away (one exchange less on the wire); GET
        INFO is read only to choose the kind, to explain a refusal, or to settle earlier unconfirmed backups.
        ``auto`` takes a full backup when the catalogue lacks the card's last one (taken at another station):
        a differential on it would be an orphan this catalogue cannot restore."""
        state = None
        if kind == "auto":
            state = self.state()
            kind = "diff" if state.chain else "full"
            if kind == "diff" and not self.holds_last(catalogue, state):
                kind = "full"
                if notify:
                    notify(f"the catalogue lacks this card's last backup {state.card_hex}-{state.last_seq} (taken at "
                           "another station?): taking a full backup, so that this catalogue restores it")
        p1 = FULL if kind == "full" else DIFF
        for attempt in range(2):
            if state is not None:
                self._explain(state, kind)
                if state.session:
                    self._abort_quietly()  # a session left open by an interrupted command on this connection
            try:
                header = Header.parse(self.card.call(Ins.BACKUP, p1=p1, ne=512))
                break
            except (WrongStateError, NotFoundError):
                if attempt:
                    raise
                state = self.state()
        card_hex = header.card_id.hex().upper()
        if header.type == DIFF:
            prev = catalogue.by_hash(header.prev_hash.hex())
            if prev is None or prev.card_id != card_hex or prev.state == "orphaned":
                self._abort_quietly()
                raise UsageError("the catalogue lacks the backup this card's differential would build on (its last, "
                                 "taken at another station?): run `cardsmith backup --full`, or import that backup "
                                 "first; nothing was taken")
        if any(e.state == "stored" for e in catalogue.entries(card_hex)):
            self.reconcile(catalogue, state if state and not state.session else None)
        return header

    def _receive(self, header: Header, progress: Progress | None) -> BackupBlob:
        records: list[Record] = []
        while True:
            raw = self.card.call(Ins.TRANSFER, ne=1024)
            n = raw[3] if len(raw) > 3 else 0
            body_len = 4 + 2 * n + 16 + n * header.page_size + 16
            record = Record.parse(raw[:body_len], header.page_size)
            records.append(record)
            if progress:
                progress(len(records), header.record_count)
            if record.last:
                blob = BackupBlob(header, tuple(records), raw[body_len:])
                blob.check_structure()
                return blob
            if len(records) > header.record_count:
                raise ProtocolError("the card sent more records than its header announced")

    def backup(self, catalogue: Catalogue, directory: Path, kind: str = "auto",
               progress: Progress | None = None, notify: Notify | None = None) -> Entry:
        """Takes a backup (``full``, ``diff``, or ``auto``: differential when the card has a chain and the
        catalogue holds its last backup; ``notify`` hears why it took a full one instead)."""
        header = self._begin(catalogue, kind, notify)
        try:
            blob = self._receive(header, progress)
        except CardsmithError:
            self._abort_quietly()
            raise
        data = blob.encode()
        path = store_path(directory, header)
        atomic_write(path, data)
        entry = Entry(header.card_id.hex().upper(), header.seq, utc_now(), header.type_name, header.key_version,
                      header.prev_hash.hex(), blob.chain_hash.hex(), len(blob.pages), len(blob.records), len(data),
                      hashlib.sha256(data).hexdigest(), str(path), "stored")
        catalogue.add(entry)  # committed before the card may forget its dirty pages
        self._end(END_COMPLETE)
        catalogue.set_state(entry.card_id, entry.seq, "complete")
        return catalogue.get(entry.card_id, entry.seq) or entry

    # ---------------------------------------------------------------- restore

    def _open_restore(self, blob: BackupBlob, state: BackupState, onto_new: bool) -> bool:
        """RESTORE: checks what the host can check first; returns whether it restores onto another card."""
        h = blob.header
        if onto_new and h.card_id == state.card_id:
            onto_new = False  # the source card itself
        if not onto_new and h.card_id != state.card_id:
            raise UsageError(f"this backup belongs to card {h.card_id.hex().upper()}; the card in the reader is "
                             f"{state.card_hex}; use --onto-new-card to restore onto a replacement")
        if (h.page_size, h.page_count) != (state.page_size, state.page_count):
            raise UsageError(f"backup {blob.backup_id} is of a {h.page_count} x {h.page_size}-byte data area; this "
                             f"card has {state.page_count} x {state.page_size}: restore onto a card installed like "
                             "the source")
        if onto_new and (not state.common_key or state.key_version != h.key_version):
            raise UsageError(f"the card in the reader is not of the source card's family: the backup's key is "
                             f"wrapped under common key version {h.key_version}, this card holds "
                             f"{state.key_version if state.common_key else 'none'}")
        data = (state.card_id + h.raw) if onto_new else h.raw
        try:
            self.card.call(Ins.RESTORE, p1=1 if onto_new else 0, data=data, expect_data=False)
        except IntegrityError as exc:
            why = ("the card could not unwrap the source card's key or the header failed its MAC: this card is "
                   "not of the source card's family, or the backup file was tampered with" if onto_new else
                   "the backup header failed the card's check (MAC, card id, geometry or region layout): the file "
                   "was tampered with, or the card's regions differ from the backup's")
            raise _refusal(exc, f"restore of {blob.backup_id} refused: {why}; the card is unchanged") from exc
        return onto_new

    def _transfer_records(self, blob: BackupBlob, progress: Progress | None) -> None:
        """Both restore passes: every record to verify, then every record again to write."""
        payloads = blob.transfer_payloads()
        total = 2 * len(payloads)
        expected = [RESTORE_STEP_MORE] * (len(payloads) - 1)
        for phase, last_step in ((0, RESTORE_STEP_VERIFIED), (1, RESTORE_STEP_APPLIED)):
            for i, payload in enumerate(payloads):
                try:
                    step = self.card.call(Ins.TRANSFER, data=payload, ne=1)
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

    def restore_blob(self, blob: BackupBlob, *, onto_new: bool = False, progress: Progress | None = None,
                     state: BackupState | None = None) -> None:
        """Restores one backup (a full one, or a differential on top of what was restored last)."""
        self._open_restore(blob, state or self.state(), onto_new)
        try:
            self._transfer_records(blob, progress)
            self._end(END_COMPLETE)
        except CardRefusedError:
            raise
        except ProtocolError:
            self._abort_quietly()
            raise

    def restore_chain(self, blobs: list[BackupBlob], *, onto_new: bool = False,
                      progress: Progress | None = None) -> None:
        """Restores a full backup and its differentials in order, in one go."""
        check_links(blobs)
        state = self.state()
        if state.session:
            self._abort_quietly()
        for i, blob in enumerate(blobs):
            self.restore_blob(blob, onto_new=onto_new, state=state,
                              progress=(lambda d, t, i=i: progress(i * 1000 + d * 1000 // t, len(blobs) * 1000))
                              if progress else None)

    def discard_unfinished(self) -> None:
        """Gives up a restore that stopped half way: the regions it touched are zeroed, the card usable again."""
        self._end(END_DISCARD)
