"""ISO 7816-4 command and response APDUs, and status words as typed errors."""

from __future__ import annotations

from dataclasses import dataclass

from . import errors
from .errors import CardRefusedError, ProtocolError
from .protocol import PROTOCOL

SHORT_MAX_DATA = 255
SHORT_MAX_NE = 256
EXTENDED_MAX_DATA = 65535
EXTENDED_MAX_NE = 65536


@dataclass(frozen=True)
class CommandApdu:
    """A command. ``ne`` is the most response bytes expected (None: no Le field)."""

    cla: int
    ins: int
    p1: int = 0
    p2: int = 0
    data: bytes = b""
    ne: int | None = None

    def needs_extended(self) -> bool:
        return len(self.data) > SHORT_MAX_DATA or (self.ne or 0) > SHORT_MAX_NE

    def encode(self, extended: bool = False) -> bytes:
        """Encodes as a short APDU, or as an extended one when ``extended`` is set."""
        for name, value in (("CLA", self.cla), ("INS", self.ins), ("P1", self.p1), ("P2", self.p2)):
            if not 0 <= value <= 0xFF:
                raise ValueError(f"{name} out of range: {value}")
        header = bytes([self.cla, self.ins, self.p1, self.p2])
        nc = len(self.data)
        if not extended:
            if nc > SHORT_MAX_DATA or (self.ne or 0) > SHORT_MAX_NE:
                raise ValueError("command too long for a short APDU (use chaining or extended length)")
            body = (bytes([nc]) + self.data) if nc else b""
            if self.ne is not None:
                body += bytes([self.ne % 256])
            return header + body
        if nc > EXTENDED_MAX_DATA or (self.ne or 0) > EXTENDED_MAX_NE:
            raise ValueError("command too long even for an extended APDU")
        body = (b"\x00" + nc.to_bytes(2, "big") + self.data) if nc else b""
        if self.ne is not None:
            le = (self.ne % EXTENDED_MAX_NE).to_bytes(2, "big")
            body += le if nc else b"\x00" + le
        return header + body


@dataclass(frozen=True)
class ResponseApdu:
    data: bytes
    sw: int

    @classmethod
    def parse(cls, raw: bytes) -> ResponseApdu:
        if len(raw) < 2:
            raise ProtocolError(f"response of {len(raw)} bytes has no status word")
        return cls(bytes(raw[:-2]), int.from_bytes(raw[-2:], "big"))

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF

    @property
    def ok(self) -> bool:
        return self.sw == 0x9000


def sw_message(sw: int) -> str:
    word = PROTOCOL.describe_sw(sw)
    return word.message if word else "status word not defined by the cardsmith protocol"


def error_for(sw: int, command: str) -> CardRefusedError:
    """The typed error for a refusal of ``command`` with status word ``sw``."""
    word = PROTOCOL.describe_sw(sw)
    cls = _ERROR_CLASSES.get(word.name, CardRefusedError) if word else CardRefusedError
    return cls(sw, command, sw_message(sw))


_ERROR_CLASSES: dict[str, type[CardRefusedError]] = {
    "VERIFY_FAILED": errors.WrongPinError,
    "SECURITY_STATUS_NOT_SATISFIED": errors.SecurityStatusError,
    "AUTH_METHOD_BLOCKED": errors.BlockedError,
    "CONDITIONS_NOT_SATISFIED": errors.WrongStateError,
    "WRONG_DATA": errors.IntegrityError,
    "FUNCTION_NOT_SUPPORTED": errors.NotSupportedError,
    "INS_NOT_SUPPORTED": errors.NotSupportedError,
    "CLA_NOT_SUPPORTED": errors.NotSupportedError,
    "SECURE_MESSAGING_NOT_SUPPORTED": errors.NotSupportedError,
    "NOT_ENOUGH_MEMORY": errors.CardMemoryError,
    "DATA_NOT_FOUND": errors.NotFoundError,
    "WRONG_LENGTH": errors.WrongLengthError,
    "INCORRECT_P1P2": errors.WrongParametersError,
    "LAST_COMMAND_EXPECTED": errors.ChainInterruptedError,
    "UNKNOWN": errors.CardBugError,
}


def command_name(ins: int) -> str:
    for item in PROTOCOL.instructions.values():
        if item.code == ins:
            return item.name
    return f"INS {ins:02X}"
