"""Remote-update formats (docs/update.md): the update certificate, the package, and the signed messages of
the chain (device authentication, delivery, acknowledgement). Host mirror of ``RemoteUpdate.java``.

- **Update certificate** (UPDATE_CERT_LENGTH = 211): format (1) || card id (8) || issuer key id (8) ||
  device-authentication point (65) || decryption point (65) || issuer signature r || s over
  ``CSUC`` || those 147 bytes. It is the card's issuer authenticator.
- **Package**: header (UPDATE_HEADER_LENGTH = 87): format, card id, record, operation, mode, version (4),
  expiry (2, days since 2000-01-01), payload length (2), ephemeral point (65), ciphertext length (2); then
  IV (16) || AES-256-CBC ciphertext || CMAC tag (16) under ECDH(ephemeral, card decryption key) with the
  card id as KDF context (``crypto.ecies_seal``); then the issuer's signature r || s (64) over ``CSUP`` ||
  everything before it. Its hash is SHA-256 of all of it.
- **Device authentication**: the card signs ``CSUA`` || card id || card nonce (16) || server nonce (32).
- **Delivery**: the service signs ``CSUD`` || card id || card nonce || server nonce || date (2) || package hash.
- **Acknowledgement**: status (1) || record (1) || version (4) || package hash (32), signed by the card's
  device-authentication key over ``CSUK`` || card id || card nonce || those 38 bytes.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from ..core.crypto import (
    POINT_LENGTH,
    ecdsa_sign,
    ecdsa_verify,
    ecdsa_verify_der,
    ecies_open,
    ecies_seal,
    key_id,
    point_of,
)
from ..core.errors import BadDataError, NotGenuineError, UsageError
from ..protocol.codes import (
    CARD_ID_LENGTH,
    KEY_ID_LENGTH,
    UPDATE_ACK_ALREADY,
    UPDATE_ACK_APPLIED,
    UPDATE_CARD_NONCE_LENGTH,
    UPDATE_CERT_LENGTH,
    UPDATE_FORMAT,
    UPDATE_HEADER_LENGTH,
    UPDATE_MAX_RECORD_SIZE,
    UPDATE_MAX_STORED,
    UPDATE_MODE_APPLY,
    UPDATE_MODE_STORE,
    UPDATE_NONCE_LENGTH,
    UPDATE_OP_ADD,
    UPDATE_OP_DELETE,
    UPDATE_OP_REPLACE,
)
from ..trust.certificate import EPOCH, day_number

CERT_LABEL = b"CSUC"
AUTH_LABEL = b"CSUA"
PACKAGE_LABEL = b"CSUP"
DELIVERY_LABEL = b"CSUD"
ACK_LABEL = b"CSUK"
CERT_BODY = UPDATE_CERT_LENGTH - 64
PREFIX = 20  # the header before its ephemeral point
OPS = {"add": UPDATE_OP_ADD, "replace": UPDATE_OP_REPLACE, "delete": UPDATE_OP_DELETE}
OP_NAMES = {v: k for k, v in OPS.items()}
MODES = {"apply": UPDATE_MODE_APPLY, "store": UPDATE_MODE_STORE}
MODE_NAMES = {v: k for k, v in MODES.items()}
ACK_NAMES = {UPDATE_ACK_APPLIED: "applied", UPDATE_ACK_ALREADY: "already"}




@dataclass(frozen=True)
class UpdateCertificate:
    """The card's issuer authenticator: its id and two update keys, signed by the issuer."""

    card_id: bytes
    issuer_key_id: bytes
    auth_key: bytes
    decryption_key: bytes
    signature: bytes = b""

    def body(self) -> bytes:
        return bytes([UPDATE_FORMAT]) + self.card_id + self.issuer_key_id + self.auth_key + self.decryption_key

    def encode(self) -> bytes:
        return self.body() + self.signature

    @classmethod
    def parse(cls, data: bytes) -> UpdateCertificate:
        if len(data) != UPDATE_CERT_LENGTH or data[0] != UPDATE_FORMAT:
            raise BadDataError(f"not a cardsmith update certificate ({len(data)} bytes, format byte "
                               f"{data[:1].hex() or 'none'}): expected {UPDATE_CERT_LENGTH} bytes of format "
                               f"{UPDATE_FORMAT}")
        return cls(data[1:9], data[9:17], data[17:82], data[82:147], data[147:])

    @classmethod
    def issue(cls, issuer: ec.EllipticCurvePrivateKey, card_id: bytes, auth_key: bytes,
              decryption_key: bytes) -> UpdateCertificate:
        unsigned = cls(card_id, key_id(point_of(issuer.public_key())), auth_key, decryption_key)
        return cls(card_id, unsigned.issuer_key_id, auth_key, decryption_key,
                   ecdsa_sign(issuer, CERT_LABEL + unsigned.body()))

    def verify(self, issuer_point: bytes) -> None:
        """NotGenuineError unless the issuer with ``issuer_point`` made it: the client's and the server's
        issuer checks (steps 1 and 3)."""
        if self.issuer_key_id != key_id(issuer_point):
            raise NotGenuineError(f"card {self.card_id.hex().upper()} belongs to another issuer (key id "
                                  f"{self.issuer_key_id.hex().upper()}, not {key_id(issuer_point).hex().upper()}): "
                                  "this client does not update it")
        if not ecdsa_verify(issuer_point, CERT_LABEL + self.body(), self.signature):
            raise NotGenuineError(f"the update certificate of card {self.card_id.hex().upper()} does not carry "
                                  "the issuer's signature: forged or altered, the card is not genuine")


