"""Issuance: batches, their records, one reservation per record, and the issuance log.

A record is ``free``, ``reserved`` (by one station, under a reservation id) or ``issued`` (onto one card,
for good). Reserving the next record is one UPDATE of the first free row; on PostgreSQL that row is picked
``FOR UPDATE SKIP LOCKED``, on SQLite every write transaction holds the database's write lock (BEGIN
IMMEDIATE): either way two stations never get the same record, and no record is passed over. A station
asking again gets its own open reservation back first (a desk that crashed resumes where it was).
A report ``issued`` is final; ``rejected`` frees the record for another card; ``interrupted`` keeps it
reserved for the same station (the card resumes). Every report is a row of the issuance log.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .auth import Principal
from .db import batches, issuance_log, records
from .errors import Conflict, Invalid, NotFound
from .timeutil import now

RESULTS = ("issued", "rejected", "interrupted")
RESERVE_ATTEMPTS = 20


def _digest(document: dict) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _batch(conn: Connection, who: Principal, batch_id: int) -> Any:
    row = conn.execute(sa.select(batches).where(batches.c.id == batch_id, batches.c.issuer == who.issuer)).first()
    if row is None:
        raise NotFound(f"no batch {batch_id} for issuer {who.issuer}; GET /v1/batches lists them")
    return row


def _counts(conn: Connection, batch_id: int) -> dict[str, int]:
    q = sa.select(records.c.state, sa.func.count()).where(records.c.batch_id == batch_id).group_by(records.c.state)
    counts = {"free": 0, "reserved": 0, "issued": 0}
    counts.update({state: n for state, n in conn.execute(q)})
    return counts


def _view(conn: Connection, row: Any) -> dict:
    doc = json.loads(row.document)
    return {"batch_id": row.id, "profile": row.profile, "sequence": row.sequence, "records": row.record_count,
            "created": row.created, "digest": row.digest, "progress": doc.get("progress"),
            "steps": doc.get("steps", []), "counts": _counts(conn, row.id)}


def create_batch(conn: Connection, who: Principal, document: dict) -> tuple[dict, bool]:
    """Stores a prepared batch (`cardsmith prepare`'s JSON); the same batch again is the same batch."""
    bundles = document.get("bundles") or []
    ids = [b.get("record_id") for b in bundles]
    if len(set(ids)) != len(ids):
        raise Invalid("the batch names a record id twice: prepare it again from a CSV with unique ids")
    digest = _digest(document)
    existing = conn.execute(sa.select(batches).where(batches.c.issuer == who.issuer,
                                                     batches.c.profile == document["profile"],
                                                     batches.c.sequence == document["sequence"])).first()
    if existing is not None:
        if existing.digest != digest:
            raise Conflict(f"batch {existing.id} already holds profile {existing.profile!r} sequence "
                           f"{existing.sequence} with other content; prepare the new batch with a new sequence")
        return _view(conn, existing), False
    head = {k: v for k, v in document.items() if k != "bundles"}
    batch_id = conn.execute(batches.insert().values(
        issuer=who.issuer, profile=document["profile"], sequence=document["sequence"], digest=digest,
        document=json.dumps(head), record_count=len(bundles), created=now()).returning(batches.c.id)).scalar_one()
    stamp = now()
    if bundles:
        conn.execute(records.insert(), [{"batch_id": batch_id, "position": i, "record_id": b["record_id"],
                                         "entry": json.dumps(b), "state": "free", "updated": stamp}
                                        for i, b in enumerate(bundles)])
    return _view(conn, _batch(conn, who, batch_id)), True


def list_batches(conn: Connection, who: Principal) -> list[dict]:
    rows = conn.execute(sa.select(batches).where(batches.c.issuer == who.issuer).order_by(batches.c.id))
    return [_view(conn, r) for r in rows]


def get_batch(conn: Connection, who: Principal, batch_id: int) -> dict:
    return _view(conn, _batch(conn, who, batch_id))


def _reservation(row: Any) -> dict:
    return {"reservation": row.reservation, "batch_id": row.batch_id, "record_id": row.record_id,
            "position": row.position, "state": row.state, "card_id": row.card_id, "entry": json.loads(row.entry)}


def reserve(conn: Connection, who: Principal, batch_id: int, record_id: str | None = None) -> dict:
    """Reserves a record of the batch for the calling station: the named one, or else the station's own open
    reservation, or else the first free record."""
    _batch(conn, who, batch_id)
    mine = sa.and_(records.c.batch_id == batch_id, records.c.state == "reserved", records.c.station == who.key_id)
    if record_id is not None:
        row = conn.execute(sa.select(records).where(records.c.batch_id == batch_id,
                                                    records.c.record_id == record_id)).first()
        if row is None:
            raise NotFound(f"record {record_id!r} is not in batch {batch_id}")
        if row.state == "issued":
            raise Conflict(f"record {record_id!r} was issued onto card {row.card_id} already; it is never issued "
                           "twice (a lost card gets a new record)")
        if row.state == "reserved" and row.station != who.key_id:
            raise Conflict(f"record {record_id!r} is reserved by another station; it reports the outcome first")
        pick = sa.select(records.c.id).where(records.c.id == row.id, records.c.state == "free")
    else:
        row = conn.execute(sa.select(records).where(mine).order_by(records.c.position).limit(1)).first()
        pick = (sa.select(records.c.id).where(records.c.batch_id == batch_id, records.c.state == "free")
                .order_by(records.c.position).limit(1).with_for_update(skip_locked=True))
    if row is not None and row.state == "reserved":
        return _reservation(row)
    token = secrets.token_hex(16)
    for _ in range(RESERVE_ATTEMPTS):
        done = conn.execute(records.update().where(records.c.id == pick.scalar_subquery(), records.c.state == "free")
                            .values(state="reserved", reservation=token, station=who.key_id, updated=now()))
        if done.rowcount == 1:
            got = conn.execute(sa.select(records).where(records.c.reservation == token)).one()
            return _reservation(got)
        if record_id is not None or not conn.execute(sa.select(records.c.id).where(
                records.c.batch_id == batch_id, records.c.state == "free").limit(1)).first():
            break
    counts = _counts(conn, batch_id)
    raise Conflict(f"no record of batch {batch_id} left to reserve ({counts['issued']} issued, "
                   f"{counts['reserved']} reserved by stations still at work)")


def report(conn: Connection, who: Principal, reservation: str, card_id: str, result: str,
           detail: str | None = None) -> dict:
    """A station's outcome for its reservation; logged. Repeating the same report changes nothing."""
    card_id = card_id.upper()
    row = conn.execute(sa.select(records).join(batches, batches.c.id == records.c.batch_id)
                       .where(records.c.reservation == reservation, batches.c.issuer == who.issuer)).first()
    if row is None:
        logged = conn.execute(sa.select(issuance_log).join(batches, batches.c.id == issuance_log.c.batch_id).where(
            issuance_log.c.reservation == reservation, batches.c.issuer == who.issuer,
            issuance_log.c.result == "rejected", issuance_log.c.station == who.key_id)).first()
        if logged is not None and result == "rejected" and logged.card_id == card_id:
            return {"reservation": reservation, "record_id": logged.record_id, "state": "free", "repeated": True}
        raise NotFound(f"no open reservation {reservation}: reserve a record first")
    if row.station != who.key_id:
        raise Conflict(f"reservation {reservation} belongs to another station")
    if row.state == "issued":
        if result == "issued" and row.card_id == card_id:
            return {"reservation": reservation, "record_id": row.record_id, "state": "issued", "repeated": True}
        raise Conflict(f"record {row.record_id!r} was issued onto card {row.card_id} already; the report is refused")
    if result == "issued":
        twice = conn.execute(sa.select(records.c.record_id).where(records.c.batch_id == row.batch_id,
                                                                  records.c.state == "issued",
                                                                  records.c.card_id == card_id)).first()
        if twice is not None:
            raise Conflict(f"card {card_id} already holds record {twice.record_id!r} of this batch")
        values = {"state": "issued", "card_id": card_id}
    elif result == "rejected":
        values = {"state": "free", "reservation": None, "station": None, "card_id": None}
    else:
        values = {}
    conn.execute(records.update().where(records.c.id == row.id).values(updated=now(), **values))
    conn.execute(issuance_log.insert().values(batch_id=row.batch_id, record_id=row.record_id, reservation=reservation,
                                              station=who.key_id, card_id=card_id, result=result, detail=detail,
                                              time=now()))
    return {"reservation": reservation, "record_id": row.record_id, "state": values.get("state", row.state),
            "repeated": False}


def log(conn: Connection, who: Principal, batch_id: int) -> list[dict]:
    _batch(conn, who, batch_id)
    rows = conn.execute(sa.select(issuance_log).where(issuance_log.c.batch_id == batch_id)
                        .order_by(issuance_log.c.id))
    return [{"time": r.time, "record_id": r.record_id, "card_id": r.card_id, "station": r.station,
             "result": r.result, "detail": r.detail} for r in rows]
