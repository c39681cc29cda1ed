"""The issuance log: which card received which record, when, and how it went (one SQLite file, opened
through :class:`cardsmith.core.storage.Database`; default $CARDSMITH_HOME/issuance.sqlite)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ..core import paths
from ..core.storage import Database

MIGRATIONS = ["""
CREATE TABLE IF NOT EXISTS issuance_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    card_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    profile TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    result TEXT NOT NULL,          -- issued, rejected, interrupted, failed
    failed_at INTEGER,             -- inner command number, when one failed
    sw TEXT,                       -- its status word
    actions TEXT NOT NULL,         -- what the progress table made the station do
    exchanges INTEGER NOT NULL,
    bytes INTEGER NOT NULL
)"""]


def default_path() -> Path:
    return paths.home() / "issuance.sqlite"


@dataclass(frozen=True)
class LogEntry:
    time: str
    card_id: str
    record_id: str
    profile: str
    sequence: int
    result: str
    failed_at: int | None
    sw: str | None
    actions: str
    exchanges: int
    bytes: int


class IssuanceLog:
    def __init__(self, path: Path | str | None = None) -> None:
        self._db = Database(Path(path) if path else default_path(), MIGRATIONS)
        self.path = self._db.path

    def record(self, *, card_id: bytes, record_id: str, profile: str, sequence: int, result: str,
               failed_at: int | None = None, sw: int | None = None, actions: list[str] | None = None,
               exchanges: int = 0, bytes_on_wire: int = 0) -> None:
        with self._db.transaction() as db:  # one transaction per entry: a crash loses at most that entry
            db.execute(
                "INSERT INTO issuance_log (time, card_id, record_id, profile, sequence, result, failed_at, sw,"
                " actions, exchanges, bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), card_id.hex().upper(), record_id, profile,
                 sequence, result, failed_at, None if sw is None else f"{sw:04X}", ",".join(actions or []),
                 exchanges, bytes_on_wire))

    def entries(self, record_id: str | None = None) -> list[LogEntry]:
        sql = ("SELECT time, card_id, record_id, profile, sequence, result, failed_at, sw, actions, exchanges,"
               " bytes FROM issuance_log")
        args: tuple = ()
        if record_id is not None:
            sql += " WHERE record_id = ?"
            args = (record_id,)
        return [LogEntry(*row) for row in self._db.query(sql + " ORDER BY id", args)]

    def issued_records(self, profile: str, sequence: int) -> set[str]:
        rows = self._db.query("SELECT record_id FROM issuance_log WHERE profile = ? AND sequence = ? AND "
                              "result = 'issued'", (profile, sequence))
        return {r[0] for r in rows}

    def interrupted_on(self, card_id: bytes, profile: str, sequence: int) -> str | None:
        """The record whose bundle was last left part-run on ``card_id`` (this batch), if that is its last word."""
        rows = self._db.query("SELECT record_id, result FROM issuance_log WHERE card_id = ? AND profile = ? AND "
                              "sequence = ? ORDER BY id DESC LIMIT 1", (card_id.hex().upper(), profile, sequence))
        return rows[0][0] if rows and rows[0][1] == "interrupted" else None

    def close(self) -> None:
        self._db.close()
