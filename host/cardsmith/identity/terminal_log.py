"""A terminal's local log of card-signed usage records (SQLite through ``core.storage.Database``).

- ``records``: every record the terminal accepted, keyed by (IDU, ATC), with the card's identity (so the
  server can check the signature through SA1) and whether the server acknowledged it. Records stay until
  the server has acknowledged them (``uploaded``), and are kept afterwards as the terminal's own history.
- ``pending``: a charge whose answer was lost (the card was pulled during GENERATE_USAGE_RECORD): its nonce
  R, so that the next insertion of that card settles it from GET_LAST_RECORD (docs/identity.md,
  "Who owns a lost record").
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from ..core.storage import Database
from .formats import Identity, UsageRecord

MIGRATIONS = (
    """
    CREATE TABLE records (
        idu TEXT NOT NULL, atc INTEGER NOT NULL, nt TEXT NOT NULL, terminal_id TEXT NOT NULL,
        time TEXT NOT NULL, charge INTEGER NOT NULL, nonce TEXT NOT NULL, record TEXT NOT NULL,
        identity TEXT NOT NULL, uploaded TEXT, PRIMARY KEY (idu, atc));
    CREATE TABLE pending (
        nonce TEXT PRIMARY KEY, idu TEXT NOT NULL, charge INTEGER NOT NULL, created TEXT NOT NULL);
    CREATE TABLE deny (idu TEXT PRIMARY KEY);
    CREATE TABLE deny_source (id INTEGER PRIMARY KEY CHECK (id = 1), source TEXT NOT NULL,
        version INTEGER NOT NULL, etag TEXT, updated TEXT NOT NULL);
    """,
)


@dataclass(frozen=True)
class LoggedRecord:
    record: UsageRecord
    identity: Identity
    uploaded: str | None

    def as_json(self) -> dict:
        r = self.record
        return {"card_number": r.idu.hex().upper(), "nt": r.nt.decode(), "atc": r.atc, "charge": r.charge,
                "time": r.time.isoformat(), "terminal_id": r.terminal_id.hex().upper(),
                "uploaded": self.uploaded}


class TerminalLog:
    def __init__(self, path: Path) -> None:
        self.db = Database(path, MIGRATIONS)

    def close(self) -> None:
        self.db.close()

    def last_atc(self, idu: bytes) -> int | None:
        rows = self.db.query("SELECT MAX(atc) FROM records WHERE idu = ?", (idu.hex().upper(),))
        return rows[0][0] if rows and rows[0][0] is not None else None

    def has(self, idu: bytes, atc: int) -> bool:
        return bool(self.db.query("SELECT 1 FROM records WHERE idu = ? AND atc = ?", (idu.hex().upper(), atc)))

    def add(self, record: UsageRecord, identity: Identity) -> None:
        """Stores an accepted record and settles its pending entry (one transaction)."""
        with self.db.transaction() as db:
            db.execute("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                       (record.idu.hex().upper(), record.atc, record.nt.decode(), record.terminal_id.hex().upper(),
                        record.time.isoformat(), record.charge, record.nonce.hex().upper(),
                        record.encode().hex().upper(), identity.encode().hex().upper()))
            db.execute("DELETE FROM pending WHERE nonce = ?", (record.nonce.hex().upper(),))

    def add_pending(self, idu: bytes, nonce: bytes, charge: int) -> None:
        with self.db.transaction() as db:
            db.execute("INSERT OR REPLACE INTO pending VALUES (?, ?, ?, ?)",
                       (nonce.hex().upper(), idu.hex().upper(), charge,
                        datetime.datetime.now(datetime.UTC).isoformat()))

    def pending_for(self, idu: bytes) -> list[bytes]:
        rows = self.db.query("SELECT nonce FROM pending WHERE idu = ?", (idu.hex().upper(),))
        return [bytes.fromhex(r[0]) for r in rows]

    def drop_pending(self, nonce: bytes) -> None:
        with self.db.transaction() as db:
            db.execute("DELETE FROM pending WHERE nonce = ?", (nonce.hex().upper(),))

    def records(self, *, not_uploaded: bool = False) -> list[LoggedRecord]:
        sql = "SELECT record, identity, uploaded FROM records"
        if not_uploaded:
            sql += " WHERE uploaded IS NULL"
        rows = self.db.query(sql + " ORDER BY idu, atc")
        return [LoggedRecord(UsageRecord.parse(bytes.fromhex(r[0])), Identity.decode(bytes.fromhex(r[1])), r[2])
                for r in rows]

    def pending(self) -> list[tuple[str, str, int]]:
        return [(r[0], r[1], r[2]) for r in self.db.query("SELECT nonce, idu, charge FROM pending ORDER BY created")]

    # ------------------------------------------------------------ the deny list
    def deny(self) -> set[bytes]:
        return {bytes.fromhex(r[0]) for r in self.db.query("SELECT idu FROM deny")}

    def deny_version(self) -> tuple[str, int, str | None] | None:
        rows = self.db.query("SELECT source, version, etag FROM deny_source")
        return (rows[0][0], rows[0][1], rows[0][2]) if rows else None

    def replace_deny(self, source: str, version: int, add: set[bytes], remove: set[bytes], *, full: bool,
                     etag: str | None = None) -> None:
        """The deny list from ``source`` at ``version`` (all of it when ``full``, else changes), in one commit."""
        with self.db.transaction() as db:
            if full:
                db.execute("DELETE FROM deny")
            db.executemany("DELETE FROM deny WHERE idu = ?", [(n.hex().upper(),) for n in remove])
            db.executemany("INSERT OR IGNORE INTO deny VALUES (?)", [(n.hex().upper(),) for n in add])
            db.execute("INSERT OR REPLACE INTO deny_source VALUES (1, ?, ?, ?, ?)",
                       (source, version, etag, datetime.datetime.now(datetime.UTC).isoformat()))

    def mark_uploaded(self, keys: list[tuple[bytes, int]]) -> None:
        stamp = datetime.datetime.now(datetime.UTC).isoformat()
        with self.db.transaction() as db:
            db.executemany("UPDATE records SET uploaded = ? WHERE idu = ? AND atc = ?",
                           [(stamp, idu.hex().upper(), atc) for idu, atc in keys])
