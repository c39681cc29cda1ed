"""The deny list: card numbers and certificate serials that terminals refuse, written by admins.

Every change (an entry added, its reason changed, an entry removed) takes the issuer's next deny-list
*version* (one row per issuer in ``deny_versions``, incremented in the change's own transaction, so two
admins' changes are ordered) and stamps the entry with it. A removed entry stays as a row, inactive, so a
terminal that asks for the changes after the version it holds (``since``) learns of removals too. The
version is also the answer's ETag: a terminal sending ``If-None-Match`` with it gets 304 while nothing
changed. The version is read before the entries, so an answer may already hold a change of a later version;
asking again from its version shows that change once more, which a terminal applies again harmlessly.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from .auth import Principal
from .db import deny_list, deny_versions
from .errors import Invalid, NotFound
from .timeutil import now

KINDS = {"card": re.compile(r"^[0-9A-F]{16}$"), "cert": re.compile(r"^[0-9A-F]{1,40}$")}
WHAT = {"card": "a card number is 16 hex digits", "cert": "a certificate serial is 1 to 40 hex digits"}


def _value(kind: str, value: str) -> str:
    value = value.upper()
    if kind not in KINDS:
        raise Invalid(f"deny-list kind {kind!r}: choose card or cert")
    if not KINDS[kind].match(value):
        raise Invalid(f"{value!r} is not a {kind} entry: {WHAT[kind]}")
    return value


def version(conn: Connection, issuer: str) -> int:
    found = conn.execute(sa.select(deny_versions.c.version).where(deny_versions.c.issuer == issuer)).scalar()
    return int(found or 0)


def _bump(conn: Connection, issuer: str) -> int:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (dialect.insert(deny_versions).values(issuer=issuer, version=1)
                 .on_conflict_do_update(index_elements=["issuer"],
                                        set_={"version": deny_versions.c.version + 1})
                 .returning(deny_versions.c.version))
    return int(conn.execute(statement).scalar_one())


def _entry(row: Any) -> dict:
    return {"kind": row.kind, "value": row.value, "reason": row.reason, "active": row.active,
            "version": row.version, "changed": row.changed, "changed_by": row.changed_by}


def _row(conn: Connection, issuer: str, kind: str, value: str) -> Any:
    return conn.execute(sa.select(deny_list).where(deny_list.c.issuer == issuer, deny_list.c.kind == kind,
                                                   deny_list.c.value == value)).first()


def put(conn: Connection, who: Principal, kind: str, value: str, reason: str) -> tuple[dict, bool]:
    """Denies ``value``; returns the entry and whether the list changed (the same entry again changes nothing)."""
    value = _value(kind, value)
    row = _row(conn, who.issuer, kind, value)
    if row is not None and row.active and row.reason == reason:
        return _entry(row), False
    values = {"reason": reason, "active": True, "version": _bump(conn, who.issuer), "changed": now(),
              "changed_by": who.key_id}
    if row is None:
        conn.execute(deny_list.insert().values(issuer=who.issuer, kind=kind, value=value, **values))
    else:
        conn.execute(deny_list.update().where(deny_list.c.id == row.id).values(**values))
    return _entry(_row(conn, who.issuer, kind, value)), True


def remove(conn: Connection, who: Principal, kind: str, value: str) -> dict:
    value = _value(kind, value)
    row = _row(conn, who.issuer, kind, value)
    if row is None or not row.active:
        raise NotFound(f"{kind} {value} is not on the deny list of issuer {who.issuer}")
    conn.execute(deny_list.update().where(deny_list.c.id == row.id).values(
        active=False, version=_bump(conn, who.issuer), changed=now(), changed_by=who.key_id))
    return _entry(_row(conn, who.issuer, kind, value))


def listing(conn: Connection, who: Principal, since: int | None) -> dict:
    """The whole list (``since`` None, or a version this server never gave: ``full``), else the entries
    added or changed and those removed after version ``since``."""
    current = version(conn, who.issuer)
    full = since is None or since > current
    q = sa.select(deny_list).where(deny_list.c.issuer == who.issuer)
    q = q.where(deny_list.c.active) if full else q.where(deny_list.c.version > since)
    rows = [_entry(r) for r in conn.execute(q.order_by(deny_list.c.version, deny_list.c.id))]
    return {"version": current, "since": None if full else since, "full": full,
            "entries": [r for r in rows if r["active"]], "removed": [r for r in rows if not r["active"]]}
