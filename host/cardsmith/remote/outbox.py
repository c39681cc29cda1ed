"""The station's outbox: issuance outcomes the server has not acknowledged yet (it was unreachable, or it
refused them), one SQLite file ($CARDSMITH_HOME/outbox.sqlite) through cardsmith.core.storage. An outcome
leaves the outbox only when the server has it; one the server refused stays as a ``conflict`` for the
operator, and `cardsmith sync` reports it every time. (Backups need no outbox: the local catalogue is the
list of what to upload.)"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..core import paths
from ..core.storage import Database

MIGRATIONS = ["""
CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    batch_path TEXT NOT NULL,      -- the batch file the station issued from (sync posts it, idempotently)
    profile TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    record_id TEXT NOT NULL,
    card_id TEXT NOT NULL,
    result TEXT NOT NULL,          -- issued, rejected, interrupted
    detail TEXT,
    state TEXT NOT NULL,           -- pending, conflict
    note TEXT                      -- why the server refused it
)"""]


def default_path() -> Path:
    return paths.home() / "outbox.sqlite"


@dataclass(frozen=True)
class Report:
    id: int
    time: str
    batch_path: str
    profile: str
    sequence: int
    record_id: str
    card_id: str
    result: str
    detail: str | None
    state: str
    note: str | None

    def as_json(self) -> dict:
        return asdict(self)


COLUMNS = "id, time, batch_path, profile, sequence, record_id, card_id, result, detail, state, note"


class Outbox:
    def __init__(self, path: Path | str | None = None) -> None:
        self._db = Database(Path(path) if path else default_path(), MIGRATIONS)
        self.path = self._db.path

    def close(self) -> None:
        self._db.close()

    def add(self, *, batch_path: str, profile: str, sequence: int, record_id: str, card_id: str, result: str,
            detail: str | None, state: str = "pending", note: str | None = None) -> None:
        with self._db.transaction() as db:
            db.execute("INSERT INTO reports (time, batch_path, profile, sequence, record_id, card_id, result, detail,"
                       " state, note) VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), batch_path, profile, sequence,
                        record_id, card_id, result, detail, state, note))

    def reports(self) -> list[Report]:
        return [Report(*r) for r in self._db.query(f"SELECT {COLUMNS} FROM reports ORDER BY id")]

    def done(self, report_id: int) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM reports WHERE id=?", (report_id,))

    def conflict(self, report_id: int, note: str) -> None:
        with self._db.transaction() as db:
            db.execute("UPDATE reports SET state='conflict', note=? WHERE id=?", (note, report_id))
