"""The data area's region table and data commands (DEFINE_REGION, WRITE_DATA, READ_DATA, LOAD_COMMON_KEY)."""

from __future__ import annotations

import pytest

from cardsmith import data, errors
from cardsmith.card import Card
from cardsmith.protocol import CONST

pytestmark = pytest.mark.card


def test_define_write_read_round_trip(card: Card) -> None:
    data.define_region(card, 1, 0, 4)
    data.define_region(card, 2, 4, 2, value=True)
    assert data.regions(card) == [data.Region(1, 0, 0, 4), data.Region(2, data.VALUE, 4, 2)]
    blob = bytes(range(256)) + bytes(range(100))  # 356 bytes across three pages
    data.write(card, 1, 100, blob)
    assert data.read(card, 1, 100, len(blob)) == blob
    assert data.read(card, 1, 0, 100) == bytes(100)
    data.write(card, 2, 0, b"\x00\x00\x01\x00")
    assert data.read(card, 2, 0, 4) == b"\x00\x00\x01\x00"


def test_long_write_by_chaining_and_dirty_pages(card: Card) -> None:
    data.define_region(card, 1, 0, 16)
    data.load_common_key(card, 1, bytes(16))
    assert card.info().raw[0x8E][6:8] == b"\x00\x00"
    card.call("WRITE_DATA", data=b"\x01\x00\x80" + b"\xAA" * 700)  # pages 1..6 (128-byte pages)
    assert data.read(card, 1, 128, 700) == b"\xAA" * 700
    assert int.from_bytes(card.info().raw[0x8E][6:8], "big") == 6


@pytest.mark.parametrize("entry", [
    (1, 0, 30, 3),  # beyond the area (32 pages)
    (1, 0, 0, 0),  # empty
    (0, 0, 0, 1),  # id 0
    (0xFF, 0, 0, 1),  # id FF
    (1, 0x80, 0, 1),  # unknown flag
    (1, data.RESTORED, 0, 1),  # a state flag is not definable
])
def test_define_region_refuses_bad_entries(card: Card, entry: tuple[int, int, int, int]) -> None:
    with pytest.raises(errors.CardRefusedError) as err:
        card.call("DEFINE_REGION", data=data.Region(*entry).encode())
    assert err.value.sw == 0x6A80
    assert data.regions(card) == []


def test_define_region_refuses_overlap_and_duplicate_ids(card: Card) -> None:
    data.define_region(card, 1, 4, 4)
    for entry in [(2, 0, 7, 2), (2, 0, 0, 5), (2, 0, 5, 1), (1, 0, 10, 1)]:
        with pytest.raises(errors.CardRefusedError) as err:
            card.call("DEFINE_REGION", data=data.Region(*entry).encode())
        assert err.value.sw == 0x6A80
    data.define_region(card, 2, 8, 1)
    data.define_region(card, 3, 0, 4)


def test_region_table_full(card: Card) -> None:
    for i in range(CONST["MAX_REGIONS"]):
        data.define_region(card, i + 1, i, 1)
    with pytest.raises(errors.CardMemoryError):
        data.define_region(card, 99, 20, 1)


def test_personalisation_commands_close_with_issuance(card: Card) -> None:
    card.call("CLOSE_PERSONALISATION", expect_data=False)
    with pytest.raises(errors.WrongStateError):
        data.define_region(card, 1, 0, 1)
    with pytest.raises(errors.WrongStateError):
        data.load_common_key(card, 1, bytes(16))


def test_data_commands_refuse_bad_input(card: Card) -> None:
    data.define_region(card, 1, 0, 2)
    with pytest.raises(errors.NotFoundError):
        data.read(card, 9, 0, 1)
    with pytest.raises(errors.CardRefusedError) as err:
        data.write(card, 1, 250, b"12345678")  # past the region's 256 bytes
    assert err.value.sw == 0x6A80
    with pytest.raises(errors.CardRefusedError) as err:
        data.read(card, 1, 200, 57)
    assert err.value.sw == 0x6A80
    with pytest.raises(errors.WrongLengthError):
        card.call("WRITE_DATA", data=b"\x01\x00")
    with pytest.raises(errors.WrongLengthError):
        card.call("LOAD_COMMON_KEY", data=b"\x01" + bytes(15))
    with pytest.raises(errors.CardRefusedError) as err:
        card.call("LOAD_COMMON_KEY", data=b"\x00" + bytes(16))
    assert err.value.sw == 0x6A80
    assert data.read(card, 1, 0, 256) == bytes(256)
