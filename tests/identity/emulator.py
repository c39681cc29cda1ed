"""A host-side fake card (imported by name): it speaks the transport protocol and answers what it recorded
from a genuine card (GET_IDENTITY, AUTHENTICATE_CARD, GENERATE_USAGE_RECORD, GET_LAST_RECORD), optionally
altered, or signs with a key of its own. The terminal must refuse it every time."""

from __future__ import annotations

from collections.abc import Callable

from cardsmith.core.card import Card

Answer = bytes | Callable[[bytes], bytes]


class EmulatorTransport:
    name = "emulator"
    supports_extended = False

    def __init__(self, answers: dict[int, Answer]) -> None:
        self.answers = answers
        self.seen: list[bytes] = []

    def transmit(self, apdu: bytes) -> bytes:
        self.seen.append(apdu)
        ins = apdu[1]
        if ins == 0xA4:
            return b"\x90\x00"
        answer = self.answers.get(ins)
        if answer is None:
            return b"\x6D\x00"
        data = apdu[5:5 + apdu[4]] if len(apdu) > 5 else b""
        body = answer(data) if callable(answer) else answer
        return body + b"\x90\x00"  # "OK" to everything it knows

    def reset(self) -> bytes:
        return b"\x3B\x00"

    def atr(self) -> bytes:
        return b"\x3B\x00"

    def close(self) -> None:
        pass


def emulator(answers: dict[int, Answer]) -> Card:
    return Card(EmulatorTransport(answers))


