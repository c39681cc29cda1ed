"""The identity capability's formats (docs/identity.md): what the issuer signs, what the card signs, what
the terminal signs, and the usage record. Every signed message is a domain label then TLV fields (one-byte
tags ID_* and lengths), so no message of one kind can be read as another.

- SA2 = issuer over ``"CSA2" || DF 20 commitment``; the commitment is SHA-256("cardsmith-ns/1" || salt ||
  len || Ns) with a salt the card made and never sends.
- SA1 = issuer over ``"CSA1" || D8 Nt || DC SA2 || DB identity key || D9 IDU || DA expiry``.
- SU = card over ``"CSU1" || purpose || R || X || D8 Nt || D9 IDU`` (purpose 00 card, 01 card + PIN,
  02 registration).
- ST = terminal over ``"CST1" || R || X || D8 Nt || len || PIN``.
- a usage record is ``D8 Nt || D9 IDU || terminal id (8) || time (4) || charge (4) || ATC (4) || R (16)``,
  signed by the card over ``"CUR1" || record``.

Issuer signatures travel as r || s (64 bytes, fixed); the card's own signatures are DER, as the card's
ECDSA makes them.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass

from ..core import tlv
from ..core.crypto import POINT_LENGTH, ecdsa_verify, ecdsa_verify_der
from ..core.errors import BadDataError, ProtocolError, UsageError
from ..protocol.codes import (
    ID_FLAG_INVALID,
    ID_FLAG_PIN_SET,
    ID_FLAG_SIGNED,
    ID_NONCE_LENGTH,
    ID_NS_MAX_LENGTH,
    ID_NS_MIN_LENGTH,
    ID_NT_MAX_LENGTH,
    ID_RECORD_LENGTH,
    PIN_MAX_LENGTH,
    PIN_MIN_LENGTH,
    Tag,
)

COMMIT_LABEL = b"cardsmith-ns/1"
SA2_LABEL = b"CSA2"
SA1_LABEL = b"CSA1"
SU_LABEL = b"CSU1"
ST_LABEL = b"CST1"
RECORD_LABEL = b"CUR1"
IDU_LENGTH = 8
TERMINAL_ID_LENGTH = 8
EPOCH = datetime.date(2000, 1, 1)
TIME_EPOCH = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)


def _t(tag: int, value: bytes) -> bytes:
    return bytes([tag, len(value)]) + value


def check_digits(what: str, value: str, low: int, high: int) -> bytes:
    if not value.isdigit() or not value.isascii() or not low <= len(value) <= high:
        raise UsageError(f"{what} must be {low} to {high} digits (0-9), not {value!r}")
    return value.encode()


def check_nt(nt: str) -> bytes:
    return check_digits("the registration number Nt", nt, 1, ID_NT_MAX_LENGTH)


def check_ns(ns: str) -> bytes:
    return check_digits("the set number Ns", ns, ID_NS_MIN_LENGTH, ID_NS_MAX_LENGTH)


def check_pin(pin: str) -> bytes:
    return check_digits("the PIN", pin, PIN_MIN_LENGTH, PIN_MAX_LENGTH)


def day_number(day: datetime.date) -> int:
    n = (day - EPOCH).days
    if not 0 <= n <= 0xFFFF:
        raise UsageError(f"date {day} is outside what an identity can carry (2000-01-01 .. 2179)")
    return n


def commitment(salt: bytes, ns: bytes) -> bytes:
    return hashlib.sha256(COMMIT_LABEL + salt + bytes([len(ns)]) + ns).digest()


def sa2_message(commit: bytes) -> bytes:
    return SA2_LABEL + _t(Tag.ID_COMMITMENT, commit)


def sa1_message(nt: bytes, sa2: bytes, public_key: bytes, idu: bytes, expiry: datetime.date) -> bytes:
    return (SA1_LABEL + _t(Tag.ID_NT, nt) + _t(Tag.ID_SA2, sa2) + _t(Tag.ID_PUBLIC_KEY, public_key)
            + _t(Tag.ID_CARD_NUMBER, idu) + _t(Tag.ID_EXPIRY, day_number(expiry).to_bytes(2, "big")))


def su_message(purpose: int, r: bytes, x: bytes, nt: bytes, idu: bytes) -> bytes:
    return SU_LABEL + bytes([purpose]) + r + x + _t(Tag.ID_NT, nt) + _t(Tag.ID_CARD_NUMBER, idu)


def st_message(r: bytes, x: bytes, nt: bytes, pin: bytes) -> bytes:
    return ST_LABEL + r + x + _t(Tag.ID_NT, nt) + bytes([len(pin)]) + pin




@dataclass(frozen=True)
class IdentityState:
    signed: bool
    pin_set: bool
    invalid: bool
    ns_tries: int
    pin_tries: int
    atc: int

    @classmethod
    def parse(cls, data: bytes) -> IdentityState:
        if len(data) != 7:
            raise ProtocolError(f"ID_STATE has {len(data)} bytes, expected 7")
        flags = data[0]
        return cls(bool(flags & ID_FLAG_SIGNED), bool(flags & ID_FLAG_PIN_SET), bool(flags & ID_FLAG_INVALID),
                   data[1], data[2], int.from_bytes(data[3:7], "big"))


@dataclass(frozen=True)
class Identity:
    """What GET_IDENTITY answers: the data SA1 covers, SA1 and SA2, and the card's state."""

    nt: bytes
    sa2: bytes
    sa1: bytes
    public_key: bytes
    idu: bytes
    expiry: datetime.date
    state: IdentityState

    @classmethod
    def parse(cls, data: bytes) -> Identity:
        fields = tlv.as_dict(data)
        need = (Tag.ID_NT, Tag.ID_SA2, Tag.ID_SA1, Tag.ID_PUBLIC_KEY, Tag.ID_CARD_NUMBER, Tag.ID_EXPIRY,
                Tag.ID_STATE)
        missing = [t.name for t in need if t not in fields]
        if missing:
            raise ProtocolError(f"GET_IDENTITY lacks {', '.join(missing)}")
        return cls(fields[Tag.ID_NT], fields[Tag.ID_SA2], fields[Tag.ID_SA1], fields[Tag.ID_PUBLIC_KEY],
                   fields[Tag.ID_CARD_NUMBER],
                   EPOCH + datetime.timedelta(days=int.from_bytes(fields[Tag.ID_EXPIRY], "big")),
                   IdentityState.parse(fields[Tag.ID_STATE]))

    def encode(self) -> bytes:
        """The static part (no state) as TLV: what a terminal or the server keeps to check records later."""
        return (_t(Tag.ID_NT, self.nt) + _t(Tag.ID_SA2, self.sa2) + _t(Tag.ID_SA1, self.sa1)
                + _t(Tag.ID_PUBLIC_KEY, self.public_key) + _t(Tag.ID_CARD_NUMBER, self.idu)
                + _t(Tag.ID_EXPIRY, day_number(self.expiry).to_bytes(2, "big")))

    @classmethod
    def decode(cls, data: bytes) -> Identity:
        """The inverse of :meth:`encode` (the state reads as unknown: all zero)."""
        try:
            return cls.parse(data + _t(Tag.ID_STATE, bytes(7)))
        except ProtocolError as exc:
            raise BadDataError(f"not an encoded identity: {exc}") from None

    @property
    def nt_text(self) -> str:
        return self.nt.decode("ascii", "replace")

    def sa1_message(self) -> bytes:
        return sa1_message(self.nt, self.sa2, self.public_key, self.idu, self.expiry)

    def sa1_valid(self, issuer_point: bytes) -> bool:
        """SA1 carries the issuer's signature over Nt, SA2, the identity key, IDU and expiry."""
        if len(self.public_key) != POINT_LENGTH or len(self.idu) != IDU_LENGTH or len(self.sa2) != 64:
            return False
        return ecdsa_verify(issuer_point, self.sa1_message(), self.sa1)


