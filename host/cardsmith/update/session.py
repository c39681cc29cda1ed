"""Capability update on one card (docs/update.md): the update certificate, device authentication, delivery,
and reading what was delivered. ``UpdateSession(card)``; the chain against a server is ``chain.py``."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.card import Card
from ..core.errors import ProtocolError, UsageError
from ..protocol import PROTOCOL
from ..protocol.codes import (
    CERT_LENGTH,
    UPDATE_CARD_NONCE_LENGTH,
    UPDATE_FLAG_CERT,
    UPDATE_READ_BLOCK,
    UPDATE_RECORD_STATUS_LENGTH,
    UPDATE_STATE_APPLIED,
    UPDATE_STATE_EMPTY,
    UPDATE_STATE_STORED,
    Ins,
    Tag,
)
from .package import Ack, Package, UpdateCertificate

STATE_NAMES = {UPDATE_STATE_EMPTY: "empty", UPDATE_STATE_APPLIED: "applied", UPDATE_STATE_STORED: "stored"}
CHUNK = int(PROTOCOL.meta["command_buffer_size"])


@dataclass(frozen=True)
class RecordStatus:
    record: int
    state: int
    version: int
    length: int
    digest: bytes

    @property
    def state_name(self) -> str:
        return STATE_NAMES.get(self.state, f"state{self.state}")

    def as_json(self) -> dict:
        return {"record": self.record, "state": self.state_name, "version": self.version, "length": self.length,
                "sha256": self.digest.hex() if self.version else None}


@dataclass(frozen=True)
class UpdateStatus:
    certified: bool
    record_count: int
    record_size: int
    max_stored: int
    records: tuple[RecordStatus, ...]

    def as_json(self) -> dict:
        return {"certified": self.certified, "record_count": self.record_count, "record_size": self.record_size,
                "max_stored": self.max_stored, "records": [r.as_json() for r in self.records]}


class UpdateSession:
    """Capability update on one card."""

    def __init__(self, card: Card) -> None:
        self.card = card

    def status(self) -> UpdateStatus:
        raw = self.card.info().raw.get(Tag.INFO_UPDATE)
        if raw is None or len(raw) < 6:
            raise ProtocolError("this applet reports no update records (INFO_UPDATE): it predates remote update")
        data = self.card.call(Ins.UPDATE_STATUS)
        n = UPDATE_RECORD_STATUS_LENGTH
        if len(data) != raw[1] * n:
            raise ProtocolError(f"UPDATE_STATUS answered {len(data)} bytes for {raw[1]} records")
        records = tuple(RecordStatus(i, data[i * n], int.from_bytes(data[i * n + 1:i * n + 5], "big"),
                                     int.from_bytes(data[i * n + 5:i * n + 7], "big"), data[i * n + 7:i * n + 39])
                        for i in range(raw[1]))
        return UpdateStatus(bool(raw[0] & UPDATE_FLAG_CERT), raw[1], int.from_bytes(raw[2:4], "big"),
                            int.from_bytes(raw[4:6], "big"), records)

    def public_keys(self) -> tuple[bytes, bytes]:
        """The device-authentication and decryption public keys, generated on the card the first time (INSTALLED
        only: the issuer certifies them at personalisation)."""
        data = self.card.call(Ins.GENERATE_UPDATE_KEYS)
        if len(data) != 130:
            raise ProtocolError(f"GENERATE_UPDATE_KEYS answered {len(data)} bytes, not 130")
        return data[:65], data[65:]

    def certificate(self) -> UpdateCertificate:
        return UpdateCertificate.parse(self.card.call(Ins.GET_UPDATE_CERTIFICATE))

    def put_certificate(self, certificate: UpdateCertificate) -> None:
        self.card.call(Ins.PUT_UPDATE_CERTIFICATE, data=certificate.encode(), expect_data=False)

    def authenticate(self, server_nonce: bytes) -> tuple[bytes, bytes]:
        """INTERNAL_AUTHENTICATE: (card nonce, DER signature over label || card id || card nonce || server nonce)."""
        data = self.card.call(Ins.INTERNAL_AUTHENTICATE, data=server_nonce)
        if len(data) < UPDATE_CARD_NONCE_LENGTH + 8:
            raise ProtocolError(f"INTERNAL_AUTHENTICATE answered {len(data)} bytes")
        return data[:UPDATE_CARD_NONCE_LENGTH], data[UPDATE_CARD_NONCE_LENGTH:]

    def deliver(self, service_certificate: bytes, date: int, delivery_signature: bytes, package: Package) -> Ack:
        """DELIVER_UPDATE begin, the package's body in chunks, finish: the card's acknowledgement."""
        if len(service_certificate) != CERT_LENGTH or len(delivery_signature) != 64:
            raise ProtocolError("the server's delivery has a malformed certificate or signature")
        self.card.call(Ins.DELIVER_UPDATE, p1=0, data=service_certificate + date.to_bytes(2, "big")
                       + delivery_signature + package.header, expect_data=False)
        body = package.body
        for at in range(0, len(body), CHUNK):
            self.card.call(Ins.DELIVER_UPDATE, p1=1, data=body[at:at + CHUNK], expect_data=False)
        return Ack.parse(self.card.call(Ins.DELIVER_UPDATE, p1=2, data=package.signature))

    def read_record(self, record: int) -> bytes:
        """A mode-1 record's plaintext (needs the holder PIN): as many READ_RECORD blocks as its length takes."""
        status = self.status()
        if not 0 <= record < status.record_count:
            raise UsageError(f"record {record} does not exist: this card has records 0..{status.record_count - 1}")
        length = status.records[record].length
        out = b""
        for block in range(max(1, -(-length // UPDATE_READ_BLOCK))):
            out += self.card.call(Ins.READ_RECORD, p1=record, p2=block, ne=UPDATE_READ_BLOCK)
        return out

    def use_data(self, record: int) -> bytes:
        """A mode-2 record decrypted for this use (the PIN verified, inside an authenticated session)."""
        return self.card.call(Ins.USE_DATA, p1=record, sensitive=True, ne=1024)
