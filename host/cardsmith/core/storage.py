"""The one way cardsmith opens a local SQLite file (the backup catalogue, the issuance log).

Durability first: WAL journal, ``synchronous=FULL`` (a commit survives a power cut once it returns) and a
busy timeout, so a second process on the same file waits instead of failing. A schema is a list of
migrations; ``PRAGMA user_version`` records how many ran, so a newer cardsmith upgrades an older file in
place. A file that cannot be opened, is locked, read-only or not a database becomes a StorageError naming
the file and what to do, never an ``sqlite3`` traceback.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from .errors import CardsmithError

BUSY_TIMEOUT_MS = 5000


class StorageError(CardsmithError):
    """A local database file cannot be opened, read or written."""


def _explain(path: Path, exc: sqlite3.Error) -> StorageError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        hint = "another cardsmith process holds it; wait for it to finish and run the command again"
    elif "readonly" in text or "read-only" in text:
        hint = "it is read-only: check its permissions (or set CARDSMITH_HOME to a writable folder)"
    elif "not a database" in text or "malformed" in text:
        hint = "it is damaged or not a cardsmith database: move it aside and restore it from a copy"
    else:
        hint = "check the path, its permissions and free space"
    return StorageError(f"{path}: {text}: {hint}")


class Database:
    """One SQLite file with a migrated schema; every ``transaction()`` is one durable commit."""

    def __init__(self, path: Path | str, migrations: Sequence[str]) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._migrate(migrations)
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from exc

    def _migrate(self, migrations: Sequence[str]) -> None:
        done = self._db.execute("PRAGMA user_version").fetchone()[0]
        for version, script in enumerate(migrations[done:], start=done + 1):
            with self._db:
                self._db.executescript(script)
                self._db.execute(f"PRAGMA user_version={version}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A connection inside one transaction: committed on success, rolled back on any error."""
        try:
            with self._db:
                yield self._db
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from exc

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from exc

    def close(self) -> None:
        self._db.close()
