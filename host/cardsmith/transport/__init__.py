"""Ways to reach a card. Everything above this layer sees only :class:`Transport`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Transport(Protocol):
    """One card in one reader."""

    name: str
    #: whether extended-length APDUs may be tried (the card layer falls back to chaining on 6700)
    supports_extended: bool

    def transmit(self, apdu: bytes) -> bytes:
        """Sends one command APDU, returns the response APDU (data + SW1 SW2)."""
        ...

    def reset(self) -> bytes:
        """Power-cycles the card (transient memory cleared, persistent kept); returns the ATR."""
        ...

    def atr(self) -> bytes: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ReaderInfo:
    name: str
    kind: str  # "pcsc" or "sim"
    card_present: bool
    atr: bytes | None
    note: str = ""
