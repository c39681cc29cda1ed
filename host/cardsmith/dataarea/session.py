"""The card's data area: regions (named page ranges with flags) and reading/writing their bytes."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.card import Card, explain_refusal
from ..core.errors import CardRefusedError, UsageError, WrongStateError
from ..core.text import plural
from ..protocol.codes import (
    REGION_FLAG_READ_PIN,
    REGION_FLAG_RESTORED,
    REGION_FLAG_TOUCHED,
    REGION_FLAG_VALUE,
    REGION_FLAG_ZERO_PENDING,
    Ins,
)

REGION_ENTRY = 6
WRITE_CHUNK = 960  # region bytes per WRITE_DATA at most: the command buffer minus its 3-byte header, in whole blocks
_FLAG_NAMES = (("value", REGION_FLAG_VALUE), ("restored", REGION_FLAG_RESTORED),
               ("zero-pending", REGION_FLAG_ZERO_PENDING), ("restore-unfinished", REGION_FLAG_TOUCHED),
               ("read-pin", REGION_FLAG_READ_PIN))


@dataclass(frozen=True)
class Region:
    id: int
    flags: int
    first_page: int
    page_count: int

    @property
    def value(self) -> bool:
        return bool(self.flags & REGION_FLAG_VALUE)

    @property
    def read_pin(self) -> bool:
        """Readable on an ISSUED card only with the holder PIN (or a session with permission read)."""
        return bool(self.flags & REGION_FLAG_READ_PIN)

    @property
    def restored(self) -> bool:
        """The restore-executed flag (claims 6/7 of the backup patent)."""
        return bool(self.flags & REGION_FLAG_RESTORED)

    @property
    def zero_pending(self) -> bool:
        return bool(self.flags & REGION_FLAG_ZERO_PENDING)

    @property
    def touched(self) -> bool:
        """An unfinished restore wrote here: the card refuses the region until a restore completes."""
        return bool(self.flags & REGION_FLAG_TOUCHED)

    def flag_names(self) -> list[str]:
        return [name for name, bit in _FLAG_NAMES if self.flags & bit]

    def as_json(self) -> dict:
        return {"id": self.id, "first_page": self.first_page, "pages": self.page_count, "flags": self.flag_names()}

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


class DataAreaSession:
    """The data-area commands of one card: DEFINE_REGION, WRITE_DATA, READ_DATA."""

    def __init__(self, card: Card) -> None:
        self.card = card
        self._max_write: int | None = None

    def max_write(self) -> int:
        """Region bytes one WRITE_DATA may carry on this card: what its commit buffer takes in one transaction
        (GET INFO's INFO_COMMIT, asked once per session), never more than WRITE_CHUNK."""
        if self._max_write is None:
            reported = self.card.info().max_write
            self._max_write = WRITE_CHUNK if reported is None else max(1, min(WRITE_CHUNK, reported))
        return self._max_write

    def define_region(self, region_id: int, first_page: int, page_count: int, *, value: bool = False,
                      read_pin: bool = False) -> None:
        """DEFINE_REGION (personalisation only). ``value``: a value region (on an ISSUED card written only in
        a session with permission value); ``read_pin``: read on an ISSUED card only with the holder PIN."""
        if not 1 <= region_id <= 0xFE:
            raise UsageError(f"region id must be 1..254, got {region_id}")
        flags = (REGION_FLAG_VALUE if value else 0) | (REGION_FLAG_READ_PIN if read_pin else 0)
        info = self.card.info()
        if not info.installed:  # the card would answer 6985: say why, before sending anything
            raise explain_refusal(self.card, WrongStateError(0x6985, "DEFINE_REGION", "conditions not satisfied"),
                                  "defining a region")
        size, total = info.page_size, info.page_count
        most = min(total - first_page, 32767 // size)  # a region's bytes are addressed by a signed 16-bit offset
        if not 0 <= first_page < total:
            raise UsageError(f"--first-page {first_page} is outside the data area (pages 0..{total - 1} of "
                             f"{size} bytes): `cardsmith info` shows the geometry")
        if not 1 <= page_count <= most:
            raise UsageError(f"a region from page {first_page} holds 1..{most} {plural(most, 'page')} on this card "
                             f"({total} pages of {size} bytes; at most 32767 bytes a region), not {page_count}")
        taken = [r for r in self.regions()
                 if r.id == region_id or (first_page < r.first_page + r.page_count and r.first_page < first_page
                                          + page_count)]
        if taken:
            r = taken[0]
            what = "exists" if r.id == region_id else f"overlaps region {r.id}"
            raise UsageError(f"region {region_id} {what} (pages {r.first_page}-{r.first_page + r.page_count - 1}):"
                             " `cardsmith data regions` shows the table; regions are defined once, on a blank card")
        try:
            self.card.call(Ins.DEFINE_REGION, data=Region(region_id, flags, first_page, page_count).encode(),
                           expect_data=False)
        except CardRefusedError as exc:
            raise explain_refusal(self.card, exc, "defining a region") from exc

    def regions(self) -> list[Region]:
        return parse_region_table(self.card.call(Ins.READ_DATA, p1=1))

    def region(self, region_id: int) -> Region:
        for r in self.regions():
            if r.id == region_id:
                return r
        raise UsageError(f"the card has no region {region_id}; `cardsmith data regions` lists them")

    def write(self, region_id: int, offset: int, data: bytes, *, chunk: int | None = None) -> None:
        """Writes data into a region; long data goes in several WRITE_DATA commands of ``chunk`` bytes (default
        and at most: max_write()). Each command is atomic on the card; a write cut short by a pulled card
        leaves the commands before it applied, so write it again."""
        chunk = self.max_write() if chunk is None else min(chunk, self.max_write())
        for i in range(0, max(len(data), 1), chunk):
            part = data[i : i + chunk]
            self.card.call(Ins.WRITE_DATA, data=bytes([region_id]) + (offset + i).to_bytes(2, "big") + part,
                           expect_data=False)

    def read(self, region_id: int, offset: int, length: int, *, chunk: int = 1024) -> bytes:
        out = bytearray()
        while length > 0:
            n = min(length, chunk)
            out += self.card.call(Ins.READ_DATA, ne=n,
                                  data=bytes([region_id]) + offset.to_bytes(2, "big") + n.to_bytes(2, "big"))
            offset += n
            length -= n
        return bytes(out)

    def read_region(self, region_id: int, offset: int = 0, length: int | None = None) -> bytes:
        """A region's bytes from ``offset``: ``length`` of them, or up to the region's end."""
        size = self.region(region_id).page_count * self.card.info().page_size
        return self.read(region_id, offset, size - offset if length is None else length)

    def acknowledge_restore(self, region_id: int) -> None:
        """Clears a region's restore-executed flag (what an application does once it has handled it)."""
        self.card.call(Ins.WRITE_DATA, p1=1, data=bytes([region_id]), expect_data=False)
