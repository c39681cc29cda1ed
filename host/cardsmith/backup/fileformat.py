"""The backup formats: the card's header and records, and the file that holds one backup.

Layouts are in docs/backup.md. Everything here is structure only: the MACs and the encryption can be
checked only by a card (or, in tests and by an issuer, with the family's common key: :func:`open_backup`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..core.crypto import aes_cbc_decrypt, cmac, kdf, mac_equal
from ..core.errors import BadDataError
from ..protocol.codes import BACKUP_HEADER_LENGTH, BACKUP_TYPE_DIFF, BACKUP_TYPE_FULL

MAGIC = b"CSB1"
FILE_MAGIC = b"CSBKFILE"
FILE_VERSION = 1
HEADER_LEN = BACKUP_HEADER_LENGTH
MAC_LEN = 16
REC_LAST = 0x01
FULL = BACKUP_TYPE_FULL
DIFF = BACKUP_TYPE_DIFF
TYPE_NAMES = {FULL: "full", DIFF: "diff"}

# header offsets
H_TYPE, H_KVER, H_CARD, H_SEQ, H_PSIZE, H_PCOUNT, H_RECS, H_PAGES, H_PREV = 4, 5, 6, 14, 18, 20, 22, 24, 26
H_WRAP, H_CTRL, H_MAC = 58, 106, 266
CTRL_LEN = 144


@dataclass(frozen=True)
class Header:
    raw: bytes

    @classmethod
    def parse(cls, raw: bytes) -> Header:
        if len(raw) != HEADER_LEN or raw[:4] != MAGIC:
            raise BadDataError(f"not a cardsmith backup header ({len(raw)} bytes, magic {raw[:4]!r}): "
                               "the file is damaged or not a backup")
        h = cls(bytes(raw))
        if h.type not in TYPE_NAMES:
            raise BadDataError(f"backup header names an unknown backup type {h.type:02X}")
        return h

    def _u16(self, off: int) -> int:
        return int.from_bytes(self.raw[off : off + 2], "big")

    type = property(lambda self: self.raw[H_TYPE])
    key_version = property(lambda self: self.raw[H_KVER])
    card_id = property(lambda self: self.raw[H_CARD : H_CARD + 8])
    seq = property(lambda self: int.from_bytes(self.raw[H_SEQ : H_SEQ + 4], "big"))
    page_size = property(lambda self: self._u16(H_PSIZE))
    page_count = property(lambda self: self._u16(H_PCOUNT))
    record_count = property(lambda self: self._u16(H_RECS))
    page_total = property(lambda self: self._u16(H_PAGES))
    prev_hash = property(lambda self: self.raw[H_PREV : H_PREV + 32])
    mac = property(lambda self: self.raw[H_MAC : H_MAC + MAC_LEN])

    @property
    def type_name(self) -> str:
        return TYPE_NAMES[self.type]


@dataclass(frozen=True)
class Record:
    raw: bytes
    index: int
    last: bool
    pages: tuple[int, ...]

    @classmethod
    def parse(cls, raw: bytes, page_size: int) -> Record:
        if len(raw) < 4:
            raise BadDataError("a backup record is truncated")
        n = raw[3]
        want = 4 + 2 * n + 16 + n * page_size + MAC_LEN
        if n == 0 or len(raw) != want:
            raise BadDataError(f"a backup record has {len(raw)} bytes where its page list says {want}")
        pages = tuple(int.from_bytes(raw[4 + 2 * i : 6 + 2 * i], "big") for i in range(n))
        return cls(bytes(raw), int.from_bytes(raw[0:2], "big"), bool(raw[2] & REC_LAST), pages)


@dataclass(frozen=True)
class BackupBlob:
    """One backup: header, records, final MAC. What the card produced, byte for byte."""

    header: Header
    records: tuple[Record, ...]
    final_mac: bytes

    @property
    def chain_hash(self) -> bytes:
        """SHA-256(header MAC || final MAC): what the next differential names as its previous backup."""
        return hashlib.sha256(self.header.mac + self.final_mac).digest()

    @property
    def backup_id(self) -> str:
        return f"{self.header.card_id.hex().upper()}-{self.header.seq}"

    @property
    def pages(self) -> list[int]:
        return [p for r in self.records for p in r.pages]

    def transfer_payloads(self) -> list[bytes]:
        """What RESTORE's TRANSFER commands carry: each record, the last followed by the final MAC."""
        out = [r.raw for r in self.records]
        out[-1] += self.final_mac
        return out

    def check_structure(self) -> None:
        """Everything a host can check without keys; raises BadDataError naming the first problem."""
        h = self.header
        if len(self.records) != h.record_count or not self.records:
            raise BadDataError(f"backup {self.backup_id}: the header announces {h.record_count} records, "
                               f"the file holds {len(self.records)} (cut short?)")
        previous = -1
        for i, r in enumerate(self.records):
            if r.index != i or r.last != (i == len(self.records) - 1):
                raise BadDataError(f"backup {self.backup_id}: record {i} is out of place (index {r.index})")
            for p in r.pages:
                if p <= previous or p >= h.page_count:
                    raise BadDataError(f"backup {self.backup_id}: record {i} names page {p} out of order or range")
                previous = p
        if len(self.pages) != h.page_total or (h.type == FULL and h.page_total != h.page_count):
            raise BadDataError(f"backup {self.backup_id}: {len(self.pages)} pages where the header says {h.page_total}")
        if len(self.final_mac) != MAC_LEN:
            raise BadDataError(f"backup {self.backup_id}: the final MAC is missing (cut short)")

    def encode(self) -> bytes:
        """The file: magic, version, header, record count, (length, record)*, final MAC."""
        out = bytearray(FILE_MAGIC + bytes([FILE_VERSION]))
        out += len(self.header.raw).to_bytes(2, "big") + self.header.raw
        out += len(self.records).to_bytes(2, "big")
        for r in self.records:
            out += len(r.raw).to_bytes(2, "big") + r.raw
        out += self.final_mac
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes, *, check: bool = True) -> BackupBlob:
        try:
            if data[:8] != FILE_MAGIC:
                raise BadDataError("not a cardsmith backup file (wrong magic)")
            if data[8] != FILE_VERSION:
                raise BadDataError(f"backup file version {data[8]} is not supported "
                                   f"(this cardsmith reads {FILE_VERSION})")
            i = 9
            hlen = int.from_bytes(data[i : i + 2], "big")
            header = Header.parse(data[i + 2 : i + 2 + hlen])
            i += 2 + hlen
            count = int.from_bytes(data[i : i + 2], "big")
            i += 2
            records = []
            for _ in range(count):
                n = int.from_bytes(data[i : i + 2], "big")
                if i + 2 + n > len(data):
                    raise BadDataError("backup file is truncated inside a record")
                records.append(Record.parse(data[i + 2 : i + 2 + n], header.page_size))
                i += 2 + n
            final = data[i : i + MAC_LEN]
            if i + MAC_LEN != len(data):
                raise BadDataError(f"backup file has {len(data) - i} bytes after the records where 16 belong")
        except IndexError as exc:
            raise BadDataError("backup file is truncated") from exc
        blob = cls(header, tuple(records), bytes(final))
        if check:
            blob.check_structure()
        return blob


