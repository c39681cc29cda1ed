"""ISO 7816-4 command and response APDUs, and status words as typed errors."""

from __future__ import annotations

from dataclasses import dataclass

from ..protocol import PROTOCOL
from ..protocol.codes import Ins, Sw
from . import errors
from .errors import CardRefusedError, ProtocolError

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
    cls = _ERROR_CLASSES.get(Sw[word.name], CardRefusedError) if word else CardRefusedError
    return cls(sw, command, sw_message(sw))


_ERROR_CLASSES: dict[Sw, type[CardRefusedError]] = {
    Sw.VERIFY_FAILED: errors.WrongPinError,
    Sw.SECURITY_STATUS_NOT_SATISFIED: errors.SecurityStatusError,
    Sw.AUTH_METHOD_BLOCKED: errors.BlockedError,
    Sw.CONDITIONS_NOT_SATISFIED: errors.WrongStateError,
    Sw.WRONG_DATA: errors.IntegrityError,
    Sw.FUNCTION_NOT_SUPPORTED: errors.NotSupportedError,
    Sw.INS_NOT_SUPPORTED: errors.NotSupportedError,
    Sw.CLA_NOT_SUPPORTED: errors.NotSupportedError,
    Sw.SECURE_MESSAGING_NOT_SUPPORTED: errors.NotSupportedError,
    Sw.SM_DATA_INCORRECT: errors.SecureMessagingError,
    Sw.NOT_ENOUGH_MEMORY: errors.CardMemoryError,
    Sw.DATA_NOT_FOUND: errors.NotFoundError,
    Sw.WRONG_LENGTH: errors.WrongLengthError,
    Sw.INCORRECT_P1P2: errors.WrongParametersError,
    Sw.LAST_COMMAND_EXPECTED: errors.ChainInterruptedError,
    Sw.UNKNOWN: errors.CardBugError,
}


def command_name(ins: int) -> str:
    """The protocol's name of an INS code (``INS 12`` for one it does not define)."""
    try:
        return Ins(ins).name
    except ValueError:
        return f"INS {ins:02X}"