def today_number() -> int:
    return day_number(datetime.date.today())


@dataclass(frozen=True)
class Package:
    """An update package as the issuer signs it (everything but payload is readable without the card)."""

    card_id: bytes
    record: int
    op: int
    mode: int
    version: int
    expiry: datetime.date
    payload_length: int
    sealed: bytes  # header || IV || ciphertext || tag
    signature: bytes

    @property
    def header(self) -> bytes:
        return self.sealed[:UPDATE_HEADER_LENGTH]

    @property
    def body(self) -> bytes:
        """What DELIVER_UPDATE P1=01 streams: IV || ciphertext || tag."""
        return self.sealed[UPDATE_HEADER_LENGTH:]

    def encode(self) -> bytes:
        return self.sealed + self.signature

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(self.encode()).digest()

    @property
    def op_name(self) -> str:
        return OP_NAMES.get(self.op, f"op{self.op}")

    @property
    def mode_name(self) -> str:
        return MODE_NAMES.get(self.mode, f"mode{self.mode}")

    @classmethod
    def parse(cls, data: bytes) -> Package:
        if len(data) < UPDATE_HEADER_LENGTH + 32 + 64 or data[0] != UPDATE_FORMAT:
            raise BadDataError(f"not a cardsmith update package ({len(data)} bytes): truncated or another file")
        h = data[:UPDATE_HEADER_LENGTH]
        ct_len = int.from_bytes(h[85:87], "big")
        if len(data) != UPDATE_HEADER_LENGTH + 16 + ct_len + 16 + 64:
            raise BadDataError(f"update package of {len(data)} bytes, its header announces "
                               f"{UPDATE_HEADER_LENGTH + ct_len + 96}: truncated or altered")
        return cls(h[1:9], h[9], h[10], h[11], int.from_bytes(h[12:16], "big"),
                   EPOCH + datetime.timedelta(days=int.from_bytes(h[16:18], "big")), int.from_bytes(h[18:20], "big"),
                   data[:-64], data[-64:])

    def verify(self, issuer_point: bytes) -> None:
        if not ecdsa_verify(issuer_point, PACKAGE_LABEL + self.sealed, self.signature):
            raise NotGenuineError(f"the update package for card {self.card_id.hex().upper()} record {self.record} "
                                  "does not carry the issuer's signature: forged or altered")

    def summary(self) -> dict:
        return {"card_id": self.card_id.hex().upper(), "record": self.record, "op": self.op_name,
                "mode": self.mode_name, "version": self.version, "expiry": self.expiry.isoformat(),
                "payload_bytes": self.payload_length, "sha256": self.digest.hex()}


