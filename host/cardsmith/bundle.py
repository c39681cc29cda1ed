"""Self-issuance bundles: the plaintext list of inner commands and the protected envelope around it.

The formats are in docs/self-issuance.md; the card checks them in applet Bundle.java.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from . import crypto
from .crypto import kdf256, pad, unpad
from .errors import BadDataError, UsageError
from .protocol import CONST, INS, PROTOCOL

#: The documented development personalisation key every card gets when installed without
#: INSTALL_PERSO_KEY. Public, hence worthless: production cards are installed with their own.
DEV_PERSO_KEY = b"CARDSMITH-DEV-PK"

HEADER = CONST["ENVELOPE_HEADER_LENGTH"]
IV_LEN = 16
MAC_LEN = 16
ANY_CARD = bytes(CONST["CARD_ID_LENGTH"])
SELF_ISSUANCE_INS = range(0x72, 0x7F)


@dataclass(frozen=True)
class InnerCommand:
    """One personalisation command inside a bundle: what the terminal would have sent, minus CLA."""

    ins: int
    p1: int = 0
    p2: int = 0
    data: bytes = b""
    label: str = field(default="", compare=False)

    @classmethod
    def named(cls, name: str, p1: int = 0, p2: int = 0, data: bytes = b"", label: str = "") -> InnerCommand:
        if name not in INS:
            known = ", ".join(sorted(n for n in INS if n != "GET_RESPONSE"))
            raise UsageError(f"unknown command {name!r} in the profile; protocol.toml knows: {known}")
        return cls(INS[name], p1, p2, data, label or name)

    @property
    def name(self) -> str:
        for n, code in INS.items():
            if code == self.ins:
                return n
        return f"INS_{self.ins:02X}"

    def encode(self) -> bytes:
        if self.ins in SELF_ISSUANCE_INS:
            raise UsageError(f"{self.name} cannot be an inner command: a bundle cannot run self-issuance")
        if len(self.data) > 0x7FFF:
            raise UsageError(f"{self.label or self.name}: {len(self.data)} data bytes is too long")
        return bytes([self.ins, self.p1, self.p2]) + len(self.data).to_bytes(2, "big") + self.data


@dataclass
class BundlePlan:
    """The plaintext of a bundle: commands and checkpoints (1-based numbers of commands that start a unit)."""

    commands: list[InnerCommand]
    checkpoints: list[int] = field(default_factory=list)

    def units(self) -> list[tuple[int, int]]:
        """(first, last) command numbers of each unit, as the card runs them."""
        starts = [1] + [c for c in self.checkpoints if c > 1]
        ends = [s - 1 for s in starts[1:]] + [len(self.commands)]
        return list(zip(starts, ends, strict=True))

    def encode(self) -> bytes:
        n = len(self.commands)
        if n == 0:
            raise UsageError("a bundle needs at least one command")
        cps = sorted(set(c for c in self.checkpoints if c != 1))
        if any(c < 2 or c > n for c in cps):
            raise UsageError(f"checkpoints must name commands 2..{n}, got {self.checkpoints}")
        out = n.to_bytes(2, "big") + bytes([len(cps)]) + b"".join(c.to_bytes(2, "big") for c in cps)
        return out + b"".join(c.encode() for c in self.commands)

    @classmethod
    def decode(cls, plain: bytes) -> BundlePlan:
        n = int.from_bytes(plain[0:2], "big")
        k = plain[2]
        cps = [int.from_bytes(plain[3 + 2 * i : 5 + 2 * i], "big") for i in range(k)]
        off = 3 + 2 * k
        cmds = []
        for _ in range(n):
            lc = int.from_bytes(plain[off + 3 : off + 5], "big")
            cmds.append(InnerCommand(plain[off], plain[off + 1], plain[off + 2], plain[off + 5 : off + 5 + lc]))
            off += 5 + lc
        if off != len(plain):
            raise BadDataError("bundle plaintext has trailing bytes")
        return cls(cmds, cps)


def session_keys(perso_key: bytes) -> tuple[bytes, bytes]:
    """(encryption key, MAC key), both AES-256, derived from the personalisation key."""
    if len(perso_key) not in (16, 32):
        raise UsageError(f"a personalisation key is 16 or 32 bytes, got {len(perso_key)}")
    return kdf256(perso_key, CONST["KDF_BUNDLE_ENC"]), kdf256(perso_key, CONST["KDF_BUNDLE_MAC"])


def seal(perso_key: bytes, plaintext: bytes, *, sequence: int, card_id: bytes = ANY_CARD,
         kind: int = CONST["ENVELOPE_BUNDLE"], iv: bytes | None = None) -> bytes:
    """The envelope: header || IV || AES-CBC(Kenc, IV, pad(plaintext)) || CMAC(Kmac, everything before)."""
    if not 0 < sequence < 2**32:
        raise UsageError(f"the sequence number must be 1..2^32-1, got {sequence}")
    if len(card_id) != len(ANY_CARD):
        raise UsageError(f"a card id is {len(ANY_CARD)} bytes, got {len(card_id)}")
    k_enc, k_mac = session_keys(perso_key)
    iv = iv or os.urandom(IV_LEN)
    ct = crypto.aes_cbc_encrypt(k_enc, iv, pad(plaintext))
    header = (bytes([kind, CONST["ENVELOPE_VERSION"]]) + card_id + sequence.to_bytes(4, "big")
              + len(ct).to_bytes(2, "big"))
    body = header + iv + ct
    return body + crypto.cmac(k_mac, body)


@dataclass(frozen=True)
class EnvelopeHeader:
    kind: int
    version: int
    card_id: bytes
    sequence: int
    ct_length: int

    @property
    def bound(self) -> bool:
        return self.card_id != ANY_CARD

    @classmethod
    def parse(cls, envelope: bytes) -> EnvelopeHeader:
        if len(envelope) < HEADER + IV_LEN + MAC_LEN:
            raise BadDataError(f"a bundle has at least {HEADER + IV_LEN + MAC_LEN} bytes, this one {len(envelope)}")
        h = envelope[:HEADER]
        return cls(h[0], h[1], h[2:10], int.from_bytes(h[10:14], "big"), int.from_bytes(h[14:16], "big"))


def open_envelope(perso_key: bytes, envelope: bytes) -> tuple[EnvelopeHeader, bytes]:
    """The preparer's own check of an envelope (the card does the same): header and plaintext."""
    header = EnvelopeHeader.parse(envelope)
    if len(envelope) != HEADER + IV_LEN + header.ct_length + MAC_LEN:
        raise BadDataError("bundle length does not match its header: truncated or padded")
    k_enc, k_mac = session_keys(perso_key)
    body, mac = envelope[:-MAC_LEN], envelope[-MAC_LEN:]
    if crypto.cmac(k_mac, body) != mac:
        raise BadDataError("bundle MAC does not verify: tampered, or sealed under another key")
    plain = crypto.aes_cbc_decrypt(k_enc, envelope[HEADER : HEADER + IV_LEN], envelope[HEADER + IV_LEN : -MAC_LEN])
    return header, unpad(plain)


def seal_perso_key(current_key: bytes, new_key: bytes, *, sequence: int, card_id: bytes = ANY_CARD) -> bytes:
    """SET_PERSO_KEY's data: the new key in an envelope under the current one."""
    if len(new_key) not in (16, 32):
        raise UsageError(f"a personalisation key is 16 or 32 bytes, got {len(new_key)}")
    return seal(current_key, new_key, sequence=sequence, card_id=card_id, kind=CONST["ENVELOPE_PERSO_KEY"])


def parse_key(text: str) -> bytes:
    """A key given on the command line: ``dev`` (the development default) or 32/64 hex digits."""
    if text.strip().lower() == "dev":
        return DEV_PERSO_KEY
    try:
        key = bytes.fromhex(text.strip())
    except ValueError as exc:
        raise UsageError("a personalisation key is `dev` or 32/64 hex digits") from exc
    if len(key) not in (16, 32):
        raise UsageError(f"a personalisation key is 16 or 32 bytes, got {len(key)}")
    return key


def max_chunk(command_buffer: int = int(PROTOCOL.meta["command_buffer_size"])) -> int:
    """Bundle bytes per PUT_BUNDLE (the command buffer minus the 2-byte offset)."""
    return command_buffer - 2
