"""APDU encoding and status-word mapping (no card)."""

from __future__ import annotations

import pytest

from cardsmith.cli import exitcodes
from cardsmith.core import errors
from cardsmith.core.apdu import CommandApdu, ResponseApdu, error_for


def test_short_case_encodings() -> None:
    assert CommandApdu(0x80, 0x30).encode() == bytes.fromhex("80300000")
    assert CommandApdu(0x80, 0x30, ne=256).encode() == bytes.fromhex("8030000000")
    assert CommandApdu(0x80, 0x32, data=b"\xaa").encode() == bytes.fromhex("8032000001AA")
    assert CommandApdu(0x80, 0x32, data=b"\xaa", ne=16).encode() == bytes.fromhex("8032000001AA10")


def test_extended_case_encodings() -> None:
    data = bytes(300)
    encoded = CommandApdu(0x80, 0x32, data=data, ne=65536).encode(extended=True)
    assert encoded[:7] == bytes.fromhex("80320000") + b"\x00\x01\x2c"
    assert encoded[7:-2] == data and encoded[-2:] == b"\x00\x00"
    # case 2 extended: Le has its own leading zero byte
    assert CommandApdu(0x80, 0x30, ne=1024).encode(extended=True) == bytes.fromhex("80300000000400")


def test_short_refuses_what_does_not_fit() -> None:
    with pytest.raises(ValueError):
        CommandApdu(0x80, 0x32, data=bytes(256)).encode()
    with pytest.raises(ValueError):
        CommandApdu(0x180, 0x32).encode()


def test_response_parse() -> None:
    r = ResponseApdu.parse(bytes.fromhex("01029000"))
    assert r.data == b"\x01\x02" and r.sw == 0x9000 and r.ok
    with pytest.raises(errors.ProtocolError):
        ResponseApdu.parse(b"\x90")


@pytest.mark.parametrize(
    ("sw", "cls", "words"),
    [
        (0x6982, errors.SecurityStatusError, "verify the PIN"),
        (0x6983, errors.BlockedError, "blocked"),
        (0x6985, errors.WrongStateError, "wrong state"),
        (0x6A80, errors.IntegrityError, "integrity"),
        (0x6A84, errors.CardMemoryError, "memory"),
        (0x6A88, errors.NotFoundError, "not found"),
        (0x6D00, errors.NotSupportedError, "instruction not supported"),
        (0x6E00, errors.NotSupportedError, "class byte"),
        (0x6700, errors.WrongLengthError, "wrong length"),
        (0x6883, errors.ChainInterruptedError, "chain"),
        (0x6F00, errors.CardBugError, "applet bug"),
        (0x1234, errors.CardRefusedError, "not defined"),
    ],
)
def test_status_words_become_typed_errors(sw: int, cls: type, words: str) -> None:
    err = error_for(sw, "GET_INFO")
    assert type(err) is cls
    assert err.sw == sw
    assert words in str(err) and f"{sw:04X}" in str(err) and "GET_INFO" in str(err)
    assert exitcodes.exit_code(err) == exitcodes.EXIT_CARD_REFUSED


def test_wrong_pin_counts_tries() -> None:
    err = error_for(0x63C2, "VERIFY")
    assert isinstance(err, errors.WrongPinError)
    assert err.tries_left == 2 and "2 tries left" in str(err)
