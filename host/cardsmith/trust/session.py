"""The authenticated session (docs/security.md, "The session"): set-up, then secure messaging on ``Card``.

``TrustSession(card).open(credential, key)`` runs OPEN_SESSION and AUTHENTICATE (two exchanges after
SELECT), checks that the card is genuine (its certificate carries the issuer's signature and the receipt
proves it holds the certified key) and attaches a :class:`SecureChannel` to the card: from then on every
``card.call`` of every capability session is encrypted and MACed, unchanged. The session ends with a reset,
a reselect, a plain command or the first bad MAC; calls afterwards raise SessionEndedError.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from ..core.apdu import CommandApdu, error_for
from ..core.card import Card
from ..core.crypto import (
    BLOCK,
    POINT_LENGTH,
    aes_cbc_decrypt,
    aes_cbc_encrypt,
    cmac,
    ecdsa_sign,
    kdf256,
    key_id,
    mac_equal,
    pad,
    point_of,
    public_key_from_point,
)
from ..core.errors import BadDataError, NotGenuineError, ProtocolError, SessionEndedError, UsageError
from ..protocol.codes import (
    CERT_LENGTH,
    CERT_ROLE_CARD,
    KEY_ID_LENGTH,
    SM_CLA_BIT,
    SM_COUNTER_LENGTH,
    SM_MAC_LENGTH,
    TRUST_CARD_CERT,
    TRUST_ISSUER_KEY,
    TRUST_SESSION,
    Ins,
    Sw,
    Tag,
)
from . import keyfile
from .certificate import Certificate, permission_names
from .credential import Credential

SESSION_LABEL = b"CSS1"
LABEL_ENC, LABEL_MAC, LABEL_RMAC, LABEL_RECEIPT = 0x04, 0x06, 0x07, 0x09
MAX_COUNTER = 0x7FFF


def _hex(data: bytes) -> str:
    return data.hex(" ").upper()


class SecureChannel:
    """Secure messaging of one session (docs/security.md): what ``Card.call`` runs through while attached."""

    def __init__(self, enc: bytes, mac: bytes, rmac: bytes, card_certificate: Certificate,
                 certificate: Certificate) -> None:
        self._enc, self._mac, self._rmac = enc, mac, rmac
        self.counter = 0
        self.card_certificate = card_certificate
        self.certificate = certificate
        self.ended: str | None = None

    def end(self, reason: str) -> None:
        if self.ended is None:
            self.ended = reason
        self._enc = self._mac = self._rmac = b""

    def _iv(self, direction: int, counter: bytes) -> bytes:
        return aes_cbc_encrypt(self._enc, bytes(BLOCK), bytes([direction]) + bytes(BLOCK - 3) + counter)

    def wrap(self, command: CommandApdu) -> CommandApdu:
        """The secured form of ``command`` (the next counter)."""
        if self.ended is not None:
            raise SessionEndedError(f"the authenticated session ended ({self.ended}): open a new one")
        if self.counter >= MAX_COUNTER:
            self.end("its counter ran out")
            raise SessionEndedError("the authenticated session used up its counter: open a new one")
        self.counter += 1
        counter = self.counter.to_bytes(SM_COUNTER_LENGTH, "big")
        ct = aes_cbc_encrypt(self._enc, self._iv(0x00, counter), pad(command.data)) if command.data else b""
        cla = command.cla | SM_CLA_BIT
        tag = cmac(self._mac, bytes([cla, command.ins, command.p1, command.p2]) + counter + ct)[:SM_MAC_LENGTH]
        ne = max(command.ne or 0, 256)
        return CommandApdu(cla, command.ins, command.p1, command.p2, counter + ct + tag, ne)

    def unwrap(self, data: bytes, name: str) -> bytes:
        """The plaintext of a secured 9000 response to the last wrapped command."""
        counter = self.counter.to_bytes(SM_COUNTER_LENGTH, "big")
        ct, tag = data[:-SM_MAC_LENGTH], data[-SM_MAC_LENGTH:]
        if len(data) < SM_MAC_LENGTH or len(ct) % BLOCK or not mac_equal(
                cmac(self._rmac, counter + ct + b"\x90\x00")[:SM_MAC_LENGTH], tag):
            self.end(f"the answer to {name} failed its MAC")
            raise BadDataError(f"the card's answer to {name} fails its MAC (altered on the way, or replayed): "
                               "the session is closed; check the reader and open a new one")
        if not ct:
            return b""
        plain = aes_cbc_decrypt(self._enc, self._iv(0x80, counter), ct)
        stripped = plain.rstrip(b"\x00")
        if not stripped.endswith(b"\x80") or len(plain) - len(stripped) >= BLOCK:
            self.end(f"the answer to {name} had bad padding")
            raise ProtocolError(f"the card's answer to {name} has bad padding under a valid MAC: applet bug")
        return stripped[:-1]

    def call(self, card: Card, command: CommandApdu, name: str, sensitive: bool) -> bytes:
        secured = self.wrap(command)
        response = card.send(secured, sensitive=sensitive)
        if response.sw == Sw.SM_DATA_INCORRECT:
            self.end("the card found a secured command wrong")
        data = self.unwrap(response.data, name) if response.sw == 0x9000 else b""
        if card.trace:
            shown = "** masked **" if sensitive and command.data else _hex(command.data)
            answer = "** masked **" if sensitive and data else _hex(data)
            card.trace(f"= secured {name} {command.p1:02X} {command.p2:02X} {shown} -> {answer} {response.sw:04X}"
                       .replace("  ", " "))
        if response.sw != 0x9000:
            raise error_for(response.sw, name)
        return data


@dataclass(frozen=True)
class TrustStatus:
    issuer_key: bool
    card_certificate: bool
    session: bool
    issuer_key_id: bytes
    date: int
    permissions: int

    @classmethod
    def parse(cls, data: bytes) -> TrustStatus:
        if len(data) != 1 + KEY_ID_LENGTH + 4:
            raise ProtocolError(f"INFO_TRUST has {len(data)} bytes, expected {1 + KEY_ID_LENGTH + 4}")
        flags = data[0]
        return cls(bool(flags & TRUST_ISSUER_KEY), bool(flags & TRUST_CARD_CERT), bool(flags & TRUST_SESSION),
                   data[1:1 + KEY_ID_LENGTH], int.from_bytes(data[1 + KEY_ID_LENGTH:3 + KEY_ID_LENGTH], "big"),
                   int.from_bytes(data[3 + KEY_ID_LENGTH:], "big"))

    def as_json(self) -> dict:
        from .certificate import EPOCH, datetime

        return {"issuer_key": self.issuer_key, "issuer_key_id": self.issuer_key_id.hex().upper(),
                "card_certificate": self.card_certificate, "session": self.session,
                "card_date": (EPOCH + datetime.timedelta(days=self.date)).isoformat(),
                "session_permissions": permission_names(self.permissions)}


class TrustSession:
    """Capability trust on one card: the issuer key, the card's key and certificate, sessions."""

    def __init__(self, card: Card) -> None:
        self.card = card

    def status(self) -> TrustStatus:
        raw = self.card.info().raw.get(Tag.INFO_TRUST)
        if raw is None:
            raise ProtocolError("this applet reports no trust state (INFO_TRUST): it predates sessions")
        return TrustStatus.parse(raw)

    def put_issuer_key(self, point: bytes) -> None:
        self.card.call(Ins.PUT_ISSUER_KEY, data=point, expect_data=False)

    def card_public_key(self) -> bytes:
        return self.card.call(Ins.GET_CARD_CERTIFICATE, p1=1)

    def card_certificate(self) -> Certificate:
        return Certificate.parse(self.card.call(Ins.GET_CARD_CERTIFICATE))

    def put_card_certificate(self, certificate: Certificate) -> None:
        self.card.call(Ins.PUT_CARD_CERTIFICATE, data=certificate.encode(), expect_data=False)

    def open(self, credential: Credential, key: ec.EllipticCurvePrivateKey) -> SecureChannel:
        """Opens an authenticated session as ``credential`` (its key ``key``); NotGenuineError when the card
        cannot prove it is the issuer's. Every later ``card.call`` goes through the returned channel."""
        certificate = credential.certificate
        if point_of(key.public_key()) != certificate.public_key:
            raise UsageError("the key file does not hold the certificate's key: give the key it was issued for")
        self.card.channel = None  # set-up goes in clear; the card ends any session it had
        answer = self.card.call(Ins.OPEN_SESSION)
        if len(answer) != POINT_LENGTH + CERT_LENGTH:
            raise ProtocolError(f"OPEN_SESSION answered {len(answer)} bytes, expected {POINT_LENGTH + CERT_LENGTH}")
        card_eph = answer[:POINT_LENGTH]
        card_cert = Certificate.parse(answer[POINT_LENGTH:])
        card_cert.verify(credential.issuer_key)
        if card_cert.role != CERT_ROLE_CARD:
            raise NotGenuineError(f"the card presented a {card_cert.role_name} certificate, not a card's")
        card_id = card_cert.holder_id
        host_eph = ec.generate_private_key(ec.SECP256R1())
        host_eph_point = point_of(host_eph.public_key())
        encoded = certificate.encode()
        proof = ecdsa_sign(key, SESSION_LABEL + card_id + card_eph + host_eph_point + encoded)
        receipt = self.card.call(Ins.AUTHENTICATE, data=encoded + host_eph_point + proof)
        z1 = host_eph.exchange(ec.ECDH(), public_key_from_point(card_eph))
        z2 = host_eph.exchange(ec.ECDH(), public_key_from_point(card_cert.public_key))
        k = hashlib.sha256(z1 + z2 + card_eph + host_eph_point).digest()
        if not mac_equal(cmac(kdf256(k, LABEL_RECEIPT, card_id), card_eph + host_eph_point), receipt):
            raise NotGenuineError(f"card {card_id.hex().upper()} did not prove it holds its certified key: "
                                  "an emulator or a copied certificate, not a genuine card")
        channel = SecureChannel(kdf256(k, LABEL_ENC, card_id), kdf256(k, LABEL_MAC, card_id),
                                kdf256(k, LABEL_RMAC, card_id), card_cert, certificate)
        self.card.channel = channel
        if self.card.trace:
            self.card.trace(f"= session open as {certificate.role_name} {certificate.holder_id.hex().upper()} "
                            f"(permissions {', '.join(permission_names(certificate.permissions)) or 'none'}) on "
                            f"card {card_id.hex().upper()} (issuer key {key_id(credential.issuer_key).hex().upper()})")
        return channel


def open_as(card: Card, certificate: Path, key: Path, passphrase: bytes) -> SecureChannel:
    """Opens a session on ``card`` as the credential file ``certificate`` with its encrypted key file ``key``."""
    return TrustSession(card).open(Credential.load(certificate), keyfile.load(key, passphrase))
