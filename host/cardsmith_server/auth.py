"""Who is calling: per-station API keys, stored hashed, each with one role inside one issuer.

A key is ``csk_<key id>_<secret>``: the key id names the row, the secret (32 random bytes) is kept only as
its SHA-256 (a random 256-bit secret needs no slow hash; a stolen database gives no usable key). Roles:

- ``admin``: manages its issuer's keys and batches, reads everything of its issuer;
- ``station``: an issuing desk: uploads and reads backups, uploads batches, reserves and reports records;
- ``terminal``: a point of use: reads what terminals need (the identity and update issues add theirs).

``Principal`` is all the rest of the server knows about a caller; a certificate-based credential (the
trust-model issue) replaces :func:`authenticate` and keeps ``Principal`` as it is.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cardsmith.core.crypto import mac_equal
from cardsmith.core.errors import UsageError

from .db import api_keys
from .timeutil import now

ROLES = ("admin", "station", "terminal")
ISSUER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
KEY_RE = re.compile(r"^csk_([0-9a-f]{16})_([0-9a-f]{64})$")


@dataclass(frozen=True)
class Principal:
    key_id: str
    issuer: str
    role: str
    name: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(conn: Connection, issuer: str, role: str, name: str) -> tuple[Principal, str]:
    """A new key for ``issuer``; returns it with its text, which is shown once and never stored."""
    if role not in ROLES:
        raise UsageError(f"role {role!r}: choose one of {', '.join(ROLES)}")
    if not ISSUER_RE.match(issuer):
        raise UsageError(f"issuer {issuer!r}: letters, digits, '.', '_' and '-', at most 64")
    if not name or len(name) > 128:
        raise UsageError("a key needs a name of 1 to 128 characters (the desk or terminal it is for)")
    key_id, secret = secrets.token_hex(8), secrets.token_hex(32)
    conn.execute(api_keys.insert().values(key_id=key_id, issuer=issuer, role=role, name=name,
                                          secret_hash=_hash(secret), created=now(), revoked=False))
    return Principal(key_id, issuer, role, name), f"csk_{key_id}_{secret}"


def authenticate(conn: Connection, token: str) -> Principal | None:
    """The principal a presented key belongs to, or None (unknown, malformed, wrong secret, revoked)."""
    m = KEY_RE.match(token)
    if not m:
        return None
    row = conn.execute(sa.select(api_keys).where(api_keys.c.key_id == m[1])).first()
    if row is None or row.revoked or not mac_equal(bytes.fromhex(row.secret_hash), bytes.fromhex(_hash(m[2]))):
        return None
    return Principal(row.key_id, row.issuer, row.role, row.name)


def revoke(conn: Connection, issuer: str, key_id: str) -> bool:
    result = conn.execute(api_keys.update().where(api_keys.c.key_id == key_id, api_keys.c.issuer == issuer)
                          .values(revoked=True))
    return result.rowcount == 1


def list_keys(conn: Connection, issuer: str) -> list[dict]:
    rows = conn.execute(sa.select(api_keys).where(api_keys.c.issuer == issuer).order_by(api_keys.c.created))
    return [{"key_id": r.key_id, "issuer": r.issuer, "role": r.role, "name": r.name, "created": r.created,
             "revoked": r.revoked} for r in rows]
