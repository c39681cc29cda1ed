"""Card-verifiable certificates (docs/security.md, "Certificates"): build, sign, parse, check.

A certificate is CERT_LENGTH (171) bytes of fixed layout, every field a one-byte tag and length: 80 version,
81 holder id (8), 82 role, 83 permission mask (2), 84 public key (65, uncompressed P-256), 85 effective
date, 86 expiry date (2 each: days since 2000-01-01), 87 issuer key id (8), then 8F 40 and the issuer's
ECDSA-SHA256 signature over the first CERT_BODY_LENGTH bytes, as r || s. The card parses it at fixed
offsets and refuses any other layout.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from ..core.crypto import ecdsa_sign, ecdsa_verify, key_id, point_of
from ..core.errors import BadDataError, NotGenuineError, UsageError
from ..protocol.codes import (
    CARD_ID_LENGTH,
    CERT_LENGTH,
    CERT_ROLE_CARD,
    CERT_ROLE_SERVICE,
    CERT_ROLE_STATION,
    CERT_ROLE_TERMINAL,
    CERT_VERSION,
    KEY_ID_LENGTH,
    Permission,
)

EPOCH = datetime.date(2000, 1, 1)
MAX_DAY = 0xFFFF
#: tag and length of each field, in order (the card checks the same list)
FIELDS = ((0x80, 1), (0x81, CARD_ID_LENGTH), (0x82, 1), (0x83, 2), (0x84, 65), (0x85, 2), (0x86, 2),
          (0x87, KEY_ID_LENGTH), (0x8F, 64))
ROLES = {"station": CERT_ROLE_STATION, "terminal": CERT_ROLE_TERMINAL, "service": CERT_ROLE_SERVICE,
         "card": CERT_ROLE_CARD}
ROLE_NAMES = {v: k for k, v in ROLES.items()}


def day_number(day: datetime.date) -> int:
    n = (day - EPOCH).days
    if not 0 <= n <= MAX_DAY:
        raise UsageError(f"date {day} is outside what a certificate can carry (2000-01-01 .. 2179)")
    return n


def permission_names(mask: int) -> list[str]:
    return [p.name.lower() for p in Permission if mask & p and p.name]


def parse_permissions(names: str) -> int:
    """"backup,restore" -> the mask; "all" for every permission, "" or "none" for none."""
    mask = 0
    for name in (n.strip().lower() for n in names.split(",")):
        if name in ("", "none"):
            continue
        if name == "all":
            mask |= sum(int(p) for p in Permission)
            continue
        try:
            mask |= Permission[name.upper()]
        except KeyError:
            known = ", ".join(p.name.lower() for p in Permission if p.name)
            raise UsageError(f"unknown permission {name!r}: use some of {known}, or all") from None
    return mask


@dataclass(frozen=True)
class Certificate:
    holder_id: bytes
    role: int
    permissions: int
    public_key: bytes
    effective: datetime.date
    expiry: datetime.date
    issuer_key_id: bytes
    signature: bytes = b""
    version: int = CERT_VERSION

    @property
    def role_name(self) -> str:
        return ROLE_NAMES.get(self.role, f"unknown({self.role:02X})")

    def body(self) -> bytes:
        values = (bytes([self.version]), self.holder_id, bytes([self.role]), self.permissions.to_bytes(2, "big"),
                  self.public_key, day_number(self.effective).to_bytes(2, "big"),
                  day_number(self.expiry).to_bytes(2, "big"), self.issuer_key_id)
        out = bytearray()
        for (tag, length), value in zip(FIELDS, values, strict=False):
            if len(value) != length:
                raise UsageError(f"certificate field {tag:02X} must be {length} bytes, not {len(value)}")
            out += bytes([tag, length]) + value
        return bytes(out)

    def encode(self) -> bytes:
        if len(self.signature) != 64:
            raise UsageError("the certificate is not signed yet")
        return self.body() + bytes([0x8F, 64]) + self.signature

    @classmethod
    def parse(cls, data: bytes) -> Certificate:
        if len(data) != CERT_LENGTH:
            raise BadDataError(f"a certificate has {CERT_LENGTH} bytes, this has {len(data)}: not a cardsmith "
                               "certificate, or truncated")
        values = []
        at = 0
        for tag, length in FIELDS:
            if data[at] != tag or data[at + 1] != length:
                raise BadDataError(f"certificate field at offset {at} is {data[at]:02X} {data[at + 1]:02X}, "
                                   f"expected {tag:02X} {length:02X}: malformed certificate")
            values.append(data[at + 2:at + 2 + length])
            at += 2 + length
        version, holder, role, perms, key, effective, expiry, issuer, sig = values
        if version[0] != CERT_VERSION:
            raise BadDataError(f"certificate version {version[0]} is not supported (this host reads {CERT_VERSION})")
        return cls(holder_id=holder, role=role[0], permissions=int.from_bytes(perms, "big"), public_key=key,
                   effective=EPOCH + datetime.timedelta(days=int.from_bytes(effective, "big")),
                   expiry=EPOCH + datetime.timedelta(days=int.from_bytes(expiry, "big")),
                   issuer_key_id=issuer, signature=sig, version=version[0])

    def signed_by(self, issuer: ec.EllipticCurvePrivateKey) -> Certificate:
        """This certificate signed by the issuer's root key (its issuer key id must be that key's)."""
        if self.issuer_key_id != key_id(point_of(issuer.public_key())):
            raise UsageError("the certificate names another issuer key than the one signing it")
        return Certificate(self.holder_id, self.role, self.permissions, self.public_key, self.effective,
                           self.expiry, self.issuer_key_id, ecdsa_sign(issuer, self.body()), self.version)

    def verify(self, issuer_point: bytes, today: datetime.date | None = None) -> None:
        """NotGenuineError unless the issuer key with ``issuer_point`` signed it (and, given ``today``,
        it is valid then)."""
        if self.issuer_key_id != key_id(issuer_point):
            raise NotGenuineError(f"the certificate of {self.holder_id.hex().upper()} is from another issuer "
                                  f"(key id {self.issuer_key_id.hex().upper()}, "
                                  f"not {key_id(issuer_point).hex().upper()})")
        if not ecdsa_verify(issuer_point, self.body(), self.signature):
            raise NotGenuineError(f"the certificate of {self.holder_id.hex().upper()} does not carry the "
                                  "issuer's signature: forged or altered")
        if today is not None and not self.effective <= today <= self.expiry:
            raise NotGenuineError(f"the certificate of {self.holder_id.hex().upper()} is valid from "
                                  f"{self.effective} to {self.expiry}, not on {today}: have it renewed")

    def as_json(self) -> dict:
        return {"holder_id": self.holder_id.hex().upper(), "role": self.role_name,
                "permissions": permission_names(self.permissions), "public_key": self.public_key.hex().upper(),
                "key_id": key_id(self.public_key).hex().upper(), "effective": self.effective.isoformat(),
                "expiry": self.expiry.isoformat(), "issuer_key_id": self.issuer_key_id.hex().upper()}
