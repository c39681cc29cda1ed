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
    #: issuer name -> its root public key (65-byte point): identity usage records of that issuer are checked
    #: against it (SA1, then the card's signature); $CARDSMITH_SERVER_IDENTITY_KEYS = "acme=04AB..,globex=04.."
    identity_keys: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def from_env(cls, db_url: str | None = None) -> ServerSettings:
        url = db_url or os.environ.get("CARDSMITH_SERVER_DB") or default_db_url()
        max_body = int(os.environ.get("CARDSMITH_SERVER_MAX_BODY", MAX_BODY))
        return cls(url, max_body, parse_identity_keys(os.environ.get("CARDSMITH_SERVER_IDENTITY_KEYS", "")))


def parse_identity_keys(text: str) -> tuple[tuple[str, bytes], ...]:
    """ "acme=04AB...,globex=04CD..." -> ((issuer, point), ...): the issuers' root public keys, in hex."""
    out = []
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        try:
            point = bytes.fromhex(value.strip())
        except ValueError:
            point = b""
        if not sep or not name.strip() or len(point) != 65 or point[0] != 4:
            raise UsageError(f"CARDSMITH_SERVER_IDENTITY_KEYS entry {item[:40]!r}: give ISSUER=<130 hex digits of "
                             "the issuer's public key> (cardsmith issuer init prints it)")
        out.append((name.strip(), point))
    return tuple(out)
