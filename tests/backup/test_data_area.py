"""The data area's region table and data commands (DEFINE_REGION, WRITE_DATA, READ_DATA, LOAD_COMMON_KEY)."""

from __future__ import annotations

import os

import pytest

from cardsmith.backup import BackupSession
from cardsmith.core import errors
from cardsmith.core.card import Card
from cardsmith.dataarea import DataAreaSession, Region
from cardsmith.protocol.codes import MAX_REGIONS, REGION_FLAG_RESTORED, REGION_FLAG_VALUE, Ins

pytestmark = pytest.mark.card


def test_define_write_read_round_trip(card: Card) -> None:
    DataAreaSession(card).define_region(1, 0, 4)
    DataAreaSession(card).define_region(2, 4, 2, value=True)
    assert DataAreaSession(card).regions() == [Region(1, 0, 0, 4), Region(2, REGION_FLAG_VALUE, 4, 2)]
    blob = bytes(range(256)) + bytes(range(100))  # 356 bytes across three pages
    DataAreaSession(card).write(1, 100, blob)
    assert DataAreaSession(card).read(1, 100, len(blob)) == blob
    assert DataAreaSession(card).read(1, 0, 100) == bytes(100)
    DataAreaSession(card).write(2, 0, b"\x00\x00\x01\x00")
    assert DataAreaSession(card).read(2, 0, 4) == b"\x00\x00\x01\x00"


def commit_capacity() -> int:
    """The commit buffer the test build's Tx enforces (CARDSMITH_COMMIT_CAPACITY of the simulator JVM)."""
    return int(os.environ.get("CARDSMITH_COMMIT_CAPACITY", "512"))


def write_limit(capacity: int) -> int:
    """DataArea.writeLimit: the capacity less 128 (half below 256), whole 16-byte blocks, at most 1021."""
    w = capacity // 2 if capacity < 256 else capacity - 128
    return max(16, min(w, 1021) & ~0x0F)


def test_info_reports_the_commit_buffer_and_the_largest_write(card: Card) -> None:
    info = card.info()
    assert info.commit_capacity == commit_capacity()
    assert info.max_write == write_limit(commit_capacity())
    assert info.as_json()["transactions"] == {"commit_capacity": info.commit_capacity, "max_write": info.max_write}


def test_largest_write_by_chaining_and_dirty_pages(card: Card) -> None:
    DataAreaSession(card).define_region(1, 0, 16)
    BackupSession(card).load_common_key(1, bytes(16))
    assert card.info().raw[0x8E][6:8] == b"\x00\x00"
    n = card.info().max_write
    assert n is not None and n > 255  # one command, chained
    card.call(Ins.WRITE_DATA, data=b"\x01\x00\x80" + b"\xAA" * n)  # from page 1 (128-byte pages)
    assert DataAreaSession(card).read(1, 128, n) == b"\xAA" * n
    assert int.from_bytes(card.info().raw[0x8E][6:8], "big") == (n + 127) // 128


def test_a_write_beyond_the_largest_is_refused_and_changes_nothing(card: Card) -> None:
    DataAreaSession(card).define_region(1, 0, 16)
    BackupSession(card).load_common_key(1, bytes(16))
    n = card.info().max_write
    assert n is not None
    with pytest.raises(errors.WrongLengthError):
        card.call(Ins.WRITE_DATA, data=b"\x01\x00\x00" + b"\xAA" * (n + 1))
    assert DataAreaSession(card).read(1, 0, 16 * 128) == bytes(16 * 128)
    assert card.info().raw[0x8E][6:8] == b"\x00\x00"  # no page marked dirty


def test_session_write_splits_long_data_at_the_largest_write(card: Card, monkeypatch: pytest.MonkeyPatch) -> None:
    DataAreaSession(card).define_region(1, 0, 32)
    data = bytes(i * 7 & 0xFF for i in range(4000))
    sent: list[int] = []
    call = card.call

    def spy(ins: Ins, *args: object, **kwargs: object) -> bytes:
        if ins == Ins.WRITE_DATA:
            sent.append(len(kwargs["data"]) - 3)  # type: ignore[arg-type]
        return call(ins, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(card, "call", spy)
    DataAreaSession(card).write(1, 5, data)
    n = card.info().max_write
    assert n is not None
    assert sent == [n] * (len(data) // n) + [len(data) % n]
    assert DataAreaSession(card).read(1, 5, len(data)) == data


@pytest.mark.parametrize("entry", [
    (1, 0, 30, 3),  # beyond the area (32 pages)
    (1, 0, 0, 0),  # empty
    (0, 0, 0, 1),  # id 0
    (0xFF, 0, 0, 1),  # id FF
    (1, 0x80, 0, 1),  # unknown flag
    (1, REGION_FLAG_RESTORED, 0, 1),  # a state flag is not definable
])
def test_define_region_refuses_bad_entries(card: Card, entry: tuple[int, int, int, int]) -> None:
    with pytest.raises(errors.CardRefusedError) as err:
        card.call(Ins.DEFINE_REGION, data=Region(*entry).encode())
    assert err.value.sw == 0x6A80
    assert DataAreaSession(card).regions() == []


def test_define_region_refuses_overlap_and_duplicate_ids(card: Card) -> None:
    DataAreaSession(card).define_region(1, 4, 4)
    for entry in [(2, 0, 7, 2), (2, 0, 0, 5), (2, 0, 5, 1), (1, 0, 10, 1)]:
        with pytest.raises(errors.CardRefusedError) as err:
            card.call(Ins.DEFINE_REGION, data=Region(*entry).encode())
        assert err.value.sw == 0x6A80
    DataAreaSession(card).define_region(2, 8, 1)
    DataAreaSession(card).define_region(3, 0, 4)


def test_region_table_full(card: Card) -> None:
    for i in range(MAX_REGIONS):
        DataAreaSession(card).define_region(i + 1, i, 1)
    with pytest.raises(errors.CardMemoryError):
        DataAreaSession(card).define_region(99, 20, 1)


def test_personalisation_commands_close_with_issuance(card: Card) -> None:
    card.call(Ins.CLOSE_PERSONALISATION, expect_data=False)
    with pytest.raises(errors.WrongStateError):
        DataAreaSession(card).define_region(1, 0, 1)
    with pytest.raises(errors.WrongStateError):
        BackupSession(card).load_common_key(1, bytes(16))


def test_data_commands_refuse_bad_input(card: Card) -> None:
    DataAreaSession(card).define_region(1, 0, 2)
    with pytest.raises(errors.NotFoundError):
        DataAreaSession(card).read(9, 0, 1)
    with pytest.raises(errors.CardRefusedError) as err:
        DataAreaSession(card).write(1, 250, b"12345678")  # past the region's 256 bytes
    assert err.value.sw == 0x6A80
    with pytest.raises(errors.CardRefusedError) as err:
        DataAreaSession(card).read(1, 200, 57)
    assert err.value.sw == 0x6A80
    with pytest.raises(errors.WrongLengthError):
        card.call(Ins.WRITE_DATA, data=b"\x01\x00")
    with pytest.raises(errors.WrongLengthError):
        card.call(Ins.LOAD_COMMON_KEY, data=b"\x01" + bytes(15))
    with pytest.raises(errors.CardRefusedError) as err:
        card.call(Ins.LOAD_COMMON_KEY, data=b"\x00" + bytes(16))
    assert err.value.sw == 0x6A80
    assert DataAreaSession(card).read(1, 0, 256) == bytes(256)
