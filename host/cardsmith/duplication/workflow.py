"""Card-to-card duplication, the two-reader workflow: a blank card becomes the backup of a main card.

Every response is checked before the next step; running it again after an interruption completes it (or
restarts it cleanly when no key was wrapped yet). The backup ends with a proof-of-copy challenge.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from ..core import crypto
from ..core.errors import BadDataError, UsageError
from ..protocol.codes import (
    EXPORT_CONFIRMED,
    EXPORT_NONE,
    EXPORT_PENDING,
    KEY_TYPE_PAIR,
    ROLE_BACKUP,
    ROLE_MAIN,
    ROLE_NONE,
)
from .session import SLOT_LENGTH, SLOTS, DuplicationError, DuplicationSession, DupStatus, ExportHeader

Progress = Callable[[str], None]


@dataclass
class DuplicationResult:
    main_id: bytes
    backup_id: bytes
    key_id: bytes
    export_counter: int
    locked: bool
    steps: list[str]

    def as_json(self) -> dict:
        return {"main": self.main_id.hex().upper(), "backup": self.backup_id.hex().upper(),
                "key_id": self.key_id.hex().upper(), "export_counter": self.export_counter,
                "locked": self.locked, "steps": self.steps}


def identify(src: DuplicationSession, dst: DuplicationSession) -> tuple[DupStatus, DupStatus]:
    """Checks the cards by id and role (not by reader position); a clear DuplicationError otherwise."""
    if src.card_id == dst.card_id:
        raise DuplicationError(f"the same card ({src.card_id.hex().upper()}) answers in both readers: "
                               "put the backup card in the second reader")
    s, d = src.status(), dst.status()
    sid, did = src.card_id.hex().upper(), dst.card_id.hex().upper()
    if s.role == ROLE_BACKUP:
        raise DuplicationError(f"the --from card {sid} is a backup card (copied from "
                               f"{s.source_id.hex().upper() if s.source_id else '?'}); backup cards never "
                               "export: put the main card in the --from reader")
    if d.role == ROLE_MAIN:
        if s.role == ROLE_NONE:
            raise DuplicationError(f"the readers look swapped: the --to card {did} holds a generated key and the "
                                   f"--from card {sid} has none. Swap the cards (or --from/--to)")
        raise DuplicationError(f"the --to card {did} has a key pair of its own: a backup card must be blank")
    if d.role == ROLE_BACKUP and (d.source_id != src.card_id or d.key_id != s.key_id):
        raise DuplicationError(f"the --to card {did} is already the backup of card "
                               f"{d.source_id.hex().upper() if d.source_id else '?'}: use a blank card")
    if s.export_state == EXPORT_PENDING and s.export_dest != dst.card_id:
        raise DuplicationError(f"the --from card {sid} already exported its key to card "
                               f"{s.export_dest.hex().upper()}, not yet confirmed: only that card can finish "
                               "this duplication; insert it in the --to reader")
    if s.export_state == EXPORT_CONFIRMED and d.role != ROLE_BACKUP:
        raise DuplicationError(f"the --from card {sid} was already duplicated (to "
                               f"{s.export_dest.hex().upper()}); a key is exported only once")
    for st, who in ((s, "--from"), (d, "--to")):
        if not st.slots & 1:
            raise DuplicationError(f"the {who} card {st.card_id.hex().upper()} has no Key1: it was not "
                                   "personalised for duplication (issuer step `cardsmith key personalise`)")
        finished = s.export_state == EXPORT_CONFIRMED
        if st.locked and not finished:
            raise DuplicationError(f"the {who} card {st.card_id.hex().upper()} has a locked key group")
    return s, d




def _set_key_group(src: DuplicationSession, dst: DuplicationSession, s: DupStatus, d: DupStatus,
                   holder_keys: list[bytes] | None, step: Progress) -> tuple[DupStatus, DupStatus]:
    """Claim 7: the holder's keys set on both cards (generated unless given), and the groups compared."""
    if s.export_state != EXPORT_NONE or d.role == ROLE_BACKUP:
        raise DuplicationError("the two cards do not hold the same key group, and the main card already "
                               "wrapped its key under its group: this backup card cannot import it")
    keys = [bytearray(k) for k in holder_keys] if holder_keys else \
        [bytearray(os.urandom(SLOT_LENGTH)) for _ in range(SLOTS - 1)]
    try:
        if len(keys) != SLOTS - 1 or any(len(k) != SLOT_LENGTH for k in keys):
            raise UsageError(f"the holder's key-group part is {SLOTS - 1} keys of {SLOT_LENGTH} bytes")
        for card, st in ((src, s), (dst, d)):
            if st.holder_slots:
                card.clear_holder_keys()  # left by an interrupted run: no key was wrapped under them
                step(f"cleared the holder keys an earlier run left on {card.card_id.hex().upper()}")
        for i, key in enumerate(keys, start=2):
            src.put_slot(i, key)
            dst.put_slot(i, key)
            step(f"Key{i} set on both cards")
    finally:
        for k in keys:
            k[:] = bytes(len(k))  # do not keep the holder's keys around
    s, d = src.status(), dst.status()
    if not (s.group_complete and d.group_complete and s.group_check == d.group_check):
        raise DuplicationError("the key groups of the two cards differ after setting them: their Key1 "
                               "differs (cards of different issuance pairs?)")
    return s, d


