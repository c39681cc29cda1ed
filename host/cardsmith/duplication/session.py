"""Card-to-card key duplication under a key group, and in-card use of the card's key (docs/duplication.md).

``KeyCard`` wraps a :class:`~cardsmith.card.Card` with the duplication commands; ``duplicate`` runs the
whole two-reader workflow, resumable after a pulled card or an interrupted run.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass

from . import crypto
from .card import Card
from .errors import BadDataError, CardsmithError, UsageError
from .protocol import CONST, TAG
from .tlv import as_dict

ROLE_NAMES = {CONST["ROLE_NONE"]: "none", CONST["ROLE_MAIN"]: "main", CONST["ROLE_BACKUP"]: "backup"}
EXPORT_NAMES = {CONST["EXPORT_NONE"]: "none", CONST["EXPORT_PENDING"]: "pending",
                CONST["EXPORT_CONFIRMED"]: "confirmed"}
KEY_TYPES = {"private": CONST["KEY_TYPE_PRIVATE"], "pair": CONST["KEY_TYPE_PAIR"]}
EXPORT_HEADER = 32
SLOTS = CONST["KEY_GROUP_SLOTS"]
SLOT_LENGTH = CONST["KEY_GROUP_KEY_LENGTH"]
ALL_SLOTS = (1 << SLOTS) - 1


class DuplicationError(CardsmithError):
    """The two cards are not in a state the duplication can work with (wrong role, swapped, same card)."""


@dataclass(frozen=True)
class DupStatus:
    card_id: bytes
    role: int
    pin_set: bool
    tries_left: int
    pin_verified: bool
    slot_count: int
    slots: int
    locked: bool
    key_id: bytes | None
    export_state: int
    export_counter: int
    export_dest: bytes
    export_type: int
    source_id: bytes | None
    import_type: int | None
    group_check: bytes | None

    @property
    def role_name(self) -> str:
        return ROLE_NAMES.get(self.role, f"unknown({self.role})")

    @property
    def group_complete(self) -> bool:
        return self.slots == (1 << self.slot_count) - 1

    @property
    def holder_slots(self) -> int:
        return self.slots & ~1

    def as_json(self) -> dict:
        return {
            "card_id": self.card_id.hex().upper(), "role": self.role_name,
            "pin": {"set": self.pin_set, "tries_left": self.tries_left, "verified": self.pin_verified},
            "key_group": {"slots": self.slot_count,
                          "filled": [i + 1 for i in range(self.slot_count) if self.slots >> i & 1],
                          "locked": self.locked,
                          "check": self.group_check.hex().upper() if self.group_check else None},
            "key_id": self.key_id.hex().upper() if self.key_id else None,
            "export": {"state": EXPORT_NAMES.get(self.export_state, "?"), "counter": self.export_counter,
                       "destination": self.export_dest.hex().upper() if self.export_state else None},
            "source_card": self.source_id.hex().upper() if self.source_id else None,
        }


def parse_status(card_id: bytes, data: bytes) -> DupStatus:
    t = as_dict(data)
    pin = t[TAG["DUP_PIN"]]
    slots = t[TAG["DUP_SLOTS"]]
    export = t[TAG["DUP_EXPORT"]]
    source = t.get(TAG["DUP_SOURCE"])
    return DupStatus(
        card_id=card_id, role=t[TAG["DUP_ROLE"]][0], pin_set=bool(pin[0]), tries_left=pin[1],
        pin_verified=bool(pin[2]), slot_count=slots[0], slots=slots[1], locked=bool(t[TAG["DUP_LOCKED"]][0]),
        key_id=t.get(TAG["DUP_KEY_ID"]), export_state=export[0],
        export_counter=int.from_bytes(export[1:3], "big"), export_dest=export[3:11], export_type=export[11],
        source_id=source[:8] if source else None, import_type=source[8] if source else None,
        group_check=t.get(TAG["DUP_GROUP_CHECK"]),
    )


@dataclass(frozen=True)
class ExportHeader:
    version: int
    blob_type: int
    key_type: int
    slots: int
    source_id: bytes
    dest_id: bytes
    key_id: bytes
    counter: int
    ct_length: int

    @classmethod
    def parse(cls, blob: bytes) -> ExportHeader:
        if len(blob) < EXPORT_HEADER + 32:
            raise BadDataError(f"export blob too short ({len(blob)} bytes)")
        h = blob[:EXPORT_HEADER]
        return cls(h[0], h[1], h[2], h[3], h[4:12], h[12:20], h[20:28], int.from_bytes(h[28:30], "big"),
                   int.from_bytes(h[30:32], "big"))


class KeyCard:
    """The duplication commands of one card."""

    def __init__(self, card: Card) -> None:
        self.card = card
        self.card_id = card.info().card_id

    @property
    def label(self) -> str:
        return f"card {self.card_id.hex().upper()} in {self.card.transport.name}"

    def status(self) -> DupStatus:
        return parse_status(self.card_id, self.card.call("DUPLICATION_STATUS"))

    # PIN
    def put_pin(self, pin: str | bytes) -> None:
        self.card.call("PUT_PIN", data=_pin(pin), sensitive=True, expect_data=False)

    def verify_pin(self, pin: str | bytes) -> None:
        self.card.call("VERIFY", 0, CONST["PIN_REFERENCE"], _pin(pin), sensitive=True, expect_data=False)

    def change_pin(self, old: str | bytes, new: str | bytes) -> None:
        o, n = _pin(old), _pin(new)
        self.card.call("CHANGE_REFERENCE_DATA", 0, CONST["PIN_REFERENCE"], bytes([len(o)]) + o + n,
                       sensitive=True, expect_data=False)

    # key group
    def put_slot(self, slot: int, key: bytes) -> None:
        self.card.call("PUT_KEY_GROUP_SLOT", slot, 0, bytes(key), sensitive=True, expect_data=False)

    def clear_holder_keys(self) -> None:
        self.card.call("CLEAR_HOLDER_KEYS", expect_data=False)

    def lock(self) -> None:
        self.card.call("LOCK_KEY_GROUP", expect_data=False)

    # key pair
    def generate(self) -> bytes:
        return self.card.call("GENERATE_KEY_PAIR")

    def public_key(self) -> bytes:
        return self.card.call("GET_PUBLIC_KEY")

    def export(self, dest_id: bytes, key_type: int = CONST["KEY_TYPE_PAIR"]) -> bytes:
        return self.card.call("EXPORT_KEY", key_type, 0, dest_id)

    def import_key(self, blob: bytes) -> bytes:
        return self.card.call("IMPORT_KEY", data=blob)

    def confirm(self, receipt: bytes) -> None:
        self.card.call("CONFIRM_EXPORT", data=receipt, expect_data=False)

    # in-card use
    def decrypt(self, envelope: bytes) -> bytes:
        return self.card.call("DECRYPT", 0, 0, envelope, sensitive=True)

    def check_value(self, envelope: bytes) -> bytes:
        return self.card.call("DECRYPT", 1, 0, envelope)

    def reencrypt(self, peer_point: bytes, envelope: bytes) -> bytes:
        return self.card.call("REENCRYPT_FOR_PEER", data=peer_point + envelope)


def _pin(pin: str | bytes) -> bytes:
    data = pin.encode() if isinstance(pin, str) else bytes(pin)
    lo, hi = CONST["PIN_MIN_LENGTH"], CONST["PIN_MAX_LENGTH"]
    if not lo <= len(data) <= hi:
        raise UsageError(f"a PIN has {lo} to {hi} characters, this one has {len(data)}")
    return data


def personalise(card: KeyCard, pin: str | bytes, key1: bytes) -> None:
    """Issuer step (lifecycle INSTALLED): the initial PIN and Key1 (both cards of a pair get the same Key1)."""
    if len(key1) != SLOT_LENGTH:
        raise UsageError(f"Key1 is {SLOT_LENGTH} bytes, got {len(key1)}")
    card.put_pin(pin)
    card.put_slot(1, key1)


def group_check(slots: list[bytes]) -> bytes:
    """Host mirror of DUP_GROUP_CHECK: CMAC(KEK, 'KGCV')[:8], KEK = SHA-256(N || Key1 || .. || KeyN)."""
    return crypto.cmac(kek(slots), b"KGCV")[:8]


def kek(slots: list[bytes]) -> bytes:
    import hashlib

    return hashlib.sha256(bytes([len(slots)]) + b"".join(slots)).digest()


# ---------------------------------------------------------------- the workflow

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


def identify(src: KeyCard, dst: KeyCard) -> tuple[DupStatus, DupStatus]:
    """Checks the cards by id and role (not by reader position); a clear DuplicationError otherwise."""
    if src.card_id == dst.card_id:
        raise DuplicationError(f"the same card ({src.card_id.hex().upper()}) answers in both readers: "
                               "put the backup card in the second reader")
    s, d = src.status(), dst.status()
    sid, did = src.card_id.hex().upper(), dst.card_id.hex().upper()
    if s.role == CONST["ROLE_BACKUP"]:
        raise DuplicationError(f"the --from card {sid} is a backup card (copied from "
                               f"{s.source_id.hex().upper() if s.source_id else '?'}); backup cards never "
                               "export: put the main card in the --from reader")
    if d.role == CONST["ROLE_MAIN"]:
        if s.role == CONST["ROLE_NONE"]:
            raise DuplicationError(f"the readers look swapped: the --to card {did} holds a generated key and the "
                                   f"--from card {sid} has none. Swap the cards (or --from/--to)")
        raise DuplicationError(f"the --to card {did} has a key pair of its own: a backup card must be blank")
    if d.role == CONST["ROLE_BACKUP"] and (d.source_id != src.card_id or d.key_id != s.key_id):
        raise DuplicationError(f"the --to card {did} is already the backup of card "
                               f"{d.source_id.hex().upper() if d.source_id else '?'}: use a blank card")
    if s.export_state == CONST["EXPORT_PENDING"] and s.export_dest != dst.card_id:
        raise DuplicationError(f"the --from card {sid} already exported its key to card "
                               f"{s.export_dest.hex().upper()}, not yet confirmed: only that card can finish "
                               "this duplication; insert it in the --to reader")
    if s.export_state == CONST["EXPORT_CONFIRMED"] and d.role != CONST["ROLE_BACKUP"]:
        raise DuplicationError(f"the --from card {sid} was already duplicated (to "
                               f"{s.export_dest.hex().upper()}); a key is exported only once")
    for st, who in ((s, "--from"), (d, "--to")):
        if not st.slots & 1:
            raise DuplicationError(f"the {who} card {st.card_id.hex().upper()} has no Key1: it was not "
                                   "personalised for duplication (issuer step `cardsmith key personalise`)")
        finished = s.export_state == CONST["EXPORT_CONFIRMED"]
        if st.locked and not finished:
            raise DuplicationError(f"the {who} card {st.card_id.hex().upper()} has a locked key group")
    return s, d


def duplicate(src: KeyCard, dst: KeyCard, src_pin: str | bytes, dst_pin: str | bytes, *,
              holder_keys: list[bytes] | None = None, key_type: int = CONST["KEY_TYPE_PAIR"],
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

    # 1. the key group (claim 7: set on both, confirm, only then generate)
    same_group = s.group_complete and d.group_complete and s.group_check == d.group_check
    if not same_group:
        if s.export_state != CONST["EXPORT_NONE"] or d.role == CONST["ROLE_BACKUP"]:
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
    step(f"key groups complete and equal (check {s.group_check.hex().upper() if s.group_check else '-'})")

    # 2. the key pair
    if s.role == CONST["ROLE_NONE"]:
        point = src.generate()
        step(f"key pair generated on the main card (key id {crypto.key_id(point).hex().upper()})")
        s = src.status()
    assert s.key_id is not None

    # 3. export (the identical blob again if a previous response was lost) and import
    if d.role != CONST["ROLE_BACKUP"] or s.export_state != CONST["EXPORT_CONFIRMED"]:
        if s.export_state == CONST["EXPORT_PENDING"]:
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
    # 4. proof: a challenge encrypted to the main card's public key, decrypted by the backup card
    challenge = os.urandom(32)
    if not hmac.compare_digest(dst.decrypt(crypto.ecies_wrap(src.public_key(), challenge)), challenge):
        raise DuplicationError("the backup card could not decrypt a challenge for the main card's key")
    step("proof: the backup card decrypted a challenge encrypted to the main card's public key")
    if lock:
        src.lock()
        dst.lock()
        step("key groups locked on both cards")
    s = src.status()
    return DuplicationResult(src.card_id, dst.card_id, s.key_id or b"", s.export_counter, lock, steps)
