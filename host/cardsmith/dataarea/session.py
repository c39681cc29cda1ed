"""The card's data area: regions (named page ranges with flags) and reading/writing their bytes."""

from __future__ import annotations

from dataclasses import dataclass

from .card import Card
from .errors import UsageError
from .protocol import CONST

REGION_ENTRY = 6
VALUE = CONST["REGION_FLAG_VALUE"]
RESTORED = CONST["REGION_FLAG_RESTORED"]
ZERO_PENDING = CONST["REGION_FLAG_ZERO_PENDING"]
TOUCHED = CONST["REGION_FLAG_TOUCHED"]


@dataclass(frozen=True)
class Region:
    id: int
    flags: int
    first_page: int
    page_count: int

    @property
    def value(self) -> bool:
        return bool(self.flags & VALUE)

    @property
    def restored(self) -> bool:
        """The restore-executed flag (the patent's claim 6/7)."""
        return bool(self.flags & RESTORED)

    @property
    def zero_pending(self) -> bool:
        return bool(self.flags & ZERO_PENDING)

    @property
    def touched(self) -> bool:
        """An unfinished restore wrote here: the card refuses the region until a restore completes."""
        return bool(self.flags & TOUCHED)

    def flag_names(self) -> list[str]:
        names = [n for n, bit in (("value", VALUE), ("restored", RESTORED), ("zero-pending", ZERO_PENDING),
                                  ("restore-unfinished", TOUCHED)) if self.flags & bit]
        return names

    def encode(self) -> bytes:
        return (bytes([self.id, self.flags]) + self.first_page.to_bytes(2, "big")
                + self.page_count.to_bytes(2, "big"))

    @classmethod
    def decode(cls, raw: bytes) -> Region:
        return cls(raw[0], raw[1], int.from_bytes(raw[2:4], "big"), int.from_bytes(raw[4:6], "big"))


def parse_region_table(raw: bytes) -> list[Region]:
    """Regions from a table of 6-byte entries (free entries, id 0, skipped)."""
    return [Region.decode(raw[i : i + REGION_ENTRY]) for i in range(0, len(raw) - REGION_ENTRY + 1, REGION_ENTRY)
            if raw[i] != 0]


def define_region(card: Card, region_id: int, first_page: int, page_count: int, *, value: bool = False) -> None:
    """DEFINE_REGION (personalisation only)."""
    if not 1 <= region_id <= 0xFE:
        raise UsageError(f"region id must be 1..254, got {region_id}")
    card.call("DEFINE_REGION", data=Region(region_id, VALUE if value else 0, first_page, page_count).encode(),
              expect_data=False)


def regions(card: Card) -> list[Region]:
    return parse_region_table(card.call("READ_DATA", p1=1))


def region(card: Card, region_id: int) -> Region:
    for r in regions(card):
        if r.id == region_id:
            return r
    raise UsageError(f"the card has no region {region_id}; `cardsmith data regions` lists them")


def load_common_key(card: Card, version: int, key: bytes) -> None:
    """LOAD_COMMON_KEY (personalisation only): the family key that wraps the card-unique backup key."""
    if len(key) != CONST["COMMON_KEY_LENGTH"] or not 1 <= version <= 0xFF:
        raise UsageError(f"the common key is {CONST['COMMON_KEY_LENGTH']} bytes with a version 1..255")
    card.call("LOAD_COMMON_KEY", data=bytes([version]) + key, sensitive=True, expect_data=False)


def write(card: Card, region_id: int, offset: int, data: bytes, *, chunk: int = 960) -> None:
    """Writes data into a region; long data goes in several WRITE_DATA commands of ``chunk`` bytes."""
    for i in range(0, max(len(data), 1), chunk):
        part = data[i : i + chunk]
        card.call("WRITE_DATA", data=bytes([region_id]) + (offset + i).to_bytes(2, "big") + part,
                  expect_data=False)


def read(card: Card, region_id: int, offset: int, length: int, *, chunk: int = 1024) -> bytes:
    out = bytearray()
    while length > 0:
        n = min(length, chunk)
        out += card.call("READ_DATA", data=bytes([region_id]) + offset.to_bytes(2, "big") + n.to_bytes(2, "big"),
                         ne=n)
        offset += n
        length -= n
    return bytes(out)


def acknowledge_restore(card: Card, region_id: int) -> None:
    """Clears a region's restore-executed flag (what an application does once it has handled it)."""
    card.call("WRITE_DATA", p1=1, data=bytes([region_id]), expect_data=False)