def open_backup(blob: BackupBlob, common_key: bytes) -> dict[int, bytes]:
    """Checks every MAC with the family's common key and returns the plaintext pages (issuer / tests only)."""
    h = blob.header
    raw = h.raw
    ctx = bytes([h.key_version]) + h.card_id
    wenc, wmac = kdf(common_key, b"WENC", ctx), kdf(common_key, b"WMAC", ctx)
    wrap = raw[H_WRAP : H_WRAP + 48]
    if not mac_equal(cmac(wmac, wrap[:32]), wrap[32:]):
        raise BadDataError("the wrapped backup key fails its MAC under this common key")
    unique = aes_cbc_decrypt(wenc, wrap[:16], wrap[16:32])
    sctx = h.card_id + raw[H_SEQ : H_SEQ + 4]
    kenc, kmac = kdf(unique, b"BENC", sctx), kdf(unique, b"BMAC", sctx)
    if not mac_equal(cmac(kmac, b"H" + raw[:H_MAC]), h.mac):
        raise BadDataError("the backup header fails its MAC")
    control = aes_cbc_decrypt(kenc, raw[H_CTRL : H_CTRL + 16], raw[H_CTRL + 16 : H_CTRL + 16 + CTRL_LEN])
    if control[:8] != h.card_id or control[8:12] != raw[H_SEQ : H_SEQ + 4] or control[12] != h.type:
        raise BadDataError("the encrypted control information does not match the header")
    chain = h.mac
    pages: dict[int, bytes] = {}
    for r in blob.records:
        n = len(r.pages)
        iv_off = 4 + 2 * n
        mac_off = len(r.raw) - MAC_LEN
        if not mac_equal(cmac(kmac, b"R" + chain + r.raw[:mac_off]), r.raw[mac_off:]):
            raise BadDataError(f"record {r.index} fails its MAC")
        chain = r.raw[mac_off:]
        plain = aes_cbc_decrypt(kenc, r.raw[iv_off : iv_off + 16], r.raw[iv_off + 16 : mac_off])
        for i, p in enumerate(r.pages):
            pages[p] = plain[i * h.page_size : (i + 1) * h.page_size]
    counts = len(blob.records).to_bytes(2, "big") + h.page_total.to_bytes(2, "big")
    if not mac_equal(cmac(kmac, b"F" + chain + counts), blob.final_mac):
        raise BadDataError("the final MAC does not match (backup cut short or spliced)")
    return pages


def region_table(blob: BackupBlob, common_key: bytes) -> bytes:
    """The 96-byte region table from the encrypted control information (issuer / tests only)."""
    h = blob.header
    unique_ctx = bytes([h.key_version]) + h.card_id
    wrap = h.raw[H_WRAP : H_WRAP + 48]
    unique = aes_cbc_decrypt(kdf(common_key, b"WENC", unique_ctx), wrap[:16], wrap[16:32])
    kenc = kdf(unique, b"BENC", h.card_id + h.raw[H_SEQ : H_SEQ + 4])
    control = aes_cbc_decrypt(kenc, h.raw[H_CTRL : H_CTRL + 16], h.raw[H_CTRL + 16 : H_CTRL + 16 + CTRL_LEN])
    return control[48:144]
