"""The backup catalogue: which backups exist, of which card, in which chain, in which state.

:class:`Catalogue` is the interface (a server database can implement it later); :class:`SqliteCatalogue`
is the default, one SQLite file opened through :class:`cardsmith.core.storage.Database`. States:

- ``stored``: the file is durable and catalogued, COMPLETE was sent but not confirmed (card pulled);
  :meth:`cardsmith.backup.BackupSession.reconcile` settles it from the card's last completed sequence number.
- ``complete``: the card confirmed it; part of the card's chain.
- ``orphaned``: COMPLETE never reached the card; the file is valid but no differential follows it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from ..core.errors import BadDataError
from ..core.storage import Database

STATES = ("stored", "complete", "orphaned")


@dataclass(frozen=True)
class Entry:
    card_id: str  # hex, upper case
    seq: int
    created: str  # ISO 8601 UTC, from the host (the card has no clock)
    type: str  # "full" | "diff"
    key_version: int
    prev_hash: str  # hex; zeros for a full backup
    hash: str  # hex chain hash
    pages: int
    records: int
    size: int  # bytes of the file
    digest: str  # SHA-256 of the file, hex: a changed file is noticed without a card
    path: str
    state: str

    @property
    def backup_id(self) -> str:
        return f"{self.card_id}-{self.seq}"

    def as_json(self) -> dict:
        return {"id": self.backup_id, **asdict(self)}


class Catalogue(Protocol):
    def add(self, entry: Entry) -> None: ...
    def set_state(self, card_id: str, seq: int, state: str) -> None: ...
    def get(self, card_id: str, seq: int) -> Entry | None: ...
    def by_hash(self, hash_hex: str) -> Entry | None: ...
    def entries(self, card_id: str | None = None) -> list[Entry]: ...


MIGRATIONS = ["""
CREATE TABLE IF NOT EXISTS backups (
    card_id TEXT NOT NULL, seq INTEGER NOT NULL, created TEXT NOT NULL, type TEXT NOT NULL,
    key_version INTEGER NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, pages INTEGER NOT NULL,
    records INTEGER NOT NULL, size INTEGER NOT NULL, digest TEXT NOT NULL, path TEXT NOT NULL, state TEXT NOT NULL,
    PRIMARY KEY (card_id, seq)
);
"""]
COLUMNS = "card_id, seq, created, type, key_version, prev_hash, hash, pages, records, size, digest, path, state"


class SqliteCatalogue:
    """The catalogue in one SQLite file; every change is its own committed transaction."""

    def __init__(self, path: Path | str) -> None:
        self._db = Database(path, MIGRATIONS)
        self.path = self._db.path

    def close(self) -> None:
        self._db.close()

    def add(self, entry: Entry) -> None:
        """Catalogues a new backup. Never overwrites: a row already holding its (card, sequence) or its chain
        hash with another file is a BadDataError and the catalogue is unchanged (the card's sequence numbers
        only grow, so two genuine backups never share either)."""
        if entry.state not in STATES:
            raise ValueError(entry.state)
        with self._db.transaction() as db:
            clash = db.execute(f"SELECT {COLUMNS} FROM backups WHERE (card_id=? AND seq=?) OR hash=?",
                               (entry.card_id, entry.seq, entry.hash)).fetchone()
            if clash is not None:
                held = Entry(*clash)
                why = "sequence number" if (held.card_id, held.seq) == (entry.card_id, entry.seq) else "chain hash"
                raise BadDataError(f"the catalogue already holds backup {held.backup_id} with this {why} and another "
                                   f"file (digest {held.digest[:16]}...): this one is altered or damaged; nothing "
                                   "was changed, the catalogued backup stays")
            db.execute(f"INSERT INTO backups ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       tuple(asdict(entry).values()))

    def set_state(self, card_id: str, seq: int, state: str) -> None:
        if state not in STATES:
            raise ValueError(state)
        with self._db.transaction() as db:
            db.execute("UPDATE backups SET state=? WHERE card_id=? AND seq=?", (state, card_id, seq))

    def _rows(self, where: str, args: tuple) -> list[Entry]:
        rows = self._db.query(f"SELECT {COLUMNS} FROM backups {where} ORDER BY card_id, seq", args)
        return [Entry(*row) for row in rows]

    def get(self, card_id: str, seq: int) -> Entry | None:
        rows = self._rows("WHERE card_id=? AND seq=?", (card_id, seq))
        return rows[0] if rows else None

    def by_hash(self, hash_hex: str) -> Entry | None:
        rows = self._rows("WHERE hash=?", (hash_hex,))
        return rows[0] if rows else None

    def entries(self, card_id: str | None = None) -> list[Entry]:
        if card_id is None:
            return self._rows("", ())
        return self._rows("WHERE card_id=?", (card_id,))
