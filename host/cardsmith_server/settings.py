"""The server's settings: where its database is, where it listens, how big a request may be."""

from __future__ import annotations

import os
from dataclasses import dataclass

from cardsmith.core import paths
from cardsmith.core.errors import UsageError

DEFAULT_LISTEN = "127.0.0.1:8470"
MAX_BODY = 4 * 1024 * 1024  # a backup file of a 64 KiB data area is ~70 KB; a batch of 5,000 bundles ~3 MB


def default_db_url() -> str:
    """SQLite under CARDSMITH_HOME: nothing to install for one desk."""
    return f"sqlite:///{paths.home() / 'server.sqlite'}"


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--listen {text!r}: give HOST:PORT, for example {DEFAULT_LISTEN}")
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class ServerSettings:
    db_url: str
    max_body: int = MAX_BODY

    @classmethod
    def from_env(cls, db_url: str | None = None) -> ServerSettings:
        url = db_url or os.environ.get("CARDSMITH_SERVER_DB") or default_db_url()
        max_body = int(os.environ.get("CARDSMITH_SERVER_MAX_BODY", MAX_BODY))
        return cls(url, max_body)