def _copy_key(src: DuplicationSession, dst: DuplicationSession, s: DupStatus, key_type: int, step: Progress) -> None:
    """Export (the identical blob again if a previous response was lost), import, confirm."""
    if s.export_state == EXPORT_PENDING:
        key_type = s.export_type
    blob = src.export(dst.card_id, key_type)
    h = ExportHeader.parse(blob)
    if (h.source_id, h.dest_id, h.key_id) != (src.card_id, dst.card_id, s.key_id) or h.key_type != key_type:
        raise BadDataError("the main card's export blob names other cards or another key: stopping")
    step(f"key exported, wrapped under the key group (export #{h.counter}, {len(blob)} bytes)")
    receipt = dst.import_key(blob)
    step("key imported on the backup card")
    src.confirm(receipt)
    step("export confirmed on the main card (no further export possible)")


def duplicate(src: DuplicationSession, dst: DuplicationSession, src_pin: str | bytes, dst_pin: str | bytes, *,
              holder_keys: list[bytes] | None = None, key_type: int = KEY_TYPE_PAIR,
              lock: bool = True, progress: Progress | None = None) -> DuplicationResult:
    """Makes ``dst`` a backup card of ``src``. Every response is checked before the next step; running it
    again after an interruption completes it (or restarts it cleanly when no key was wrapped yet)."""
    steps: list[str] = []

    def step(text: str) -> None:
        steps.append(text)
        if progress:
            progress(text)

    s, d = identify(src, dst)
    step(f"main {src.card_id.hex().upper()} ({s.role_name}), backup {dst.card_id.hex().upper()} ({d.role_name})")
    src.verify_pin(src_pin)
    dst.verify_pin(dst_pin)
    step("PINs verified on both cards")
    if not (s.group_complete and d.group_complete and s.group_check == d.group_check):
        s, d = _set_key_group(src, dst, s, d, holder_keys, step)
    step(f"key groups complete and equal (check {s.group_check.hex().upper() if s.group_check else '-'})")
    if s.role == ROLE_NONE:
        point = src.generate()
        step(f"key pair generated on the main card (key id {crypto.key_id(point).hex().upper()})")
        s = src.status()
    assert s.key_id is not None
    if d.role != ROLE_BACKUP or s.export_state != EXPORT_CONFIRMED:
        _copy_key(src, dst, s, key_type, step)
    # proof: a challenge encrypted to the main card's public key, decrypted by the backup card
    challenge = os.urandom(32)
    if not crypto.mac_equal(dst.decrypt(crypto.ecies_wrap(src.public_key(), challenge)), challenge):
        raise DuplicationError("the backup card could not decrypt a challenge for the main card's key")
    step("proof: the backup card decrypted a challenge encrypted to the main card's public key")
    if lock:
        src.lock()
        dst.lock()
        step("key groups locked on both cards")
    s = src.status()
    return DuplicationResult(src.card_id, dst.card_id, s.key_id or b"", s.export_counter, lock, steps)