def build_package(issuer: ec.EllipticCurvePrivateKey, certificate: UpdateCertificate, *, record: int, op: str,
                  version: int, expiry: datetime.date, payload: bytes, mode: str = "apply") -> Package:
    """Encrypts ``payload`` to the card's decryption key and signs the package with the issuer's offline key."""
    if op not in OPS:
        raise UsageError(f"unknown operation {op!r}: one of {', '.join(OPS)}")
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}: one of {', '.join(MODES)}")
    if not 0 <= record <= 0xFF:
        raise UsageError(f"record {record} is not a record number (0..255)")
    if not 1 <= version <= 0xFFFFFFFF:
        raise UsageError(f"version {version} is out of range (1 .. 4294967295)")
    if op == "delete" and payload:
        raise UsageError("a delete carries no payload")
    limit = UPDATE_MAX_STORED if mode == "store" else UPDATE_MAX_RECORD_SIZE
    if len(payload) > limit:
        raise UsageError(f"the payload has {len(payload)} bytes; a {mode} package carries at most {limit}")
    if len(certificate.card_id) != CARD_ID_LENGTH:
        raise UsageError("the card id has the wrong length")
    prefix = (bytes([UPDATE_FORMAT]) + certificate.card_id + bytes([record, OPS[op], MODES[mode]])
              + version.to_bytes(4, "big") + day_number(expiry).to_bytes(2, "big") + len(payload).to_bytes(2, "big"))
    assert len(prefix) == PREFIX
    sealed = ecies_seal(certificate.decryption_key, prefix, payload, certificate.card_id)
    return Package.parse(sealed + ecdsa_sign(issuer, PACKAGE_LABEL + sealed))


def open_package(decryption_key: ec.EllipticCurvePrivateKey, package: Package) -> bytes:
    """Host-side decryption (tests; a card never lets its key out)."""
    return ecies_open(decryption_key, package.sealed, PREFIX, package.card_id)


def auth_message(card_id: bytes, card_nonce: bytes, server_nonce: bytes) -> bytes:
    return AUTH_LABEL + card_id + card_nonce + server_nonce


def delivery_message(card_id: bytes, card_nonce: bytes, server_nonce: bytes, date: int, digest: bytes) -> bytes:
    return DELIVERY_LABEL + card_id + card_nonce + server_nonce + date.to_bytes(2, "big") + digest


@dataclass(frozen=True)
class Ack:
    """The card's signed acknowledgement of one record's package."""

    status: int
    record: int
    version: int
    digest: bytes
    signature: bytes  # DER, by the device-authentication key

    @property
    def status_name(self) -> str:
        return ACK_NAMES.get(self.status, f"status{self.status}")

    def encode(self) -> bytes:
        return self.signed_part() + self.signature

    def signed_part(self) -> bytes:
        return bytes([self.status, self.record]) + self.version.to_bytes(4, "big") + self.digest

    @classmethod
    def parse(cls, data: bytes) -> Ack:
        if len(data) < 38 + 8:
            raise BadDataError(f"an acknowledgement of {len(data)} bytes is truncated")
        return cls(data[0], data[1], int.from_bytes(data[2:6], "big"), data[6:38], data[38:])

    def verify(self, certificate: UpdateCertificate, card_nonce: bytes) -> None:
        message = ACK_LABEL + certificate.card_id + card_nonce + self.signed_part()
        if not ecdsa_verify_der(certificate.auth_key, message, self.signature):
            raise NotGenuineError(f"the acknowledgement does not carry card {certificate.card_id.hex().upper()}'s "
                                  "signature over this session: forged, or from another session")


assert POINT_LENGTH == 65 and KEY_ID_LENGTH == 8
assert UPDATE_NONCE_LENGTH == 32 and UPDATE_CARD_NONCE_LENGTH == 16


SEALED_LABEL = b"CSUB"


def seal_for_service(service_point: bytes, certificate: UpdateCertificate) -> bytes:
    """The issuer authenticator as the client sends it (variant B): ECIES to the update service's key, so the
    card id crosses the network only encrypted (context: the service key's id)."""
    return ecies_seal(service_point, SEALED_LABEL, certificate.encode(), key_id(service_point))


def open_for_service(service_key: ec.EllipticCurvePrivateKey, sealed: bytes) -> UpdateCertificate:
    if not sealed.startswith(SEALED_LABEL):
        raise BadDataError("not a sealed update certificate")
    point = point_of(service_key.public_key())
    return UpdateCertificate.parse(ecies_open(service_key, sealed, len(SEALED_LABEL), key_id(point)))
