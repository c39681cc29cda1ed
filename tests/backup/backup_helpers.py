"""Shared set-up for the backup tests: a personalised card, snapshots, and one-call backups."""

from __future__ import annotations

from pathlib import Path

from cardsmith import backup as bk
from cardsmith.backup import BackupSession
from cardsmith.backup.catalogue import Entry, SqliteCatalogue
from cardsmith.backup.fileformat import BackupBlob
from cardsmith.core.card import Card
from cardsmith.dataarea import DataAreaSession

COMMON_KEY = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
OTHER_FAMILY_KEY = bytes.fromhex("F0E0D0C0B0A090807060504030201000")
# 32 pages of 128 bytes: records (0-23), a value purse (24-27), notes (28-31)
REGIONS = [(1, 0, 24, False), (2, 24, 4, True), (3, 28, 4, False)]
PAGE = 128


def personalise(card: Card, key: bytes = COMMON_KEY, version: int = 1, regions: list | None = None) -> None:
    for rid, first, count, value in regions or REGIONS:
        DataAreaSession(card).define_region(rid, first, count, value=value)
    BackupSession(card).load_common_key(version, key)


def snapshot(card: Card) -> dict[int, bytes]:
    return {r.id: DataAreaSession(card).read(r.id, 0, r.page_count * PAGE) for r in DataAreaSession(card).regions()}


def write_page(card: Card, page: int, fill: int) -> None:
    """Writes a recognisable pattern over one whole page (through the region that holds it)."""
    for rid, first, count, _ in REGIONS:
        if first <= page < first + count:
            DataAreaSession(card).write(rid, (page - first) * PAGE, bytes([fill]) * PAGE)
            return
    raise AssertionError(page)


class Store:
    """A catalogue and a folder for one test."""

    def __init__(self, root: Path) -> None:
        self.dir = root
        self.catalogue = SqliteCatalogue(root / "catalogue.sqlite")

    def backup(self, card: Card, kind: str = "auto") -> tuple[Entry, BackupBlob]:
        entry = BackupSession(card).backup(self.catalogue, self.dir, kind)
        return entry, bk.load(entry)
