"""The duplication capability's card session (applet classes HolderPin and Duplication; docs/duplication.md):
the holder PIN, the key group, the card's key pair, export/import, and in-card decryption for a peer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..core import crypto
from ..core.card import Card, explain_refusal
from ..core.errors import BadDataError, BlockedError, CardsmithError, UsageError, WrongStateError
from ..core.tlv import as_dict
from ..protocol.codes import (
    EXPORT_CONFIRMED,
    EXPORT_NONE,
    EXPORT_PENDING,
    KEY_GROUP_KEY_LENGTH,
    KEY_GROUP_SLOTS,
    KEY_TYPE_PAIR,
    PIN_MAX_LENGTH,
    PIN_MIN_LENGTH,
    PIN_REFERENCE,
    ROLE_BACKUP,
    ROLE_MAIN,
    ROLE_NONE,
    Ins,
    Tag,
)

ROLE_NAMES = {ROLE_NONE: "none", ROLE_MAIN: "main", ROLE_BACKUP: "backup"}
EXPORT_NAMES = {EXPORT_NONE: "none", EXPORT_PENDING: "pending",
                EXPORT_CONFIRMED: "confirmed"}
EXPORT_HEADER = 32
SLOTS = KEY_GROUP_SLOTS
SLOT_LENGTH = KEY_GROUP_KEY_LENGTH


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
    pin = t[Tag.DUP_PIN]
    slots = t[Tag.DUP_SLOTS]
    export = t[Tag.DUP_EXPORT]
    source = t.get(Tag.DUP_SOURCE)
    return DupStatus(
        card_id=card_id, role=t[Tag.DUP_ROLE][0], pin_set=bool(pin[0]), tries_left=pin[1],
        pin_verified=bool(pin[2]), slot_count=slots[0], slots=slots[1], locked=bool(t[Tag.DUP_LOCKED][0]),
        key_id=t.get(Tag.DUP_KEY_ID), export_state=export[0],
        export_counter=int.from_bytes(export[1:3], "big"), export_dest=export[3:11], export_type=export[11],
        source_id=source[:8] if source else None, import_type=source[8] if source else None,
        group_check=t.get(Tag.DUP_GROUP_CHECK),
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


class DuplicationSession:
    """The duplication and holder-PIN commands of one card."""

    def __init__(self, card: Card) -> None:
        self.card = card
        self.card_id = card.info().card_id

    @property
    def label(self) -> str:
        return f"card {self.card_id.hex().upper()} in {self.card.transport.name}"

    def status(self) -> DupStatus:
        return parse_status(self.card_id, self.card.call(Ins.DUPLICATION_STATUS))

    # PIN
    def put_pin(self, pin: str | bytes) -> None:
        self.card.call(Ins.PUT_PIN, data=_pin(pin), sensitive=True, expect_data=False)

    def verify_pin(self, pin: str | bytes) -> None:
        try:
            self.card.call(Ins.VERIFY, 0, PIN_REFERENCE, _pin(pin), sensitive=True, expect_data=False)
        except BlockedError as exc:
            raise BlockedError(exc.sw, exc.command, "the PIN is blocked (no tries left) and cannot be used on this "
                               "card again: recover the holder's files from the backup card onto a new card "
                               "(`cardsmith files recover`, docs/duplication.md)") from exc

    def change_pin(self, old: str | bytes, new: str | bytes) -> None:
        o, n = _pin(old), _pin(new)
        self.card.call(Ins.CHANGE_REFERENCE_DATA, 0, PIN_REFERENCE, bytes([len(o)]) + o + n,
                       sensitive=True, expect_data=False)

    # key group
    def reset_pin(self, new: str | bytes) -> None:
        """RESET RETRY COUNTER: sets the PIN and gives every try back (a session with pin_reset only)."""
        self.card.call(Ins.RESET_RETRY_COUNTER, 2, PIN_REFERENCE, _pin(new), sensitive=True, expect_data=False)

    def put_slot(self, slot: int, key: bytes) -> None:
        self.card.call(Ins.PUT_KEY_GROUP_SLOT, slot, 0, bytes(key), sensitive=True, expect_data=False)

    def clear_holder_keys(self) -> None:
        self.card.call(Ins.CLEAR_HOLDER_KEYS, expect_data=False)

    def lock(self) -> None:
        self.card.call(Ins.LOCK_KEY_GROUP, expect_data=False)

    # key pair
    def generate(self) -> bytes:
        try:
            return self.card.call(Ins.GENERATE_KEY_PAIR)
        except WrongStateError as exc:
            st = self.status()
            if st.key_id:
                raise WrongStateError(exc.sw, exc.command, f"this card already has its key pair (key "
                                      f"{st.key_id.hex().upper()}, role {st.as_json()['role']}): a card makes it once; "
                                      "`cardsmith key public` shows it") from exc
            raise

    def public_key(self) -> bytes:
        return self.card.call(Ins.GET_PUBLIC_KEY)

    def export(self, dest_id: bytes, key_type: int = KEY_TYPE_PAIR) -> bytes:
        return self.card.call(Ins.EXPORT_KEY, key_type, 0, dest_id)

    def import_key(self, blob: bytes) -> bytes:
        return self.card.call(Ins.IMPORT_KEY, data=blob)

    def confirm(self, receipt: bytes) -> None:
        self.card.call(Ins.CONFIRM_EXPORT, data=receipt, expect_data=False)

    # in-card use
    def decrypt(self, envelope: bytes) -> bytes:
        return self.card.call(Ins.DECRYPT, 0, 0, envelope, sensitive=True)

    def check_value(self, envelope: bytes) -> bytes:
        return self.card.call(Ins.DECRYPT, 1, 0, envelope)

    def reencrypt(self, peer_point: bytes, envelope: bytes) -> bytes:
        return self.card.call(Ins.REENCRYPT_FOR_PEER, data=peer_point + envelope)


def _pin(pin: str | bytes) -> bytes:
    data = pin.encode() if isinstance(pin, str) else bytes(pin)
    lo, hi = PIN_MIN_LENGTH, PIN_MAX_LENGTH
    if not lo <= len(data) <= hi:
        raise UsageError(f"a PIN has {lo} to {hi} characters, this one has {len(data)}")
    return data


def personalise(card: DuplicationSession, pin: str | bytes, key1: bytes) -> None:
    """Issuer step (lifecycle INSTALLED): the initial PIN and Key1 (both cards of a pair get the same Key1)."""
    if len(key1) != SLOT_LENGTH:
        raise UsageError(f"Key1 is {SLOT_LENGTH} bytes, got {len(key1)}")
    try:
        card.put_pin(pin)
        card.put_slot(1, key1)
    except WrongStateError as exc:
        raise explain_refusal(card.card, exc, "setting the PIN and Key1") from exc


def group_check(slots: list[bytes]) -> bytes:
    """Host mirror of DUP_GROUP_CHECK: CMAC(KEK, 'KGCV')[:8], KEK = SHA-256(N || Key1 || .. || KeyN)."""
    return crypto.cmac(kek(slots), b"KGCV")[:8]


def kek(slots: list[bytes]) -> bytes:
    return hashlib.sha256(bytes([len(slots)]) + b"".join(slots)).digest()
