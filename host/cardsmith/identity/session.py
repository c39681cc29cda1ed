"""The identity capability on one card (docs/identity.md): one method per command, typed answers."""

from __future__ import annotations

import datetime

from ..core.card import Card
from ..core.crypto import POINT_LENGTH
from ..core.errors import ProtocolError
from ..protocol.codes import (
    ID_NONCE_LENGTH,
    ID_PURPOSE_CARD,
    ID_PURPOSE_PIN,
    Ins,
)
from .formats import IDU_LENGTH, TERMINAL_ID_LENGTH, Identity, UsageRecord, day_number, time_number


class IdentitySession:
    def __init__(self, card: Card) -> None:
        self.card = card

    # ------------------------------------------------------------ personalisation
    def put_identity(self, nt: bytes, ns: bytes, idu: bytes, expiry: datetime.date) -> tuple[bytes, bytes]:
        """PUT_IDENTITY: returns (the Ns commitment, the card's identity public key)."""
        if len(idu) != IDU_LENGTH:
            raise ValueError(f"IDU has {IDU_LENGTH} bytes")
        data = idu + day_number(expiry).to_bytes(2, "big") + bytes([len(nt)]) + nt + bytes([len(ns)]) + ns
        answer = self.card.call(Ins.PUT_IDENTITY, data=data, sensitive=True)
        if len(answer) != 32 + POINT_LENGTH:
            raise ProtocolError(f"PUT_IDENTITY answered {len(answer)} bytes, expected {32 + POINT_LENGTH}")
        return answer[:32], answer[32:]

    def put_signatures(self, sa2: bytes, sa1: bytes) -> None:
        self.card.call(Ins.PUT_IDENTITY_SIGNATURES, data=sa2 + sa1, expect_data=False)

    # ------------------------------------------------------------ use
    def identity(self) -> Identity:
        return Identity.parse(self.card.call(Ins.GET_IDENTITY))

    def authenticate(self, r: bytes, pin: bytes | None = None) -> tuple[bytes, bytes]:
        """AUTHENTICATE_CARD over the terminal nonce ``r`` (after ``pin``, if given): (X, DER signature)."""
        if len(r) != ID_NONCE_LENGTH:
            raise ValueError(f"the terminal nonce has {ID_NONCE_LENGTH} bytes")
        purpose = ID_PURPOSE_CARD if pin is None else ID_PURPOSE_PIN
        answer = self.card.call(Ins.AUTHENTICATE_CARD, p1=purpose, data=r + (pin or b""), sensitive=pin is not None)
        return self._nonce_and_signature(answer, "AUTHENTICATE_CARD")

    def generate_usage_record(self, r: bytes, terminal_id: bytes, when: datetime.datetime, charge: int,
                              pin: bytes) -> UsageRecord:
        if len(r) != ID_NONCE_LENGTH or len(terminal_id) != TERMINAL_ID_LENGTH:
            raise ValueError("the terminal nonce has 16 bytes and the terminal id 8")
        if not 0 <= charge <= 0xFFFFFFFF:
            raise ValueError("a charge is 0 .. 4294967295 minor units")
        data = r + terminal_id + time_number(when).to_bytes(4, "big") + charge.to_bytes(4, "big") + pin
        return UsageRecord.parse(self.card.call(Ins.GENERATE_USAGE_RECORD, data=data, sensitive=True))

    def last_record(self) -> UsageRecord:
        return UsageRecord.parse(self.card.call(Ins.GET_LAST_RECORD))

    # ------------------------------------------------------------ registration (in a session, permission identity)
    def begin_registration(self, r: bytes) -> tuple[bytes, bytes]:
        return self._nonce_and_signature(self.card.call(Ins.BEGIN_REGISTRATION, data=r), "BEGIN_REGISTRATION")

    def verify_set_number(self, ns: bytes) -> None:
        self.card.call(Ins.VERIFY_SET_NUMBER, data=ns, expect_data=False, sensitive=True)

    def register_pin(self, st: bytes, pin: bytes) -> None:
        self.card.call(Ins.REGISTER_PIN, data=st + pin, expect_data=False, sensitive=True)

    def mark_invalid(self) -> None:
        self.card.call(Ins.MARK_INVALID, expect_data=False)

    @staticmethod
    def _nonce_and_signature(answer: bytes, name: str) -> tuple[bytes, bytes]:
        if len(answer) < ID_NONCE_LENGTH + 8 or answer[ID_NONCE_LENGTH] != 0x30:
            raise ProtocolError(f"{name} answered {len(answer)} bytes, not a nonce and a DER signature")
        return answer[:ID_NONCE_LENGTH], answer[ID_NONCE_LENGTH:]
