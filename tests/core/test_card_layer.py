"""Chaining, extended length, GET RESPONSE and 6Cxx handling, against a scripted transport."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cardsmith.core import errors
from cardsmith.core.apdu import CommandApdu
from cardsmith.core.card import Card
from cardsmith.core.errors import IntegrityError, ProtocolError
from cardsmith.protocol.codes import Ins


class ScriptedTransport:
    """Answers each APDU with ``respond(apdu)`` and records what was sent."""

    name = "scripted"

    def __init__(self, respond: Callable[[bytes], bytes], supports_extended: bool = False) -> None:
        self.respond = respond
        self.supports_extended = supports_extended
        self.sent: list[bytes] = []

    def transmit(self, apdu: bytes) -> bytes:
        self.sent.append(apdu)
        return self.respond(apdu)

    def reset(self) -> bytes:
        return b"\x3b"

    def atr(self) -> bytes:
        return b"\x3b"

    def close(self) -> None:
        pass


def test_long_input_is_chained_in_255_byte_parts() -> None:
    t = ScriptedTransport(lambda a: b"\x90\x00")
    data = bytes(range(256)) * 3  # 768 bytes
    Card(t).send(CommandApdu(0x80, 0x32, data=data, ne=256))
    assert [len(a) for a in t.sent] == [5 + 255, 5 + 255, 5 + 255, 5 + 3 + 1]
    assert [a[0] for a in t.sent] == [0x90, 0x90, 0x90, 0x80]
    assert b"".join(a[5 : 5 + a[4]] for a in t.sent) == data


def test_chain_stops_at_first_refusal() -> None:
    t = ScriptedTransport(lambda a: b"\x6a\x80")
    card = Card(t)
    with pytest.raises(IntegrityError):
        card.call(Ins.ECHO, data=bytes(600))
    assert len(t.sent) == 1


def test_extended_when_supported_and_fallback_on_6700() -> None:
    t = ScriptedTransport(lambda a: b"\x67\x00" if len(a) > 261 else b"\x90\x00", supports_extended=True)
    card = Card(t)
    card.send(CommandApdu(0x80, 0x32, data=bytes(600), ne=256))
    assert t.sent[0][4] == 0 and len(t.sent[0]) == 4 + 3 + 600 + 2  # tried extended first
    assert card.extended is False
    assert [a[0] for a in t.sent[1:]] == [0x90, 0x90, 0x80]  # then chained
    t.sent.clear()
    card.send(CommandApdu(0x80, 0x32, data=bytes(600), ne=256))
    assert [a[0] for a in t.sent] == [0x90, 0x90, 0x80]  # and remembers


def test_get_response_collects_everything() -> None:
    payload = bytes(range(256)) * 2 + b"tail"
    state = {"off": 0}

    def respond(apdu: bytes) -> bytes:
        if apdu[1] == 0xC0:
            n = apdu[4] or 256
        else:
            state["off"] = 0
            n = 256
        chunk = payload[state["off"] : state["off"] + n]
        state["off"] += len(chunk)
        left = len(payload) - state["off"]
        return chunk + (bytes([0x61, min(left, 256) % 256]) if left else b"\x90\x00")

    t = ScriptedTransport(respond)
    assert Card(t).call(Ins.ECHO) == payload
    assert [a[1] for a in t.sent] == [0x32, 0xC0, 0xC0]
    assert t.sent[-1] == bytes.fromhex("00C0000004")


def test_6cxx_resends_with_exact_le() -> None:
    t = ScriptedTransport(lambda a: b"\x6c\x05" if a[-1] != 5 else b"hello\x90\x00")
    assert Card(t).call(Ins.GET_INFO) == b"hello"
    assert t.sent == [bytes.fromhex("8030000000"), bytes.fromhex("8030000005")]


def test_endless_61xx_is_a_protocol_error() -> None:
    t = ScriptedTransport(lambda a: b"\x00\x61\x01")
    with pytest.raises(ProtocolError):
        Card(t).call(Ins.GET_INFO)


def test_trace_masks_sensitive_data() -> None:
    lines: list[str] = []
    t = ScriptedTransport(lambda a: b"\x90\x00")
    Card(t, trace=lines.append).call(Ins.ECHO, data=b"\x31\x32\x33\x34", sensitive=True)
    assert lines[0].startswith("> ECHO: 80 32 00 00")
    assert "31 32 33 34" not in "\n".join(lines)
    assert "masked" in lines[0]


def test_trace_names_the_command_and_decodes_the_status_word() -> None:
    lines: list[str] = []
    answers = iter([b"\x61\x02", b"\xAB\xCD\x90\x00", b"\x6A\x88"])
    card = Card(ScriptedTransport(lambda a: next(answers)), trace=lines.append)
    card.call(Ins.GET_INFO)
    with pytest.raises(errors.NotFoundError):
        card.call(Ins.READ_DATA, p1=1)
    assert lines[0].startswith("> GET_INFO: 80 30 00 00")
    assert lines[1].startswith("< 6102 more response data available") and lines[2].startswith("> GET_RESPONSE: 00 C0")
    assert lines[3].startswith("< AB CD 9000 success (")
    assert lines[4].startswith("> READ_DATA: ") and lines[5].startswith("< 6A88 referenced data not found (")


def test_stats_count_exchanges_and_bytes() -> None:
    t = ScriptedTransport(lambda a: b"\x01\x02\x90\x00")
    card = Card(t)
    card.call(Ins.ECHO, data=b"\x01\x02")
    assert card.stats.exchanges == 1 and card.stats.bytes_out == 8 and card.stats.bytes_in == 4