@dataclass(frozen=True)
class UsageRecord:
    """A card-signed usage record (GENERATE_USAGE_RECORD, GET_LAST_RECORD)."""

    body: bytes
    signature: bytes
    nt: bytes
    idu: bytes
    terminal_id: bytes
    time: datetime.datetime
    charge: int
    atc: int
    nonce: bytes

    @classmethod
    def parse(cls, data: bytes) -> UsageRecord:
        if len(data) < 2 or data[0] != Tag.ID_NT or not 1 <= data[1] <= ID_NT_MAX_LENGTH:
            raise BadDataError("not a usage record: it does not start with Nt (tag D8)")
        n = ID_RECORD_LENGTH + data[1]
        body, signature = data[:n], data[n:]
        if len(body) != n or not signature or signature[0] != 0x30:
            raise BadDataError(f"a usage record with a {data[1]}-digit Nt has {n} bytes and a DER signature after "
                               f"them; this has {len(data)} bytes")
        at = 2 + data[1]
        nt = body[2:at]
        if body[at] != Tag.ID_CARD_NUMBER or body[at + 1] != IDU_LENGTH:
            raise BadDataError("not a usage record: IDU (tag D9, 8 bytes) is not where it belongs")
        idu = body[at + 2:at + 10]
        at += 10
        terminal_id = body[at:at + 8]
        seconds = int.from_bytes(body[at + 8:at + 12], "big")
        charge = int.from_bytes(body[at + 12:at + 16], "big")
        atc = int.from_bytes(body[at + 16:at + 20], "big")
        nonce = body[at + 20:at + 20 + ID_NONCE_LENGTH]
        return cls(body, signature, nt, idu, terminal_id, TIME_EPOCH + datetime.timedelta(seconds=seconds),
                   charge, atc, nonce)

    def encode(self) -> bytes:
        return self.body + self.signature

    def valid_under(self, public_key: bytes) -> bool:
        return ecdsa_verify_der(public_key, RECORD_LABEL + self.body, self.signature)


def time_number(when: datetime.datetime) -> int:
    seconds = int((when - TIME_EPOCH).total_seconds())
    if not 0 <= seconds <= 0xFFFFFFFF:
        raise UsageError(f"time {when} is outside what a usage record can carry")
    return seconds
